package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

// startSimState is startSim on a state of the test's own.
func startSimState(t *testing.T, state clbsim.State, d clbsim.Dialect) (*harness, *clbsim.Server) {
	simClock := clbsim.NewManualClock(time.Now())
	client, sim := clbsimtest.Start(t, clbsim.Config{State: state, TaskLatency: time.Second, Rate: -1,
		Clock: simClock, Seed: 1, Dialect: d})
	h := newHarness(t)
	h.acts = &activities.Activities{CLB: client, Now: simClock.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		simClock.Advance(d)
		return ctx.Err()
	}}
	h.env = h.newEnv(context.Background())
	return h, sim
}

// attributedState is simState with the TCP listeners resetting
// connections on unbind, an idle timeout of 600s and sessions kept 30s.
func attributedState() clbsim.State {
	s := simState()
	attrs := clbsim.ListenerAttributes{DeregisterTargetRst: ptrTo(true), IdleConnectTimeout: ptrTo[int64](600), SessionExpireTime: ptrTo[int64](30)}
	s.LoadBalancers[0].ListenerAttributes = map[string]clbsim.ListenerAttributes{simTCP: attrs, simEmpty: attrs}
	return s
}

func ptrTo[T any](v T) *T { return &v }

// The snapshot reads the listener's attributes from DescribeListeners,
// with one call.
func TestEmulatorSnapshotReadsListenerAttributes(t *testing.T) {
	h, sim := startSimState(t, attributedState(), clbsim.Dialect{})
	snap, err := h.snapshot(activities.SnapshotInput{Selector: tcpSim(), Targets: []clb.Target{{InstanceId: simCVM, Port: 80}}})
	require.NoError(t, err)
	require.NotNil(t, snap.Listener)
	require.Equal(t, simTCP, snap.Listener.ListenerId)
	require.Equal(t, ptrTo(true), snap.Listener.DeregisterTargetRst)
	require.Equal(t, ptrTo[int64](600), snap.Listener.IdleConnectTimeout)
	require.Equal(t, ptrTo[int64](30), snap.Listener.SessionExpireTime)
	require.Empty(t, snap.ListenerError)
	require.Equal(t, 1, sim.Stats().Actions[clb.ActionDescribeListeners].Requests)

	// A layer-7 listener has none of them, and no rules are carried.
	snap, err = h.snapshot(activities.SnapshotInput{Selector: clb.Selector{LoadBalancerId: simLB, ListenerId: simHTTP, LocationId: simRule},
		Targets: []clb.Target{{InstanceId: simCVM, Port: 80}}})
	require.NoError(t, err)
	require.Equal(t, &clb.ListenerAttributes{ListenerId: simHTTP, Protocol: clb.ProtocolHTTP, Port: 8080}, snap.Listener)
}

// A listener DescribeTargets leaves out was read by DescribeListeners
// already: its attributes come from that one call.
func TestEmulatorListenerLeftOutReadsAttributesOnce(t *testing.T) {
	h, sim := startSimState(t, attributedState(), clbsim.Dialect{OmitEmptyListeners: true})
	snap, err := h.snapshot(activities.SnapshotInput{Selector: clb.Selector{LoadBalancerId: simLB, ListenerId: simEmpty},
		Targets: []clb.Target{{InstanceId: simCVM, Port: 80}}})
	require.NoError(t, err)
	require.NotNil(t, snap.Listener)
	require.Equal(t, ptrTo(true), snap.Listener.DeregisterTargetRst)
	require.Equal(t, 1, sim.Stats().Actions[clb.ActionDescribeListeners].Requests)
}

// Attributes that cannot be read (DescribeListeners denied) leave the
// snapshot without them, saying why; a throttled read is retried.
func TestSnapshotWithoutListenerAttributes(t *testing.T) {
	h := newHarness(t)
	h.clb.fail(clb.ActionDescribeListeners, clb.NewError(clb.ActionDescribeListeners, "UnauthorizedOperation", "no permission"))
	snap, err := h.snapshot(activities.SnapshotInput{Selector: tcpSel(), Targets: []clb.Target{cvm(0)}})
	require.NoError(t, err)
	require.Nil(t, snap.Listener)
	require.Contains(t, snap.ListenerError, "UnauthorizedOperation")
	require.Len(t, snap.Bound, 1)

	h = newHarness(t)
	h.clb.fail(clb.ActionDescribeListeners, clb.NewError(clb.ActionDescribeListeners, "RequestLimitExceeded", "slow down"))
	_, err = h.snapshot(activities.SnapshotInput{Selector: tcpSel(), Targets: []clb.Target{cvm(0)}})
	require.Error(t, err)
	require.False(t, applicationError(t, err).NonRetryable())
}
