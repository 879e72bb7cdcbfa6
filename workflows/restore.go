package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// RestoreTargets puts back what a manifest lists: it validates the input,
// then on each load balancer (load balancers in parallel, each one's
// listeners and rules in order) registers the targets in chunks of
// clb.MaxTargetsPerCall through the load balancer's turns, leaving a
// target found bound already exactly as it is (reported in AlreadyBound).
// Without health gate or ramp the targets are bound at their original
// weights. With WaitHealthy they are bound at weight 0 and each gets its
// weight once DescribeTargetHealth reports it healthy; with RampSteps the
// weights rise in steps, RampInterval apart. Targets still unhealthy
// WaitHealthy after registration are left at 0 or unbound (OnUnhealthy)
// and the restore fails with ErrUnhealthy naming them, the RestoreResult
// as details. Cancelled, it stops where it is, leaving what is registered
// at its current weight, and completes with Cancelled set. It answers
// QueryProgress with a RestoreProgress. Register it as
// RestoreWorkflowName; start it under RestoreWorkflowID.
func RestoreTargets(ctx workflow.Context, in RestoreInput) (RestoreResult, error) {
	r := newRestore(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, r.queryProgress); err != nil {
		return RestoreResult{}, err
	}
	r.turns = watchTurns(ctx, &r.progress.WaitingFor)
	r.audit = startAudit(ctx, restoreAudit(in))
	if err := ValidateRestore(in); err != nil {
		var ve *clb.ValidationError
		var problems []clb.Problem
		if errors.As(err, &ve) {
			problems = ve.Problems
		}
		r.setPhase(ctx, PhaseFailed)
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err, problems)
	}
	r.setPhase(ctx, PhaseRegistering)
	lbs := r.byLoadBalancer()
	r.loadBalancers = len(lbs)
	errs := make([]error, len(lbs))
	wg := workflow.NewWaitGroup(ctx)
	for i, lb := range lbs {
		wg.Add(1)
		workflow.Go(ctx, func(gctx workflow.Context) {
			defer wg.Done()
			errs[i] = r.restoreLB(gctx, lb)
		})
	}
	wctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	wg.Wait(wctx)
	return r.end(ctx, errs)
}

// restore is the state of RestoreTargets.
type restore struct {
	in       RestoreInput
	log      log.Logger
	bindings []*bindingState
	result   RestoreResult
	progress RestoreProgress
	audit    *auditor
	// turns shows in the progress for whom a change waits.
	turns *turnWatcher
	// loadBalancers counts the load balancers restored.
	loadBalancers int
}

// bindingState is one listener or rule of the manifest and what the
// restore did there.
type bindingState struct {
	sel clb.Selector
	// want are the manifest's targets with their original weights; orig
	// holds them by key once asked for.
	want []clb.WeightedTarget
	orig map[string]int64
	// registered are the targets this restore bound, with their weight
	// now; at indexes by key.
	registered []clb.WeightedTarget
	at         map[string]int
	already    []clb.WeightedTarget
	healthy    map[string]bool
	unhealthy  []clb.Target
	removed    []clb.Target
}

// lbWork is the bindings of one load balancer, in manifest order.
type lbWork struct {
	id       string
	bindings []*bindingState
	// gateZero: the health gate waits for targets of original weight 0
	// too, as before restoreZeroVersion.
	gateZero bool
}

func newRestore(ctx workflow.Context, in RestoreInput) *restore {
	r := &restore{in: in, log: workflow.GetLogger(ctx)}
	if r.in.Reason == "" {
		r.in.Reason = in.Manifest.Reason
	}
	r.result = RestoreResult{Source: in.Manifest.Source, Reason: r.in.Reason, Skipped: in.Manifest.Skipped,
		Started: workflow.Now(ctx)}
	for _, b := range in.Manifest.Bindings {
		r.bindings = append(r.bindings, &bindingState{sel: b.Selector, want: b.Targets, at: map[string]int{}, healthy: map[string]bool{}})
	}
	r.progress = RestoreProgress{Phase: PhaseValidating, TargetsTotal: in.Manifest.count()}
	if in.ramped() {
		r.progress.RampSteps = in.RampSteps
	}
	return r
}

// byLoadBalancer groups the bindings by load balancer, in order of first
// appearance.
func (r *restore) byLoadBalancer() []*lbWork {
	var out []*lbWork
	idx := map[string]*lbWork{}
	for _, b := range r.bindings {
		lb := idx[b.sel.LoadBalancerId]
		if lb == nil {
			lb = &lbWork{id: b.sel.LoadBalancerId}
			idx[lb.id] = lb
			out = append(out, lb)
		}
		lb.bindings = append(lb.bindings, b)
	}
	return out
}

// restoreLB registers, gates, ramps and settles the unhealthy targets of
// one load balancer.
func (r *restore) restoreLB(ctx workflow.Context, lb *lbWork) error {
	for _, b := range lb.bindings {
		if err := r.registerBinding(ctx, b); err != nil {
			return err
		}
	}
	if r.in.gated() {
		if err := r.healthGate(ctx, lb); err != nil {
			return err
		}
	}
	if r.in.ramped() {
		if err := r.ramp(ctx, lb); err != nil {
			return err
		}
	}
	return r.settleUnhealthy(ctx, lb)
}

// initialWeight is the weight a target is bound at: 0 when the health
// gate or a ramp raises it later, else its original weight.
func (r *restore) initialWeight(t clb.WeightedTarget) clb.WeightedTarget {
	if r.in.gated() || r.in.ramped() {
		t.Weight = 0
	}
	return t
}

