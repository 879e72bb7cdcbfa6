package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// ScopeInput is the input of ListLoadBalancers.
type ScopeInput struct {
	// LoadBalancerIds, when set, are the scope: each must exist. Empty
	// means every load balancer of the region.
	LoadBalancerIds []string `json:"LoadBalancerIds,omitempty"`
	// BackendIps, when set on a region-wide scope, narrow it with
	// DescribeLoadBalancers' backend filter to the load balancers with a
	// CVM target at one of them (the filter never matches ENI targets).
	BackendIps []string `json:"BackendIps,omitempty"`
}

// ScopeResult is the result of ListLoadBalancers.
type ScopeResult struct {
	// LoadBalancerIds are the load balancers whose targets the API manages
	// (Forward 1), in the API's order.
	LoadBalancerIds []string `json:"LoadBalancerIds"`
	// Classic are classic load balancers in scope, left out.
	Classic []string `json:"Classic,omitempty"`
}

// ListLoadBalancers lists the load balancers in.LoadBalancerIds names (at
// most clb.MaxLoadBalancerIDs a call), or every one of the region, page by
// page. A named load balancer that does not exist fails it with
// ErrInvalidInput, naming every one missing.
func (a *Activities) ListLoadBalancers(ctx context.Context, in ScopeInput) (ScopeResult, error) {
	fleet, err := a.fleet()
	if err != nil {
		return ScopeResult{}, err
	}
	var all []clb.LoadBalancerSummary
	if len(in.LoadBalancerIds) == 0 {
		if all, err = clb.AllLoadBalancers(ctx, fleet, clb.LoadBalancerQuery{BackendPrivateIps: in.BackendIps}); err != nil {
			return ScopeResult{}, apiError(ctx, clb.ActionDescribeLoadBalancers, err)
		}
	}
	for ids := range slices.Chunk(in.LoadBalancerIds, clb.MaxLoadBalancerIDs) {
		got, err := clb.AllLoadBalancers(ctx, fleet, clb.LoadBalancerQuery{LoadBalancerIds: ids})
		if err != nil {
			return ScopeResult{}, apiError(ctx, clb.ActionDescribeLoadBalancers, err)
		}
		all = append(all, got...)
	}
	var res ScopeResult
	found := map[string]bool{}
	for _, lb := range all {
		found[lb.LoadBalancerId] = true
		if lb.Forward == 1 {
			res.LoadBalancerIds = append(res.LoadBalancerIds, lb.LoadBalancerId)
		} else {
			res.Classic = append(res.Classic, lb.LoadBalancerId)
		}
	}
	var missing []string
	for _, id := range in.LoadBalancerIds {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return ScopeResult{}, invalidInput("LoadBalancerIds: no such load balancer in the region: " + strings.Join(missing, ", "))
	}
	return res, nil
}

// FindInput is the input of FindBindings.
type FindInput struct {
	// LoadBalancerIds are the load balancers to search.
	LoadBalancerIds []string `json:"LoadBalancerIds"`
	// Servers are the servers whose bindings are wanted.
	Servers []clb.Server `json:"Servers"`
}

// Keep is what a listener or rule keeps once the servers are gone.
type Keep struct {
	// Targets counts the targets left; Weighted those with weight > 0.
	Targets  int `json:"Targets"`
	Weighted int `json:"Weighted"`
	// Weight is the sum of their weights, TotalWeight the sum of every
	// target's weight now, the servers' included.
	Weight      int64 `json:"Weight"`
	TotalWeight int64 `json:"TotalWeight"`
}

// Found is one listener or rule where servers are bound.
type Found struct {
	// Selector names the listener, and a layer-7 rule by LocationId.
	Selector clb.Selector `json:"Selector"`
	// Protocol and Port are the listener's; Domain and Url the rule's.
	Protocol string `json:"Protocol"`
	Port     int64  `json:"Port"`
	Domain   string `json:"Domain,omitempty"`
	Url      string `json:"Url,omitempty"`
	// Remove are the servers' bindings, spelled as bound, with their
	// weights now.
	Remove []clb.WeightedTarget `json:"Remove"`
	// Keep is what stays.
	Keep Keep `json:"Keep"`
	// Listener are the listener's attributes, without rules.
	Listener *clb.ListenerAttributes `json:"Listener,omitempty"`
}

