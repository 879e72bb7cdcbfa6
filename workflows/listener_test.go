package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

func ptrTo[T any](v T) *T { return &v }

// tcpListener are a TCP listener's attributes.
func tcpListener(rst bool, idle, session int64) *clb.ListenerAttributes {
	return &clb.ListenerAttributes{ListenerId: lisID, Protocol: clb.ProtocolTCP, Port: 80,
		DeregisterTargetRst: ptrTo(rst), IdleConnectTimeout: ptrTo(idle), SessionExpireTime: ptrTo(session)}
}

// drainWith runs a drain of 5 targets with delay against a listener of
// those attributes, and returns its result and its progress during the
// drain's first minute (in the drain wait when delay is over a minute).
func drainWith(t *testing.T, l *clb.ListenerAttributes, delay time.Duration) (workflows.DrainResult, workflows.Progress) {
	f := newFleet(t)
	f.listener = l
	f.healthy(time.Second)
	var during workflows.Progress
	f.env.RegisterDelayedCallback(func() { during = f.progress() }, 30*time.Second)
	in := layer4(5)
	in.DrainDelay = delay
	f.run(in)
	return f.result(), during
}

// Resetting connections on unbind without a drain delay long enough to
// let idle connections end is said in the result and, from the snapshot
// on, in the progress.
func TestWarnsWhenUnbindCutsLiveConnections(t *testing.T) {
	l := tcpListener(true, 900, 0)
	res, during := drainWith(t, l, 5*time.Minute)
	want := clb.DrainWarnings(*l, 5*time.Minute)
	require.Len(t, want, 1)
	require.Contains(t, want[0], "idle timeout 900s")
	require.Equal(t, want, res.Warnings)
	require.Equal(t, workflows.PhaseDrainWait, during.Phase)
	require.Equal(t, want, during.Warnings, "the progress says it as soon as the snapshot is taken")
	require.Equal(t, l, res.Listener)

	res, _ = drainWith(t, l, 0)
	require.Len(t, res.Warnings, 1)
	require.Contains(t, res.Warnings[0], "the drain delay 0s is shorter than its idle timeout 900s: live connections will be cut")
}

func TestNoWarningWhenTheDelayCoversTheIdleTimeout(t *testing.T) {
	res, during := drainWith(t, tcpListener(true, 60, 0), 2*time.Minute)
	require.Empty(t, res.Warnings)
	require.Empty(t, during.Warnings)
	require.NotNil(t, res.Listener)
}

func TestNoWarningWhenUnbindDoesNotReset(t *testing.T) {
	res, _ := drainWith(t, tcpListener(false, 900, 0), 0)
	require.Empty(t, res.Warnings)
	res, _ = drainWith(t, nil, 0)
	require.Empty(t, res.Warnings, "no attributes read: nothing to say")
	require.Nil(t, res.Listener)
}

func TestSessionPersistenceLongerThanTheDelayIsNoted(t *testing.T) {
	res, _ := drainWith(t, tcpListener(false, 900, 3600), 2*time.Minute)
	require.Len(t, res.Warnings, 1)
	require.Contains(t, res.Warnings[0], "keeps sessions on one target for 3600s (SessionExpireTime)")
	res, _ = drainWith(t, tcpListener(false, 900, 60), 2*time.Minute)
	require.Empty(t, res.Warnings)
}

// A continued run carries the warnings in its progress before its own
// snapshot.
func TestWarningsSurviveContinueAsNew(t *testing.T) {
	f := newFleet(t)
	f.listener = tcpListener(true, 900, 0)
	f.healthy(time.Second)
	in := layer4(45)
	in.ChunksPerRun = 1
	f.run(in)
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())
	require.Len(t, next.Resume.Result.Warnings, 1)

	g := newFleet(t)
	g.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).After(10 * time.Second).Return(g.snapshot)
	g.healthy(time.Second)
	var before workflows.Progress
	g.env.RegisterDelayedCallback(func() { before = g.progress() }, 5*time.Second)
	g.run(next)
	require.Equal(t, workflows.PhaseSnapshot, before.Phase)
	require.Equal(t, next.Resume.Result.Warnings, before.Warnings)
	after := decodeContinueAsNew(t, g.env.GetWorkflowError())
	require.Equal(t, next.Resume.Result.Warnings, after.Resume.Result.Warnings, "a snapshot without attributes keeps what was read")
}
