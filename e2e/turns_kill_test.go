package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestTurnSurvivesAWorkerKilledWhileHoldingIt kills the only worker with
// SIGKILL while one of two drains of one load balancer holds the turn and
// the other waits for it, and starts a new worker: the holder's retried
// wait keeps the turn until its task ends and the waiter's retried change
// takes its place in the queue, so both drains complete, every target is
// removed exactly once, and no call met the lock of another's task.
func TestTurnSurvivesAWorkerKilledWhileHoldingIt(t *testing.T) {
	need(t)
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Targets: 40}, 13)
	require.NoError(t, err)
	sim, err := harness.StartSim(clbsim.Config{State: fleet, TaskLatency: 2 * time.Second, Seed: 13})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "e2e-turns-kill"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	first, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer first.Kill()

	lb := fleet.LoadBalancers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var runs []client.WorkflowRun
	var requested []harness.Binding
	for _, l := range lb.Listeners {
		sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
		in := workflows.DrainInput{Selector: sel, Targets: harness.TargetsOf(l.Targets)}
		requested = append(requested, harness.BindingsOf(sel, in.Targets)...)
		run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: queue},
			workflows.WorkflowName, in)
		require.NoError(t, err)
		runs = append(runs, run)
	}

	// Kill once one drain holds the turn and the other waits for it.
	turnsID := turns.WorkflowID(queue, lb.LoadBalancerId)
	require.Eventually(t, func() bool {
		v, err := s.temporal.QueryWorkflow(ctx, turnsID, "", turns.QueryTurns)
		var st turns.State
		return err == nil && v.Get(&st) == nil && st.Holder != nil && len(st.Queue) == 1
	}, time.Minute, 20*time.Millisecond, "one drain holds the turn, the other waits")
	first.Kill()
	second, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer second.Stop()

	for i, run := range runs {
		var res workflows.DrainResult
		require.NoError(t, run.Get(ctx, &res), "drain %d", i)
		assert.Len(t, res.Deregistered, 40, "drain %d", i)
	}
	tally := harness.TallyAudit(sim.Audit(), requested)
	assert.True(t, tally.Exact(), "every target removed once, nothing else touched: %+v", tally)
	stats := sim.Stats()
	assert.Zero(t, stats.Actions[clb.ActionDeregisterTargets].Errors["FailedOperation.ResourceInOperating"],
		"no change met the lock of another's task")
	v, err := s.temporal.QueryWorkflow(ctx, turnsID, "", turns.QueryTurns)
	require.NoError(t, err)
	var st turns.State
	require.NoError(t, v.Get(&st))
	assert.Nil(t, st.Holder)
	assert.Empty(t, st.Queue)
	assert.Zero(t, st.Expired, "the turn went on with the retried activities, not with its lease")
}