// registerBinding binds the binding's targets chunk by chunk.
func (r *restore) registerBinding(ctx workflow.Context, b *bindingState) error {
	r.audit.addListener(ctx, auditListener(b.sel))
	for _, chunk := range chunks(b.want, MaxChunkSize) {
		if err := ctx.Err(); err != nil {
			return err
		}
		send := make([]clb.WeightedTarget, len(chunk))
		for i, t := range chunk {
			send[i] = r.initialWeight(t)
		}
		if err := r.registerChunk(ctx, b, send); err != nil {
			return err
		}
		r.noteAudit(ctx)
	}
	return nil
}

// registerChunk binds one chunk and waits for its task, sending what is
// not bound yet again when the task fails (at most MaxTaskRetries times).
// A target found bound at the weight this restore sends, after a call of
// its own may have been applied (a retried attempt, or a chunk sent
// again), is counted as registered by it; any other target found bound is
// someone else's, left as it is.
func (r *restore) registerChunk(ctx workflow.Context, b *bindingState, chunk []clb.WeightedTarget) error {
	mctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	weight := map[string]int64{}
	for _, t := range chunk {
		weight[t.Key()] = t.Weight
	}
	sent := map[string]bool{}
	for retry := 0; ; retry++ {
		var res activities.RegisterResult
		err := r.turns.mutate(mctx, a.RegisterTargets, activities.RegisterInput{Selector: b.sel, Targets: chunk, Recheck: retry > 0}, &res)
		if err != nil {
			return r.failed("registering targets on "+b.sel.String(), err)
		}
		for _, t := range res.AlreadyBound {
			if (sent[t.Key()] || res.Attempt > 1) && t.Weight == weight[t.Key()] {
				b.add(t)
			} else {
				b.noteAlready(t)
			}
		}
		for _, t := range res.Sent {
			sent[t.Key()] = true
		}
		if res.TaskID == "" {
			return nil
		}
		_, err = waitTask(mctx, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: b.sel.LoadBalancerId,
			Action: clb.ActionRegisterTargets, Turn: res.Turn, TaskCreated: res.TaskCreated})
		if err == nil {
			for _, t := range res.Sent {
				b.add(t)
			}
			return nil
		}
		if _, _, typ := taskFailure(err); typ == "" || retry >= MaxTaskRetries {
			return r.failed("registering targets on "+b.sel.String()+": task "+res.TaskID, err)
		}
		r.noteError(err)
	}
}

// add records t as registered by this restore, at its weight.
func (b *bindingState) add(t clb.WeightedTarget) {
	if i, ok := b.at[t.Key()]; ok {
		b.registered[i].Weight = t.Weight
		return
	}
	b.at[t.Key()] = len(b.registered)
	b.registered = append(b.registered, t)
}

// noteAlready records t as found bound by someone else, once.
func (b *bindingState) noteAlready(t clb.WeightedTarget) {
	for _, o := range b.already {
		if o.Key() == t.Key() {
			return
		}
	}
	b.already = append(b.already, t)
}

// original is the manifest's weight of t.
func (b *bindingState) original(t clb.Target) int64 {
	if b.orig == nil {
		b.orig = make(map[string]int64, len(b.want))
		for _, w := range b.want {
			b.orig[w.Key()] = w.Weight
		}
	}
	return b.orig[t.Key()]
}

// failed turns an activity's failure into the restore's error, prefixed
// with what was being done; cancellations pass as they are.
func (r *restore) failed(what string, err error) error {
	r.noteError(err)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(what+": "+appErr.Message(), appErr.Type(), err)
}

func (r *restore) noteError(err error) { r.progress.LastError = errorMessage(err) }

// end closes the restore: cancelled, failed (the first error of a load
// balancer), unhealthy, or done.
func (r *restore) end(ctx workflow.Context, errs []error) (RestoreResult, error) {
	res := r.report(ctx)
	if ctx.Err() != nil {
		r.result.Cancelled, res.Cancelled = true, true
		r.setPhase(ctx, PhaseCancelled)
		r.log.Info("restore cancelled: what is registered stays at its current weight", "source", res.Source)
		return res, nil
	}
	for _, err := range errs {
		if err != nil {
			r.setPhase(ctx, PhaseFailed)
			r.log.Error("restore failed", "error", err)
			return RestoreResult{}, withResult(err, res)
		}
	}
	if names := unhealthyNames(res); len(names) > 0 {
		r.setPhase(ctx, PhaseFailed)
		msg := fmt.Sprintf("%d targets not healthy within %s: %s", len(names), r.in.WaitHealthy, listNames(names))
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(msg, ErrUnhealthy, nil, res)
	}
	r.setPhase(ctx, PhaseDone)
	return res, nil
}

// withResult adds res as the details of err, keeping its type.
func withResult(err error, res RestoreResult) error {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(appErr.Message(), appErr.Type(), err, res)
}

// report is the result as it stands.
func (r *restore) report(ctx workflow.Context) RestoreResult {
	res := r.result
	res.Finished = workflow.Now(ctx)
	res.Bindings = nil
	for _, b := range r.bindings {
		res.Bindings = append(res.Bindings, RestoredBinding{Selector: b.sel, Registered: b.registered,
			AlreadyBound: b.already, Unhealthy: b.unhealthy, Removed: b.removed})
	}
	return res
}

// unhealthyNames are "selector target" for every unhealthy target.
func unhealthyNames(res RestoreResult) []string {
	var out []string
	for _, b := range res.Bindings {
		for _, t := range b.Unhealthy {
			out = append(out, b.Selector.String()+" "+t.Key())
		}
	}
	return out
}

// maxNamesListed bounds the names an error message lists.
const maxNamesListed = 50

// listNames joins names, at most maxNamesListed of them.
func listNames(names []string) string {
	if len(names) <= maxNamesListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxNamesListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxNamesListed)
}