// FindResult is the result of FindBindings.
type FindResult struct {
	// Found are the listeners and rules where the servers are bound, by
	// load balancer in input order, then in the API's order.
	Found []Found `json:"Found"`
}

// FindBindings reads every listener of each load balancer (DescribeListeners,
// then DescribeTargets for up to clb.MaxTargetsListenerIDs listeners a call)
// and returns where the servers are bound. It only reads. One binding named
// by two servers (an instance and its own IP given apart) fails it with
// ErrInvalidInput, naming them. A failed read fails the attempt, which
// reads every load balancer again: keep the list short.
func (a *Activities) FindBindings(ctx context.Context, in FindInput) (FindResult, error) {
	fleet, err := a.fleet()
	if err != nil {
		return FindResult{}, err
	}
	res := FindResult{Found: []Found{}}
	for _, lb := range in.LoadBalancerIds {
		attrs, err := fleet.DescribeListeners(ctx, lb)
		if err != nil {
			return FindResult{}, apiError(ctx, clb.ActionDescribeListeners, err)
		}
		ids := make([]string, 0, len(attrs))
		byID := make(map[string]clb.ListenerAttributes, len(attrs))
		for _, l := range attrs {
			ids = append(ids, l.ListenerId)
			byID[l.ListenerId] = l
		}
		for group := range slices.Chunk(ids, clb.MaxTargetsListenerIDs) {
			ls, err := fleet.DescribeListenersTargets(ctx, lb, group)
			if err != nil {
				return FindResult{}, apiError(ctx, clb.ActionDescribeTargets, err)
			}
			for _, l := range ls {
				found, err := matchListener(lb, l, byID[l.ListenerId], in.Servers)
				if err != nil {
					return FindResult{}, err
				}
				res.Found = append(res.Found, found...)
			}
		}
	}
	return res, nil
}

// matchListener returns the listener's (layer 4) or its rules' (layer 7)
// bindings of servers.
func matchListener(lb string, l clb.Listener, attrs clb.ListenerAttributes, servers []clb.Server) ([]Found, error) {
	info := attributesOnly(attrs)
	if attrs.ListenerId == "" {
		info = nil
	}
	base := Found{Selector: clb.Selector{LoadBalancerId: lb, ListenerId: l.ListenerId}, Protocol: l.Protocol, Port: l.Port, Listener: info}
	var out []Found
	if !clb.IsLayer7(l.Protocol) {
		f, err := matchTargets(base, l.Targets, servers)
		if err != nil || len(f.Remove) == 0 {
			return nil, err
		}
		return []Found{f}, nil
	}
	for _, r := range l.Rules {
		f := base
		f.Selector.LocationId, f.Domain, f.Url = r.LocationId, r.Domain, r.Url
		f, err := matchTargets(f, r.Targets, servers)
		if err != nil {
			return nil, err
		}
		if len(f.Remove) > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

// matchTargets fills f's Remove and Keep from the targets bound there.
func matchTargets(f Found, bound []clb.BoundTarget, servers []clb.Server) (Found, error) {
	for _, b := range bound {
		f.Keep.TotalWeight += b.Weight
		var by []clb.Server
		for _, s := range servers {
			if s.Matches(b) {
				by = append(by, s)
			}
		}
		switch {
		case len(by) > 1:
			return f, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"Servers: %s and %s name the same binding %s on %s: give each server once, by its InstanceId or by its IP",
				by[0], by[1], by[0].Identity(b), f.Selector), ErrInvalidInput, nil)
		case len(by) == 1:
			f.Remove = append(f.Remove, clb.WeightedTarget{Target: by[0].Identity(b), Weight: b.Weight})
		default:
			f.Keep.Targets++
			f.Keep.Weight += b.Weight
			if b.Weight > 0 {
				f.Keep.Weighted++
			}
		}
	}
	return f, nil
}

// fleet is what FindBindings and ListLoadBalancers read with: Fleet, else
// CLB when it reads load balancers too (clb.Client does).
func (a *Activities) fleet() (clb.FleetReader, error) {
	if a.Fleet != nil {
		return a.Fleet, nil
	}
	if f, ok := a.CLB.(clb.FleetReader); ok {
		return f, nil
	}
	return nil, temporal.NewNonRetryableApplicationError("the worker's CLB client cannot list load balancers", "WorkerMisconfigured", nil)
}
