package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// weightChange is targets of one binding with the weights to set them to.
type weightChange struct {
	b       *bindingState
	targets []clb.WeightedTarget
}

// healthGate reads the health of the load balancer's registered targets
// every HealthPoll until each is healthy or WaitHealthy has passed; those
// still not healthy then are marked unhealthy. Without a ramp, each target
// found healthy gets its original weight at once.
func (r *restore) healthGate(ctx workflow.Context, lb *lbWork) error {
	lb.gateZero = workflow.GetVersion(ctx, restoreZeroVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion
	until := workflow.Now(ctx).Add(r.in.WaitHealthy)
	if until.After(r.progress.HealthUntil) {
		r.progress.HealthUntil = until
	}
	r.setPhase(ctx, PhaseHealthWait)
	for {
		in, which := lb.healthInput()
		if len(in.Bindings) == 0 {
			return nil
		}
		var hr activities.HealthResult
		if err := workflow.ExecuteActivity(withSnapshotOptions(ctx), a.TargetHealth, in).Get(ctx, &hr); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return r.failed("reading the health of "+lb.id, err)
		}
		changes := noteHealthy(which, hr)
		if !r.in.ramped() && len(changes) > 0 {
			if err := r.setWeights(ctx, changes); err != nil {
				return err
			}
		}
		left := until.Sub(workflow.Now(ctx))
		if lb.allHealthy() {
			return nil
		}
		if left <= 0 {
			lb.markUnhealthy()
			r.log.Warn("targets not healthy in time", "loadBalancer", lb.id, "waitHealthy", r.in.WaitHealthy)
			return nil
		}
		if err := workflow.Sleep(ctx, min(r.healthPoll(healthCount(in)), left)); err != nil {
			return err
		}
	}
}

// healthPoll is how long a load balancer's gate waits after a read that
// named waiting targets: HealthPoll (DefaultHealthPoll when 0), longer when
// the gate is long enough, or the load balancers many enough, that the
// reads would pass MaxHealthReads in all, or the targets they name
// MaxHealthReadTargets, so that the history stays bounded.
func (r *restore) healthPoll(waiting int) time.Duration {
	poll := r.in.HealthPoll
	if poll == 0 {
		poll = DefaultHealthPoll
	}
	lbs := time.Duration(r.loadBalancers)
	byReads := r.in.WaitHealthy * lbs / MaxHealthReads
	byTargets := r.in.WaitHealthy / MaxHealthReadTargets * lbs * time.Duration(waiting)
	return max(poll, byReads, byTargets)
}

// healthInput asks for the registered targets the gate waits for, binding
// by binding; which are the bindings of its entries.
func (lb *lbWork) healthInput() (activities.HealthInput, []*bindingState) {
	in := activities.HealthInput{LoadBalancerId: lb.id}
	var which []*bindingState
	for _, b := range lb.bindings {
		var ts []clb.Target
		for _, t := range b.registered {
			if b.waitsForHealth(t.Target, lb.gateZero) {
				ts = append(ts, t.Target)
			}
		}
		if len(ts) > 0 {
			in.Bindings = append(in.Bindings, activities.HealthBinding{Selector: b.sel, Targets: ts})
			which = append(which, b)
		}
	}
	return in, which
}

// healthCount is the number of targets a health read names.
func healthCount(in activities.HealthInput) int {
	n := 0
	for _, b := range in.Bindings {
		n += len(b.Targets)
	}
	return n
}

