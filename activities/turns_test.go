package activities_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// fakeTurns grants every request at once, unless a test makes it wait,
// and records what the activities ask of it.
type fakeTurns struct {
	mu  sync.Mutex
	clb *fakeCLB
	// requests are the requests, with the CLB calls made before each.
	requests    []turns.Request
	callsBefore []int
	releases    []turns.Release
	renewals    []turns.Turn
	// acquire, when set, runs in Acquire instead of granting at once.
	acquire func(ctx context.Context, req turns.Request) (turns.Turn, error)
}

var _ activities.TurnTaker = (*fakeTurns)(nil)

// turnFor is the turn fakeTurns grants to req.
func turnFor(req turns.Request) turns.Turn {
	return turns.Turn{LoadBalancerId: req.LoadBalancerId, WorkflowID: "clb-turns/q/" + req.LoadBalancerId, Token: turns.Token(1, req), Lease: time.Minute}
}

func (f *fakeTurns) Acquire(ctx context.Context, req turns.Request) (turns.Turn, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.clb.mu.Lock()
	f.callsBefore = append(f.callsBefore, len(f.clb.calls))
	f.clb.mu.Unlock()
	acquire := f.acquire
	f.mu.Unlock()
	if acquire != nil {
		return acquire(ctx, req)
	}
	return turnFor(req), nil
}

func (f *fakeTurns) Release(_ context.Context, turn turns.Turn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if turn.LoadBalancerId != lbID {
		return fmt.Errorf("release on %s", turn.LoadBalancerId)
	}
	f.releases = append(f.releases, turns.Release{Token: turn.Token})
	return nil
}

func (f *fakeTurns) Withdraw(_ context.Context, req turns.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append(f.releases, turns.Release{Request: req.ID()})
	return nil
}

func (f *fakeTurns) Renew(_ context.Context, turn turns.Turn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewals = append(f.renewals, turn)
	return nil
}

func (f *fakeTurns) released() []turns.Release {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]turns.Release(nil), f.releases...)
}

func (f *fakeTurns) renewed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.renewals)
}

// eventuallyReleased waits for WaitForTask's release, sent as the activity
// completes, and checks what was released.
func (f *fakeTurns) eventuallyReleased(t *testing.T, want []turns.Release) {
	t.Helper()
	require.Eventually(t, func() bool { return len(f.released()) >= len(want) }, 10*time.Second, time.Millisecond)
	require.Equal(t, want, f.released())
}

// withTurns gives the harness's activities a fakeTurns.
func withTurns(h *harness) *fakeTurns {
	f := &fakeTurns{clb: h.clb}
	h.acts.Turns = f
	return f
}

// turnEnv is an activity environment whose heartbeats go to beats as they
// are recorded, whatever their details.
func turnEnv(h *harness, background context.Context, beats chan<- converter.EncodedValues) *testsuite.TestActivityEnvironment {
	env := h.newEnv(background)
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		select {
		case beats <- details:
		default:
		}
	})
	return env
}

func TestTurnTakenBeforeTheCallAndCarriedToTheWait(t *testing.T) {
	h := newHarness(t)
	f := withTurns(h)
	res, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0, 1)})
	require.NoError(t, err)

	require.Len(t, f.requests, 1)
	req := f.requests[0]
	require.Equal(t, []int{0}, f.callsBefore, "the turn comes before any CLB call")
	require.Equal(t, lbID, req.LoadBalancerId)
	require.Equal(t, 1, req.Attempt)
	require.NotEmpty(t, req.WorkflowID)
	require.Equal(t, turns.RequesterOf(req.WorkflowID, req.RunID, "0"), req.Requester)
	require.Equal(t, "DeregisterTargets "+tcpSel().String()+" (2 targets)", req.What)
	want := turnFor(req)
	require.Equal(t, &want, res.Turn, "the turn goes to WaitForTask")
	require.Empty(t, f.released(), "held until the task ends")

	wres, err := h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(2), 0)}})
	require.NoError(t, err)
	require.NotNil(t, wres.Turn)
	require.Equal(t, "ModifyTargetWeight "+tcpSel().String()+" (1 targets)", f.requests[1].What)
}

