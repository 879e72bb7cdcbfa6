package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestTurnsScenarioDrainsEachListenerOfOneLoadBalancer(t *testing.T) {
	sc, err := NewTurnsScenario(4, 60, "why")
	require.NoError(t, err)
	require.Len(t, sc.Fleet.LoadBalancers, 1)
	lb := sc.Fleet.LoadBalancers[0]
	require.Len(t, sc.Inputs, 4)
	assert.Len(t, sc.Requested, 240)
	for i, in := range sc.Inputs {
		assert.Equal(t, lb.LoadBalancerId, in.LoadBalancerId)
		assert.Equal(t, lb.Listeners[i].ListenerId, in.ListenerId)
		assert.Len(t, in.Targets, 60)
		assert.Equal(t, "why", in.Reason)
	}
}

func TestLockAnswersCountsBusyCodesOfEveryAction(t *testing.T) {
	st := clbsim.Stats{Actions: map[string]clbsim.ActionStats{
		clb.ActionDeregisterTargets: {Errors: map[string]int{
			"FailedOperation.ResourceInOperating": 2, "FailedOperation": 1, "InvalidParameter": 5}},
		clb.ActionModifyTargetWeight:      {Errors: map[string]int{"ResourceInUse": 1}},
		clb.ActionDescribeTaskStatus:      {Errors: map[string]int{"InvalidParameter": 3}},
		clb.ActionDescribeTargets:         {Errors: map[string]int{"RequestLimitExceeded": 4}},
		clb.ActionBatchModifyTargetWeight: {},
	}}
	assert.Equal(t, 4, LockAnswers(st), "the lock in its three spellings; not-bound, task-unknown and throttled answers are no lock")
	assert.Zero(t, LockAnswers(clbsim.Stats{}))
}
