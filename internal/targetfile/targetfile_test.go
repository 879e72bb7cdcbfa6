package targetfile

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

func ins(id string, port int64) clb.Target { return clb.Target{InstanceId: id, Port: port} }
func eni(ip string, port int64) clb.Target { return clb.Target{EniIp: ip, Port: port} }

// problem is an expected problem: Field and Value exactly, Reason by
// substring.
type problem struct{ field, value, reason string }

var parseCases = []struct {
	name     string
	input    string
	want     []clb.Target
	problems []problem
}{
	{name: "instance", input: "ins-abc12345:80", want: []clb.Target{ins("ins-abc12345", 80)}},
	{name: "IPv4", input: "10.0.0.5:8080\n", want: []clb.Target{eni("10.0.0.5", 8080)}},
	{name: "IPv6 in brackets", input: "[fd00::5]:8080", want: []clb.Target{eni("fd00::5", 8080)}},
	{name: "comments, blank lines and spaces",
		input: "# web tier\n\n   ins-abc12345:80   \n\t10.0.0.5:8080 # zone A\n#ins-zzz99999:80\n   \n",
		want:  []clb.Target{ins("ins-abc12345", 80), eni("10.0.0.5", 8080)}},
	{name: "CRLF line ends", input: "ins-abc12345:80\r\nins-def67890:81\r\n",
		want: []clb.Target{ins("ins-abc12345", 80), ins("ins-def67890", 81)}},
	{name: "byte order mark", input: "\uFEFFins-abc12345:80", want: []clb.Target{ins("ins-abc12345", 80)}},
	{name: "IPv4-mapped IPv6 as clb.Target.Key writes it", input: "::ffff:10.0.0.5:80",
		want: []clb.Target{eni("::ffff:10.0.0.5", 80)}},
	{name: "out-of-range values are left to validation", input: "10.0.0.256:70000\nweb-1:0",
		want: []clb.Target{eni("10.0.0.256", 70000), ins("web-1", 0)}},
	{name: "duplicates are kept for validation to merge", input: "ins-abc12345:80\nins-abc12345:80",
		want: []clb.Target{ins("ins-abc12345", 80), ins("ins-abc12345", 80)}},
	{name: "empty file", input: "", want: nil},
	{name: "only comments", input: "# nothing to drain today\n", want: nil},
	{name: "JSON", input: `[{"InstanceId":"ins-abc12345","Port":80},{"EniIp":"10.0.0.5","Port":8080}]`,
		want: []clb.Target{ins("ins-abc12345", 80), eni("10.0.0.5", 8080)}},
	{name: "JSON over lines", input: "\n  [\n  {\"EniIp\": \"fd00::5\", \"Port\": 443},\n  {\"InstanceId\": \"ins-abc12345\", \"Port\": 80, \"Weight\": null}\n]\n",
		want: []clb.Target{eni("fd00::5", 443), ins("ins-abc12345", 80)}},
	{name: "JSON empty array", input: "[]", want: []clb.Target{}},

	{name: "no port", input: "ins-abc12345",
		problems: []problem{{"targets file line 1", "ins-abc12345", "has no port"}}},
	{name: "port not a number", input: "ins-abc12345:http",
		problems: []problem{{"targets file line 1", "ins-abc12345:http", `port "http" is not a number`}}},
	{name: "empty port", input: "10.0.0.5:",
		problems: []problem{{"targets file line 1", "10.0.0.5:", `port "" is not a number`}}},
	{name: "a weight is refused", input: "ins-abc12345:80\n[fd00::5]:443@0\nins-abc12345:81@heavy",
		problems: []problem{
			{"targets file line 2", "[fd00::5]:443@0", "has a weight (@0): a drain takes no weights (it reads each target's weight from the load balancer, to drain it and to put it back if cancelled), so write host:port alone"},
			{"targets file line 3", "ins-abc12345:81@heavy", "has a weight (@heavy)"},
		}},
	{name: "IPv6 without brackets", input: "fd00::5:8080",
		problems: []problem{{"targets file line 1", "fd00::5:8080", "must be in brackets"}}},
	{name: "IPv4 in brackets", input: "[10.0.0.5]:80",
		problems: []problem{{"targets file line 1", "[10.0.0.5]:80", "brackets must hold an IPv6 address"}}},
	{name: "unclosed bracket", input: "[fd00::5:80",
		problems: []problem{{"targets file line 1", "[fd00::5:80", "brackets must hold an IPv6 address"}}},
	{name: "two targets on one line", input: "ins-abc12345:80 ins-def67890:80",
		problems: []problem{{"targets file line 1", "ins-abc12345:80 ins-def67890:80", "has a space inside"}}},
	{name: "no host", input: ":80",
		problems: []problem{{"targets file line 1", ":80", "has no host"}}},
	{name: "quoted host", input: `"ins-abc12345":80`,
		problems: []problem{{"targets file line 1", `"ins-abc12345":80`, "neither an InstanceId"}}},
	{name: "every bad line at once, with its number", input: "ins-abc12345:80\nins-bad\n\n# ok\n10.0.0.5:x\nins-def67890:81@\n",
		problems: []problem{
			{"targets file line 2", "ins-bad", "has no port"},
			{"targets file line 5", "10.0.0.5:x", `port "x" is not a number`},
			{"targets file line 6", "ins-def67890:81@", "has a weight (@)"},
		}},
	{name: "with a bad line, the other lines' own problems too", input: "ins-BAD:80\nnot-a-target\n10.0.0.999:8080\nins-abc12345:70000\nins-abc12345:81\n",
		problems: []problem{
			{"targets file line 1.InstanceId", "ins-BAD", "must be ins- followed by 8 lowercase letters or digits"},
			{"targets file line 2", "not-a-target", "has no port"},
			{"targets file line 3.EniIp", "10.0.0.999", "must be an IPv4 or IPv6 address"},
			{"targets file line 4.Port", "70000", "must be 1-65535"},
		}},
	{name: "a long line is cut in the error", input: strings.Repeat("x", 500),
		problems: []problem{{"targets file line 1", strings.Repeat("x", maxValueLen) + "...", "has no port"}}},

	{name: "JSON unknown field", input: "[\n{\"InstanceId\":\"ins-abc12345\",\"Port\":80},\n{\"InstanceID\":\"ins-abc12345\",\"Prot\":80}\n]",
		problems: []problem{{"targets file line 3", `{"InstanceID":"ins-abc12345","Prot":80}`, `target 2: unknown field "Prot"`}}},
	{name: "JSON every bad element at once", input: "[\n  {\"InstanceId\":\"ins-abc12345\",\"Port\":\"80\"},\n  \"ins-def67890:80\",\n  {\"EniIp\":\"10.0.0.5\",\"Port\":80}\n]",
		problems: []problem{
			{"targets file line 2", `{"InstanceId":"ins-abc12345","Port":"80"}`, "target 1: cannot unmarshal string"},
			{"targets file line 3", `"ins-def67890:80"`, "target 2: must be an object"},
		}},
	{name: "JSON weight is refused", input: "[\n{\"InstanceId\":\"ins-abc12345\",\"Port\":80,\"Weight\":50}\n]",
		problems: []problem{{"targets file line 2", `{"InstanceId":"ins-abc12345","Port":80,"Weight":50}`,
			"target 1: has a Weight (50): a drain takes no weights (it reads each target's weight from the load balancer, to drain it and to put it back if cancelled), so leave Weight out"}}},
	{name: "JSON syntax error", input: "[\n{\"InstanceId\":\"ins-abc12345\",\"Port\":80},\n{\"InstanceId\":\"ins-def67890\" \"Port\":80}\n]",
		problems: []problem{{"targets file line 3", `{"InstanceId":"ins-def67890" "Port":80}`, "invalid character"}}},
	{name: "JSON not closed", input: "[{\"InstanceId\":\"ins-abc12345\",\"Port\":80},\n",
		problems: []problem{{"targets file line 2", "", "not closed with ]"}}},
	{name: "JSON object instead of array", input: `{"InstanceId":"ins-abc12345","Port":80}`,
		problems: []problem{{"targets file line 1", `{"InstanceId":"ins-abc12345","Port":80}`, "is an array of targets"}}},
	{name: "JSON text after the array", input: "[]\n[]",
		problems: []problem{{"targets file line 2", "[]", "unexpected text after the JSON array"}}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.input))
			if tc.problems == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			var verr *clb.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Nil(t, got)
			require.Len(t, verr.Problems, len(tc.problems), "problems: %v", verr.Problems)
			for i, want := range tc.problems {
				p := verr.Problems[i]
				assert.Equal(t, want.field, p.Field)
				assert.Equal(t, want.value, p.Value)
				assert.Contains(t, p.Reason, want.reason)
			}
			assert.Contains(t, err.Error(), tc.problems[0].field, "the error text names the line")
		})
	}
}

