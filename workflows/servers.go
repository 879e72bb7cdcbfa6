package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// DrainServers takes servers out of every listener and layer-7 rule they
// are bound to, on every load balancer in scope: it validates the input,
// finds the bindings (ListLoadBalancers, FindBindings), makes the plan and
// checks the guards on it (ErrCapacityGuard, naming every listener or rule
// at fault), waits for an approve or reject Update when in.Approval is set
// (ErrRejected; then reads the bindings again and fails with ErrPlanChanged
// if they moved), sets weight 0 on every binding and waits DrainDelay once
// when DrainDelay > 0, then runs one DrainAndDeregister child per listener
// or rule under its conventional ID, load balancers in parallel up to
// MaxParallel; a child refused because a drain runs under that ID waits
// for it to end and starts again, for at most an hour, after which its
// binding fails with the weights given back. Its result is a restore manifest (ServersResult). Cancelled,
// it gives back the weights it set that were not removed and completes
// with Cancelled set; a binding that could not be removed fails it with
// ErrBindingsFailed, the ServersResult as details. It answers QueryProgress
// with a ServersProgress. Register it as ServersWorkflowName; start it
// under ServersWorkflowID.
func DrainServers(ctx workflow.Context, in ServersInput) (ServersResult, error) {
	s := &serversDrain{in: in, log: workflow.GetLogger(ctx)}
	s.result = ServersResult{Started: workflow.Now(ctx), Outcomes: []BindingOutcome{}}
	s.result.Source, s.result.Reason = workflow.GetInfo(ctx).WorkflowExecution.ID, in.Reason
	s.result.RestoreManifest.Bindings = []ManifestBinding{}
	s.progress.Phase = PhaseValidating
	if err := workflow.SetQueryHandler(ctx, QueryProgress, s.queryProgress); err != nil {
		return ServersResult{}, err
	}
	if err := s.handleApproval(ctx); err != nil {
		return ServersResult{}, err
	}
	s.audit = startAudit(ctx, serversAudit(in))
	return s.run(ctx)
}

// serversDrain is the state of a DrainServers.
type serversDrain struct {
	in       ServersInput
	log      log.Logger
	plan     *Plan
	bindings []*serverBinding
	result   ServersResult
	progress ServersProgress
	// awaiting is true while the workflow waits for a decision.
	awaiting bool
	decision *Approval
	audit    *auditor
	// claims are the DrainClaim children holding the servers
	// (servers_claim.go).
	claims []workflow.ChildWorkflowFuture
	// claimed are the claims' workflow IDs.
	claimed []string
	// waiting are the workflow IDs of running drains child drains wait
	// for (runChild).
	waiting []string
}

// serverBinding is one listener or rule of the plan as the drain moves.
type serverBinding struct {
	PlanBinding
	// zeroed are the keys of targets whose weight this drain set to 0 (or
	// may have: marked before the call).
	zeroed map[string]bool
	// removed are the targets removed, with their weights from the plan.
	removed []clb.WeightedTarget
	outcome BindingOutcome
	done    bool
}

func (s *serversDrain) queryProgress() (ServersProgress, error) {
	p := s.progress
	p.Plan, p.Approval = s.plan, s.decision
	return p, nil
}

// setPhase moves the progress and the audit to phase.
func (s *serversDrain) setPhase(ctx workflow.Context, phase Phase) {
	s.progress.Phase = phase
	if s.audit != nil {
		s.audit.setPhase(ctx, phase)
	}
}

