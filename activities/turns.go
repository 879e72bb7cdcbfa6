package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// TurnTaker takes turns on a load balancer (turns.Client in production):
// the mutating activities change a load balancer only while they hold its
// turn, so that clbdrain's own changes never meet each other on the CLB's
// lock.
type TurnTaker interface {
	// Acquire blocks until req holds the turn of its load balancer, or
	// until ctx is done.
	Acquire(ctx context.Context, req turns.Request) (turns.Turn, error)
	// Release hands turn back.
	Release(ctx context.Context, turn turns.Turn) error
	// Withdraw takes req out of the queue, or ends its turn if it was
	// granted meanwhile.
	Withdraw(ctx context.Context, req turns.Request) error
	// Renew extends the lease of turn.
	Renew(ctx context.Context, turn turns.Turn) error
}

// ErrTurnUnavailable is the type of an activity that could not get its turn
// on the load balancer for a reason of Temporal's; retried.
const ErrTurnUnavailable = "TurnUnavailable"

// DefaultTurnBeat is how often a mutating activity heartbeats while it
// waits for its turn, unless its heartbeat timeout asks for more often.
const DefaultTurnBeat = time.Second

// releaseTimeout bounds a release or a withdrawal sent after the activity's
// own context is done.
const releaseTimeout = 5 * time.Second

// takeTurn waits for the turn of lb, heartbeating the failure counts of the
// earlier attempts meanwhile, and returns it; nil without a TurnTaker. A
// cancelled wait withdraws its request.
func (a *Activities) takeTurn(ctx context.Context, lb, what string) (*turns.Turn, error) {
	if a.Turns == nil {
		return nil, nil
	}
	info := activity.GetInfo(ctx)
	req := turns.Request{
		LoadBalancerId: lb,
		Requester:      turns.RequesterOf(info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID),
		Attempt:        int(info.Attempt),
		WorkflowID:     info.WorkflowExecution.ID,
		RunID:          info.WorkflowExecution.RunID,
		What:           what,
	}
	stop := a.beatWhileWaiting(ctx)
	turn, err := a.Turns.Acquire(ctx, req)
	stop()
	if err == nil {
		return &turn, nil
	}
	if ctx.Err() != nil {
		a.afterCtx(ctx, "withdrawing the turn request", lb, func(rctx context.Context) error { return a.Turns.Withdraw(rctx, req) })
		return nil, ctx.Err()
	}
	msg := err.Error()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		msg = appErr.Type() + ": " + appErr.Message()
	}
	return nil, temporal.NewApplicationErrorWithOptions("turn on "+lb+": "+msg, ErrTurnUnavailable,
		temporal.ApplicationErrorOptions{NonRetryable: turns.IsFinal(err), Cause: err})
}

// beatWhileWaiting heartbeats every turn beat until the returned func is
// called. It records the failure counts the earlier attempts left, so that
// countFailure reads them as before.
func (a *Activities) beatWhileWaiting(ctx context.Context) (stop func()) {
	details := earlierCounts(ctx)
	every := a.TurnBeat
	if every <= 0 {
		every = DefaultTurnBeat
		if hb := activity.GetInfo(ctx).HeartbeatTimeout / 3; hb > 0 && hb < every {
			every = hb
		}
	}
	return repeat(ctx, every, func() { activity.RecordHeartbeat(ctx, details) })
}

// earlierCounts are the failure counts the earlier attempts left in the
// heartbeat details, for a heartbeat that keeps them; empty when none.
func earlierCounts(ctx context.Context) FailureCounts {
	details := FailureCounts{}
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &details); err != nil {
			return FailureCounts{}
		}
	}
	return details
}

// repeat runs f every d until ctx ends or the returned stop is called;
// stop returns once f no longer runs.
func repeat(ctx context.Context, d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				f()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// handOver decides what becomes of the turn after the mutating call: kept
// for WaitForTask, which releases it when the task ends, when a task was
// started; kept for the next attempt, which takes it over, after an error
// that is retried (the call may have been applied, and a busy load balancer
// is busy for everyone), an attempt cut short by its worker's shutdown
// (ErrInterrupted) included; released otherwise (no task, an error that
// ends the activity, or the workflow's cancellation). It returns the turn
// to carry to WaitForTask, or nil.
func (a *Activities) handOver(ctx context.Context, turn *turns.Turn, taskID string, err error) *turns.Turn {
	if turn == nil {
		return nil
	}
	if err == nil && taskID != "" {
		return turn
	}
	var appErr *temporal.ApplicationError
	if err != nil && errors.As(err, &appErr) && !appErr.NonRetryable() &&
		(ctx.Err() == nil || appErr.Type() == ErrInterrupted) {
		return nil
	}
	a.releaseTurn(ctx, *turn)
	return nil
}

// releaseTurn hands turn back, even when ctx is done.
func (a *Activities) releaseTurn(ctx context.Context, turn turns.Turn) {
	a.afterCtx(ctx, "releasing the turn", turn.LoadBalancerId, func(rctx context.Context) error { return a.Turns.Release(rctx, turn) })
}

// afterCtx runs send on a context that outlives ctx by releaseTimeout. A
// release or withdrawal that fails costs at most a lease: it is logged,
// not returned.
func (a *Activities) afterCtx(ctx context.Context, what, lb string, send func(context.Context) error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := send(rctx); err != nil {
		activity.GetLogger(ctx).Warn(what+" failed: the turn ends with its lease", "loadBalancer", lb, "error", err)
	}
}

// keepTurn renews turn every quarter lease until the returned func is
// called; that func releases the turn when the wait ended with the task
// (err nil, or not retried) and keeps it for the next attempt otherwise.
// Without a turn it does nothing.
func (a *Activities) keepTurn(ctx context.Context, turn *turns.Turn) (end func(err error)) {
	if turn == nil || a.Turns == nil {
		return func(error) {}
	}
	every := turn.Lease / 4
	if every <= 0 {
		every = turns.DefaultLease / 4
	}
	stop := repeat(ctx, every, func() {
		if err := a.Turns.Renew(ctx, *turn); err != nil && ctx.Err() == nil {
			activity.GetLogger(ctx).Warn("renewing the turn failed", "loadBalancer", turn.LoadBalancerId, "error", err)
		}
	})
	return func(err error) {
		stop()
		if taskEnded(ctx, err) {
			// Sent while the activity completes, not before: the next
			// holder's turn waits on the release, the drain's next change
			// need not. A release lost on the way ends with the lease, or
			// with the drain's next request.
			go a.releaseTurn(ctx, *turn)
		}
	}
}

// taskEnded reports whether a wait that returned err is over for good: it
// succeeded, or failed with an error that is not retried (the task failed,
// or polling it cannot go on). A wait cut short (its context done, a worker
// stopping) is retried, and the retry keeps the turn until the task ends.
func taskEnded(ctx context.Context, err error) bool {
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

// turnWhat says what a turn is for: "DeregisterTargets lbl-1 (20 targets)".
func turnWhat(action string, sel clb.Selector, n int) string {
	return fmt.Sprintf("%s %s (%d targets)", action, sel.String(), n)
}
