package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// byLB groups the bindings by load balancer, in plan order.
func (s *serversDrain) byLB() [][]*serverBinding {
	var out [][]*serverBinding
	for _, b := range s.bindings {
		if n := len(out); n > 0 && out[n-1][0].Selector.LoadBalancerId == b.Selector.LoadBalancerId {
			out[n-1] = append(out[n-1], b)
			continue
		}
		out = append(out, []*serverBinding{b})
	}
	return out
}

// drainWeights sets weight 0 on every binding, load balancers in parallel
// up to MaxParallel, then waits DrainDelay once.
func (s *serversDrain) drainWeights(ctx workflow.Context) error {
	s.setPhase(ctx, PhaseDraining)
	lbs := s.byLB()
	errs := make([]error, len(lbs))
	parallel(ctx, len(lbs), s.maxParallel(), func(ctx workflow.Context, i int) {
		errs[i] = s.zeroLoadBalancer(ctx, lbs[i])
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := firstError(errs); err != nil {
		return err
	}
	until := workflow.Now(ctx).Add(s.in.DrainDelay)
	s.progress.DrainUntil = until
	s.setPhase(ctx, PhaseDrainWait)
	s.log.Info("drained, waiting", "until", until)
	if err := workflow.Sleep(ctx, s.in.DrainDelay); err != nil {
		return err
	}
	s.progress.DrainUntil = time.Time{}
	return nil
}

// zeroLoadBalancer sets weight 0 on the targets with weight > 0 of one
// load balancer's bindings, with one SetWeights (BatchModifyTargetWeight)
// per clb.MaxBatchTargets targets.
func (s *serversDrain) zeroLoadBalancer(ctx workflow.Context, bs []*serverBinding) error {
	batches := serverWeightBatches(bs, func(b *serverBinding, t clb.WeightedTarget) (clb.WeightedTarget, bool) {
		return clb.WeightedTarget{Target: t.Target}, t.Weight > 0
	})
	for _, batch := range batches {
		// Marked before the call: a call cut short may have been applied.
		for _, e := range batch {
			for _, t := range e.Targets {
				e.state.zeroed[t.Key()] = true
			}
		}
		if _, err := setWeightsOn(ctx, batch, false); err != nil {
			return fmt.Errorf("setting weight 0 on %s: %w", bs[0].Selector.LoadBalancerId, err)
		}
	}
	return nil
}

// weightEntry is a SetWeights entry with the binding it belongs to.
type weightEntry struct {
	clb.BatchWeightEntry
	state *serverBinding
}

// serverWeightBatches are the targets pick chooses of bs, with the weight it
// gives them, in entries per binding, at most clb.MaxBatchTargets targets
// a batch.
func serverWeightBatches(bs []*serverBinding, pick func(*serverBinding, clb.WeightedTarget) (clb.WeightedTarget, bool)) [][]weightEntry {
	var out [][]weightEntry
	var cur []weightEntry
	n := 0
	for _, b := range bs {
		for _, t := range b.Remove {
			w, ok := pick(b, t)
			if !ok {
				continue
			}
			if n == clb.MaxBatchTargets {
				out, cur, n = append(out, cur), nil, 0
			}
			if len(cur) == 0 || cur[len(cur)-1].state != b {
				cur = append(cur, weightEntry{BatchWeightEntry: clb.BatchWeightEntry{Selector: b.Selector}, state: b})
			}
			cur[len(cur)-1].Targets = append(cur[len(cur)-1].Targets, w)
			n++
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// setWeightsOn sets each target's own weight with one SetWeights and waits
// for its task, sending the change again (re-checked) when the task fails,
// at most MaxTaskRetries times. It returns the targets set (or at their
// weight already), by key.
func setWeightsOn(ctx workflow.Context, batch []weightEntry, recheck bool) (map[string]bool, error) {
	in := activities.SetWeightsInput{LoadBalancerId: batch[0].Selector.LoadBalancerId}
	for _, e := range batch {
		in.Entries = append(in.Entries, e.BatchWeightEntry)
	}
	for retry := 0; ; retry++ {
		in.Recheck = recheck || retry > 0
		var res activities.SetWeightsResult
		if err := workflow.ExecuteActivity(withMutationOptions(ctx), a.SetWeights, in).Get(ctx, &res); err != nil {
			return nil, err
		}
		done := map[string]bool{}
		for _, e := range append(res.AlreadySet, res.Sent...) {
			for _, t := range e.Targets {
				done[e.Selector.String()+" "+t.Key()] = true
			}
		}
		if res.TaskID == "" {
			return done, nil
		}
		_, err := waitTask(ctx, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: in.LoadBalancerId,
			Action: clb.ActionBatchModifyTargetWeight, Turn: res.Turn})
		if err == nil {
			return done, nil
		}
		if _, _, typ := taskFailure(err); typ == "" || retry >= MaxTaskRetries || ctx.Err() != nil {
			return nil, err
		}
	}
}

// deregister runs one child drain per binding, load balancers in parallel
// up to MaxParallel. A load balancer's children change it one after
// another, taking turns on it (the per-load-balancer coordination); the
// next one starts while the previous one's task runs (at most
// childrenPerLB at once), so that its start and its reads overlap that
// task, and (childrenInTurnVersion) only once the start of the one before
// it was answered. It stops starting children once cancelled.
func (s *serversDrain) deregister(ctx workflow.Context) {
	s.setPhase(ctx, PhaseDeregistering)
	lbs := s.byLB()
	inTurn := workflow.GetVersion(ctx, childrenInTurnVersion, workflow.DefaultVersion, 1) == 1
	parallel(ctx, len(lbs), s.maxParallel(), func(ctx workflow.Context, i int) {
		// started[j] is ready once child j's start was answered.
		started := make([]workflow.Settable, len(lbs[i]))
		futures := make([]workflow.Future, len(lbs[i]))
		for j := range started {
			futures[j], started[j] = workflow.NewFuture(ctx)
		}
		parallel(ctx, len(lbs[i]), childrenPerLB, func(ctx workflow.Context, j int) {
			if inTurn && j > 0 {
				_ = futures[j-1].Get(ctx, nil)
			}
			if ctx.Err() == nil {
				s.drainBinding(ctx, lbs[i][j], func() { setOnce(started[j], futures[j]) })
			} else {
				setOnce(started[j], futures[j])
			}
		})
		s.progress.LoadBalancersDone++
	})
}

// setOnce makes f, which s sets, ready, unless it is already.
func setOnce(s workflow.Settable, f workflow.Future) {
	if !f.IsReady() {
		s.SetValue(nil)
	}
}

// Versions of DrainServers' changes (README, "Upgrading workers").
const (
	// childWaitVersion: a child drain whose start is refused because a
	// drain runs under its conventional ID waits for it and starts again,
	// instead of failing its binding at once.
	childWaitVersion = "servers-child-waits"
	// recheckAnyErrorVersion: a child that fails is re-checked read-only
	// even when the server drain is cancelled, on a context the cancel
	// does not reach.
	recheckAnyErrorVersion = "servers-recheck-any-error"
	// childrenInTurnVersion: a load balancer's next child drain starts
	// once the start of the one before it was answered, so that the first
	// child of every load balancer under way starts first.
	childrenInTurnVersion = "servers-children-in-turn"
)

// drainBinding runs the child drain of one binding and records what it
// removed, with the plan's weights (the child read weight 0).
func (s *serversDrain) drainBinding(ctx workflow.Context, b *serverBinding, onStart func()) {
	in := childInput(s.in, b.PlanBinding)
	opts := ChildOptions(in)
	// The child runs where this drain runs: the worker that serves its
	// task queue is the one that reaches its cloud.
	opts.TaskQueue = workflow.GetInfo(ctx).TaskQueueName
	res, started, err := s.runChild(ctx, opts, in, onStart)
	b.done = true
	s.progress.BindingsDone++
	b.addRemoved(clb.Unweighted(res.Deregistered))
	var busy *stillRunningError
	switch {
	case err == nil && !res.Cancelled:
		b.outcome.Outcome = BindingRemoved
	case errors.As(err, &busy):
		s.bindingFailed(b, err)
		s.giveBack(ctx, b)
	case ctx.Err() != nil:
		b.outcome.Outcome = BindingCancelled
		if err != nil && started && workflow.GetVersion(ctx, recheckAnyErrorVersion, workflow.DefaultVersion, 1) == 1 {
			s.recheckFailed(ctx, b)
		}
	default:
		s.bindingFailed(b, err)
		if err == nil {
			b.outcome.Error = "its drain " + in.Selector.String() + " was cancelled"
		}
		s.recheckFailed(ctx, b)
	}
	s.progress.TargetsDone += len(b.removed)
}

// bindingFailed marks b failed with err.
func (s *serversDrain) bindingFailed(b *serverBinding, err error) {
	b.outcome.Outcome = BindingFailed
	if err != nil {
		b.outcome.Error = errorMessage(err)
	}
	s.progress.LastError = b.outcome.Error
	s.log.Error("binding not removed", "selector", b.Selector.String(), "error", err)
}

// stillRunningError is the error of a binding whose child drain could not
// start within childWaitLimit: a drain kept running under its ID.
type stillRunningError struct {
	workflowID string
	waited     time.Duration
}

func (e *stillRunningError) Error() string {
	return fmt.Sprintf("a drain was still running as workflow %s after waiting %s for it to end, so this binding's drain never started",
		e.workflowID, e.waited)
}

// runChild runs the child drain of in under opts. When its start is
// refused because a drain already runs under its conventional ID (a
// listener drain started by hand, another server drain's child), it
// waits for that drain to end, showing it in the progress, and starts
// the child again, waiting childWaitFirst doubling up to childWaitEvery;
// after childWaitLimit it gives up with a *stillRunningError. started
// says whether the child started.
func (s *serversDrain) runChild(ctx workflow.Context, opts workflow.ChildWorkflowOptions, in DrainInput, onStart func()) (res DrainResult, started bool, err error) {
	cctx := workflow.WithChildOptions(ctx, opts)
	since := workflow.Now(ctx)
	every := childWaitFirst
	defer onStart()
	for {
		child := workflow.ExecuteChildWorkflow(cctx, WorkflowName, in)
		startErr := child.GetChildWorkflowExecution().Get(ctx, nil)
		onStart()
		if startErr == nil || !temporal.IsWorkflowExecutionAlreadyStartedError(startErr) || ctx.Err() != nil ||
			workflow.GetVersion(ctx, childWaitVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			err = child.Get(ctx, &res)
			return res, startErr == nil, err
		}
		waited := workflow.Now(ctx).Sub(since)
		if waited >= childWaitLimit {
			return res, false, &stillRunningError{workflowID: opts.WorkflowID, waited: waited}
		}
		s.log.Info("a drain runs under the binding's ID; waiting for it to end", "workflowID", opts.WorkflowID, "waited", waited)
		s.waiting = append(s.waiting, opts.WorkflowID)
		s.showWaiting()
		err = workflow.Sleep(ctx, min(every, childWaitLimit-waited))
		i := slices.Index(s.waiting, opts.WorkflowID)
		s.waiting = slices.Delete(s.waiting, i, i+1)
		s.showWaiting()
		if err != nil {
			return res, false, err
		}
		every = min(2*every, childWaitEvery)
	}
}

// showWaiting puts the drains bindings wait for in the progress.
func (s *serversDrain) showWaiting() {
	s.progress.WaitingFor = ""
	if len(s.waiting) > 0 {
		s.progress.WaitingFor = "waiting for " + strings.Join(s.waiting, ", ")
	}
}

// giveBack gives their weights from the plan back to the targets of a
// failed binding b this drain set to 0, as a cancel does, and says in its
// outcome whether it could.
func (s *serversDrain) giveBack(ctx workflow.Context, b *serverBinding) {
	if err := s.restoreWeights(ctx, []*serverBinding{b}); err != nil {
		b.outcome.Error += "; giving its weights back failed: " + errorMessage(err)
		s.log.Error("giving a failed binding's weights back failed", "selector", b.Selector.String(), "error", err)
		return
	}
	if b.outcome.Restored > 0 {
		b.outcome.Error += fmt.Sprintf("; its %d target(s) got their weights back", b.outcome.Restored)
	}
}

// addRemoved records targets as removed, with their weights from the plan.
func (b *serverBinding) addRemoved(targets []clb.Target) {
	had := map[string]bool{}
	for _, t := range b.removed {
		had[t.Key()] = true
	}
	gone := map[string]bool{}
	for _, t := range targets {
		gone[t.Key()] = true
	}
	for _, t := range b.Remove {
		if gone[t.Key()] && !had[t.Key()] {
			b.removed = append(b.removed, t)
		}
	}
}

// recheckFailed learns, read-only, which targets of a failed binding are
// gone: removed by the child before it failed. It reads on a context the
// cancel does not reach (recheckAnyErrorVersion on), so that a child
// failing as the drain is cancelled still has what it removed in the
// manifest.
func (s *serversDrain) recheckFailed(ctx workflow.Context, b *serverBinding) {
	if workflow.GetVersion(ctx, recheckAnyErrorVersion, workflow.DefaultVersion, 1) == 1 {
		rctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		ctx = rctx
	}
	var rr activities.RecheckResult
	err := workflow.ExecuteActivity(withSnapshotOptions(ctx), a.Recheck,
		activities.RecheckInput{Selector: b.Selector, Targets: clb.Unweighted(b.Remove)}).Get(ctx, &rr)
	if err != nil {
		s.log.Error("re-checking a failed binding failed", "selector", b.Selector.String(), "error", err)
		return
	}
	b.addRemoved(rr.Gone)
}

// cancel gives back, on a context the cancel does not reach, the weights
// this drain set to 0 on targets it did not remove, and reports.
func (s *serversDrain) cancel(ctx workflow.Context) (ServersResult, error) {
	s.result.Cancelled = true
	rctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	s.setPhase(rctx, PhaseRestoring)
	lbs := s.byLB()
	parallel(rctx, len(lbs), s.maxParallel(), func(ctx workflow.Context, i int) {
		s.restoreLoadBalancer(ctx, lbs[i])
	})
	return s.close(rctx, PhaseCancelled), nil
}

// restoreLoadBalancer gives its weight from the plan back to each target
// of bs set to 0 and not removed; targets found unbound are left.
func (s *serversDrain) restoreLoadBalancer(ctx workflow.Context, bs []*serverBinding) {
	for _, b := range bs {
		if !b.done {
			b.outcome.Outcome = BindingCancelled
		}
	}
	if err := s.restoreWeights(ctx, bs); err != nil {
		s.result.RestoreError = errorMessage(err)
		s.log.Error("restoring weights failed", "loadBalancer", bs[0].Selector.LoadBalancerId, "error", err)
	}
}

// restoreWeights gives its weight from the plan back to each target of bs
// set to 0 and not removed, counting it in its binding's Restored; targets
// found unbound are left. It returns the last error met.
func (s *serversDrain) restoreWeights(ctx workflow.Context, bs []*serverBinding) error {
	var last error
	batches := serverWeightBatches(bs, func(b *serverBinding, t clb.WeightedTarget) (clb.WeightedTarget, bool) {
		return t, b.zeroed[t.Key()] && !b.isRemoved(t.Key())
	})
	for _, batch := range batches {
		done, err := setWeightsOn(ctx, batch, true)
		if err != nil {
			last = err
			continue
		}
		for _, e := range batch {
			for _, t := range e.Targets {
				if done[e.Selector.String()+" "+t.Key()] {
					e.state.outcome.Restored++
					delete(e.state.zeroed, t.Key())
				}
			}
		}
	}
	return last
}

// isRemoved reports whether the target of key was removed.
func (b *serverBinding) isRemoved(key string) bool {
	for _, t := range b.removed {
		if t.Key() == key {
			return true
		}
	}
	return false
}

// finish closes the result; a binding not removed fails the workflow with
// ErrBindingsFailed, the result as details.
func (s *serversDrain) finish(ctx workflow.Context) (ServersResult, error) {
	var failed []string
	for _, b := range s.bindings {
		if b.outcome.Outcome != BindingRemoved {
			failed = append(failed, b.Selector.String()+": "+b.outcome.Error)
		}
	}
	if len(failed) == 0 {
		return s.close(ctx, PhaseDone), nil
	}
	res := s.close(ctx, PhaseFailed)
	return ServersResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%d of %d binding(s) not removed: %s",
		len(failed), len(s.bindings), strings.Join(failed, "; ")), ErrBindingsFailed, nil, res)
}

// failed ends a drain whose weight phase failed: the result says per
// binding what was left at weight 0; the error keeps err's type.
func (s *serversDrain) failed(ctx workflow.Context, err error) (ServersResult, error) {
	s.progress.LastError = errorMessage(err)
	res := s.close(ctx, PhaseFailed)
	typ := ErrBindingsFailed
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		typ = appErr.Type()
	}
	return ServersResult{}, temporal.NewNonRetryableApplicationError(err.Error(), typ, err, res)
}

// close makes the restore manifest and the outcomes, and ends in phase.
func (s *serversDrain) close(ctx workflow.Context, phase Phase) ServersResult {
	for _, b := range s.bindings {
		b.outcome.Removed = len(b.removed)
		if len(b.removed) > 0 {
			s.result.RestoreManifest.Bindings = append(s.result.RestoreManifest.Bindings,
				ManifestBinding{Selector: b.Selector, Targets: b.removed})
		}
		removed := map[string]bool{}
		for _, t := range b.removed {
			removed[t.Key()] = true
		}
		var left clb.TargetList
		for _, t := range b.Remove {
			if !removed[t.Key()] {
				left = append(left, t.Target)
				if b.zeroed[t.Key()] {
					b.outcome.LeftAtZero++
				}
			}
		}
		if len(left) > 0 {
			s.result.Skipped = append(s.result.Skipped, SkippedBinding{Selector: b.Selector, Targets: left, Why: b.why()})
		}
		s.result.Outcomes = append(s.result.Outcomes, b.outcome)
	}
	s.releaseServers(ctx)
	s.result.Finished = workflow.Now(ctx)
	s.setPhase(ctx, phase)
	s.log.Info("server drain finished", "phase", string(phase), "removed", s.progress.TargetsDone)
	return s.result
}

// why says why targets of b were left bound.
func (b *serverBinding) why() string {
	switch b.outcome.Outcome {
	case BindingRemoved:
		return "already absent when deregistered"
	case BindingFailed:
		return "failed: " + b.outcome.Error
	case BindingCancelled:
		return "cancelled"
	}
	return "not started"
}
