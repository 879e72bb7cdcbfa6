package clb_test

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// FuzzValidateTarget: validation never panics and is deterministic, each
// problem names the target or one of its fields, and a target without
// problems has a Key that splits back into its address (or instance) and
// port, and names the binding it describes.
func FuzzValidateTarget(f *testing.F) {
	seeds := []struct {
		instanceID, eniIP string
		port              int64
	}{
		{"ins-abc12345", "", 80},
		{"", "10.0.0.5", 8080},
		{"", "fd00::5", 65535},
		{"", "::ffff:10.0.0.5", 1},
		{"", "FD00:0:0::5", 443},
		{"", "fe80::1%eth0", 80},
		{"ins-abc12345", "10.0.0.5", 80},
		{"", "", 0},
		{"INS-ABC12345", "", 65536},
		{"", "10.0.0.256", -1},
		{"", "[fd00::5]", 80},
		{"", "10.0.0.5:80", 80},
		{"ins-\x00bc12345", "", 80},
		{"", "1.2.3.4\n", 80},
	}
	for _, s := range seeds {
		f.Add(s.instanceID, s.eniIP, s.port)
	}
	f.Fuzz(func(t *testing.T, instanceID, eniIP string, port int64) {
		target := clb.Target{InstanceId: instanceID, EniIp: eniIP, Port: port}
		problems := clb.ValidateTarget("Targets[7]", target)
		require.Equal(t, problems, clb.ValidateTarget("Targets[7]", target), "deterministic")
		for _, p := range problems {
			require.True(t, p.Field == "Targets[7]" || strings.HasPrefix(p.Field, "Targets[7]."), p.Field)
			require.NotEmpty(t, p.Reason)
		}
		if len(problems) > 0 {
			require.Error(t, clb.Err(problems))
			return
		}

		require.True(t, (instanceID == "") != (eniIP == ""), "exactly one of InstanceId and EniIp")
		require.True(t, port >= clb.MinPort && port <= clb.MaxPort)

		key := target.Key()
		host, portText, err := net.SplitHostPort(key)
		require.NoError(t, err, key)
		require.Equal(t, strconv.FormatInt(port, 10), portText)
		if instanceID != "" {
			require.Equal(t, instanceID, host)
		} else {
			got, err := netip.ParseAddr(host)
			require.NoError(t, err, key)
			require.Equal(t, netip.MustParseAddr(eniIP).Unmap(), got, "the address, IPv4-mapped ones unmapped")
		}
		require.Equal(t, key, clb.WeightedTarget{Target: target, Weight: 7}.Key())

		bound := clb.BoundTarget{InstanceId: instanceID, Port: port}
		if eniIP != "" {
			bound.PrivateIpAddresses = []string{host}
		}
		require.True(t, bound.Matches(target), "the binding its Key names")
		merged, removed := clb.MergeDuplicates([]clb.Target{target, target})
		require.Len(t, merged, 1)
		require.Equal(t, 1, removed)
	})
}

var (
	lbPattern       = regexp.MustCompile(`^lb-[a-z0-9]{8}$`)
	listenerPattern = regexp.MustCompile(`^lbl-[a-z0-9]{8}$`)
	locationPattern = regexp.MustCompile(`^loc-[a-z0-9]{8}$`)
)

// FuzzValidateSelector: validation never panics and is deterministic,
// reports each field at most once, and accepts only well-formed IDs and a
// rule named by LocationId or by Domain and Url together.
func FuzzValidateSelector(f *testing.F) {
	f.Add("lb-abc12345", "lbl-abc12345", "", "", "")
	f.Add("lb-abc12345", "lbl-abc12345", "loc-abc12345", "", "")
	f.Add("lb-abc12345", "lbl-abc12345", "", "www.example.com", "/api")
	f.Add("lb-abc12345", "lbl-abc12345", "loc-abc12345", "www.example.com", "")
	f.Add("", "", "", "", "")
	f.Add("lb-ABC12345", "lbl-abc1234", "loc-", "a b", "api")
	f.Add("lb-abc12345\n", "lbl-abc12345", "", "www.example.com/", "/a b")
	f.Add("lb-abc12345", "lbl-abc12345", "", "", "/only-url")
	f.Add("lb-abc12345", "lbl-abc12345", "", strings.Repeat("a", 256), "/"+strings.Repeat("b", 255))
	f.Fuzz(func(t *testing.T, lb, listener, location, domain, url string) {
		sel := clb.Selector{LoadBalancerId: lb, ListenerId: listener, LocationId: location, Domain: domain, Url: url}
		problems := clb.ValidateSelector(sel)
		require.Equal(t, problems, clb.ValidateSelector(sel), "deterministic")
		seen := map[string]bool{}
		for _, p := range problems {
			switch p.Field {
			case "LoadBalancerId", "ListenerId", "LocationId", "Domain", "Url":
			default:
				t.Fatalf("unexpected field %q", p.Field)
			}
			require.False(t, seen[p.Field], "%s reported twice: %v", p.Field, problems)
			seen[p.Field] = true
			require.NotEmpty(t, p.Reason)
		}
		if len(problems) > 0 {
			return
		}
		require.Regexp(t, lbPattern, lb)
		require.Regexp(t, listenerPattern, listener)
		require.True(t, location == "" || locationPattern.MatchString(location), location)
		require.Equal(t, domain == "", url == "", "Domain and Url go together")
		require.True(t, url == "" || strings.HasPrefix(url, "/"))
		require.Equal(t, location != "" || domain != "", sel.HasRule())
		require.True(t, strings.HasPrefix(sel.String(), lb+"/"+listener))
	})
}
