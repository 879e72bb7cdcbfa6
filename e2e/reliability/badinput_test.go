package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// named is what an error must name of a bad input: the field, and the value
// found (or, for a missing value, a word of the reason that names the
// other field's value).
type named struct {
	field, value, reason string
}

// in reports whether text names the field and the value as a problem
// prints them: `Field = "value"`, or `Field` and the reason for an empty
// value.
func (n named) in(text string) bool {
	if n.value != "" {
		return strings.Contains(text, n.field+" = "+strconv.Quote(n.value))
	}
	return strings.Contains(text, n.field) && strings.Contains(text, n.reason)
}

// badInput is a malformed drain: an input, changed from a good one, that
// goes through the starter (as flags and a JSON targets file) and through a
// client start, or a targets file that only the starter reads.
type badInput struct {
	name string
	// change spoils a good input; nil for a file case.
	change func(in *workflows.DrainInput)
	// file, for a file case, is the targets file's text; missing names a
	// file that does not exist.
	file    string
	missing bool
	// clientOnly marks a field the starter has no flag for; starterOnly
	// text that is not UTF-8, which a client's JSON encoding replaces
	// before the workflow could see it.
	clientOnly, starterOnly bool
	want                    []named
}

func badInputs() []badInput {
	target := func(t clb.Target) func(*workflows.DrainInput) {
		return func(in *workflows.DrainInput) { in.Targets[0] = t }
	}
	many := func(in *workflows.DrainInput) {
		in.Targets = nil
		for i := range workflows.MaxTargets + 1 {
			in.Targets = append(in.Targets, clb.Target{InstanceId: fmt.Sprintf("ins-%08d", i), Port: 80})
		}
	}
	return []badInput{
		{name: "no load balancer", change: func(in *workflows.DrainInput) { in.LoadBalancerId = "" }, want: []named{{"LoadBalancerId", "", "is required"}}},
		{name: "load balancer in capitals", change: func(in *workflows.DrainInput) { in.LoadBalancerId = "lb-ABC12345" }, want: []named{{field: "LoadBalancerId", value: "lb-ABC12345"}}},
		{name: "load balancer too short", change: func(in *workflows.DrainInput) { in.LoadBalancerId = "lb-abc1234" }, want: []named{{field: "LoadBalancerId", value: "lb-abc1234"}}},
		{name: "load balancer with another prefix", change: func(in *workflows.DrainInput) { in.LoadBalancerId = "clb-abc12345" }, want: []named{{field: "LoadBalancerId", value: "clb-abc12345"}}},
		{name: "no listener", change: func(in *workflows.DrainInput) { in.ListenerId = "" }, want: []named{{"ListenerId", "", "is required"}}},
		{name: "listener too long", change: func(in *workflows.DrainInput) { in.ListenerId = "lbl-abc123456" }, want: []named{{field: "ListenerId", value: "lbl-abc123456"}}},
		{name: "a load balancer as listener", change: func(in *workflows.DrainInput) { in.ListenerId = "lb-abc12345" }, want: []named{{field: "ListenerId", value: "lb-abc12345"}}},
		{name: "location in capitals", change: func(in *workflows.DrainInput) { in.LocationId = "loc-ABCDEFGH" }, want: []named{{field: "LocationId", value: "loc-ABCDEFGH"}}},
		{name: "location without prefix", change: func(in *workflows.DrainInput) { in.LocationId = "location-1" }, want: []named{{field: "LocationId", value: "location-1"}}},
		{name: "domain without url", change: func(in *workflows.DrainInput) { in.Domain = "app.example.com" }, want: []named{{"Url", "", `"app.example.com"`}}},
		{name: "url without domain", change: func(in *workflows.DrainInput) { in.Url = "/api" }, want: []named{{"Domain", "", `"/api"`}}},
		{name: "domain with a space", change: func(in *workflows.DrainInput) { in.Domain, in.Url = "app example.com", "/api" }, want: []named{{field: "Domain", value: "app example.com"}}},
		{name: "domain not UTF-8", change: func(in *workflows.DrainInput) { in.Domain, in.Url = "\xffexample.com", "/api" }, starterOnly: true, want: []named{{field: "Domain", value: "\xffexample.com"}}},
		{name: "domain too long", change: func(in *workflows.DrainInput) { in.Domain, in.Url = strings.Repeat("a", 256), "/api" }, want: []named{{field: "Domain", value: strings.Repeat("a", 256)}}},
		{name: "url without slash", change: func(in *workflows.DrainInput) { in.Domain, in.Url = "app.example.com", "api" }, want: []named{{field: "Url", value: "api"}}},
		{name: "no targets", change: func(in *workflows.DrainInput) { in.Targets = nil }, want: []named{{field: "Targets", value: "[]"}}},
		{name: "one target too many", change: many, want: []named{{field: "Targets", value: "10001 targets"}}},
		{name: "neither InstanceId nor EniIp", change: target(clb.Target{Port: 80}), want: []named{{field: "Targets[0]", value: ":80"}}},
		{name: "both InstanceId and EniIp", change: target(clb.Target{InstanceId: "ins-abc12345", EniIp: "10.0.0.5", Port: 80}), want: []named{{field: "Targets[0]", value: "ins-abc12345 and 10.0.0.5"}}},
		{name: "instance in capitals", change: target(clb.Target{InstanceId: "ins-ABC12345", Port: 80}), want: []named{{field: "Targets[0].InstanceId", value: "ins-ABC12345"}}},
		{name: "instance of another kind", change: target(clb.Target{InstanceId: "i-abc12345", Port: 80}), want: []named{{field: "Targets[0].InstanceId", value: "i-abc12345"}}},
		{name: "IPv4 out of range", change: target(clb.Target{EniIp: "10.0.0.256", Port: 80}), want: []named{{field: "Targets[0].EniIp", value: "10.0.0.256"}}},
		{name: "IPv4 cut short", change: target(clb.Target{EniIp: "10.0.0", Port: 80}), want: []named{{field: "Targets[0].EniIp", value: "10.0.0"}}},
		{name: "IPv6 with a zone", change: target(clb.Target{EniIp: "fe80::1%eth0", Port: 80}), want: []named{{field: "Targets[0].EniIp", value: "fe80::1%eth0"}}},
		{name: "port 0", change: target(clb.Target{InstanceId: "ins-abc12345", Port: 0}), want: []named{{field: "Targets[0].Port", value: "0"}}},
		{name: "port 65536", change: target(clb.Target{InstanceId: "ins-abc12345", Port: 65536}), want: []named{{field: "Targets[0].Port", value: "65536"}}},
		{name: "negative port", change: target(clb.Target{InstanceId: "ins-abc12345", Port: -80}), want: []named{{field: "Targets[0].Port", value: "-80"}}},
		{name: "negative drain delay", change: func(in *workflows.DrainInput) { in.DrainDelay = -time.Second }, want: []named{{field: "DrainDelay", value: "-1s"}}},
		{name: "drain delay over a day", change: func(in *workflows.DrainInput) { in.DrainDelay = 25 * time.Hour }, want: []named{{field: "DrainDelay", value: "25h0m0s"}}},
		{name: "chunk size 21", change: func(in *workflows.DrainInput) { in.ChunkSize = 21 }, want: []named{{field: "ChunkSize", value: "21"}}},
		{name: "negative chunk size", change: func(in *workflows.DrainInput) { in.ChunkSize = -1 }, want: []named{{field: "ChunkSize", value: "-1"}}},
		{name: "reason too long", change: func(in *workflows.DrainInput) { in.Reason = strings.Repeat("r", 1025) }, want: []named{{field: "Reason", value: "1025 bytes"}}},
		{name: "reason not UTF-8", change: func(in *workflows.DrainInput) { in.Reason = "ticket \xff42" }, starterOnly: true, want: []named{{field: "Reason", value: "ticket \xff42"}}},
		{name: "negative chunks per run", change: func(in *workflows.DrainInput) { in.ChunksPerRun = -1 }, clientOnly: true, want: []named{{field: "ChunksPerRun", value: "-1"}}},
		{name: "three problems at once", change: func(in *workflows.DrainInput) {
			in.LoadBalancerId = "lb-nope"
			in.Targets[0].Port = 70000
			in.Targets[1].Port = 0
		}, want: []named{{field: "LoadBalancerId", value: "lb-nope"}, {field: "Targets[0].Port", value: "70000"}, {field: "Targets[1].Port", value: "0"}}},

		{name: "line without port", file: "ins-abc12345\n", want: []named{{field: "targets file line 1", value: "ins-abc12345"}}},
		{name: "port not a number", file: "# web\nins-abc12345:http\n", want: []named{{field: "targets file line 2", value: "ins-abc12345:http"}}},
		{name: "space inside a line", file: "ins-abc12345 80\n", want: []named{{field: "targets file line 1", value: "ins-abc12345 80"}}},
		{name: "weight not a number", file: "ins-abc12345:80@heavy\n", want: []named{{field: "targets file line 1", value: "ins-abc12345:80@heavy"}}},
		{name: "a weight, which a drain does not take", file: "ins-abc12345:80@50\n", want: []named{{field: "targets file line 1", value: "ins-abc12345:80@50"}}},
		{name: "IPv6 without brackets", file: "fd00::5:80\n", want: []named{{field: "targets file line 1", value: "fd00::5:80"}}},
		{name: "IPv4 in brackets", file: "[10.0.0.5]:80\n", want: []named{{field: "targets file line 1", value: "[10.0.0.5]:80"}}},
		{name: "quoted host", file: "'ins-abc12345':80\n", want: []named{{field: "targets file line 1", value: "'ins-abc12345':80"}}},
		{name: "JSON object, not array", file: `{"InstanceId":"ins-abc12345","Port":80}`, want: []named{{"targets file line 1", "", "array"}}},
		{name: "JSON unknown field", file: "[\n{\"Instance\":\"ins-abc12345\",\"Port\":80}\n]", want: []named{{"targets file line 2", "", `unknown field "Instance"`}}},
		{name: "JSON not closed", file: `[{"InstanceId":"ins-abc12345","Port":80}`, want: []named{{"targets file line 1", "", "not closed"}}},
		{name: "JSON port as text", file: `[{"InstanceId":"ins-abc12345","Port":"80"}]`, want: []named{{"targets file line 1", "", "Port"}}},
		{name: "targets file missing", missing: true, want: []named{{"--targets", "", "cannot be read"}}},
	}
}

