package clbsim

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// benchClient is the team's client without a rate of its own that matters.
func benchClient(b *testing.B, addr string) *clb.Client {
	c, err := clb.NewClient(clb.Config{Region: testRegion, Endpoint: "http://" + addr,
		Credential: common.NewCredential(DefaultSecretID, DefaultSecretKey), RatePerAction: 1e6, Burst: 1000})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchServer(b *testing.B, spec GenerateSpec) (State, string) {
	state, err := Generate(spec, 1)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{State: state, Rate: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	b.Cleanup(ts.Close)
	return state, ts.Listener.Addr().String()
}

// BenchmarkDescribeTargets reads a listener of 2000 targets.
func BenchmarkDescribeTargets(b *testing.B) {
	state, addr := benchServer(b, GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 2000})
	c := benchClient(b, addr)
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
	state, addr := benchServer(b, GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 5000})
	c := benchClient(b, addr)
	lb := state.LoadBalancers[0]
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: lb.Listeners[0].ListenerId}
	var chunk []clb.WeightedTarget
	for _, t := range lb.Listeners[0].Targets[:20] {
		chunk = append(chunk, clb.WeightedTarget{Target: clb.Target{InstanceId: t.InstanceId, Port: t.Port}, Weight: t.Weight})
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.DeregisterTargets(ctx, sel, clb.Unweighted(chunk)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.RegisterTargets(ctx, sel, chunk); err != nil {
			b.Fatal(err)
		}
	}
}
