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

// emulated is a harness whose activities talk to the emulator through the
// production client, over HTTP in process. The emulator's clock moves
// only when the activities sleep.
type emulated struct {
	*harness
	sim      *clbsim.Server
	simClock *clbsim.ManualClock
	sel      clb.Selector
	// targets are the listener's 45 bound targets (a fifth of them ENI).
	targets []clb.Target
	// state is the fleet the emulator started with.
	state clbsim.State
}

func newEmulated(t *testing.T, latency time.Duration) *emulated {
	e := newEmulatedFleet(t, clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 45, ENI: 0.2}, latency)
	require.Len(t, e.targets, 45)
	return e
}

// newEmulatedFleet is an emulated harness over the fleet spec generates;
// sel and targets are its first load balancer's first listener's.
func newEmulatedFleet(t *testing.T, spec clbsim.GenerateSpec, latency time.Duration) *emulated {
	state, err := clbsim.Generate(spec, 7)
	require.NoError(t, err)
	// Near the wall clock: the SDK signs with it.
	simClock := clbsim.NewManualClock(time.Now())
	client, sim := clbsimtest.Start(t, clbsim.Config{State: state, TaskLatency: latency, Rate: -1, Clock: simClock, Seed: 1})

	h := newHarness(t)
	h.acts = &activities.Activities{CLB: client, Now: simClock.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		if h.clock.onSleep != nil {
			h.clock.onSleep(ctx, d)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		simClock.Advance(d)
		return nil
	}}
	h.env = h.newEnv(context.Background())

	lb := state.LoadBalancers[0]
	l := lb.Listeners[0]
	e := &emulated{harness: h, sim: sim, simClock: simClock, state: state,
		sel:     clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId},
		targets: clbsim.RequestTargets(l.Targets)}
	return e
}

// changes counts the applied changes of an action, per target key.
func (e *emulated) changes(action string) map[string]int {
	out := map[string]int{}
	for _, c := range e.sim.Audit() {
		if c.Action == action {
			out[c.Target]++
		}
	}
	return out
}

func TestEmulatorSnapshotDeregisterWait(t *testing.T) {
	e := newEmulated(t, 2*time.Second)
	ghost := clb.Target{InstanceId: "ins-zzzzzzzz", Port: 80}
	snap, err := e.snapshot(activities.SnapshotInput{Selector: e.sel, Targets: append(append([]clb.Target{}, e.targets[:20]...), ghost)})
	require.NoError(t, err)
	require.Len(t, snap.Bound, 20)
	require.Equal(t, []clb.Target{ghost}, snap.Absent)

	dr, err := e.deregister(activities.DeregisterInput{Selector: snap.Selector, Targets: clb.Unweighted(snap.Bound)})
	require.NoError(t, err)
	require.NotEmpty(t, dr.TaskID)
	require.Len(t, dr.Sent, 20)

	wr, err := e.wait(e.env, dr.TaskID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, wr.Elapsed, 2*time.Second)
	require.LessOrEqual(t, wr.Polls, 8)

	gone := e.changes(clb.ActionDeregisterTargets)
	require.Len(t, gone, 20)
	for _, tg := range e.targets[:20] {
		require.Equal(t, 1, gone[tg.Key()], tg.Key())
	}
	after, err := e.snapshot(activities.SnapshotInput{Selector: e.sel, Targets: e.targets})
	require.NoError(t, err)
	require.Len(t, after.Bound, 25)
	require.Len(t, after.Absent, 20)
}

