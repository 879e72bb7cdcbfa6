package clbsim_test

import (
	"context"
	"testing"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

// benchServer serves a generated fleet with no rate limit, behind the
// team's client without a rate of its own that matters.
func benchServer(b *testing.B, spec clbsim.GenerateSpec) (clbsim.State, *clb.Client) {
	state, err := clbsim.Generate(spec, 1)
	if err != nil {
		b.Fatal(err)
	}
	c, _ := clbsimtest.Start(b, clbsim.Config{State: state, Rate: -1}, func(cfg *clb.Config) {
		cfg.RatePerAction = 1e6
	})
	return state, c
}

// BenchmarkDescribeTargets reads a listener of 2000 targets.
func BenchmarkDescribeTargets(b *testing.B) {
	state, c := benchServer(b, clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 2000})
	lb := state.LoadBalancers[0]
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.DescribeTargets(context.Background(), lb.LoadBalancerId, lb.Listeners[0].ListenerId); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeregisterRegister unbinds and binds back 20 targets of a
// listener of 5000, with tasks that complete at once.
func BenchmarkDeregisterRegister(b *testing.B) {
	state, c := benchServer(b, clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 5000})
	lb := state.LoadBalancers[0]
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: lb.Listeners[0].ListenerId}
	var chunk []clb.Target
	var weighted []clb.WeightedTarget
	for _, t := range lb.Listeners[0].Targets[:20] {
		chunk = append(chunk, clb.Target{InstanceId: t.InstanceId, Port: t.Port})
		weighted = append(weighted, clb.WeightedTarget{Target: clb.Target{InstanceId: t.InstanceId, Port: t.Port}, Weight: t.Weight})
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.DeregisterTargets(ctx, sel, chunk); err != nil {
			b.Fatal(err)
		}
		if _, err := c.RegisterTargets(ctx, sel, weighted); err != nil {
			b.Fatal(err)
		}
	}
}
