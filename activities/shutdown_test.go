package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// errWorkerShutdown stands for the cause the SDK gives the contexts of
// running activities when a stopping worker's stop timeout has passed.
var errWorkerShutdown = errors.New("worker is now shutdown")

// cutContext is an activity's root context, cancelled with cause.
func cutContext(cause error) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	return ctx
}

// A call cut short by a worker that shuts down is retried on another
// worker: the client turns it into ClientError.Canceled, which must never
// fail the drain.
func TestCallCutByWorkerShutdownIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(h *harness) error
	}{
		{"DeregisterTargets", func(h *harness) error {
			h.clb.fail(clb.ActionDeregisterTargets, clb.Classify(clb.ActionDeregisterTargets, context.Canceled))
			_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0)})
			return err
		}},
		{"SetWeight", func(h *harness) error {
			h.clb.fail(clb.ActionModifyTargetWeight, clb.Classify(clb.ActionModifyTargetWeight, context.Canceled))
			_, err := h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(0), 0)}})
			return err
		}},
		{"Snapshot", func(h *harness) error {
			h.clb.fail(clb.ActionDescribeTargets, clb.Classify(clb.ActionDescribeTargets, context.Canceled))
			_, err := h.snapshot(activities.SnapshotInput{Selector: tcpSel(), Targets: cvms(0)})
			return err
		}},
		{"WaitForTask polling", func(h *harness) error {
			h.clb.fail(clb.ActionDescribeTaskStatus, clb.Classify(clb.ActionDescribeTaskStatus, context.Canceled))
			_, err := h.wait(h.env, h.clb.addTask(0))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.env = h.newEnv(cutContext(errWorkerShutdown))
			err := tc.run(h)
			ae := applicationError(t, err)
			require.Equal(t, activities.ErrInterrupted, ae.Type(), "%v", err)
			require.False(t, ae.NonRetryable(), "another worker takes the attempt over")
			require.ErrorContains(t, err, errWorkerShutdown.Error())
			require.Zero(t, h.metrics.counter(activities.MetricAPIErrors), "not an answer of the API")
		})
	}
}

func TestWaitCutByWorkerShutdownWhileAsleepIsRetried(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	env := h.newEnv(ctx)
	h.clock.onSleep = func(context.Context, time.Duration) {
		if h.clb.count(clb.ActionDescribeTaskStatus) == 2 {
			cancel(errWorkerShutdown)
		}
	}
	_, err := h.wait(env, h.clb.addTask(time.Hour))
	ae := applicationError(t, err)
	require.Equal(t, activities.ErrInterrupted, ae.Type())
	require.False(t, ae.NonRetryable())
	require.Equal(t, 2, h.clb.count(clb.ActionDescribeTaskStatus), "no poll after the shutdown")
}

// Cancelled by the workflow, a cut call ends the attempt as cancelled,
// never retried.
func TestCallCancelledByTheWorkflowIsNotRetried(t *testing.T) {
	h := newHarness(t)
	h.env = h.newEnv(cutContext(temporal.NewCanceledError()))
	h.clb.fail(clb.ActionDeregisterTargets, clb.Classify(clb.ActionDeregisterTargets, context.Canceled))
	_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0)})
	require.Error(t, err)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		require.NotEqual(t, activities.ErrInterrupted, ae.Type())
		require.True(t, ae.NonRetryable(), "%v", err)
	} else {
		require.True(t, temporal.IsCanceledError(err), "%v", err)
	}
}