func TestParseReadError(t *testing.T) {
	_, err := Parse(iotest.ErrReader(errors.New("disk on fire")))
	require.ErrorContains(t, err, "reading targets: disk on fire")
}

// sameTarget compares what a target means: its kind and its binding. EniIp
// text may differ in spelling (FD00::5 and fd00::5).
func sameTarget(a, b clb.Target) bool {
	return (a.InstanceId == "") == (b.InstanceId == "") && a.Key() == b.Key()
}

// FuzzParse checks that Parse never panics, that it fails only with a
// *clb.ValidationError naming lines, and that whatever it accepts is written
// back by clb.Target.String in a form it reads as the same targets. A JSON
// target that validation would reject (both or neither of InstanceId and
// EniIp, a host with spaces) has no line form, so the round trip is checked
// for the JSON targets that validate and for every line target.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.input)
	}
	f.Add(`[{"EniIp":"FD00::5","Port":443,"Weight":7},{"EniIp":"::ffff:10.0.0.5","Port":80}]`)
	f.Add("[fe80::1%eth0]:80\n1]:80\nA[b]:65535@-3\n::ffff:1.2.3.4%z:1")
	f.Add("[{}, null, {\"Port\": 1e3}]")
	f.Fuzz(func(t *testing.T, input string) {
		targets, err := Parse(strings.NewReader(input))
		if err != nil {
			var verr *clb.ValidationError
			require.ErrorAs(t, err, &verr)
			require.NotEmpty(t, verr.Problems)
			for _, p := range verr.Problems {
				require.True(t, strings.HasPrefix(p.Field, "targets file line "), "field %q", p.Field)
			}
			return
		}
		fromJSON := isJSON(bytes.TrimPrefix([]byte(input), []byte("\uFEFF")))
		var kept []clb.Target
		var lines []string
		for _, tg := range targets {
			if fromJSON && len(clb.ValidateTarget("Targets[0]", tg)) > 0 {
				continue
			}
			kept = append(kept, tg)
			lines = append(lines, tg.String())
		}
		again, err := Parse(strings.NewReader(strings.Join(lines, "\n")))
		require.NoError(t, err, "re-reading %q", lines)
		require.Len(t, again, len(kept))
		for i := range kept {
			require.True(t, sameTarget(kept[i], again[i]), "%#v became %#v through %q", kept[i], again[i], lines[i])
		}
	})
}
