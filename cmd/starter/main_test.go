package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/workflows"
)

// closedTemporal points the Temporal connection at a port nothing listens
// on, so that any dial fails.
func closedTemporal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.toml"))
	t.Setenv("TEMPORAL_ADDRESS", addr)
	t.Setenv("TEMPORAL_PROFILE", "")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// TestBadInputNeverDialsTemporal runs the real command, Temporal pointed at
// a closed port: each bad input exits 2 (a failed dial would exit 1), lists
// every problem, and returns at once.
func TestBadInputNeverDialsTemporal(t *testing.T) {
	closedTemporal(t)
	bad := writeFile(t, "bad.txt", "ins-abc12345:80\nins-def67890\n10.0.0.5:http\n")
	good := writeFile(t, "good.txt", "ins-abc12345:80\n")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no command", nil, []string{"Usage:", "Exit codes:"}},
		{"unknown command", []string{"drian"}, []string{`unknown command "drian"`}},
		{"unknown flag", []string{"drain", "--lb=lb-abc12345", "--bogus"}, []string{"flag provided but not defined: -bogus", "starter help drain"}},
		{"stray argument", []string{"drain", "--lb", "lb-abc12345", "ins-abc12345:80"}, []string{`unexpected argument "ins-abc12345:80"`}},
		{"nothing given", []string{"drain"}, []string{
			"3 problems", "--targets: is required", "LoadBalancerId: is required (--lb)", "ListenerId: is required (--listener)"}},
		{"every problem at once", []string{"drain", "--lb", "lb-ABC", "--listener", "lbl-abc12345", "--domain", "example.com",
			"--targets", bad, "--chunk-size", "21", "--drain-delay", "25h", "--timeout", "-1m"}, []string{
			"7 problems",
			`targets file line 2 = "ins-def67890": has no port`,
			`targets file line 3 = "10.0.0.5:http": port "http" is not a number`,
			`--timeout = "-1m0s": must be 0 (none) or more`,
			`LoadBalancerId = "lb-ABC": must be lb- followed by 8 lowercase letters or digits`,
			`Url: is required with Domain "example.com"`,
			`DrainDelay = "25h0m0s"`,
			`ChunkSize = "21"`,
		}},
		{"semantic target problems", []string{"drain", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets",
			writeFile(t, "t.txt", "ins-abc12345:0\nweb-1:80\n")}, []string{
			`Targets[0].Port = "0": must be 1-65535 (--targets)`,
			`Targets[1].InstanceId = "web-1"`,
		}},
		{"unreadable targets file", []string{"drain", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "/nonexistent/targets"},
			[]string{`--targets = "/nonexistent/targets": cannot be read`}},
		{"empty targets from stdin", []string{"drain", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-"},
			[]string{`Targets = "[]": must list at least one target`}},
		{"schedule without when or ID", []string{"schedule", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", good},
			[]string{"--schedule-id: is required", "--cron or --every: is required"}},
		{"schedule with a bad input", []string{"schedule", "--schedule-id", "nightly", "--every", "24h", "--lb", "lb-abc12345", "--targets", good},
			[]string{"ListenerId: is required"}},
		{"status without an ID", []string{"status"}, []string{"needs WORKFLOW_ID"}},
		{"cancel with two IDs", []string{"cancel", "a", "b"}, []string{"takes one WORKFLOW_ID"}},
		{"unschedule without an ID", []string{"unschedule"}, []string{"needs SCHEDULE_ID"}},
		{"help for an unknown command", []string{"help", "drian"}, []string{`unknown command "drian"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(context.Background(), append([]string{"/usr/local/bin/starter"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			assert.Less(t, time.Since(start), time.Second)
			assert.Equal(t, exitUsage, code, "stderr: %s", stderr.String())
			for _, want := range tc.want {
				assert.Contains(t, stderr.String(), want)
			}
			assert.Empty(t, stdout.String())
			assert.NotContains(t, stderr.String(), "connecting to Temporal")
		})
	}
}

func TestUnreachableTemporalExits1(t *testing.T) {
	closedTemporal(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"starter", "status", "clb-drain/lb-abc12345/lbl-abc12345"}, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stderr.String(), "starter status: connecting to Temporal at 127.0.0.1:")
}

func TestHelpListsEveryFlag(t *testing.T) {
	res := runWith(t, nil, "", "help")
	require.Equal(t, exitOK, res.code)
	for _, flag := range []string{"--lb ID", "--listener ID", "--location ID", "--domain HOST", "--url PATH", "--targets FILE",
		"--drain-delay DURATION", "--chunk-size N", "--reason TEXT", "--workflow-id ID", "--task-queue QUEUE", "--wait",
		"--json", "--timeout DURATION", "--schedule-id ID", "--cron EXPR", "--every DURATION", "--pause",
		`(default "clb-drain")`} {
		assert.Contains(t, res.stdout, flag)
	}
	for _, code := range []string{"0  done", "1  the drain failed", "2  bad input or usage", "3  already running"} {
		assert.Contains(t, res.stdout, code)
	}
	for _, cmd := range []string{"drain", "status", "cancel", "schedule", "unschedule"} {
		assert.Contains(t, res.stdout, "Usage: starter "+cmd+" ")
	}
}

func TestDashHPrintsTheCommandUsage(t *testing.T) {
	for _, cmd := range []string{"drain", "status", "cancel", "schedule", "unschedule"} {
		res := runWith(t, nil, "", cmd, "-h")
		assert.Equal(t, exitOK, res.code)
		assert.True(t, strings.HasPrefix(res.stdout, "Usage: starter "+cmd+" "), res.stdout)
		assert.Contains(t, res.stdout, "Exit codes:")
		assert.False(t, res.dialed)
	}
	res := runWith(t, nil, "", "help", "schedule")
	assert.Equal(t, exitOK, res.code)
	assert.Contains(t, res.stdout, "--every DURATION")
	assert.NotContains(t, res.stdout, "Usage: starter drain ")
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"clb-drain/lb-abc12345/lbl-abc12345":                  "clb-drain/lb-abc12345/lbl-abc12345",
		"clb-drain/lb-abc12345/lbl-abc12345/example.com/api/": "clb-drain/lb-abc12345/lbl-abc12345/example.com/api/",
		"clb-drain/lb-abc12345/lbl-abc12345/a.com/x?y=1&z":    "'clb-drain/lb-abc12345/lbl-abc12345/a.com/x?y=1&z'",
		"it's": `'it'\''s'`,
		"":     "''",
	} {
		assert.Equal(t, want, shellQuote(in), in)
	}
}

// TestSingleDashFlags: the Go flag package's -flag spellings still work; a
// value that looks like a flag stays a value.
func TestSingleDashFlags(t *testing.T) {
	file := writeFile(t, "targets.txt", "ins-abc12345:80\n")
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "", "drain", "-lb", "lb-abc12345", "-listener=lbl-abc12345", "-targets", file,
		"-reason", "-wait", "-chunk-size", "5", "-json")
	require.Equal(t, exitOK, res.code, res.stderr)
	in := startedInput(t, fc)
	assert.Equal(t, "lb-abc12345", in.LoadBalancerId)
	assert.Equal(t, "lbl-abc12345", in.ListenerId)
	assert.Equal(t, "-wait", in.Reason)
	assert.Equal(t, 5, in.ChunkSize)
	assert.Contains(t, res.stdout, `"WorkflowId"`, "-json was read as --json")
}

func TestHelpAtTheTopExits0(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		res := runWith(t, nil, "", args...)
		assert.Equal(t, exitOK, res.code, "%q", args)
		assert.True(t, strings.HasPrefix(res.stdout, "starter starts, watches, cancels, schedules and lists"), "%q", args)
		assert.Equal(t, 11, strings.Count(res.stdout, "\nUsage: starter "), "%q: every subcommand's usage", args)
		assert.Empty(t, res.stderr)
	}
}

func TestBadFlagValuesAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"drain", "--chunk-size", "x"}, `starter drain: invalid value "x" for flag -chunk-size: parse error` + "\n"},
		{[]string{"schedule", "--every", "daily"}, `starter schedule: invalid value "daily" for flag -every: parse error` + "\n"},
		{[]string{"status", "--wait=maybe", "id"}, `starter status: invalid boolean value "maybe" for -wait: parse error` + "\n"},
		{[]string{"drain", "--lb"}, "starter drain: flag needs an argument: -lb\n"},
		{[]string{"--bogus"}, "starter: flag provided but not defined: -bogus\n\nstarter starts,"},
	} {
		res := runWith(t, nil, "", tc.args...)
		assert.Equal(t, exitUsage, res.code, "%q", tc.args)
		assert.True(t, strings.HasPrefix(res.stderr, tc.want), "%q: %s", tc.args, res.stderr)
		if tc.args[0] != "--bogus" {
			assert.Contains(t, res.stderr, "\nUsage: starter "+tc.args[0]+" ")
			assert.Contains(t, res.stderr, "Run 'starter help "+tc.args[0]+"' for every flag.")
		}
		assert.Empty(t, res.stdout)
	}
}
