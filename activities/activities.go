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
)

// Metrics emitted through activity.GetMetricsHandler.
const (
	// MetricTargetsDeregistered counts targets sent in DeregisterTargets
	// calls that the API accepted.
	MetricTargetsDeregistered = "clbdrain_targets_deregistered"
	// MetricTargetsWeightSet counts targets sent in ModifyTargetWeight
	// calls that the API accepted.
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
// estimate of how long CLB tasks take, shared by every WaitForTask the
// process runs.
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
	// Turns takes turns on a load balancer for the mutating activities
	// (activities/turns.go); nil means no turn-taking.
	Turns TurnTaker
	// TurnBeat is how often a mutating activity heartbeats while it waits
	// for its turn; 0 means DefaultTurnBeat, or a third of the activity's
	// heartbeat timeout if that is shorter.
	TurnBeat time.Duration

	estimate taskEstimate
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

// apiError turns an error of calling action into the error that leaves the
// activity: an ApplicationError typed with the Tencent code, non-retryable
// once the code's policy is exhausted by the failures of its class so far,
// and retried after the policy's delay for that many failures otherwise.
func apiError(ctx context.Context, action string, err error) error {
	ce := clb.Classify(action, err)
	countAPIError(ctx, ce)
	stop, delay := retryDecision(ce, countFailure(ctx, ce.Class))
	return newAPIError(ce, stop, delay)
}

// FailureCounts counts an activity's failed API calls by class over its
// attempts. The retry policies bound and space the retries of each class
// by the failures of that class, not by the activity's attempts: a spell of
// throttled answers (retried without end) must neither use up the few
// retries of a transient fault nor stretch its backoff.
type FailureCounts map[clb.Class]int

// countFailure adds a failure of class to the counts of the earlier
// attempts, which it reads from the heartbeat details, records the counts
// there for the next attempt, and returns the count of class. It is called
// once per attempt, as the attempt fails, so the heartbeat goes out at once.
func countFailure(ctx context.Context, class clb.Class) int {
	counts := FailureCounts{}
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &counts); err != nil {
			activity.GetLogger(ctx).Warn("failure counts unreadable, counting afresh", "error", err)
			counts = FailureCounts{}
		}
	}
	counts[class]++
	activity.RecordHeartbeat(ctx, counts)
	return counts[class]
}

// newAPIError builds the ApplicationError of a classified API error. Its
// message is "Action: Code: Message (RequestId ...)"; the cause is the error
// the client returned.
func newAPIError(ce *clb.Error, nonRetryable bool, next time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(ce.Error(), ce.Code, temporal.ApplicationErrorOptions{
		NonRetryable:   nonRetryable,
		NextRetryDelay: next,
		Cause:          ce.Err,
	})
}

// countAPIError records an error answer in MetricAPIErrors.
func countAPIError(ctx context.Context, ce *clb.Error) {
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{
		"action": ce.Action, "code": ce.Code, "class": string(ce.Class),
	}).Counter(MetricAPIErrors).Inc(1)
}

// invalidInput is the non-retryable error of an input an activity refuses.
func invalidInput(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrInvalidInput, nil)
}
