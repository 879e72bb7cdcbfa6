package workflows_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestRecordRestoreHistories records restores for TestReplay, with the
// audit search attributes on:
//
//	CLBDRAIN_RECORD_HISTORY=1 go test -run TestRecordRestoreHistories ./workflows/
func TestRecordRestoreHistories(t *testing.T) {
	if os.Getenv(envRecord) != "1" {
		t.Skipf("set %s=1 to record histories on a dev server", envRecord)
	}
	args, audit := auditSetup()
	r := startRecorder(t, args, func(w worker.Worker) {
		audit(w)
		w.RegisterWorkflowWithOptions(workflows.RestoreTargets, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
	})
	c, ctx := r.client, r.ctx
	tcp := r.state.LoadBalancers[0].Listeners[0]
	drained := func() workflows.RestoreManifest {
		r.reset(nil)
		in := r.input(tcp.ListenerId, tcp.Targets)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: workflows.TaskQueue},
			workflows.WorkflowName, in)
		require.NoError(t, err)
		var res workflows.DrainResult
		require.NoError(t, run.Get(ctx, &res))
		return res.Manifest(workflows.WorkflowIDFor(in))
	}

	// Behind the health gate (new bindings healthy after 1 s), ramped in
	// two steps.
	require.NoError(t, r.sim.SetHealthModel(clbsim.HealthModel{Delay: time.Second}))
	m := drained()
	in := workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute, HealthPoll: time.Second, RampSteps: 2, RampInterval: time.Second}
	var res workflows.RestoreResult
	require.NoError(t, r.record("restore-gate-ramp", workflows.RestoreWorkflowName, workflows.RestoreWorkflowID(m), in, nil, &res))
	require.Equal(t, 2, res.RampStep)

	// Two targets never healthy, unbound again: the restore fails.
	sick := []string{m.Bindings[0].Targets[0].Key(), m.Bindings[0].Targets[30].Key()}
	require.NoError(t, r.sim.SetHealthModel(clbsim.HealthModel{Unhealthy: sick}))
	m = drained()
	in = workflows.RestoreInput{Manifest: m, WaitHealthy: 3 * time.Second, HealthPoll: time.Second, OnUnhealthy: workflows.OnUnhealthyDeregister}
	err := r.record("restore-unhealthy", workflows.RestoreWorkflowName, workflows.RestoreWorkflowID(m), in, nil, &res)
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, workflows.ErrUnhealthy, ae.Type())

	// Cancelled during a long ramp.
	require.NoError(t, r.sim.SetHealthModel(clbsim.HealthModel{}))
	m = drained()
	in = workflows.RestoreInput{Manifest: m, RampSteps: 5, RampInterval: time.Hour}
	require.NoError(t, r.record("restore-cancel-ramp", workflows.RestoreWorkflowName, workflows.RestoreWorkflowID(m), in, func(wid string) {
		require.Eventually(t, func() bool {
			v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryProgress)
			var p workflows.RestoreProgress
			return err == nil && v.Get(&p) == nil && p.RampStep == 1
		}, time.Minute, 100*time.Millisecond)
		require.NoError(t, c.CancelWorkflow(ctx, wid, ""))
	}, &res))
	require.True(t, res.Cancelled)
}