func TestTurnReleasedWhenNoTaskStarts(t *testing.T) {
	h := newHarness(t)
	f := withTurns(h)
	res, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(8, 9), Recheck: true})
	require.NoError(t, err)
	require.Empty(t, res.TaskID)
	require.Nil(t, res.Turn)
	require.Equal(t, []turns.Release{{Token: turnFor(f.requests[0]).Token}}, f.released())

	wres, err := h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(9), 10)}, Recheck: true})
	require.NoError(t, err)
	require.Empty(t, wres.TaskID)
	require.Nil(t, wres.Turn)
	require.Len(t, f.released(), 2)
}

func TestTurnOnAnError(t *testing.T) {
	t.Run("an error that ends the activity releases the turn", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		h.clb.fail(clb.ActionModifyTargetWeight, sdkErr("UnauthorizedOperation", "no"))
		_, err := h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(1), 0)}})
		require.True(t, applicationError(t, err).NonRetryable())
		require.Equal(t, []turns.Release{{Token: turnFor(f.requests[0]).Token}}, f.released())
	})
	t.Run("an error retried keeps the turn for the next attempt", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		h.clb.fail(clb.ActionDeregisterTargets, sdkErr("FailedOperation.ResourceInOperating", "busy"))
		_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
		require.False(t, applicationError(t, err).NonRetryable())
		require.Empty(t, f.released(), "the next attempt takes the turn over")
	})
	t.Run("a call cut by the worker's shutdown keeps the turn for the retry", func(t *testing.T) {
		h := newHarness(t)
		h.env = h.newEnv(cutContext(errWorkerShutdown))
		f := withTurns(h)
		h.clb.fail(clb.ActionDeregisterTargets, clb.Classify(clb.ActionDeregisterTargets, context.Canceled))
		_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
		require.Equal(t, activities.ErrInterrupted, applicationError(t, err).Type())
		require.Empty(t, f.released(), "another worker's attempt takes the turn over")
	})
	t.Run("a call cancelled by the workflow releases the turn", func(t *testing.T) {
		h := newHarness(t)
		h.env = h.newEnv(cutContext(temporal.NewCanceledError()))
		f := withTurns(h)
		h.clb.fail(clb.ActionDeregisterTargets, clb.Classify(clb.ActionDeregisterTargets, context.Canceled))
		_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
		require.Error(t, err)
		require.Equal(t, []turns.Release{{Token: turnFor(f.requests[0]).Token}}, f.released())
	})
	t.Run("no turn to be had fails the attempt, retried", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		f.acquire = func(context.Context, turns.Request) (turns.Turn, error) {
			return turns.Turn{}, errors.New("namespace unavailable")
		}
		_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
		ae := applicationError(t, err)
		require.Equal(t, activities.ErrTurnUnavailable, ae.Type())
		require.False(t, ae.NonRetryable())
		require.Empty(t, h.clb.calls, "no call without the turn")
	})
	t.Run("a refused request is not retried", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		f.acquire = func(context.Context, turns.Request) (turns.Turn, error) {
			return turns.Turn{}, temporal.NewNonRetryableApplicationError("superseded", turns.ErrSuperseded, nil)
		}
		_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
		require.True(t, applicationError(t, err).NonRetryable())
		require.Empty(t, h.clb.calls)
	})
}