func TestEmulatorDroppedAnswerIsNeverSentTwice(t *testing.T) {
	t.Run("the retry sees the change applied", func(t *testing.T) {
		e := newEmulated(t, 200*time.Millisecond)
		e.sim.SetFaults(clbsim.Faults{{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultDrop, Probability: 1}})
		chunk := e.targets[:20]
		_, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk})
		ae := applicationError(t, err)
		require.Equal(t, clb.CodeNetworkError, ae.Type())
		require.False(t, ae.NonRetryable(), "a lost answer is retried")
		require.GreaterOrEqual(t, ae.NextRetryDelay(), time.Second)

		// The retry comes after its delay; the dropped call's task is done.
		e.sim.SetFaults(nil)
		e.simClock.Advance(ae.NextRetryDelay())
		res, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk, Recheck: true})
		require.NoError(t, err)
		require.Empty(t, res.TaskID, "nothing left to send")
		require.Equal(t, chunk, res.AlreadyGone)
		require.Equal(t, 1, e.sim.Stats().Actions[clb.ActionDeregisterTargets].Requests)
		for _, n := range e.changes(clb.ActionDeregisterTargets) {
			require.Equal(t, 1, n)
		}
		require.Len(t, e.changes(clb.ActionDeregisterTargets), 20)
	})
	t.Run("a retry while the task runs is busy, then sees it applied", func(t *testing.T) {
		e := newEmulated(t, 5*time.Second)
		e.sim.SetFaults(clbsim.Faults{{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultDrop, Probability: 1}})
		chunk := e.targets[20:40]
		_, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk})
		require.Equal(t, clb.CodeNetworkError, applicationError(t, err).Type())
		e.sim.SetFaults(nil)

		e.simClock.Advance(time.Second)
		_, err = e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk, Recheck: true})
		ae := applicationError(t, err)
		require.Equal(t, "FailedOperation.ResourceInOperating", ae.Type())
		require.False(t, ae.NonRetryable(), "busy is retried")

		e.simClock.Advance(5 * time.Second)
		res, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk, Recheck: true})
		require.NoError(t, err)
		require.Empty(t, res.TaskID)
		require.Equal(t, chunk, res.AlreadyGone)
		require.Len(t, e.changes(clb.ActionDeregisterTargets), 20)
		require.Equal(t, 1, e.sim.Stats().TasksSucceeded)
	})
}

func TestEmulatorNotBoundIsDone(t *testing.T) {
	e := newEmulated(t, 100*time.Millisecond)
	first, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: e.targets[:3]})
	require.NoError(t, err)
	_, err = e.wait(e.env, first.TaskID)
	require.NoError(t, err)

	// Two of these are gone: the API refuses the call with InvalidParameter,
	// and the activity sends the one still bound.
	res, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: e.targets[1:4]})
	require.NoError(t, err)
	require.Equal(t, e.targets[3:4], res.Sent)
	require.Equal(t, e.targets[1:3], res.AlreadyGone)
	_, err = e.wait(e.env, res.TaskID)
	require.NoError(t, err)
	require.Equal(t, map[string]int{e.targets[0].Key(): 1, e.targets[1].Key(): 1, e.targets[2].Key(): 1, e.targets[3].Key(): 1},
		e.changes(clb.ActionDeregisterTargets))
	require.Equal(t, 1, e.sim.Stats().Actions[clb.ActionDeregisterTargets].Errors["InvalidParameter"])
}

func TestEmulatorTaskFailure(t *testing.T) {
	e := newEmulated(t, time.Second)
	e.sim.SetFaults(clbsim.Faults{{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultTaskFail, Probability: 1}})
	dr, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: e.targets[:5]})
	require.NoError(t, err)
	_, err = e.wait(e.env, dr.TaskID)
	ae := applicationError(t, err)
	require.Equal(t, activities.ErrTaskFailed, ae.Type())
	require.True(t, ae.NonRetryable())
	var tf activities.TaskFailure
	require.NoError(t, ae.Details(&tf))
	require.Equal(t, dr.TaskID, tf.TaskID)
	require.NotEmpty(t, tf.Message)
	require.Contains(t, ae.Error(), tf.Message)
	require.Empty(t, e.changes(clb.ActionDeregisterTargets), "a failed task changes nothing")
}