// run is the procedure.
func (s *serversDrain) run(ctx workflow.Context) (ServersResult, error) {
	if err := ValidateServersInput(s.in); err != nil {
		var ve *clb.ValidationError
		var problems []clb.Problem
		if errors.As(err, &ve) {
			problems = ve.Problems
		}
		return s.stop(ctx, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err, problems))
	}
	if !s.in.PlanOnly {
		if err := s.claimServers(ctx); err != nil {
			return s.stop(ctx, err)
		}
	}
	s.setPhase(ctx, PhaseDiscovering)
	plan, err := s.discover(ctx)
	if err == nil {
		err = planFits(plan)
	}
	if err != nil {
		return s.stop(ctx, err)
	}
	s.setPlan(ctx, plan)
	if s.in.PlanOnly {
		s.result.Violations = CheckGuards(plan, s.in.Guards)
		s.result.Finished = workflow.Now(ctx)
		s.setPhase(ctx, PhaseDone)
		return s.result, nil
	}
	if err := s.claimFound(ctx); err != nil {
		return s.stop(ctx, err)
	}
	if err := guardsHold(plan, s.in.Guards); err != nil {
		return s.stop(ctx, err)
	}
	if s.in.Approval {
		if err := s.approve(ctx); err != nil {
			return s.stop(ctx, err)
		}
	}
	if s.in.DrainDelay > 0 && s.weighted() {
		if err := s.drainWeights(ctx); err != nil && ctx.Err() == nil {
			return s.failed(ctx, err)
		}
	}
	if ctx.Err() == nil {
		s.deregister(ctx)
	}
	if ctx.Err() != nil {
		return s.cancel(ctx)
	}
	return s.finish(ctx)
}

// weighted reports whether a target of the plan has weight > 0: without
// one, there is nothing to drain and no delay to wait.
func (s *serversDrain) weighted() bool {
	for _, b := range s.bindings {
		for _, t := range b.Remove {
			if t.Weight > 0 {
				return true
			}
		}
	}
	return false
}

// guardsHold fails with ErrCapacityGuard, naming every listener or rule at
// fault, when the plan breaks a guard.
func guardsHold(plan Plan, g Guards) error {
	v := CheckGuards(plan, g)
	if len(v) == 0 {
		return nil
	}
	lines := make([]string, len(v))
	for i, x := range v {
		lines[i] = x.Selector.String() + ": " + x.Why
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("capacity guard: %d listener(s) or rule(s) at fault (--allow-empty overrides): %s",
		len(v), strings.Join(lines, "; ")), ErrCapacityGuard, nil, v)
}

// planFits fails with ErrPlanTooLarge when the plan has more bindings than
// one DrainServers can hold, before any change.
func planFits(plan Plan) error {
	if plan.Bindings <= MaxPlanBindings {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"the servers are bound to %d listeners or rules (%d targets on %d load balancers); one server drain takes at most %d: "+
			"split it by load balancer (--lb) or by servers; nothing was changed",
		plan.Bindings, plan.Targets, len(plan.LoadBalancers), MaxPlanBindings), ErrPlanTooLarge, nil)
}

// setPlan makes plan the one to act on, with a state per binding.
func (s *serversDrain) setPlan(ctx workflow.Context, plan Plan) {
	s.plan = &plan
	s.result.Plan = plan
	s.bindings = nil
	var lbs, listeners []string
	for _, lb := range plan.LoadBalancers {
		lbs = append(lbs, lb.LoadBalancerId)
		for _, b := range lb.Bindings {
			s.bindings = append(s.bindings, &serverBinding{PlanBinding: b, zeroed: map[string]bool{},
				outcome: BindingOutcome{Selector: b.Selector, WorkflowID: WorkflowIDFor(childInput(s.in, b)), Outcome: BindingNotStarted}})
			for _, l := range auditListeners(b.Selector.ListenerId, b.Selector.LocationId) {
				if !slices.Contains(listeners, l) {
					listeners = append(listeners, l)
				}
			}
		}
	}
	s.progress.BindingsTotal, s.progress.TargetsTotal, s.progress.LoadBalancersTotal = plan.Bindings, plan.Targets, len(lbs)
	if s.audit != nil {
		s.audit.upsert(ctx, keywords(SearchAttrLoadBalancers, lbs), keywords(SearchAttrListeners, listeners))
	}
	s.log.Info("plan made", "plan", plan.ID, "loadBalancers", len(lbs), "bindings", plan.Bindings, "targets", plan.Targets)
}

