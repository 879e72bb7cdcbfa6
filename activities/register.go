package activities

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// MetricTargetsRegistered counts targets sent in RegisterTargets calls
// that the API accepted.
const MetricTargetsRegistered = "clbdrain_targets_registered"

// RegisterInput is the input of RegisterTargets.
type RegisterInput struct {
	// Selector names the listener or rule.
	Selector clb.Selector `json:"Selector"`
	// Targets are at most clb.MaxTargetsPerCall targets, each with the
	// weight to bind it at.
	Targets []clb.WeightedTarget `json:"Targets"`
	// Recheck, when true, first reads what is bound and sends only the
	// targets not bound yet, as every retried attempt does anyway. The
	// workflow sets it when it sends a chunk again after a failed task.
	Recheck bool `json:"Recheck,omitempty"`
}

// RegisterResult is the result of RegisterTargets.
type RegisterResult struct {
	// TaskID is the RegisterTargets task (its RequestId) to wait for;
	// empty when every target was bound already.
	TaskID string `json:"TaskId,omitempty"`
	// Sent are the targets the accepted call binds, with their weights.
	Sent []clb.WeightedTarget `json:"Sent,omitempty"`
	// AlreadyBound are targets found bound when checked, each with the
	// weight it has now, which is left as it is: bound by an earlier
	// attempt whose answer was lost, or by someone else.
	AlreadyBound []clb.WeightedTarget `json:"AlreadyBound,omitempty"`
	// Attempt is the activity attempt that succeeded (1 for the first).
	Attempt int `json:"Attempt"`
	// Turn is the turn on the load balancer held for the task, for
	// WaitForTask to release; nil when none is held.
	Turn *turns.Turn `json:"Turn,omitempty"`
	// TaskCreated is when the answer that made the task arrived, by this
	// worker's clock (WaitInput.TaskCreated).
	TaskCreated time.Time `json:"TaskCreated,omitzero"`
}

// RegisterTargets binds a chunk of targets, each at its weight, with one
// RegisterTargets call and returns its task id. It never binds anything
// twice and never touches a target already bound: a retried attempt (or
// Recheck) sends only what DescribeTargets shows unbound, and an
// already-bound answer (InvalidParameter) is checked the same way: when
// every target is bound the chunk is done, else the others are sent once
// more; when none is bound, the answer is about something else in the
// request, a caller error. It first waits for its turn on the load
// balancer, which the result carries to WaitForTask. The CLB must be a
// clb.TargetRegistrar.
func (a *Activities) RegisterTargets(ctx context.Context, in RegisterInput) (res RegisterResult, err error) {
	if err := checkBatch(len(in.Targets)); err != nil {
		return RegisterResult{}, err
	}
	reg, ok := a.CLB.(clb.TargetRegistrar)
	if !ok {
		return RegisterResult{}, invalidInput("this worker's CLB client cannot register targets")
	}
	res = RegisterResult{Attempt: attempt(ctx)}
	turn, err := a.takeTurn(ctx, in.Selector.LoadBalancerId, turnWhat(clb.ActionRegisterTargets, in.Selector, len(in.Targets)))
	if err != nil {
		return res, err
	}
	defer func() { res.Turn = a.handOver(ctx, turn, res.TaskID, err) }()
	send := in.Targets
	if res.Attempt > 1 || in.Recheck {
		if send, err = a.unbound(ctx, in.Selector, send, &res); err != nil || len(send) == 0 {
			return res, err
		}
	}
	taskID, err := reg.RegisterTargets(ctx, in.Selector, send)
	if err != nil {
		ce := clb.Classify(clb.ActionRegisterTargets, err)
		if ce.Class != clb.ClassAlreadyBound {
			return res, apiError(ctx, clb.ActionRegisterTargets, err)
		}
		countAPIError(ctx, ce)
		before := len(res.AlreadyBound)
		rest, rerr := a.unbound(ctx, in.Selector, send, &res)
		switch {
		case rerr != nil:
			return res, rerr
		case len(rest) == 0:
			return res, nil
		case len(res.AlreadyBound) == before:
			// Nothing is bound: the answer is about something else.
			return res, newAPIError(ce, true, 0)
		}
		send = rest
		if taskID, err = reg.RegisterTargets(ctx, in.Selector, send); err != nil {
			return res, a.registerAgain(ctx, err)
		}
	}
	activity.GetMetricsHandler(ctx).Counter(MetricTargetsRegistered).Inc(int64(len(send)))
	res.TaskID, res.Sent, res.TaskCreated = taskID, send, a.now()
	return res, nil
}