func TestEmulatorSetWeightAndRestore(t *testing.T) {
	e := newEmulated(t, 300*time.Millisecond)
	snap, err := e.snapshot(activities.SnapshotInput{Selector: e.sel, Targets: e.targets[:4]})
	require.NoError(t, err)
	zero := make([]clb.WeightedTarget, len(snap.Bound))
	for i, tg := range snap.Bound {
		zero[i] = weighted(tg.Target, 0)
	}
	sw, err := e.setWeight(activities.SetWeightInput{Selector: e.sel, Targets: zero})
	require.NoError(t, err)
	_, err = e.wait(e.env, sw.TaskID)
	require.NoError(t, err)
	drained, err := e.snapshot(activities.SnapshotInput{Selector: e.sel, Targets: e.targets[:4]})
	require.NoError(t, err)
	for _, tg := range drained.Bound {
		require.EqualValues(t, 0, tg.Weight)
	}

	// One of them goes meanwhile; the restore skips it.
	dr, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: e.targets[:1]})
	require.NoError(t, err)
	_, err = e.wait(e.env, dr.TaskID)
	require.NoError(t, err)
	sw, err = e.setWeight(activities.SetWeightInput{Selector: e.sel, Targets: snap.Bound, Recheck: true})
	require.NoError(t, err)
	require.Equal(t, snap.Bound[:1], sw.Skipped)
	require.Equal(t, snap.Bound[1:], sw.Sent)
	_, err = e.wait(e.env, sw.TaskID)
	require.NoError(t, err)
	restored, err := e.snapshot(activities.SnapshotInput{Selector: e.sel, Targets: e.targets[:4]})
	require.NoError(t, err)
	require.Equal(t, snap.Bound[1:], restored.Bound)

	// Sent again (its task lost): what is at its weight already is not
	// sent, and counts as set.
	again := append([]clb.WeightedTarget{weighted(snap.Bound[1].Target, 0)}, snap.Bound[2:]...)
	sw, err = e.setWeight(activities.SetWeightInput{Selector: e.sel, Targets: again, Recheck: true})
	require.NoError(t, err)
	require.Equal(t, again[:1], sw.Sent)
	require.Equal(t, snap.Bound[2:], sw.AlreadySet)
	require.Empty(t, sw.Skipped)
}

func TestEmulatorWaitResumesAfterCrash(t *testing.T) {
	e := newEmulated(t, 6*time.Second)
	dr, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: e.targets[:2]})
	require.NoError(t, err)

	// The first worker dies after its second poll.
	ctx, crash := context.WithCancel(context.Background())
	defer crash()
	first := e.newEnv(ctx)
	e.clock.onSleep = func(context.Context, time.Duration) {
		if e.sim.Stats().Actions[clb.ActionDescribeTaskStatus].Requests == 2 {
			crash()
		}
	}
	_, err = e.wait(first, dr.TaskID)
	require.ErrorContains(t, err, context.Canceled.Error())
	e.clock.onSleep = nil
	require.NotEmpty(t, e.heartbeats)
	last := e.heartbeats[len(e.heartbeats)-1]
	require.Equal(t, 2, last.Polls)
	require.False(t, last.FirstPoll.IsZero())

	// Another worker takes over seconds later, with the heartbeat's details.
	e.simClock.Advance(5 * time.Second)
	second := e.newEnv(context.Background())
	second.SetHeartbeatDetails(last)
	res, err := e.wait(second, dr.TaskID)
	require.NoError(t, err)
	require.Equal(t, e.sim.Stats().Actions[clb.ActionDescribeTaskStatus].Requests, res.Polls, "the count spans both workers")
	require.Equal(t, e.simClock.Now().Sub(last.Started), res.Elapsed, "from the first worker's start")
	require.GreaterOrEqual(t, res.Elapsed, 6*time.Second)
}

// Under the task-expiry dialect, a wait taken over after its task's id
// expired learns nothing from DescribeTaskStatus: it fails TaskUnknown, and
// the re-check (DeregisterTargets with Recheck, as the workflow sends it
// then) finds the chunk gone, sending nothing twice.
func TestEmulatorExpiredTaskIsTaskUnknown(t *testing.T) {
	for _, code := range clbsim.TaskExpiryCodes {
		t.Run(code, func(t *testing.T) {
			e := newEmulated(t, 2*time.Second)
			require.NoError(t, e.sim.SetDialect(clbsim.Dialect{TaskExpiryCode: code, TaskExpiry: time.Second}))
			chunk := e.targets[:20]
			dr, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk})
			require.NoError(t, err)
			e.simClock.Advance(10 * time.Second) // the worker that waited crashed; another took over late

			_, err = e.wait(e.env, dr.TaskID)
			ae := applicationError(t, err)
			require.Equal(t, activities.ErrTaskUnknown, ae.Type())
			require.True(t, ae.NonRetryable())
			require.Contains(t, ae.Error(), code)

			again, err := e.deregister(activities.DeregisterInput{Selector: e.sel, Targets: chunk, Recheck: true})
			require.NoError(t, err)
			require.Empty(t, again.TaskID, "nothing left to send")
			require.Equal(t, chunk, again.AlreadyGone)
			gone := e.changes(clb.ActionDeregisterTargets)
			require.Len(t, gone, 20)
			for _, tg := range chunk {
				require.Equal(t, 1, gone[tg.Key()], tg.Key())
			}
		})
	}
}
