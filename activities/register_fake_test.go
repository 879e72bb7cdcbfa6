package activities_test

import (
	"context"

	"github.com/clbdrain/clbdrain/internal/clb"
)

var (
	_ clb.TargetRegistrar = (*fakeCLB)(nil)
	_ clb.HealthReader    = (*fakeCLB)(nil)
)

// RegisterTargets binds the targets as the API does: one already bound
// fails the whole call with InvalidParameter.
func (f *fakeCLB) RegisterTargets(_ context.Context, sel clb.Selector, targets []clb.WeightedTarget) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionRegisterTargets); err != nil {
		return "", err
	}
	bound := f.bindings(sel)
	for _, t := range targets {
		for _, b := range *bound {
			if b.Matches(t.Target) {
				return "", clb.NewError(clb.ActionRegisterTargets, "InvalidParameter", t.Key()+" is already bound")
			}
		}
	}
	for _, t := range targets {
		b := clb.BoundTarget{Type: "CVM", InstanceId: t.InstanceId, Port: t.Port, Weight: t.Weight}
		if t.InstanceId == "" {
			b = clb.BoundTarget{Type: "ENI", PrivateIpAddresses: []string{t.EniIp}, Port: t.Port, Weight: t.Weight}
		}
		*bound = append(*bound, b)
	}
	f.sent[clb.ActionRegisterTargets] = append(f.sent[clb.ActionRegisterTargets], clb.Unweighted(targets))
	return f.newTask(), nil
}

// DescribeTargetHealth answers every binding of the fake's listeners,
// healthy unless its key is in f.sick.
func (f *fakeCLB) DescribeTargetHealth(_ context.Context, lbs ...string) ([]clb.TargetHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionDescribeTargetHealth); err != nil {
		return nil, err
	}
	var out []clb.TargetHealth
	add := func(sel clb.Selector, bs []clb.BoundTarget) {
		for _, b := range bs {
			h := clb.TargetHealth{Selector: sel, TargetId: b.InstanceId, Port: b.Port}
			key := clb.Target{InstanceId: b.InstanceId, Port: b.Port}
			if b.InstanceId == "" && len(b.PrivateIpAddresses) > 0 {
				h.IP = b.PrivateIpAddresses[0]
				key = clb.Target{EniIp: h.IP, Port: b.Port}
			}
			h.Healthy = !f.sick[key.Key()]
			out = append(out, h)
		}
	}
	for _, l := range f.listeners {
		sel := clb.Selector{LoadBalancerId: lbs[0], ListenerId: l.ListenerId}
		add(sel, l.Targets)
		for _, r := range l.Rules {
			rs := sel
			rs.LocationId, rs.Domain, rs.Url = r.LocationId, r.Domain, r.Url
			add(rs, r.Targets)
		}
	}
	return out, nil
}
