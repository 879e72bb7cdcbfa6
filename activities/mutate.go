package activities

import (
	"context"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// SetWeightInput is the input of SetWeight.
type SetWeightInput struct {
	// Selector names the listener or rule, with its LocationId resolved
	// (SnapshotResult.Selector).
	Selector clb.Selector `json:"Selector"`
	// Targets are at most clb.MaxTargetsPerCall targets, each with the
	// weight to set: 0 to drain, the snapshot weight to restore.
	Targets []clb.WeightedTarget `json:"Targets"`
	// Recheck, when true, first reads what is bound and changes only the
	// targets still bound and not at their weight already: a restore skips
	// targets that were removed meanwhile instead of failing on them, and a
	// change sent again after its task was lost sends only what it had not
	// done.
	Recheck bool `json:"Recheck,omitempty"`
}

// SetWeightResult is the result of SetWeight.
type SetWeightResult struct {
	// TaskID is the ModifyTargetWeight task to wait for; empty when no
	// target was left to change.
	TaskID string `json:"TaskId,omitempty"`
	// Sent are the targets sent to ModifyTargetWeight, with their weights.
	Sent []clb.WeightedTarget `json:"Sent,omitempty"`
	// Skipped are the targets found not bound any more, by Recheck or
	// after a not-bound answer; nothing was sent for them.
	Skipped []clb.WeightedTarget `json:"Skipped,omitempty"`
	// AlreadySet are the targets Recheck found at their weight already;
	// nothing was sent for them, and they count as done.
	AlreadySet []clb.WeightedTarget `json:"AlreadySet,omitempty"`
	// Turn is the turn on the load balancer held for the task, for
	// WaitForTask to release; nil when none is held.
	Turn *turns.Turn `json:"Turn,omitempty"`
}

// SetWeight sets each target's weight with one ModifyTargetWeight call and
// returns its task id. Setting a weight twice is harmless, so a retried
// attempt simply sends the call again. A target not bound any more is no
// failure: Recheck skips it before the call, and a not-bound answer
// (InvalidParameter) is checked with DescribeTargets, as DeregisterTargets
// does: the targets gone are Skipped and the others sent once more; when
// every target is still bound the answer is about something else, a caller
// error. It first waits for its turn on the load balancer (takeTurn), which
// the result carries to WaitForTask.
func (a *Activities) SetWeight(ctx context.Context, in SetWeightInput) (res SetWeightResult, err error) {
	if err := checkBatch(len(in.Targets)); err != nil {
		return SetWeightResult{}, err
	}
	turn, err := a.takeTurn(ctx, in.Selector.LoadBalancerId, turnWhat(clb.ActionModifyTargetWeight, in.Selector, len(in.Targets)))
	if err != nil {
		return res, err
	}
	defer func() { res.Turn = a.handOver(ctx, turn, res.TaskID, err) }()
	send := in.Targets
	if in.Recheck {
		now, err := a.weightsNow(ctx, in.Selector, clb.Unweighted(send))
		if err != nil {
			return res, err
		}
		send, res.Skipped, res.AlreadySet = sortByWeightNow(send, now)
		if len(send) == 0 {
			return res, nil
		}
	}
	taskID, err := a.CLB.ModifyTargetWeight(ctx, in.Selector, send)
	if err != nil {
		ce := clb.Classify(clb.ActionModifyTargetWeight, err)
		if ce.Class != clb.ClassNotBound {
			return res, apiError(ctx, clb.ActionModifyTargetWeight, err)
		}
		countAPIError(ctx, ce)
		bound, rerr := a.stillBound(ctx, in.Selector, clb.Unweighted(send))
		if rerr != nil {
			return res, rerr
		}
		var gone []clb.WeightedTarget
		send, gone = split(send, bound)
		res.Skipped = append(res.Skipped, gone...)
		switch {
		case len(send) == 0:
			return res, nil
		case len(gone) == 0:
			return res, newAPIError(ce, true, 0)
		}
		activity.GetLogger(ctx).Info("targets unbound meanwhile, skipped", "selector", in.Selector.String(), "gone", len(gone))
		if taskID, err = a.CLB.ModifyTargetWeight(ctx, in.Selector, send); err != nil {
			return res, apiError(ctx, clb.ActionModifyTargetWeight, err)
		}
	}
	activity.GetMetricsHandler(ctx).Counter(MetricTargetsWeightSet).Inc(int64(len(send)))
	res.TaskID, res.Sent = taskID, send
	return res, nil
}

// sortByWeightNow splits targets by their weight now (-1: not bound): to
// send, gone, and at their weight already.
func sortByWeightNow(targets []clb.WeightedTarget, now []int64) (send, gone, already []clb.WeightedTarget) {
	for i, t := range targets {
		switch {
		case now[i] < 0:
			gone = append(gone, t)
		case now[i] == t.Weight:
			already = append(already, t)
		default:
			send = append(send, t)
		}
	}
	return send, gone, already
}

// DeregisterInput is the input of DeregisterTargets.
type DeregisterInput struct {
	// Selector names the listener or rule, with its LocationId resolved
	// (SnapshotResult.Selector).
	Selector clb.Selector `json:"Selector"`
	// Targets are at most clb.MaxTargetsPerCall targets.
	Targets []clb.Target `json:"Targets"`
	// Recheck, when true, first reads what is bound and sends only the
	// targets still bound, as every retried attempt does anyway. The
	// workflow sets it when it sends a chunk again after a failed task.
	Recheck bool `json:"Recheck,omitempty"`
}

// DeregisterResult is the result of DeregisterTargets.
type DeregisterResult struct {
	// TaskID is the DeregisterTargets task (its RequestId) to wait for;
	// empty when none of the targets was bound any more.
	TaskID string `json:"TaskId,omitempty"`
	// Sent are the targets the accepted call unbinds.
	Sent []clb.Target `json:"Sent,omitempty"`
	// AlreadyGone are targets found unbound when re-checked: removed by an
	// earlier attempt whose answer was lost, or by someone else. Either
	// way they are done.
	AlreadyGone []clb.Target `json:"AlreadyGone,omitempty"`
	// Attempt is the activity attempt that succeeded (1 for the first).
	Attempt int `json:"Attempt"`
	// TaskCreated is when the answer that made the task arrived, by this
	// worker's clock: the task runs from about then (WaitInput.TaskCreated).
	// Zero without a task.
	TaskCreated time.Time `json:"TaskCreated,omitzero"`
	// Turn is the turn on the load balancer held for the task, for
	// WaitForTask to release; nil when none is held.
	Turn *turns.Turn `json:"Turn,omitempty"`
}

// DeregisterTargets unbinds a chunk of targets with one DeregisterTargets
// call and returns its task id. It never unbinds anything twice and never
// fails on a target already gone: a retried attempt (or Recheck) sends only
// what DescribeTargets still shows bound, and a not-bound answer
// (InvalidParameter) is checked the same way: when none is bound the chunk
// is done, else the ones still bound are sent once more. It first waits for
// its turn on the load balancer (takeTurn), which the result carries to
// WaitForTask.
func (a *Activities) DeregisterTargets(ctx context.Context, in DeregisterInput) (res DeregisterResult, err error) {
	if err := checkBatch(len(in.Targets)); err != nil {
		return DeregisterResult{}, err
	}
	res = DeregisterResult{Attempt: attempt(ctx)}
	turn, err := a.takeTurn(ctx, in.Selector.LoadBalancerId, turnWhat(clb.ActionDeregisterTargets, in.Selector, len(in.Targets)))
	if err != nil {
		return res, err
	}
	defer func() { res.Turn = a.handOver(ctx, turn, res.TaskID, err) }()
	send := in.Targets
	log := activity.GetLogger(ctx)
	if res.Attempt > 1 || in.Recheck {
		bound, gone, err := a.recheck(ctx, in.Selector, send)
		if err != nil {
			return res, err
		}
		send, res.AlreadyGone = bound, gone
		if len(gone) > 0 {
			log.Info("targets already unbound", "selector", in.Selector.String(), "gone", len(gone), "attempt", res.Attempt)
		}
		if len(send) == 0 {
			return res, nil
		}
	}
	taskID, err := a.CLB.DeregisterTargets(ctx, in.Selector, send)
	if err != nil {
		ce := clb.Classify(clb.ActionDeregisterTargets, err)
		if ce.Class != clb.ClassNotBound {
			return res, apiError(ctx, clb.ActionDeregisterTargets, err)
		}
		countAPIError(ctx, ce)
		bound, gone, rerr := a.recheck(ctx, in.Selector, send)
		if rerr != nil {
			return res, rerr
		}
		res.AlreadyGone = append(res.AlreadyGone, gone...)
		switch {
		case len(bound) == 0:
			log.Info("not bound, confirmed gone", "selector", in.Selector.String(), "code", ce.Code, "requestId", ce.RequestID)
			return res, nil
		case len(gone) == 0:
			// Every target is still bound: the answer is about something
			// else in the request, a caller error.
			return res, newAPIError(ce, true, 0)
		}
		send = bound
		if taskID, err = a.CLB.DeregisterTargets(ctx, in.Selector, send); err != nil {
			return res, apiError(ctx, clb.ActionDeregisterTargets, err)
		}
	}
	activity.GetMetricsHandler(ctx).Counter(MetricTargetsDeregistered).Inc(int64(len(send)))
	res.TaskID, res.Sent, res.TaskCreated = taskID, send, a.now()
	return res, nil
}

// checkBatch refuses a batch the API would refuse for its size.
func checkBatch(n int) error {
	if n == 0 || n > clb.MaxTargetsPerCall {
		return invalidInput("a call takes 1 to " + strconv.Itoa(clb.MaxTargetsPerCall) +
			" targets, got " + strconv.Itoa(n))
	}
	return nil
}
