package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

func TestStarterDrainWaitShowsProgressAndExitsZero(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	want := targetsOf(l4.Targets)[:30]
	file := writeTargets(t, want)

	code, stdout, stderr := s.starter(t, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l4.ListenerId,
		"--targets", file, "--reason", "e2e starter", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	out := stdout + stderr
	id := workflows.WorkflowID(lb.LoadBalancerId, l4.ListenerId, "")
	assert.Contains(t, out, id, "the workflow ID is printed")
	assert.Contains(t, out, "http://127.0.0.1:8233/namespaces/default/workflows/", "the UI link is printed")
	assert.Contains(t, out, "deregistered:      30 targets in 2 chunks")
	// Not a terminal: one plain line per progress step, never a redrawn bar.
	assert.NotContains(t, out, "\r")
	assert.GreaterOrEqual(t, len(lines(out)), 5)
	assertRemovedOnce(t, lb.LoadBalancerId, want)
}

func TestStarterDrainJSONFromStdin(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l7 := layer7(t, lb)
	rule := l7.Rules[1]
	want := targetsOf(rule.Targets)[:5]
	body, err := json.Marshal(want)
	require.NoError(t, err)

	code, stdout, stderr := s.starter(t, string(body), "drain", "--lb", lb.LoadBalancerId, "--listener", l7.ListenerId,
		"--location", rule.LocationId, "--targets", "-", "--wait", "--json")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	var res workflows.DrainResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), "stdout is the result as JSON:\n%s", stdout)
	assert.Len(t, res.Deregistered, 5)
	assert.Equal(t, rule.LocationId, res.Selector.LocationId)
	assertRemovedOnce(t, lb.LoadBalancerId, want)
}

func TestStarterBadInputExitsTwoWithEveryProblemAndCallsNothing(t *testing.T) {
	need(t)
	before := s.sim.Stats()
	file := writeTargets(t, []clb.Target{
		{InstanceId: "ins-BAD", Port: 80},
		{EniIp: "10.0.0.999", Port: 8080},
		{InstanceId: "ins-abc12345", Port: 70000},
	})
	code, stdout, stderr := s.starter(t, "", "drain", "--lb", "lb-nope", "--listener", "lbl-abc12345",
		"--domain", "app.example.com", "--targets", file, "--wait")
	assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	for _, want := range []string{"lb-nope", "ins-BAD", "10.0.0.999", "70000", "Url"} {
		assert.Contains(t, stderr, want)
	}
	assert.Contains(t, stderr, "nothing was started")
	assert.Equal(t, before, s.sim.Stats(), "no CLB API call was made")
}

func TestSecondDrainOfSameListenerIsRefusedThenCancelRestoresWeights(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	want := targetsOf(l4.Targets)[:25]
	before := boundNow(t, lb.LoadBalancerId, l4.ListenerId, "")

	// The first drain sits in its drain phase for a minute.
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}, Targets: want, DrainDelay: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, in)
	require.NoError(t, err)
	waitForPhase(ctx, t, run.GetID(), workflows.PhaseDrainWait)

	// A second drain of the same listener, through the starter.
	file := writeTargets(t, want[:3])
	code, stdout, stderr := s.starter(t, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l4.ListenerId, "--targets", file)
	assert.Equal(t, 3, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, "already running")
	assert.Contains(t, stderr, run.GetID())
	assert.Contains(t, stderr, "status")

	// Cancel through the starter: the drained weights come back.
	code, stdout, stderr = s.starter(t, "", "cancel", run.GetID(), "--wait")
	assert.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	var res workflows.DrainResult
	require.NoError(t, run.Get(ctx, &res))
	assert.True(t, res.Cancelled)
	assert.Empty(t, res.Deregistered)
	assert.Len(t, res.Restored, 25)
	assert.Equal(t, before, boundNow(t, lb.LoadBalancerId, l4.ListenerId, ""), "every target is bound again with its original weight")
	for _, c := range auditFor(lb.LoadBalancerId) {
		assert.NotEqual(t, clb.ActionDeregisterTargets, c.Action, "nothing was deregistered")
	}
	assert.True(t, strings.Contains(stdout+stderr, "cancel"))
}

// One rule, one drain: while a drain of a rule named by LocationId runs, a
// drain of the same rule named by Domain+Url is refused; cancelling "it" by
// that ID cancels the running drain; once that drain closes, its hold on
// the ID ends.
func TestDrainOfARuleByItsOtherNameIsRefused(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l7 := layer7(t, lb)
	rule := l7.Rules[0]
	want := targetsOf(rule.Targets)[:5]

	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l7.ListenerId, LocationId: rule.LocationId},
		Targets: want, DrainDelay: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, in)
	require.NoError(t, err)
	waitForPhase(ctx, t, run.GetID(), workflows.PhaseDrainWait)

	other := in
	other.LocationId, other.Domain, other.Url = "", rule.Domain, rule.Url
	otherID := workflows.WorkflowIDFor(other)
	file := writeTargets(t, want[:2])
	code, stdout, stderr := s.starter(t, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l7.ListenerId,
		"--domain", rule.Domain, "--url", rule.Url, "--targets", file)
	assert.Equal(t, 3, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, otherID)

	code, stdout, stderr = s.starter(t, "", "cancel", otherID, "--wait")
	assert.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, "held by the drain "+run.GetID())
	var res workflows.DrainResult
	require.NoError(t, run.Get(ctx, &res))
	assert.True(t, res.Cancelled)
	assert.Len(t, res.Restored, 5)

	require.Eventually(t, func() bool {
		desc, err := s.temporal.DescribeWorkflow(ctx, otherID, "")
		return err == nil && desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, 30*time.Second, 100*time.Millisecond, "the claim is released as its drain ends")
}
