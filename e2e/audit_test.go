package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/workflows"
)

// listedDrain is a workflow of `starter list --json`.
type listedDrain struct {
	WorkflowID    string `json:"WorkflowId"`
	Kind          string
	Outcome       string
	Phase         string
	Requester     string
	Reason        string
	LoadBalancers []string
	Listeners     []string
	Servers       []string
	Started       time.Time
}

type listOutput struct {
	Query     string
	Workflows []listedDrain
}

// list runs `starter list --json` with args until check holds of its
// answer (visibility lags behind the workflows a little), and returns it.
func list(t *testing.T, check func(listOutput) bool, args ...string) listOutput {
	t.Helper()
	var out listOutput
	ok := harness.WaitFor(30*time.Second, 200*time.Millisecond, func() bool {
		code, stdout, stderr := s.starter(t, "", append([]string{"list", "--json"}, args...)...)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		out = listOutput{}
		require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
		return check(out)
	})
	require.True(t, ok, "starter list %q never showed what was expected; last answer: %+v", args, out)
	return out
}

// byID finds a workflow of a list answer.
func byID(out listOutput, id string) (listedDrain, bool) {
	for _, w := range out.Workflows {
		if w.WorkflowID == id {
			return w, true
		}
	}
	return listedDrain{}, false
}

