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

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/examples/release"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestReleaseExampleDrainsDeploysAndRestores drives the example's Release
// as a user would: a worker of their own runs it, the drain and the restore
// run as children on clbdrain's worker, and a client tells it deployed.
func TestReleaseExampleDrainsDeploysAndRestores(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}
	before := harness.Bound(s.sim.State(), sel.LoadBalancerId, sel.ListenerId, "")
	want := targetsOf(l4.Targets)[:10]

	const queue = "e2e-release-loop"
	w := worker.New(s.temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(release.Release, workflow.RegisterOptions{Name: release.WorkflowName})
	require.NoError(t, w.Start())
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := release.Input{Drain: workflows.DrainInput{Selector: sel, Targets: want, Reason: "release v9"}, Version: "v9",
		WaitHealthy: 30 * time.Second}
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-release-v9", TaskQueue: queue}, release.WorkflowName, in)
	require.NoError(t, err)

	// The deploy pipeline says deployed once the servers are out.
	require.Eventually(t, func() bool {
		h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: release.UpdateDeployed,
			Args: []any{release.Deployed{By: "ci", Version: "v9"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		return err == nil && h.Get(ctx, nil) == nil
	}, time.Minute, 200*time.Millisecond, "deployed accepted once drained")
	out := harness.Bound(s.sim.State(), sel.LoadBalancerId, sel.ListenerId, "")
	for _, tg := range want {
		_, bound := out[tg.Key()]
		assert.False(t, bound, "%s out while deploying", tg.Key())
	}

	var res release.Result
	require.NoError(t, run.Get(ctx, &res))
	assert.Len(t, res.Drain.Deregistered, 10)
	assert.Equal(t, "ci", res.Deployed.By)
	require.Len(t, res.Restore.Bindings, 1)
	assert.Len(t, res.Restore.Bindings[0].Registered, 10)
	after := harness.Bound(s.sim.State(), sel.LoadBalancerId, sel.ListenerId, "")
	assert.Equal(t, before, after, "every server back, at its weight")
	restore, err := s.temporal.DescribeWorkflow(ctx, workflows.RestoreWorkflowID(res.Drain.Manifest(workflows.WorkflowIDFor(in.Drain))), "")
	require.NoError(t, err)
	assert.Equal(t, "e2e-release-v9", restore.RawResponse.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId())
}
