package activities

import (
	"math/rand/v2"
	"time"

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
