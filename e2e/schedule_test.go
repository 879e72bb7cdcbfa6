package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// triggerAndWait triggers a schedule now and returns the outcome of the
// ScheduledDrain run it started.
func triggerAndWait(ctx context.Context, t *testing.T, h client.ScheduleHandle, runsBefore int) (workflows.DrainResult, error) {
	t.Helper()
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var id, runID string
	require.Eventually(t, func() bool {
		d, err := h.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) <= runsBefore {
			return false
		}
		last := d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		id, runID = last.WorkflowID, last.FirstExecutionRunID
		return true
	}, 30*time.Second, 100*time.Millisecond)
	var res workflows.DrainResult
	err := s.temporal.GetWorkflow(ctx, id, runID).Get(ctx, &res)
	return res, err
}

func TestScheduledDrainIsSkippedWhileAManualDrainOfTheListenerRuns(t *testing.T) {
	need(t)
	lb := s.takeLB(t)
	l4 := layer4(t, lb)
	want := targetsOf(l4.Targets)[:8]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The maintenance schedule for this listener.
	code, stdout, stderr := s.starter(t, "", "schedule", "--schedule-id", "e2e-nightly", "--every", "24h",
		"--lb", lb.LoadBalancerId, "--listener", l4.ListenerId, "--targets", writeTargets(t, want), "--reason", "nightly")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	h := s.temporal.ScheduleClient().GetHandle(ctx, "e2e-nightly")
	defer func() { _ = h.Delete(context.Background()) }()

	// An operator drains the same listener by hand, with a long drain phase.
	manual := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}, Targets: want, DrainDelay: time.Minute}
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(manual), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, manual)
	require.NoError(t, err)
	waitForPhase(ctx, t, run.GetID(), workflows.PhaseDrainWait)

	// The schedule fires meanwhile: its drain is skipped, naming the running one.
	_, err = triggerAndWait(ctx, t, h, 0)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "got %v", err)
	assert.Equal(t, workflows.ErrAlreadyRunning, app.Type())
	assert.Contains(t, app.Error(), run.GetID())

	// The manual drain is cancelled: weights back, nothing removed by either.
	require.NoError(t, s.temporal.CancelWorkflow(ctx, run.GetID(), ""))
	var manualRes workflows.DrainResult
	require.NoError(t, run.Get(ctx, &manualRes))
	assert.True(t, manualRes.Cancelled)
	for _, c := range auditFor(lb.LoadBalancerId) {
		assert.NotEqual(t, clb.ActionDeregisterTargets, c.Action)
	}

	// The next scheduled run, with the listener free, drains.
	res, err := triggerAndWait(ctx, t, h, 1)
	require.NoError(t, err)
	assert.Len(t, res.Deregistered, 8)
	assert.Equal(t, "nightly", res.Reason)
	assertRemovedOnce(t, lb.LoadBalancerId, want)
}
