package activities_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

func (h *harness) register(in activities.RegisterInput) (activities.RegisterResult, error) {
	var res activities.RegisterResult
	v, err := h.env.ExecuteActivity(h.acts.RegisterTargets, in)
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func (h *harness) health(in activities.HealthInput) (activities.HealthResult, error) {
	var res activities.HealthResult
	v, err := h.env.ExecuteActivity(h.acts.TargetHealth, in)
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func weightOfBound(bs []clb.BoundTarget, t clb.Target) int64 {
	for _, b := range bs {
		if b.Matches(t) {
			return b.Weight
		}
	}
	return -1
}

func TestRegisterSendsTheChunk(t *testing.T) {
	h := newHarness(t)
	res, err := h.register(activities.RegisterInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(7), 33), weighted(cvm(8), 0)}})
	require.NoError(t, err)
	require.Equal(t, "req-0001", res.TaskID)
	require.Equal(t, h.clock.Now(), res.TaskCreated, "the task runs from the answer on")
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(7), 33), weighted(cvm(8), 0)}, res.Sent)
	require.Empty(t, res.AlreadyBound)
	require.Equal(t, []string{clb.ActionRegisterTargets}, h.clb.calls, "a first attempt does not re-check")
	require.EqualValues(t, 33, weightOfBound(h.bound(tcpID), cvm(7)))
	require.EqualValues(t, 2, h.metrics.counter(activities.MetricTargetsRegistered))
}

func TestRegisterRecheckLeavesWhatIsBound(t *testing.T) {
	h := newHarness(t)
	res, err := h.register(activities.RegisterInput{Selector: tcpSel(), Recheck: true,
		Targets: []clb.WeightedTarget{weighted(cvm(1), 99), weighted(cvm(8), 5)}})
	require.NoError(t, err)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(8), 5)}, res.Sent)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(1), 11)}, res.AlreadyBound, "reported with the weight it has")
	require.EqualValues(t, 11, weightOfBound(h.bound(tcpID), cvm(1)), "left untouched")
}

func TestRegisterAlreadyBound(t *testing.T) {
	t.Run("all bound is done", func(t *testing.T) {
		h := newHarness(t)
		res, err := h.register(activities.RegisterInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(0), 1), weighted(cvm(1), 1)}})
		require.NoError(t, err)
		require.Empty(t, res.TaskID)
		require.Equal(t, []clb.WeightedTarget{weighted(cvm(0), 10), weighted(cvm(1), 11)}, res.AlreadyBound)
		require.Equal(t, []string{clb.ActionRegisterTargets, clb.ActionDescribeTargets}, h.clb.calls)
	})
	t.Run("the unbound ones are sent once", func(t *testing.T) {
		h := newHarness(t)
		res, err := h.register(activities.RegisterInput{Selector: httpSel(locAPI), Targets: []clb.WeightedTarget{weighted(cvm(0), 7), weighted(cvm(9), 8)}})
		require.NoError(t, err)
		require.NotEmpty(t, res.TaskID)
		require.Equal(t, []clb.WeightedTarget{weighted(cvm(9), 8)}, res.Sent)
		require.Equal(t, []clb.WeightedTarget{weighted(cvm(0), 50)}, res.AlreadyBound)
		require.Equal(t, []string{clb.ActionRegisterTargets, clb.ActionDescribeTargets, clb.ActionRegisterTargets}, h.clb.calls)
	})
	t.Run("none bound is a caller error", func(t *testing.T) {
		h := newHarness(t)
		h.clb.fail(clb.ActionRegisterTargets, sdkErr("InvalidParameter", "bad port"))
		_, err := h.register(activities.RegisterInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(8), 1)}})
		ae := applicationError(t, err)
		require.Equal(t, "InvalidParameter", ae.Type())
		require.True(t, ae.NonRetryable())
		require.Equal(t, 1, h.clb.count(clb.ActionRegisterTargets))
		require.EqualValues(t, -1, weightOfBound(h.bound(tcpID), cvm(8)))
	})
}

