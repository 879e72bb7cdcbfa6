package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Timeouts of the activities. The activities set each error's retry delay
// and retryability from the error-code table, so the retry policies below
// matter only for failures without an answer (timeouts, crashes), and their
// deadlines bound the retries of codes that are retried without end
// (throttled, busy).
const (
	// callTimeout bounds one attempt of an activity that makes one to three
	// API calls (Snapshot, SetWeight, DeregisterTargets).
	callTimeout = 30 * time.Second
	// mutationDeadline bounds a mutating activity with its retries: long
	// enough for another task's lock on the load balancer to pass and for
	// throttling to ease, short enough that a drain stuck behind a broken
	// load balancer fails with the code that kept it waiting.
	mutationDeadline = 30 * time.Minute
	// snapshotDeadline bounds Snapshot with its retries.
	snapshotDeadline = 10 * time.Minute
	// waitAttemptTimeout bounds one WaitForTask attempt; CLB tasks take
	// seconds, so this is reached only by a task stuck in the CLB.
	waitAttemptTimeout = 15 * time.Minute
	// waitDeadline bounds WaitForTask with its retries.
	waitDeadline = 30 * time.Minute
	// waitHeartbeat is WaitForTask's heartbeat timeout: after a worker
	// crash, another one takes the wait over within seconds.
	waitHeartbeat = 5 * time.Second
)

// The error types never retried, per activity: the codes the table never
// retries for the action it calls, and clbdrain's own non-retryable types.
// They are listed so that the server stops at once even if an activity did
// not mark an error non-retryable itself. Computed once, outside workflow
// code (the table is walked through a map, then sorted).
var (
	snapshotNonRetryable   = append(clb.NonRetryableCodes(clb.ActionDescribeTargets), ErrInvalidInput, ErrNoListener, ErrNoRule)
	deregisterNonRetryable = append(clb.NonRetryableCodes(clb.ActionDeregisterTargets), ErrInvalidInput, ErrNoListener, ErrNoRule)
	setWeightNonRetryable  = append(clb.NonRetryableCodes(clb.ActionModifyTargetWeight), ErrInvalidInput, ErrNoListener, ErrNoRule)
	waitNonRetryable       = append(clb.NonRetryableCodes(clb.ActionDescribeTaskStatus), ErrInvalidInput, ErrTaskFailed)
)

// retryPolicy is an activity's retry policy. MaximumAttempts is 0: the
// activity turns an exhausted class into a non-retryable error, and the
// activity's deadline bounds the rest.
func retryPolicy(nonRetryable []string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// withSnapshotOptions runs the read-only Snapshot on the workflow's own
// task queue.
func withSnapshotOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName,
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: snapshotDeadline,
		RetryPolicy:            retryPolicy(snapshotNonRetryable),
	})
}

// withMutationOptions runs a mutating activity on the mutations queue,
// which the worker rate-limits for the whole fleet; nonRetryable is
// deregisterNonRetryable or setWeightNonRetryable. It waits for a cancelled
// activity to end, so that a cancelled drain learns whether its last change
// was sent (and then waits for its task).
func withMutationOptions(ctx workflow.Context, nonRetryable []string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName + MutationsQueueSuffix,
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: mutationDeadline,
		WaitForCancellation:    true,
		RetryPolicy:            retryPolicy(nonRetryable),
	})
}

// withWaitOptions runs WaitForTask on the workflow's own task queue: it
// only reads, and its polls must not queue behind mutations.
func withWaitOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName,
		StartToCloseTimeout:    waitAttemptTimeout,
		ScheduleToCloseTimeout: waitDeadline,
		HeartbeatTimeout:       waitHeartbeat,
		RetryPolicy:            retryPolicy(waitNonRetryable),
	})
}
