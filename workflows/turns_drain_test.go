package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// turnOf is the turn the mutating activities of these tests hold for task.
func turnOf(taskID string) *turns.Turn {
	return &turns.Turn{LoadBalancerId: lbID, Token: "token-of-" + taskID, Lease: time.Minute}
}

func TestTurnGoesFromTheChangeToTheWaitForItsTask(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			res, err := f.deregister(ctx, in)
			res.Turn = turnOf(res.TaskID)
			return res, err
		})
	f.env.OnActivity(a.SetWeights, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SetWeightsInput) (activities.SetWeightsResult, error) {
			res, err := f.setWeights(ctx, in)
			res.Turn = turnOf(res.TaskID)
			return res, err
		})
	var waits []activities.WaitInput
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
			waits = append(waits, in)
			return f.wait(ctx, in)
		})
	f.healthy(time.Second)
	in := layer4(25)
	in.DrainDelay = time.Second
	f.run(in)
	f.result()

	// One weight task, then two deregistration tasks.
	require.Len(t, waits, 3)
	for _, w := range waits {
		require.Equal(t, turnOf(w.TaskID), w.Turn, "the wait for %s releases its turn", w.TaskID)
	}
}

func TestProgressSaysWhomAChangeWaitsFor(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).After(3 * time.Second).Return(f.deregister)
	f.healthy(2 * time.Second)
	waiting := turns.Waiting{LoadBalancerId: lbID, Holder: "clb-drain/" + lbID + "/lbl-other", Ahead: 1, Request: "r#1"}
	// Snapshot 0 s; chunk 0: DeregisterTargets 0-3 s (waiting for its
	// turn), WaitForTask 3-5 s; chunk 1 from 5 s.
	send := func(at time.Duration) {
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(turns.SignalWaiting, waiting) }, at)
	}
	seen := map[time.Duration]string{}
	look := func(at time.Duration) {
		f.env.RegisterDelayedCallback(func() { seen[at] = f.progress().WaitingFor }, at)
	}
	send(time.Second)
	look(2 * time.Second)
	look(3500 * time.Millisecond)
	// A notice that comes after its change ended is not shown.
	send(4 * time.Second)
	look(4500 * time.Millisecond)
	f.run(layer4(25))
	f.result()

	require.Equal(t, "waiting for "+lbID+" held by clb-drain/"+lbID+"/lbl-other (1 more ahead)", seen[2*time.Second])
	require.Empty(t, seen[3500*time.Millisecond], "cleared when the change ended")
	require.Empty(t, seen[4500*time.Millisecond], "a stale notice is not shown")
	require.Empty(t, f.progress().WaitingFor)
	require.Equal(t, workflows.PhaseDone, f.progress().Phase)
}

// A change may wait long for its turn: its attempt runs until the mutation
// deadline as long as it heartbeats, and its heartbeat timeout bounds its
// calls once it holds the turn.
func TestChangesMayWaitForTheirTurn(t *testing.T) {
	f := newFleet(t)
	var infos []activity.Info
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "DeregisterTargets" || info.ActivityType.Name == "SetWeights" {
			infos = append(infos, *info)
		}
	})
	f.healthy(time.Second)
	in := layer4(25)
	in.DrainDelay = time.Second
	f.run(in)
	f.result()

	require.Len(t, infos, 3)
	for _, info := range infos {
		require.Equal(t, 30*time.Second, info.HeartbeatTimeout, info.ActivityType.Name)
		require.GreaterOrEqual(t, info.Deadline.Sub(info.StartedTime), 30*time.Minute-time.Second,
			"%s: waiting for the turn does not count against a 30 s attempt", info.ActivityType.Name)
	}
}