// registerAgain is the error of the call sent again after a re-check: a
// target bound meanwhile (by someone else, between the re-check and the
// call) is retried, and the next attempt re-checks; any other error as
// apiError says.
func (a *Activities) registerAgain(ctx context.Context, err error) error {
	ce := clb.Classify(clb.ActionRegisterTargets, err)
	if ce.Class != clb.ClassAlreadyBound || ctx.Err() != nil {
		return apiError(ctx, clb.ActionRegisterTargets, err)
	}
	countAPIError(ctx, ce)
	return newAPIError(ce, false, time.Second)
}

// unbound reads what is bound to sel now, adds the targets bound already
// to res.AlreadyBound with their weights now, and returns the others.
func (a *Activities) unbound(ctx context.Context, sel clb.Selector, targets []clb.WeightedTarget, res *RegisterResult) ([]clb.WeightedTarget, error) {
	now, err := a.weightsNow(ctx, sel, clb.Unweighted(targets))
	if err != nil {
		return nil, err
	}
	var rest []clb.WeightedTarget
	for i, t := range targets {
		if now[i] < 0 {
			rest = append(rest, t)
			continue
		}
		res.AlreadyBound = append(res.AlreadyBound, clb.WeightedTarget{Target: t.Target, Weight: now[i]})
	}
	if n := len(targets) - len(rest); n > 0 {
		activity.GetLogger(ctx).Info("targets already bound, left as they are", "selector", sel.String(), "bound", n)
	}
	return rest, nil
}

// HealthInput is the input of TargetHealth: bindings of one load balancer.
type HealthInput struct {
	// LoadBalancerId is the load balancer every binding is on.
	LoadBalancerId string `json:"LoadBalancerId"`
	// Bindings are listeners or rules with the targets to read.
	Bindings []HealthBinding `json:"Bindings"`
}

// HealthBinding is one listener or rule and targets bound to it.
type HealthBinding struct {
	Selector clb.Selector `json:"Selector"`
	Targets  []clb.Target `json:"Targets"`
}

// HealthResult is the result of TargetHealth: for each binding of the
// input, in order, its targets split by health.
type HealthResult struct {
	Bindings []BindingHealth `json:"Bindings"`
}

// BindingHealth splits one binding's targets: healthy ones, and the others
// (Dead, Unknown, or not in the answer at all).
type BindingHealth struct {
	Healthy    []clb.Target `json:"Healthy,omitempty"`
	NotHealthy []clb.Target `json:"NotHealthy,omitempty"`
}

// TargetHealth reads the health of the bindings in.Bindings names with one
// DescribeTargetHealth call, and reports each target healthy only when the
// answer says its health check passes on that listener or rule; a target
// missing from the answer is not healthy. It changes nothing. The CLB must
// be a clb.HealthReader.
func (a *Activities) TargetHealth(ctx context.Context, in HealthInput) (HealthResult, error) {
	hr, ok := a.CLB.(clb.HealthReader)
	if !ok {
		return HealthResult{}, invalidInput("this worker's CLB client cannot read target health")
	}
	all, err := hr.DescribeTargetHealth(ctx, in.LoadBalancerId)
	if err != nil {
		return HealthResult{}, apiError(ctx, clb.ActionDescribeTargetHealth, err)
	}
	res := HealthResult{Bindings: make([]BindingHealth, len(in.Bindings))}
	for i, b := range in.Bindings {
		var here []clb.TargetHealth
		for _, h := range all {
			if sameBinding(h.Selector, b.Selector) {
				here = append(here, h)
			}
		}
		for _, t := range b.Targets {
			if healthy(here, t) {
				res.Bindings[i].Healthy = append(res.Bindings[i].Healthy, t)
			} else {
				res.Bindings[i].NotHealthy = append(res.Bindings[i].NotHealthy, t)
			}
		}
	}
	return res, nil
}

// healthy reports whether one of hs is t's and passes.
func healthy(hs []clb.TargetHealth, t clb.Target) bool {
	for _, h := range hs {
		if h.Matches(t) && h.Healthy {
			return true
		}
	}
	return false
}

// sameBinding reports whether got, a selector DescribeTargetHealth
// answered, is the listener or rule want names: by LocationId when want
// has one, else by Domain (any case) and Url.
func sameBinding(got, want clb.Selector) bool {
	if got.ListenerId != want.ListenerId {
		return false
	}
	switch {
	case want.LocationId != "":
		return got.LocationId == want.LocationId
	case want.Domain != "" || want.Url != "":
		return strings.EqualFold(got.Domain, want.Domain) && got.Url == want.Url
	}
	return true
}