// unknownRule is a well-formed drain naming a rule the listener does not
// have, or none where one is needed, or one where none can be: refused
// after the one DescribeTargets of the snapshot.
type unknownRule struct {
	name     string
	in       workflows.DrainInput
	errType  string
	mentions string
}

// Malformed drains through the starter (exit 2, the field and value named,
// nothing started) and through a client start (the workflow fails with a
// non-retryable InvalidInput ApplicationError naming them), with clbsim
// seeing no call at all; then well-formed drains naming an unknown rule (or
// none on a layer-7 listener, or one on a layer-4 listener), which fail with
// RuleRequired (InvalidInput for the layer-4 one) naming it, after the
// snapshot's one DescribeTargets and no change.
func TestBadInput(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 20}
	sc := newScenario(t, 5, "bad input", "bad-input", spec, clbsim.Config{TaskLatency: 50 * time.Millisecond})
	lb := sc.initial.LoadBalancers[0]
	l4, _ := harness.Listener(lb, false)
	l7, _ := harness.Listener(lb, true)
	good := func() workflows.DrainInput {
		return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId},
			Targets: harness.TargetsOf(l4.Targets)[:2], Reason: "reliability: bad input"}
	}
	sc.startWorker()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cases := badInputs()

	// Through the starter.
	viaStarter := 0
	for _, c := range cases {
		if c.clientOnly {
			continue
		}
		in := good()
		file := filepath.Join(t.TempDir(), "absent")
		switch {
		case c.missing:
		case c.change == nil:
			file = filepath.Join(t.TempDir(), "targets")
			require.NoError(t, os.WriteFile(file, []byte(c.file), 0o600))
		default:
			c.change(&in)
			file = writeJSONTargets(t, in.Targets)
		}
		args := []string{"drain", "--task-queue", sc.queue, "--wait", "--targets", file}
		res := sc.starter(ctx, "", append(args, flagsOf(in)...)...)
		viaStarter++
		if assert.Equal(t, 2, res.Code, "%s: exit 2\n%s", c.name, res.Stderr) {
			assert.Contains(t, res.Stderr, "nothing was started", c.name)
			for _, n := range c.want {
				assert.True(t, n.in(res.Stderr), "%s: the message names %+v:\n%s", c.name, n, res.Stderr)
			}
		}
	}

	// Through a client start, all at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	viaClient := 0
	for i, c := range cases {
		if c.change == nil || c.starterOnly {
			continue
		}
		in := good()
		c.change(&in)
		viaClient++
		wg.Go(func() {
			run, err := sc.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("reliability-bad-input-%02d", i), TaskQueue: sc.queue}, workflows.WorkflowName, in)
			if !assert.NoError(t, err, c.name) {
				return
			}
			err = run.Get(ctx, nil)
			mu.Lock()
			defer mu.Unlock()
			var app *temporal.ApplicationError
			if assert.True(t, errors.As(err, &app), "%s: an ApplicationError, got %v", c.name, err) {
				assert.Equal(t, workflows.ErrInvalidInput, app.Type(), c.name)
				assert.True(t, app.NonRetryable(), c.name)
				for _, n := range c.want {
					assert.True(t, n.in(app.Message()), "%s: the error names %+v:\n%s", c.name, n, app.Message())
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 0, apiCalls(sc.sim.Stats()), "no malformed input reached the CLB API")

	// Rules the listener does not have: the snapshot alone.
	sel7 := func(loc, domain, url string) workflows.DrainInput {
		return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l7.ListenerId, LocationId: loc, Domain: domain, Url: url},
			Targets: harness.TargetsOf(l7.Rules[0].Targets)[:2]}
	}
	onL4 := good()
	onL4.LocationId = l7.Rules[0].LocationId
	rules := []unknownRule{
		{"unknown LocationId", sel7("loc-zzzzzzzz", "", ""), workflows.ErrNoRule, "loc-zzzzzzzz"},
		{"unknown Domain and Url", sel7("", "nope.example.com", "/nope"), workflows.ErrNoRule, "nope.example.com/nope"},
		{"layer 7 without a rule", sel7("", "", ""), workflows.ErrNoRule, l7.Rules[0].LocationId},
		{"a rule on layer 4", onL4, workflows.ErrInvalidInput, l7.Rules[0].LocationId},
	}
	for i, r := range rules {
		before := sc.sim.Stats()
		run := sc.start(ctx, r.in, fmt.Sprintf("reliability-unknown-rule-%d", i))
		var app *temporal.ApplicationError
		if err := run.Get(ctx, nil); assert.True(t, errors.As(err, &app), "%s: got %v", r.name, err) {
			assert.Equal(t, r.errType, app.Type(), r.name)
			assert.Contains(t, app.Message(), r.mentions, r.name)
		}
		args := []string{"drain", "--task-queue", sc.queue, "--wait", "--targets", writeJSONTargets(t, r.in.Targets)}
		res := sc.starter(ctx, "", append(args, flagsOf(r.in)...)...)
		assert.Equal(t, 1, res.Code, "%s: the drain failed\n%s%s", r.name, res.Stdout, res.Stderr)
		assert.Contains(t, res.Stdout+res.Stderr, "error type: "+r.errType, r.name)
		assert.Contains(t, res.Stdout+res.Stderr, r.mentions, r.name)
		after := sc.sim.Stats()
		assert.Equal(t, 2, after.Actions[clb.ActionDescribeTargets].Requests-before.Actions[clb.ActionDescribeTargets].Requests,
			"%s: one snapshot per drain", r.name)
		// Each snapshot may also read the listener's attributes; nothing
		// else is called, and nothing changed.
		listeners := after.Actions[clb.ActionDescribeListeners].Requests - before.Actions[clb.ActionDescribeListeners].Requests
		assert.LessOrEqual(t, listeners, 2, "%s: at most one DescribeListeners per snapshot", r.name)
		assert.Equal(t, 2+listeners, apiCalls(after)-apiCalls(before), "%s: and nothing else", r.name)
	}

	sc.row.Injected = fmt.Sprintf("%d malformed inputs via the starter, %d via a client start; %d unknown or missing rules via both",
		viaStarter, viaClient, len(rules))
	sc.row.Outcome = "all refused naming field and value (starter exit 2, workflow InvalidInput); rules: RuleRequired/InvalidInput after 1 snapshot"
	sc.account(nil)
	assert.Zero(t, sc.sim.Stats().TasksCreated, "nothing was changed")
}

// flagsOf turns an input into the starter's drain flags, leaving out those
// at their zero value (the targets file excepted).
func flagsOf(in workflows.DrainInput) []string {
	var args []string
	add := func(flag, value string) {
		if value != "" {
			args = append(args, flag, value)
		}
	}
	add("--lb", in.LoadBalancerId)
	add("--listener", in.ListenerId)
	add("--location", in.LocationId)
	add("--domain", in.Domain)
	add("--url", in.Url)
	add("--reason", in.Reason)
	if in.DrainDelay != 0 {
		add("--drain-delay", in.DrainDelay.String())
	}
	if in.ChunkSize != 0 {
		add("--chunk-size", strconv.Itoa(in.ChunkSize))
	}
	return args
}

// writeJSONTargets writes targets as a JSON targets file (an empty file
// for none) and returns its path.
func writeJSONTargets(t *testing.T, targets []clb.Target) string {
	t.Helper()
	var body []byte
	if len(targets) > 0 {
		var err error
		body, err = json.Marshal(targets)
		require.NoError(t, err)
	}
	path := filepath.Join(t.TempDir(), "targets.json")
	require.NoError(t, os.WriteFile(path, body, 0o600))
	return path
}