func TestWaitingForTheTurnHeartbeatsAndKeepsTheFailureCounts(t *testing.T) {
	h := newHarness(t)
	f := withTurns(h)
	h.acts.TurnBeat = time.Millisecond
	beats := make(chan converter.EncodedValues, 16)
	env := turnEnv(h, context.Background(), beats)
	env.SetHeartbeatDetails(activities.FailureCounts{clb.ClassBusy: 2})
	// The SDK sends the first heartbeat at once and holds back the next
	// ones: one is what a test sees.
	f.acquire = func(ctx context.Context, req turns.Request) (turns.Turn, error) {
		select {
		case details := <-beats:
			var counts activities.FailureCounts
			require.NoError(t, details.Get(&counts))
			require.Equal(t, activities.FailureCounts{clb.ClassBusy: 2}, counts)
		case <-time.After(10 * time.Second):
			return turns.Turn{}, errors.New("no heartbeat while waiting")
		}
		return turnFor(req), nil
	}
	_, err := env.ExecuteActivity(h.acts.DeregisterTargets, activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
	require.NoError(t, err)
}

func TestCancelledWaitWithdrawsTheRequest(t *testing.T) {
	h := newHarness(t)
	f := withTurns(h)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := h.newEnv(ctx)
	f.acquire = func(ctx context.Context, _ turns.Request) (turns.Turn, error) {
		cancel()
		<-ctx.Done()
		return turns.Turn{}, ctx.Err()
	}
	_, err := env.ExecuteActivity(h.acts.DeregisterTargets, activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1)})
	require.ErrorContains(t, err, context.Canceled.Error())
	require.Equal(t, []turns.Release{{Request: f.requests[0].ID()}}, f.released())
	require.Empty(t, h.clb.calls)
}

// waitWithTurn runs WaitForTask on task with turn in env.
func waitWithTurn(h *harness, env *testsuite.TestActivityEnvironment, task string, turn *turns.Turn) error {
	_, err := env.ExecuteActivity(h.acts.WaitForTask, activities.WaitInput{TaskID: task, Turn: turn})
	return err
}

func TestWaitForTaskReleasesTheTurnWhenTheTaskEnds(t *testing.T) {
	turn := &turns.Turn{LoadBalancerId: lbID, Token: "7/r#1", Lease: time.Minute}
	t.Run("succeeded", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		require.NoError(t, waitWithTurn(h, h.env, h.clb.addTask(2*time.Second), turn))
		f.eventuallyReleased(t, []turns.Release{{Token: turn.Token}})
	})
	t.Run("failed", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		h.clb.taskStatus = clb.TaskFailed
		err := waitWithTurn(h, h.env, h.clb.addTask(2*time.Second), turn)
		require.Equal(t, activities.ErrTaskFailed, applicationError(t, err).Type())
		f.eventuallyReleased(t, []turns.Release{{Token: turn.Token}})
	})
	t.Run("unknown to DescribeTaskStatus", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		id := h.clb.addTask(2 * time.Second)
		h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("ResourceNotFound", "task not found"))
		err := waitWithTurn(h, h.env, id, turn)
		require.Equal(t, activities.ErrTaskUnknown, applicationError(t, err).Type())
		f.eventuallyReleased(t, []turns.Release{{Token: turn.Token}})
	})
	t.Run("cut short, the task still running: the retry keeps the turn", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		env := h.newEnv(ctx)
		h.clock.onSleep = func(context.Context, time.Duration) {
			if h.clb.count(clb.ActionDescribeTaskStatus) == 1 {
				cancel()
			}
		}
		require.Error(t, waitWithTurn(h, env, h.clb.addTask(time.Hour), turn))
		require.Empty(t, f.released())
	})
	t.Run("without a turn nothing is released", func(t *testing.T) {
		h := newHarness(t)
		f := withTurns(h)
		require.NoError(t, waitWithTurn(h, h.env, h.clb.addTask(2*time.Second), nil))
		require.Empty(t, f.released())
	})
}

func TestWaitForTaskRenewsTheTurnWhileTheTaskRuns(t *testing.T) {
	h := newHarness(t)
	f := withTurns(h)
	turn := &turns.Turn{LoadBalancerId: lbID, Token: "7/r#1", Lease: 4 * time.Millisecond}
	// The task ends on the fake clock only once the lease was renewed twice
	// (every quarter lease, on the real clock).
	h.clock.onSleep = func(context.Context, time.Duration) {
		deadline := time.Now().Add(10 * time.Second)
		for f.renewed() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	require.NoError(t, waitWithTurn(h, h.env, h.clb.addTask(2*time.Second), turn))
	require.GreaterOrEqual(t, f.renewed(), 2)
	require.Equal(t, *turn, f.renewals[0])
	f.eventuallyReleased(t, []turns.Release{{Token: turn.Token}})
}
