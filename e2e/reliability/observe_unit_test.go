package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// observed starts an emulator playing dialect on a generated fleet (one
// load balancer, a layer-4 listener of 4 targets, half ENI), on a manual
// clock, its answers watched by an observer, and a client to call it.
func observed(t *testing.T, dialect string, rate int) (*clb.Client, *harness.Sim, *observer, *clbsim.ManualClock) {
	t.Helper()
	d, err := clbsim.ParseDialect(dialect)
	require.NoError(t, err)
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 4, ENI: 0.5}, 1)
	require.NoError(t, err)
	clock := clbsim.NewManualClock(time.Now())
	obs := newObserver()
	sim, err := harness.StartSimWith(clbsim.Config{State: fleet, Dialect: d, Rate: rate, Clock: clock, TaskLatency: time.Second}, obs.wrap)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	for _, l := range fleet.LoadBalancers[0].Listeners {
		obs.know(l.ListenerId)
	}
	client, err := clb.NewClient(clb.Config{Region: harness.Region, Endpoint: sim.URL, RatePerAction: 1000,
		Credential: common.NewCredential(clbsim.DefaultSecretID, clbsim.DefaultSecretKey)})
	require.NoError(t, err)
	return client, sim, obs, clock
}

// The observer tells each lock apart by its holder, counts expired task
// ids, listeners left out, lower-case backends, plain not-found answers and
// the emulator's throttled answers by sub-code, and counts nothing that a
// fault injected; a dropped answer goes through it unharmed.
func TestObserverCountsWhatEachDialectAnswers(t *testing.T) {
	ctx := context.Background()
	client, sim, obs, clock := observed(t, "lingering-lock=1m,task-expiry=1s:ResourceNotFound,omit-empty-listeners,lowercase-type,plain-not-found", -1)
	lb := sim.State().LoadBalancers[0]
	l := lb.Listeners[0]
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
	targets := harness.TargetsOf(l.Targets)
	zero := []clb.WeightedTarget{{Target: targets[0]}}

	bound, err := client.DescribeTargets(ctx, lb.LoadBalancerId, l.ListenerId)
	require.NoError(t, err)
	require.Len(t, bound.Targets, 4)
	_, err = sim.HoldLock(lb.LoadBalancerId, time.Second)
	require.NoError(t, err)
	_, err = client.DeregisterTargets(ctx, sel, targets)
	require.Error(t, err, "held by another writer")
	clock.Advance(2 * time.Second)
	taskID, err := client.DeregisterTargets(ctx, sel, targets)
	require.NoError(t, err)
	_, err = client.ModifyTargetWeight(ctx, sel, zero)
	require.Error(t, err, "held by the task")
	clock.Advance(2 * time.Second)
	_, err = client.ModifyTargetWeight(ctx, sel, zero)
	require.Error(t, err, "held after the task ended")
	clock.Advance(time.Second)
	_, err = client.DescribeTaskStatus(ctx, taskID)
	require.Error(t, err, "expired")
	_, err = client.DescribeTargets(ctx, lb.LoadBalancerId, l.ListenerId)
	require.Error(t, err, "the emptied listener is left out")
	_, err = client.DescribeTargets(ctx, unknownLB, l.ListenerId)
	require.Error(t, err, "unknown load balancer")

	sim.SetFaults(clbsim.Faults{{Action: clbsim.AnyAction, Kind: clbsim.FaultError, Code: "InternalError", Probability: 1}})
	_, err = client.ModifyTargetWeight(ctx, sel, zero)
	require.Error(t, err, "injected")
	_, err = client.DescribeTaskStatus(ctx, taskID)
	require.Error(t, err, "injected")

	s := obs.Seen()
	assert.Equal(t, map[string]int{heldByWriter: 1, heldByTask: 1, heldLingering: 1}, s.Locks)
	assert.Equal(t, map[string]int{"FailedOperation.ResourceInOperating": 3}, s.LockCodes)
	assert.Equal(t, 1, s.ExpiredTasks)
	assert.Equal(t, 1, s.OmittedListeners)
	assert.Equal(t, 4, s.LowerCaseTypes)
	assert.Equal(t, enis(l.Targets), s.EniIDs)
	assert.Positive(t, s.EniIDs)
	assert.Equal(t, 1, s.PlainNotFound)
	assert.Empty(t, s.Throttled)
}

// A lock answered InternalError names no holder; the emulator's own
// throttled answers are counted by sub-code; a dropped answer is not
// counted, and reaches the client as a lost connection.
func TestObserverCountsUnsaidLocksThrottlingAndDrops(t *testing.T) {
	ctx := context.Background()
	client, sim, obs, clock := observed(t, "lock-code=InternalError,throttle-code=rotate,lowercase-type", 2)
	lb := sim.State().LoadBalancers[0]
	l := lb.Listeners[0]
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
	targets := harness.TargetsOf(l.Targets)

	_, err := sim.HoldLock(lb.LoadBalancerId, time.Second)
	require.NoError(t, err)
	_, err = client.DeregisterTargets(ctx, sel, targets)
	require.Error(t, err, "locked")
	for range 5 {
		_, _ = client.DescribeTargets(ctx, lb.LoadBalancerId, l.ListenerId)
	}
	clock.Advance(2 * time.Second)
	sim.SetFaults(clbsim.Faults{{Action: clb.ActionDescribeTargets, Kind: clbsim.FaultDrop, Probability: 1}})
	_, err = client.DescribeTargets(ctx, lb.LoadBalancerId, l.ListenerId)
	require.Error(t, err, "dropped")
	require.Equal(t, 1, sim.Stats().Actions[clb.ActionDescribeTargets].Dropped)

	s := obs.Seen()
	assert.Equal(t, map[string]int{heldUnsaid: 1}, s.Locks)
	assert.Equal(t, map[string]int{"InternalError": 1}, s.LockCodes)
	assert.Equal(t, 1, s.locksHeldByWriter())
	assert.Equal(t, map[string]int{"RequestLimitExceeded.UinLimitExceeded": 1, "RequestLimitExceeded.GlobalRegionUinLimitExceeded": 1,
		"RequestLimitExceeded.IPLimitExceeded": 1}, s.Throttled)
	assert.Equal(t, 2*len(targets), s.LowerCaseTypes, "the two answers not throttled are counted, the dropped one is not")
}

// enis counts the ENI bindings of bound.
func enis(bound []clb.BoundTarget) int {
	n := 0
	for _, b := range bound {
		if b.Type == clbsim.TypeENI {
			n++
		}
	}
	return n
}
