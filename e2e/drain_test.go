package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// execute runs a drain through the Temporal client, as a caller's code would.
func execute(t *testing.T, in workflows.DrainInput) workflows.DrainResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowIDFor(in), TaskQueue: workflows.TaskQueue,
	}, workflows.WorkflowName, in)
	require.NoError(t, err)
	var res workflows.DrainResult
	require.NoError(t, run.Get(ctx, &res))
	return res
}

// assertRemovedOnce checks clbsim's audit: each of want was deregistered
// exactly once, and nothing else on the load balancer was deregistered.
func assertRemovedOnce(t *testing.T, lbID string, want []clb.Target) {
	t.Helper()
	removed := map[string]int{}
	for _, c := range auditFor(lbID) {
		if c.Action == clb.ActionDeregisterTargets {
			removed[c.Target]++
		}
	}
	for _, tg := range want {
		assert.Equal(t, 1, removed[tg.Key()], "%s deregistered once", tg.Key())
		delete(removed, tg.Key())
	}
	assert.Empty(t, removed, "nothing else was deregistered")
}

func TestLayer4Drain(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	all := targetsOf(l4.Targets)
	want := all[:45]

	res := execute(t, workflows.DrainInput{
		Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}, Targets: want, Reason: "e2e layer 4",
	})

	assert.Len(t, res.Deregistered, 45)
	require.Len(t, res.Chunks, 3)
	for i, n := range []int{20, 20, 5} {
		assert.Equal(t, n, res.Chunks[i].Size)
		assert.Equal(t, workflows.OutcomeDeregistered, res.Chunks[i].Outcome)
		assert.NotEmpty(t, res.Chunks[i].RequestID)
	}
	assert.Equal(t, "e2e layer 4", res.Reason)
	left := boundNow(t, lb.LoadBalancerId, l4.ListenerId, "")
	assert.Len(t, left, len(all)-45)
	for _, tg := range want {
		assert.NotContains(t, left, tg.Key())
	}
	assertRemovedOnce(t, lb.LoadBalancerId, want)
}

func TestLayer7DrainByDomainAndURLWithDrainPhase(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l7 := layer7(t, lb)
	rule, other := l7.Rules[0], l7.Rules[1]
	want := targetsOf(rule.Targets)[:25]
	otherBefore := boundNow(t, lb.LoadBalancerId, l7.ListenerId, other.LocationId)

	res := execute(t, workflows.DrainInput{
		Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l7.ListenerId, Domain: rule.Domain, Url: rule.Url},
		Targets:  want, DrainDelay: time.Second,
	})

	assert.Equal(t, rule.LocationId, res.Selector.LocationId, "Domain+Url resolved to the rule")
	assert.Len(t, res.Deregistered, 25)
	assert.Equal(t, 25, res.Drained)
	left := boundNow(t, lb.LoadBalancerId, l7.ListenerId, rule.LocationId)
	assert.Len(t, left, len(rule.Targets)-25)
	assert.Equal(t, otherBefore, boundNow(t, lb.LoadBalancerId, l7.ListenerId, other.LocationId), "the other rule is untouched")
	assertRemovedOnce(t, lb.LoadBalancerId, want)

	// Every target went to weight 0 before any was deregistered.
	var lastDrain, firstRemove time.Time
	drained := map[string]bool{}
	for _, c := range auditFor(lb.LoadBalancerId) {
		switch c.Action {
		case clb.ActionBatchModifyTargetWeight:
			require.NotNil(t, c.NewWeight)
			assert.Equal(t, int64(0), *c.NewWeight)
			drained[c.Target] = true
			lastDrain = c.Time
		case clb.ActionDeregisterTargets:
			if firstRemove.IsZero() {
				firstRemove = c.Time
			}
		}
	}
	assert.Len(t, drained, 25)
	assert.GreaterOrEqual(t, firstRemove.Sub(lastDrain), time.Second, "the drain delay separates weight 0 from removal")
}

// parentDrains is a caller's workflow that drains as a child.
func parentDrains(ctx workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
	ctx = workflow.WithChildOptions(ctx, workflows.ChildOptions(in))
	var res workflows.DrainResult
	err := workflow.ExecuteChildWorkflow(ctx, workflows.WorkflowName, in).Get(ctx, &res)
	return res, err
}

func TestChildWorkflowFromParent(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	want := targetsOf(l4.Targets)[:10]

	const parentQueue = "e2e-release-orchestration"
	w := worker.New(s.temporal, parentQueue, worker.Options{})
	w.RegisterWorkflow(parentDrains)
	require.NoError(t, w.Start())
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}, Targets: want, Reason: "release 42"}
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "release-42", TaskQueue: parentQueue}, parentDrains, in)
	require.NoError(t, err)
	var res workflows.DrainResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Len(t, res.Deregistered, 10)
	assertRemovedOnce(t, lb.LoadBalancerId, want)

	// The child ran under the conventional ID.
	child, err := s.temporal.DescribeWorkflow(ctx, workflows.WorkflowIDFor(in), "")
	require.NoError(t, err)
	assert.Equal(t, "release-42", child.RawResponse.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId())
}

// A drain of a rule that continues as new claims the rule's other ID again
// in each run: the claim of the run before ends with it.
func TestLayer7DrainContinuedAsNewKeepsItsClaim(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l7 := layer7(t, lb)
	rule := l7.Rules[0]
	want := targetsOf(rule.Targets)[:5]
	res := execute(t, workflows.DrainInput{
		Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l7.ListenerId, LocationId: rule.LocationId},
		Targets:  want, DrainDelay: time.Second, ChunkSize: 1, ChunksPerRun: 2,
	})
	assert.Equal(t, 3, res.Runs)
	assert.Len(t, res.Deregistered, 5)
	assertRemovedOnce(t, lb.LoadBalancerId, want)
}
