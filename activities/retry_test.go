package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

func TestEveryClassHasAPolicy(t *testing.T) {
	retryable := map[clb.Class]bool{
		clb.ClassCallerError:  false,
		clb.ClassNotBound:     false,
		clb.ClassAlreadyBound: false,
		clb.ClassTaskUnknown:  false,
		clb.ClassDenied:       false,
		clb.ClassClockSkew:    true,
		clb.ClassThrottled:    true,
		clb.ClassBusy:         true,
		clb.ClassTransient:    true,
		clb.ClassUnknown:      true,
	}
	require.Len(t, classPolicies, len(retryable), "every class has a policy")
	for class, want := range retryable {
		assert.Equal(t, want, classPolicies[class].retryable, class)
	}
}

// policyOf is the retry policy of an error code answered to action: the
// policy of its class.
func policyOf(action, code string) retryPolicy {
	return classPolicies[clb.ClassOf(action, code)]
}

func TestPolicyOfCodes(t *testing.T) {
	// One retry for an expired signature, on every action: the clock may be off.
	for _, action := range []string{clb.ActionDeregisterTargets, clb.ActionDescribeTaskStatus} {
		expired := policyOf(action, "AuthFailure.SignatureExpire")
		assert.True(t, expired.retryable)
		assert.False(t, expired.exhausted(1))
		assert.True(t, expired.exhausted(2))
		assert.Equal(t, time.Second, expired.nextDelay(1))
	}
	assert.False(t, policyOf(clb.ActionDeregisterTargets, "AuthFailure.SignatureFailure").retryable)
	assert.False(t, policyOf(clb.ActionDeregisterTargets, "AuthFailure.SignatureExpire.Other").retryable,
		"the clock-skew class has one code, not its prefix")
	// Unlisted codes follow their prefix's class, else the unknown class.
	assert.Equal(t, classPolicies[clb.ClassUnknown], policyOf(clb.ActionDeregisterTargets, "Foo.Bar"))
	assert.Equal(t, classPolicies[clb.ClassThrottled], policyOf(clb.ActionDeregisterTargets, "RequestLimitExceeded.Foo"))
	// The action decides: InvalidParameter is "not bound" on DeregisterTargets.
	assert.Equal(t, classPolicies[clb.ClassNotBound], policyOf(clb.ActionDeregisterTargets, "InvalidParameter"))
	assert.Equal(t, classPolicies[clb.ClassCallerError], policyOf(clb.ActionDescribeTargets, "InvalidParameter"))
}

func TestPolicyNextDelay(t *testing.T) {
	doubling := retryPolicy{retryable: true, initial: time.Second, max: 8 * time.Second}
	for n, want := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		4: 8 * time.Second, 5: 8 * time.Second, 1 << 30: 8 * time.Second,
	} {
		assert.Equal(t, want, doubling.nextDelay(n), "failure %d", n)
	}

	constant := retryPolicy{retryable: true, initial: 500 * time.Millisecond}
	assert.Equal(t, 500*time.Millisecond, constant.nextDelay(10), "no max: no doubling")

	assert.Zero(t, retryPolicy{initial: time.Second}.nextDelay(1), "not retryable")
	assert.Zero(t, classPolicies[clb.ClassCallerError].nextDelay(1))

	within := func(class clb.Class, n int, base time.Duration) {
		t.Helper()
		p := classPolicies[class]
		for range 50 {
			d := p.nextDelay(n)
			assert.GreaterOrEqual(t, d, base)
			assert.Less(t, d, base+p.jitter)
		}
	}
	within(clb.ClassThrottled, 1, time.Second)
	within(clb.ClassThrottled, 100, time.Second)
	within(clb.ClassBusy, 1, time.Second)
	within(clb.ClassBusy, 3, 4*time.Second)
	within(clb.ClassBusy, 20, 30*time.Second)
	within(clb.ClassTransient, 1, time.Second)
	within(clb.ClassTransient, 2, 2*time.Second)
	within(clb.ClassTransient, 7, 20*time.Second)
	within(clb.ClassUnknown, 1, 2*time.Second)
	within(clb.ClassUnknown, 5, 10*time.Second)
}

func TestPolicyExhausted(t *testing.T) {
	tests := []struct {
		class     clb.Class
		n         int
		exhausted bool
	}{
		{clb.ClassCallerError, 1, true},
		{clb.ClassNotBound, 1, true},
		{clb.ClassDenied, 1, true},
		{clb.ClassThrottled, 1, false},
		{clb.ClassThrottled, 10000, false},
		{clb.ClassBusy, 10000, false},
		{clb.ClassTransient, 7, false},
		{clb.ClassTransient, 8, true},
		{clb.ClassTransient, 9, true},
		{clb.ClassUnknown, 2, false},
		{clb.ClassUnknown, 3, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.exhausted, classPolicies[tt.class].exhausted(tt.n), "%s after failure %d", tt.class, tt.n)
	}
}

func TestRetryDecision(t *testing.T) {
	stop, delay := retryDecision(clb.NewError(clb.ActionDescribeTargets, "InternalError", "oops"), 2)
	assert.False(t, stop)
	assert.GreaterOrEqual(t, delay, 2*time.Second)
	stop, delay = retryDecision(clb.NewError(clb.ActionDescribeTargets, "InternalError", "oops"), 8)
	assert.True(t, stop)
	assert.Zero(t, delay)
	stop, _ = retryDecision(clb.NewError(clb.ActionDescribeTargets, "MissingParameter", "no"), 1)
	assert.True(t, stop)
	// The decision follows the error's class, as classified, only.
	skew := clb.NewError(clb.ActionDeregisterTargets, "AuthFailure.SignatureExpire", "expired")
	stop, delay = retryDecision(skew, 1)
	assert.False(t, stop)
	assert.Equal(t, time.Second, delay)
	stop, _ = retryDecision(skew, 2)
	assert.True(t, stop)
	skew.Class = clb.ClassDenied
	stop, _ = retryDecision(skew, 1)
	assert.True(t, stop, "the class decides, not the code")
}