// noteHealthy marks the targets hr finds healthy, and returns the weight
// changes that bring those with a weight to it.
func noteHealthy(which []*bindingState, hr activities.HealthResult) []weightChange {
	var out []weightChange
	for i, bh := range hr.Bindings {
		if i >= len(which) {
			break
		}
		b := which[i]
		c := weightChange{b: b}
		for _, t := range bh.Healthy {
			b.healthy[t.Key()] = true
			if w := b.original(t); w > 0 {
				c.targets = append(c.targets, clb.WeightedTarget{Target: t, Weight: w})
			}
		}
		if len(c.targets) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// allHealthy reports whether every registered target the gate waits for
// is healthy.
func (lb *lbWork) allHealthy() bool {
	for _, b := range lb.bindings {
		for _, t := range b.registered {
			if b.waitsForHealth(t.Target, lb.gateZero) {
				return false
			}
		}
	}
	return true
}

// restoreZeroVersion is the workflow.GetVersion change after which the
// health gate no longer waits for a target whose original weight is 0;
// before it, such a target was waited for, and named unhealthy, as any.
const restoreZeroVersion = "restore-weight-zero-ungated"

// waitsForHealth reports whether the gate still waits for t: registered
// with an original weight to give it (or any, with gateZero), and not
// found healthy yet. A target whose original weight is 0 is back as it
// was once bound at 0.
func (b *bindingState) waitsForHealth(t clb.Target, gateZero bool) bool {
	return (gateZero || b.original(t) > 0) && !b.healthy[t.Key()]
}

// markUnhealthy lists the registered targets the gate still waits for as
// unhealthy.
func (lb *lbWork) markUnhealthy() {
	for _, b := range lb.bindings {
		for _, t := range b.registered {
			if b.waitsForHealth(t.Target, lb.gateZero) {
				b.unhealthy = append(b.unhealthy, t.Target)
			}
		}
	}
}

// ramp raises the weights of the load balancer's registered targets (the
// healthy ones, with a health gate) from 0 to their original in RampSteps
// steps, RampInterval apart.
func (r *restore) ramp(ctx workflow.Context, lb *lbWork) error {
	r.setPhase(ctx, PhaseRamping)
	n := int64(r.in.RampSteps)
	for step := int64(1); step <= n; step++ {
		if step > 1 {
			if err := workflow.Sleep(ctx, r.in.RampInterval); err != nil {
				return err
			}
		}
		changes, rampable := r.rampStep(lb, step, n)
		if rampable == 0 {
			// Nothing of this load balancer's to ramp: no timers to wait.
			return nil
		}
		if err := r.setWeights(ctx, changes); err != nil {
			return err
		}
		r.result.RampStep = max(r.result.RampStep, int(step))
		r.progress.RampStep = r.result.RampStep
		r.noteAudit(ctx)
	}
	return nil
}

// rampStep is the weight changes of ramp step step of n on lb: each
// registered target with a weight (and, with a health gate, healthy) at
// ceil(weight × step / n), those not there already. rampable counts the
// targets the ramp raises, changed at this step or not.
func (r *restore) rampStep(lb *lbWork, step, n int64) (changes []weightChange, rampable int) {
	for _, b := range lb.bindings {
		c := weightChange{b: b}
		for _, t := range b.registered {
			w := b.original(t.Target)
			if w == 0 || (r.in.gated() && !b.healthy[t.Key()]) {
				continue
			}
			rampable++
			if next := (w*step + n - 1) / n; next != t.Weight {
				c.targets = append(c.targets, clb.WeightedTarget{Target: t.Target, Weight: next})
			}
		}
		if len(c.targets) > 0 {
			changes = append(changes, c)
		}
	}
	return changes, rampable
}

// setWeights applies changes (all on one load balancer) in batches of at
// most clb.MaxBatchTargets targets, one SetWeights task each, on a context
// the cancel does not reach (a cancel stops before the next batch, not in
// one), and records each target's new weight.
func (r *restore) setWeights(ctx workflow.Context, changes []weightChange) error {
	mctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	for _, batch := range weightBatches(changes, clb.MaxBatchTargets) {
		if err := ctx.Err(); err != nil {
			return err
		}
		done, err := r.setBatch(mctx, batch)
		if err != nil {
			return err
		}
		for i, e := range done {
			for _, t := range e.Targets {
				batch[i].b.add(t)
			}
		}
	}
	return nil
}

// weightBatches splits changes into batches of at most size targets, a
// binding's targets split across batches when need be.
func weightBatches(changes []weightChange, size int) [][]weightChange {
	var out [][]weightChange
	var cur []weightChange
	n := 0
	for _, c := range changes {
		for len(c.targets) > 0 {
			if n == size {
				out, cur, n = append(out, cur), nil, 0
			}
			k := min(size-n, len(c.targets))
			cur = append(cur, weightChange{b: c.b, targets: c.targets[:k]})
			c.targets, n = c.targets[k:], n+k
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// setBatch sets one batch's weights with SetWeights and waits for its
// task, re-checking and sending again after a failed task. It returns, per
// change of batch, the targets now at their weight.
func (r *restore) setBatch(ctx workflow.Context, batch []weightChange) ([]clb.BatchWeightEntry, error) {
	lb := batch[0].b.sel.LoadBalancerId
	in := activities.SetWeightsInput{LoadBalancerId: lb}
	for _, c := range batch {
		in.Entries = append(in.Entries, clb.BatchWeightEntry{Selector: c.b.sel, Targets: c.targets})
	}
	for retry := 0; ; retry++ {
		in.Recheck = retry > 0
		var res activities.SetWeightsResult
		if err := r.turns.mutate(ctx, a.SetWeights, in, &res); err != nil {
			return nil, r.failed("setting weights on "+lb, err)
		}
		done := doneEntries(in.Entries, res)
		if res.TaskID == "" {
			return done, nil
		}
		_, err := waitTask(ctx, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: lb, Action: clb.ActionBatchModifyTargetWeight, Turn: res.Turn})
		if err == nil {
			return done, nil
		}
		if _, _, typ := taskFailure(err); typ == "" || retry >= MaxTaskRetries {
			return nil, r.failed("setting weights on "+lb+": task "+res.TaskID, err)
		}
		r.noteError(err)
	}
}

// doneEntries are, per entry of asked, the targets res sent or found set.
func doneEntries(asked []clb.BatchWeightEntry, res activities.SetWeightsResult) []clb.BatchWeightEntry {
	done := map[string]bool{}
	for _, list := range [][]clb.BatchWeightEntry{res.Sent, res.AlreadySet} {
		for _, e := range list {
			for _, t := range e.Targets {
				done[e.Selector.String()+" "+t.Key()] = true
			}
		}
	}
	out := make([]clb.BatchWeightEntry, len(asked))
	for i, e := range asked {
		out[i].Selector = e.Selector
		for _, t := range e.Targets {
			if done[e.Selector.String()+" "+t.Key()] {
				out[i].Targets = append(out[i].Targets, t)
			}
		}
	}
	return out
}

// settleUnhealthy unbinds the load balancer's unhealthy targets again when
// OnUnhealthy says so; otherwise they stay at weight 0.
func (r *restore) settleUnhealthy(ctx workflow.Context, lb *lbWork) error {
	if r.in.OnUnhealthy != OnUnhealthyDeregister {
		return nil
	}
	for _, b := range lb.bindings {
		if len(b.unhealthy) == 0 {
			continue
		}
		r.setPhase(ctx, PhaseRemovingUnhealthy)
		for _, chunk := range chunks(b.unhealthy, MaxChunkSize) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := r.deregisterChunk(ctx, b, chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

// deregisterChunk unbinds unhealthy targets and waits for the task,
// sending what is still bound again after a failed task.
func (r *restore) deregisterChunk(ctx workflow.Context, b *bindingState, chunk []clb.Target) error {
	mctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	for retry := 0; ; retry++ {
		var res activities.DeregisterResult
		err := r.turns.mutate(mctx, a.DeregisterTargets, activities.DeregisterInput{Selector: b.sel, Targets: chunk, Recheck: retry > 0}, &res)
		if err != nil {
			return r.failed("unbinding unhealthy targets from "+b.sel.String(), err)
		}
		if res.TaskID != "" {
			_, err = waitTask(mctx, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: b.sel.LoadBalancerId,
				Action: clb.ActionDeregisterTargets, Turn: res.Turn, TaskCreated: res.TaskCreated})
		}
		if err == nil {
			b.drop(chunk)
			return nil
		}
		if _, _, typ := taskFailure(err); typ == "" || retry >= MaxTaskRetries {
			return r.failed("unbinding unhealthy targets from "+b.sel.String()+": task "+res.TaskID, err)
		}
		r.noteError(err)
	}
}

// drop records targets as removed: no longer registered.
func (b *bindingState) drop(targets []clb.Target) {
	gone := map[string]bool{}
	for _, t := range targets {
		gone[t.Key()] = true
		b.removed = append(b.removed, t)
	}
	kept := b.registered[:0:0]
	b.at = map[string]int{}
	for _, t := range b.registered {
		if !gone[t.Key()] {
			b.at[t.Key()] = len(kept)
			kept = append(kept, t)
		}
	}
	b.registered = kept
}

// queryProgress answers the progress query.
func (r *restore) queryProgress() (RestoreProgress, error) {
	p := r.progress
	p.Registered, p.AlreadyBound, p.Healthy, p.AtWeight = 0, 0, 0, 0
	for _, b := range r.bindings {
		p.Registered += len(b.registered)
		p.AlreadyBound += len(b.already)
		p.Healthy += len(b.healthy)
		for _, t := range b.registered {
			if t.Weight == b.original(t.Target) {
				p.AtWeight++
			}
		}
	}
	return p, nil
}

// setPhase moves the restore to phase, for the progress and the audit.
func (r *restore) setPhase(ctx workflow.Context, phase Phase) {
	r.progress.Phase = phase
	r.noteAudit(ctx)
}

// noteAudit brings the audit's phase and current details up to date.
func (r *restore) noteAudit(ctx workflow.Context) {
	if r.audit == nil {
		return
	}
	r.audit.setPhase(ctx, r.progress.Phase)
	p, _ := r.queryProgress()
	details := fmt.Sprintf("**%s** · %d of %d targets registered, %d at their weight", p.Phase, p.Registered, p.TargetsTotal, p.AtWeight)
	if p.AlreadyBound > 0 {
		details += fmt.Sprintf(" · %d found bound, left as they were", p.AlreadyBound)
	}
	if p.RampSteps > 0 {
		details += fmt.Sprintf(" · ramp step %d of %d", p.RampStep, p.RampSteps)
	}
	if p.Phase == PhaseHealthWait && !p.HealthUntil.IsZero() {
		details += " · waiting for health until " + p.HealthUntil.UTC().Format(time.RFC3339)
	}
	if p.LastError != "" {
		details += " · last error: " + p.LastError
	}
	workflow.SetCurrentDetails(ctx, details)
}

// restoreAudit is what RestoreTargets tells visibility at its start.
func restoreAudit(in RestoreInput) auditRecord {
	rec := auditRecord{kind: KindRestore, reason: fitJSON(in.Reason, MaxAuditValueBytes),
		requester: fitJSON(in.Requester, MaxAuditValueBytes), phase: PhaseValidating}
	if rec.reason == "" {
		rec.reason = fitJSON(in.Manifest.Reason, MaxAuditValueBytes)
	}
	var servers []clb.Target
	for _, b := range in.Manifest.Bindings {
		if !containsString(rec.loadBalancers, b.Selector.LoadBalancerId) {
			rec.loadBalancers = append(rec.loadBalancers, b.Selector.LoadBalancerId)
		}
		rec.listeners = append(rec.listeners, auditListener(b.Selector))
		servers = append(servers, clb.Unweighted(b.Targets)...)
	}
	rec.loadBalancers = fitList(rec.loadBalancers, MaxAuditValueBytes)
	rec.listeners = fitList(rec.listeners, MaxAuditValueBytes)
	rec.servers = auditServers(servers)
	return rec
}

// auditListener is the ClbListeners value of a selector: the listener, or
// listener/rule.
func auditListener(sel clb.Selector) string {
	if sel.LocationId != "" {
		return sel.ListenerId + "/" + sel.LocationId
	}
	return sel.ListenerId
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
