package activities

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// apiError turns an error of calling action into the error that leaves the
// activity. A call cut short by the activity's context ends as interrupted
// says; any other error is an ApplicationError typed with the Tencent code, non-retryable
// once its class's policy is exhausted by the failures of that class so
// far, and retried after the policy's delay for that many failures
// otherwise.
func apiError(ctx context.Context, action string, err error) error {
	if cut := interrupted(ctx, err); cut != nil {
		return cut
	}
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

// retryPolicy is how the activities retry a failed API call: after a delay
// that starts at initial and doubles up to max, plus up to jitter, until
// maxAttempts failures (0: until the activity's deadline).
type retryPolicy struct {
	retryable    bool
	initial, max time.Duration
	jitter       time.Duration
	maxAttempts  int
}

// classPolicies is the retry behaviour of each class of the error-code
// table (clb.ClassOf).
var classPolicies = map[clb.Class]retryPolicy{
	clb.ClassCallerError:  {},
	clb.ClassNotBound:     {},
	clb.ClassAlreadyBound: {},
	clb.ClassTaskUnknown:  {},
	clb.ClassDenied:       {},
	clb.ClassClockSkew:    {retryable: true, initial: time.Second, max: time.Second, maxAttempts: 2},
	clb.ClassThrottled:    {retryable: true, initial: time.Second, max: time.Second, jitter: 500 * time.Millisecond},
	clb.ClassBusy:         {retryable: true, initial: time.Second, max: 30 * time.Second, jitter: 250 * time.Millisecond},
	clb.ClassTransient:    {retryable: true, initial: time.Second, max: 20 * time.Second, jitter: 250 * time.Millisecond, maxAttempts: 8},
	clb.ClassUnknown:      {retryable: true, initial: 2 * time.Second, max: 10 * time.Second, jitter: 250 * time.Millisecond, maxAttempts: 3},
}

// nextDelay is the delay before the retry that follows the n-th failure.
func (p retryPolicy) nextDelay(n int) time.Duration {
	if !p.retryable {
		return 0
	}
	d := p.initial
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	if p.max > 0 && d > p.max {
		d = p.max
	}
	if p.jitter > 0 {
		d += rand.N(p.jitter)
	}
	return d
}

// exhausted reports whether no retry may follow the n-th failure.
func (p retryPolicy) exhausted(n int) bool {
	return !p.retryable || (p.maxAttempts > 0 && n >= p.maxAttempts)
}

// retryDecision is what follows the n-th failure of ce's class (ce.Class,
// which clb.Classify worked out from the action and the code): give up
// (stop), or retry after delay.
func retryDecision(ce *clb.Error, n int) (stop bool, delay time.Duration) {
	p := classPolicies[ce.Class]
	if p.exhausted(n) {
		return true, 0
	}
	return false, p.nextDelay(n)
}

// interrupted is the error that ends an attempt whose context is done, or
// nil while it is live. cause is what the attempt was doing, cut short.
//
// The workflow's cancellation (the context's cause is a
// *temporal.CanceledError) ends it with the context's error, which the SDK
// reports as cancelled: the drain learns the outcome itself. Anything else
// cut the attempt, not the call: after its stop timeout a worker that shuts
// down cancels the contexts of running activities (cause: the SDK's
// ErrWorkerShutdown), and a pause, a reset or a lost heartbeat do as well.
// Such an attempt ends with a retryable ErrInterrupted, counted as a
// failure of no class, so that another worker takes it over. Whether a cut
// call was applied is unknown, as after a lost answer: a retried
// DeregisterTargets re-checks what is bound before sending.
func interrupted(ctx context.Context, cause error) error {
	if ctx.Err() == nil {
		return nil
	}
	why := context.Cause(ctx)
	if temporal.IsCanceledError(why) {
		return ctx.Err()
	}
	return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("attempt interrupted (%v), to be retried: %v", why, cause),
		ErrInterrupted, temporal.ApplicationErrorOptions{Cause: cause})
}
