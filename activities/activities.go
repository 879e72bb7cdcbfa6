package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Error types of clbdrain's own, besides the Tencent codes. The workflows
// package re-exports them under the same names.
const (
	// ErrInvalidInput is the type of an input the activity refuses, such
	// as a rule named on a layer-4 listener. Never retried.
	ErrInvalidInput = "InvalidInput"
	// ErrNoListener is the type of a listener the load balancer does not
	// have. Never retried.
	ErrNoListener = "ListenerNotFound"
	// ErrNoRule is the type of a layer-7 listener given without a rule, or
	// of a rule the listener does not have. Never retried.
	ErrNoRule = "RuleRequired"
	// ErrTaskFailed is the type of a CLB task that ended with Status 1; its
	// details are a TaskFailure. Never retried by the activity: the workflow
	// decides whether to send the change again.
	ErrTaskFailed = "TaskFailed"
	// ErrTaskUnknown is the type of a task that DescribeTaskStatus does not
	// know (InvalidParameter or ResourceNotFound): its id expired, or never
	// existed. Its details are a TaskFailure. Never retried by the activity:
	// the workflow re-checks with DescribeTargets and sends what is still
	// to change again.
	ErrTaskUnknown = "TaskUnknown"
	// ErrInterrupted is the type of an attempt cut short by its worker (the
	// worker is shutting down) rather than cancelled by the workflow.
	// Always retried, on another worker.
	ErrInterrupted = "Interrupted"
)

// Metrics emitted through activity.GetMetricsHandler.
const (
	// MetricTargetsDeregistered counts targets sent in DeregisterTargets
	// calls that the API accepted.
	MetricTargetsDeregistered = "clbdrain_targets_deregistered"
	// MetricTargetsWeightSet counts targets sent in ModifyTargetWeight and
	// BatchModifyTargetWeight calls that the API accepted.
	MetricTargetsWeightSet = "clbdrain_targets_weight_set"
	// MetricTasksWaited counts tasks waited to their end, tagged with
	// outcome "succeeded" or "failed".
	MetricTasksWaited = "clbdrain_tasks_waited"
	// MetricTaskPolls counts DescribeTaskStatus calls made by WaitForTask.
	MetricTaskPolls = "clbdrain_task_polls"
	// MetricTaskWaitDuration times WaitForTask from its first attempt's
	// start to the poll that saw the task end.
	MetricTaskWaitDuration = "clbdrain_task_wait_duration"
	// MetricAPIErrors counts error answers of the CLB API, tagged with
	// action, code and class.
	MetricAPIErrors = "clbdrain_api_errors"
)

// Activities are the activities of DrainAndDeregister, with what they
// depend on. Register one value per worker process: it keeps the moving
// estimates of how long CLB tasks take, one per load balancer and action,
// shared by every WaitForTask the process runs.
type Activities struct {
	// CLB is the CLB API (clb.Client in production). Required.
	CLB clb.API
	// Poll tunes WaitForTask; its zero value is the recommended setting.
	Poll PollSettings
	// Sleep waits d or until ctx is done, whichever comes first, and then
	// returns ctx.Err(). Nil means a real timer; tests pass a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the current time. Nil means time.Now; tests pass a fake clock
	// that Sleep advances. Set both or neither: WaitForTask sleeps until
	// times it reads from Now.
	Now func() time.Time
	// Ticks paces the heartbeats WaitForTask sends while a call is in
	// flight: a channel that ticks every d until ctx is done. Nil means a
	// real ticker; tests pass a fake one.
	Ticks func(ctx context.Context, d time.Duration) <-chan time.Time
	// Turns takes turns on a load balancer for the mutating activities
	// (activities/turns.go); nil means no turn-taking.
	Turns TurnTaker
	// TurnBeat is how often a mutating activity heartbeats while it waits
	// for its turn; 0 means DefaultTurnBeat, or a third of the activity's
	// heartbeat timeout if that is shorter.
	TurnBeat time.Duration
	// Fleet reads load balancers for DrainServers' discovery; nil means
	// CLB, which must then be a clb.FleetReader (clb.Client is).
	Fleet clb.FleetReader

	estimates taskEstimates
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) sleep(ctx context.Context, d time.Duration) error {
	if a.Sleep != nil {
		return a.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return ctx.Err()
}

// attempt is the 1-based attempt of the running activity.
func attempt(ctx context.Context) int {
	return int(activity.GetInfo(ctx).Attempt)
}

// invalidInput is the non-retryable error of an input an activity refuses.
func invalidInput(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrInvalidInput, nil)
}