func TestRegisterLostAnswerIsRechecked(t *testing.T) {
	h := newHarness(t)
	// The first call is applied, and its answer lost: retried.
	h.clb.fail(clb.ActionRegisterTargets, sdkErr("InternalError", "lost"))
	h.clb.listeners[tcpID].Targets = append(h.clb.listeners[tcpID].Targets, boundCVM(8, 5))
	in := activities.RegisterInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(8), 5), weighted(cvm(9), 6)}}
	_, err := h.register(in)
	require.False(t, applicationError(t, err).NonRetryable())
	// A later attempt re-checks first, as Recheck does.
	in.Recheck = true
	res, err := h.register(in)
	require.NoError(t, err)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(9), 6)}, res.Sent)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(8), 5)}, res.AlreadyBound)
	require.Equal(t, [][]clb.Target{cvms(9)}, h.clb.sent[clb.ActionRegisterTargets], "each target bound once")
}

func TestRegisterBounds(t *testing.T) {
	h := newHarness(t)
	_, err := h.register(activities.RegisterInput{Selector: tcpSel()})
	require.Equal(t, activities.ErrInvalidInput, applicationError(t, err).Type())
	many := make([]clb.WeightedTarget, clb.MaxTargetsPerCall+1)
	for i := range many {
		many[i] = weighted(cvm(100+i), 1)
	}
	_, err = h.register(activities.RegisterInput{Selector: tcpSel(), Targets: many})
	require.Equal(t, activities.ErrInvalidInput, applicationError(t, err).Type())
	require.Empty(t, h.clb.calls)
}

func TestTargetHealth(t *testing.T) {
	h := newHarness(t)
	h.clb.sick = map[string]bool{cvm(1).Key(): true, "10.0.0.7:8080": true}
	res, err := h.health(activities.HealthInput{LoadBalancerId: lbID, Bindings: []activities.HealthBinding{
		{Selector: tcpSel(), Targets: []clb.Target{cvm(0), cvm(1), eni("10.0.0.7"), cvm(9)}},
		{Selector: httpSel(locAPI), Targets: cvms(1, 2)},
		{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, Domain: "WWW.example.com", Url: "/"}, Targets: cvms(3)},
	}})
	require.NoError(t, err)
	require.Equal(t, []activities.BindingHealth{
		{Healthy: cvms(0), NotHealthy: []clb.Target{cvm(1), eni("10.0.0.7"), cvm(9)}},
		{Healthy: cvms(2), NotHealthy: cvms(1)},
		{Healthy: cvms(3)},
	}, res.Bindings)
	require.Equal(t, []string{clb.ActionDescribeTargetHealth}, h.clb.calls)
}

func TestTargetHealthErrorIsTyped(t *testing.T) {
	h := newHarness(t)
	h.clb.fail(clb.ActionDescribeTargetHealth, sdkErr("AuthFailure", "denied"))
	_, err := h.health(activities.HealthInput{LoadBalancerId: lbID})
	ae := applicationError(t, err)
	require.Equal(t, "AuthFailure", ae.Type())
	require.True(t, ae.NonRetryable())
}

func TestRegisterRetriesATargetBoundBetweenRecheckAndCall(t *testing.T) {
	h := newHarness(t)
	h.clb.fail(clb.ActionRegisterTargets, sdkErr("InvalidParameter", "ins-00000000:80 is already bound"),
		sdkErr("InvalidParameter", "ins-00000009:80 is already bound"))
	_, err := h.register(activities.RegisterInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(0), 1), weighted(cvm(9), 2)}})
	ae := applicationError(t, err)
	require.Equal(t, "InvalidParameter", ae.Type())
	require.False(t, ae.NonRetryable(), "the next attempt re-checks")
	require.Equal(t, []string{clb.ActionRegisterTargets, clb.ActionDescribeTargets, clb.ActionRegisterTargets}, h.clb.calls)
}
