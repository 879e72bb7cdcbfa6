package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Timeouts and deadlines of the activities. The deadlines bound the retries
// of codes retried without end (throttled, busy).
const (
	// callTimeout bounds one attempt of an activity that makes one to three
	// API calls (Snapshot, SetWeight, SetWeights, DeregisterTargets).
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
	// crash, another one takes the wait over within it. WaitForTask
	// heartbeats every activities.CallHeartbeat during its sleeps and its
	// calls, so a live attempt is never that long silent; still the
	// timeout exceeds one whole poll — a lone poll's wait for its start at
	// the slowest rate that paces at least one request a second
	// (paceWait), then a request that takes the client's whole timeout —
	// with a margin for the SDK, which sends heartbeats at most every 80%
	// of the timeout. A poll slower than the old 5 s no longer fails a
	// wait whose task has succeeded.
	waitHeartbeat = paceWait + clb.DefaultTimeout + heartbeatMargin
	// paceWait is about the longest a lone request waits for its start
	// from the client's pacer at an --api-rate of 1 per second or more:
	// one pacing second (1.051 s, the rest within heartbeatMargin).
	paceWait = time.Second
	// heartbeatMargin covers the SDK's heartbeat batching and a
	// heartbeat's trip to the server.
	heartbeatMargin = 4 * time.Second
)

// retryPolicy is every activity's retry policy. The activities mark each
// error non-retryable or give it its delay themselves (activities/retry.go),
// so this policy paces only failures without an answer (timeouts, crashes);
// MaximumAttempts is 0 and the deadlines above bound the rest.
func retryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second}
}

// withSnapshotOptions runs the read-only Snapshot on the workflow's own
// task queue.
func withSnapshotOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName,
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: snapshotDeadline,
		RetryPolicy:            retryPolicy(),
	})
}

// withMutationOptions runs a mutating activity on the mutations queue,
// which the worker rate-limits for the whole fleet. It waits for a cancelled
// activity to end, so that a cancelled drain learns whether its last change
// was sent (and then waits for its task). An attempt first waits for its
// turn on the load balancer, as long as other drains keep it, heartbeating:
// StartToClose is the whole deadline, and the heartbeat timeout (callTimeout)
// both notices a worker that died while waiting and bounds the calls made
// once the turn is held, as StartToClose did before turns.
func withMutationOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName + MutationsQueueSuffix,
		StartToCloseTimeout:    mutationDeadline,
		HeartbeatTimeout:       callTimeout,
		ScheduleToCloseTimeout: mutationDeadline,
		WaitForCancellation:    true,
		RetryPolicy:            retryPolicy(),
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
		RetryPolicy:            retryPolicy(),
	})
}

// discoveryDeadline bounds a discovery activity with its retries, and
// discoveryAttempt one attempt: a few reads of a handful of load balancers
// (or a region's pages of DescribeLoadBalancers), paced by the API budget
// the workflow's other searches share.
const (
	discoveryDeadline = 30 * time.Minute
	discoveryAttempt  = 5 * time.Minute
)

// withDiscoveryOptions runs the read-only discovery activities
// (ListLoadBalancers, FindBindings) on the workflow's own task queue.
func withDiscoveryOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName,
		StartToCloseTimeout:    discoveryAttempt,
		ScheduleToCloseTimeout: discoveryDeadline,
		RetryPolicy:            retryPolicy(),
	})
}