// TestStarterListAnswersWhoDrainedTheLoadBalancer asks "who drained lb-…
// in the last hour, and why?" after a drain that completed and one that
// was cancelled, both started by the starter binary on the real worker.
func TestStarterListAnswersWhoDrainedTheLoadBalancer(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4, l7 := layer4(t, lb), layer7(t, lb)
	rule := l7.Rules[0]
	done := targetsOf(l4.Targets)[:10]
	code, stdout, stderr := s.starter(t, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l4.ListenerId,
		"--targets", writeTargets(t, done), "--requester", "alice", "--reason", "CHG-1042 kernel upgrade", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assertRemovedOnce(t, lb.LoadBalancerId, done)

	// The Temporal UI's summary and current details.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l4ID := workflows.WorkflowID(lb.LoadBalancerId, l4.ListenerId, "")
	desc, err := s.temporal.DescribeWorkflow(ctx, l4ID, "")
	require.NoError(t, err)
	summary, err := desc.GetStaticSummary()
	require.NoError(t, err)
	assert.Equal(t, "drain 10 targets from "+lb.LoadBalancerId+"/"+l4.ListenerId+" by alice: CHG-1042 kernel upgrade", summary)
	v, err := s.temporal.QueryWorkflow(ctx, l4ID, "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	assert.True(t, strings.HasPrefix(md.GetCurrentDetails(), "**done** · run 1 · 10 of 10 targets deregistered"), md.GetCurrentDetails())

	// A second drain, of a rule, with a long drain delay: listed as
	// running in its drain-wait phase, then cancelled.
	cancelled := targetsOf(rule.Targets)[:3]
	code, stdout, stderr = s.starter(t, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l7.ListenerId,
		"--location", rule.LocationId, "--targets", writeTargets(t, cancelled), "--drain-delay", "1h",
		"--requester", "bob", "--reason", "rollback")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	ruleID := workflows.WorkflowID(lb.LoadBalancerId, l7.ListenerId, rule.LocationId)
	running := list(t, func(out listOutput) bool {
		w, ok := byID(out, ruleID)
		return ok && w.Outcome == "running: drain-wait"
	}, "--lb", lb.LoadBalancerId, "--running")
	assert.Len(t, running.Workflows, 1, "only the running drain")
	code, stdout, stderr = s.starter(t, "", "cancel", "--wait", ruleID)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "weights restored:  3 targets")

	out := list(t, func(out listOutput) bool {
		w, ok := byID(out, ruleID)
		return len(out.Workflows) == 2 && ok && w.Outcome == "cancelled"
	}, "--lb", lb.LoadBalancerId, "--since", "1h")

	assert.Contains(t, out.Query, "ClbLoadBalancers = '"+lb.LoadBalancerId+"'")
	first, ok := byID(out, l4ID)
	require.True(t, ok, "%+v", out)
	assert.Equal(t, "alice", first.Requester)
	assert.Equal(t, "CHG-1042 kernel upgrade", first.Reason)
	assert.Equal(t, "done", first.Outcome)
	assert.Equal(t, workflows.KindDrain, first.Kind)
	assert.Equal(t, []string{lb.LoadBalancerId}, first.LoadBalancers)
	assert.Equal(t, []string{l4.ListenerId}, first.Listeners)
	assert.Len(t, first.Servers, 10)
	second, _ := byID(out, ruleID)
	assert.Equal(t, "bob", second.Requester)
	assert.Equal(t, "rollback", second.Reason)
	assert.Equal(t, []string{l7.ListenerId, l7.ListenerId + "/" + rule.LocationId}, second.Listeners)
	assert.Equal(t, ruleID, out.Workflows[0].WorkflowID, "newest first")

	// By server: the drains that take it out (a server may be bound on
	// both listeners).
	server := done[0].InstanceId
	if server == "" {
		server = done[0].EniIp
	}
	byServer := list(t, func(out listOutput) bool { _, ok := byID(out, l4ID); return ok }, "--server", server, "--since", "1h")
	for _, w := range byServer.Workflows {
		assert.Contains(t, w.Servers, server, "%s listed for a server it does not take out", w.WorkflowID)
	}

	// The README's temporal CLI line asks the same.
	cli, err := harness.FindCLI()
	require.NoError(t, err)
	raw, err := exec.Command(cli, "workflow", "list", "--address", s.dev.FrontendHostPort(), "--output", "json",
		"--query", "ClbLoadBalancers = '"+lb.LoadBalancerId+"' AND ClbRequester = 'alice'").Output()
	require.NoError(t, err)
	var found []map[string]any
	require.NoError(t, json.Unmarshal(raw, &found), "%s", raw)
	assert.Len(t, found, 1, "%s", raw)
}

// TestWorkerWithoutAuditAttributesStillDrains runs a worker against a
// Temporal server whose namespace lacks the audit search attributes, as a
// real cluster may: the worker says how to register them, and drains run
// to the end anyway (an upsert of an unknown attribute would stall them).
func TestWorkerWithoutAuditAttributesStillDrains(t *testing.T) {
	need(t)
	cli, err := harness.FindCLI()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dev, err := harness.StartDevServer(ctx, harness.DevServerOptions{CLI: cli, WithoutAuditAttributes: true})
	require.NoError(t, err)
	defer func() { _ = dev.Stop() }()
	env := harness.Env{TemporalAddress: dev.FrontendHostPort(), CLBEndpoint: s.sim.URL, Home: s.workDir}.Vars()
	worker, err := harness.StartWorker(s.bin, env)
	require.NoError(t, err)
	defer worker.Stop()

	logged := worker.Output()
	assert.Contains(t, logged, "audit search attributes missing")
	for _, cmd := range []string{
		"temporal operator search-attribute create --namespace default --name ClbKind --type Keyword --name ClbRequester --type Keyword --name ClbPhase --type Keyword",
		"temporal operator search-attribute create --namespace default --name ClbLoadBalancers --type KeywordList --name ClbListeners --type KeywordList --name ClbServers --type KeywordList",
		"temporal operator search-attribute create --namespace default --name ClbReason --type Text",
	} {
		assert.Contains(t, logged, cmd)
	}

	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	want := targetsOf(l4.Targets)[:25]
	res, err := harness.RunStarter(ctx, s.bin, env, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l4.ListenerId,
		"--targets", writeTargets(t, want), "--requester", "alice", "--reason", "no attributes", "--drain-delay", "1s", "--wait")
	require.NoError(t, err)
	require.Equal(t, 0, res.Code, "stdout:\n%s\nstderr:\n%s\nworker:\n%s", res.Stdout, res.Stderr, worker.Output())
	assertRemovedOnce(t, lb.LoadBalancerId, want)
	assert.NotContains(t, worker.Output(), "BadSearchAttributes")

	res, err = harness.RunStarter(ctx, s.bin, env, "", "list")
	require.NoError(t, err)
	assert.Equal(t, 2, res.Code, "the query names attributes the namespace lacks")
	assert.Contains(t, res.Stderr, "audit search attributes")
}
