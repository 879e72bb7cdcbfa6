package activities

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
)

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
	clb.ClassThrottled:    {retryable: true, initial: time.Second, max: time.Second, jitter: 500 * time.Millisecond},
	clb.ClassBusy:         {retryable: true, initial: time.Second, max: 30 * time.Second, jitter: 250 * time.Millisecond},
	clb.ClassTransient:    {retryable: true, initial: time.Second, max: 20 * time.Second, jitter: 250 * time.Millisecond, maxAttempts: 8},
	clb.ClassUnknown:      {retryable: true, initial: 2 * time.Second, max: 10 * time.Second, jitter: 250 * time.Millisecond, maxAttempts: 3},
}

// codePolicies overrides the class's policy for single codes, on every
// action.
var codePolicies = map[string]retryPolicy{
	// Denied, but the clock may be off: one retry.
	"AuthFailure.SignatureExpire": {retryable: true, initial: time.Second, max: time.Second, maxAttempts: 2},
}

// policyOf is the retry policy of an error code answered to action.
func policyOf(action, code string) retryPolicy {
	if p, ok := codePolicies[code]; ok {
		return p
	}
	return classPolicies[clb.ClassOf(action, code)]
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

// retryDecision is what follows the n-th failure of ce's class: give up
// (stop), or retry after delay.
func retryDecision(ce *clb.Error, n int) (stop bool, delay time.Duration) {
	p := policyOf(ce.Action, ce.Code)
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