// stop ends the workflow after err: a cancel gives weights back and
// reports, anything else fails it.
func (s *serversDrain) stop(ctx workflow.Context, err error) (ServersResult, error) {
	if ctx.Err() != nil {
		return s.cancel(ctx)
	}
	s.releaseServers(ctx)
	s.progress.LastError = errorMessage(err)
	phase := PhaseFailed
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrRejected {
		phase = PhaseRejected
	}
	s.setPhase(ctx, phase)
	s.log.Error("server drain failed", "error", err)
	return ServersResult{}, err
}

// serversAudit is what DrainServers tells visibility at its start.
func serversAudit(in ServersInput) auditRecord {
	var hosts []string
	for _, sv := range in.Servers {
		if h := sv.Host(); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	kind := KindServers
	if in.PlanOnly {
		kind = KindPlan
	}
	return auditRecord{kind: kind, loadBalancers: in.LoadBalancerIds, servers: fitList(hosts, MaxAuditValueBytes),
		reason: fitJSON(in.Reason, MaxAuditValueBytes), requester: fitJSON(in.Requester, MaxAuditValueBytes), phase: PhaseValidating}
}

// childInput is the DrainAndDeregister input of one binding: its targets,
// no drain delay of its own (DrainServers drained them already).
func childInput(in ServersInput, b PlanBinding) DrainInput {
	return DrainInput{Selector: b.Selector, Targets: clb.Unweighted(b.Remove), Reason: in.Reason, Requester: in.Requester}
}

// parallel runs f(i) for i in 0..n-1, at most limit at once, and returns
// when every call has returned, even after a cancel.
func parallel(ctx workflow.Context, n, limit int, f func(ctx workflow.Context, i int)) {
	wg := workflow.NewWaitGroup(ctx)
	next := 0
	for w := 0; w < min(n, limit); w++ {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			for next < n {
				i := next
				next++
				f(ctx, i)
			}
		})
	}
	wctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	wg.Wait(wctx)
}

// maxParallel is the input's MaxParallel or its default.
func (s *serversDrain) maxParallel() int {
	if s.in.MaxParallel > 0 {
		return s.in.MaxParallel
	}
	return DefaultMaxParallel
}

// discover finds the servers' bindings in scope and makes the plan.
func (s *serversDrain) discover(ctx workflow.Context) (Plan, error) {
	scope := activities.ScopeInput{LoadBalancerIds: s.in.LoadBalancerIds}
	if ips := serverIPs(s.in.Servers); s.in.CVMOnly && len(s.in.LoadBalancerIds) == 0 && len(ips) == len(s.in.Servers) {
		scope.BackendIps = ips
	}
	var sr activities.ScopeResult
	if err := workflow.ExecuteActivity(withDiscoveryOptions(ctx), a.ListLoadBalancers, scope).Get(ctx, &sr); err != nil {
		return Plan{}, err
	}
	groups := slices.Collect(slices.Chunk(sr.LoadBalancerIds, lbsPerFind))
	found := make([][]activities.Found, len(groups))
	errs := make([]error, len(groups))
	parallel(ctx, len(groups), s.maxParallel(), func(ctx workflow.Context, i int) {
		var fr activities.FindResult
		errs[i] = workflow.ExecuteActivity(withDiscoveryOptions(ctx), a.FindBindings,
			activities.FindInput{LoadBalancerIds: groups[i], Servers: s.in.Servers}).Get(ctx, &fr)
		found[i] = fr.Found
	})
	if err := firstError(errs); err != nil {
		return Plan{}, err
	}
	return BuildPlan(s.in.Servers, sr.LoadBalancerIds, sr.Classic, slices.Concat(found...), s.in.DrainDelay), nil
}

// serverIPs are the IPs of the servers named by IP.
func serverIPs(servers []clb.Server) []string {
	var out []string
	for _, sv := range servers {
		if sv.Ip != "" {
			out = append(out, sv.Ip)
		}
	}
	return out
}

// firstError is the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
