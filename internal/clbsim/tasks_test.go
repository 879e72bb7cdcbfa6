package clbsim_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestLoadBalancerLock(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Clock: clock, TaskLatency: 2 * time.Second})
	ctx := context.Background()

	first := deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))
	_, err := c.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0002", 8080)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	if !strings.Contains(err.Error(), first) {
		t.Errorf("the lock error does not name the task: %v", err)
	}
	_, err = c.ModifyTargetWeight(ctx, ruleSel, []clb.WeightedTarget{weighted(ins("ins-aaaa0001", 9000), 0)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	// Other load balancers and reads are not locked.
	deregister(t, c, udpSel, ins("ins-bbbb0001", 53))
	if _, err := c.DescribeTargets(ctx, "lb-test0001", "lbl-tcp00001"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	_, err = c.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0002", 8080)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	clock.Advance(time.Second)
	deregister(t, c, tcpSel, ins("ins-aaaa0002", 8080))
	if st := srv.Stats(); st.TasksCreated != 3 || st.Actions[clb.ActionDeregisterTargets].Errors["FailedOperation.ResourceInOperating"] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCompetingWriterHoldsTheLock(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Clock: clock})
	until, err := srv.HoldLock("lb-test0001", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(3 * time.Second); !until.Equal(want) {
		t.Errorf("held until %v, want %v", until, want)
	}
	// A shorter hold does not shorten the lock.
	if again, _ := srv.HoldLock("lb-test0001", time.Second); !again.Equal(until) {
		t.Errorf("shorter hold moved the end to %v", again)
	}
	_, err = c.DeregisterTargets(context.Background(), tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	clock.Advance(3 * time.Second)
	deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))

	if _, err := srv.HoldLock("lb-nothere1", time.Second); err == nil {
		t.Error("held an unknown load balancer")
	}
	if _, err := srv.HoldLock("lb-test0001", 0); err == nil {
		t.Error("held for zero")
	}
}

func TestTaskLatencyAndJitter(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Clock: clock, TaskLatency: time.Second, TaskJitter: 500 * time.Millisecond, Seed: 3})
	t0 := clock.Now()
	task := deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))
	clock.Advance(999 * time.Millisecond)
	if st, _ := srv.Task(task); st.Status != clb.TaskRunning {
		t.Fatalf("done before its latency: %+v", st)
	}
	clock.Advance(500 * time.Millisecond)
	if st, _ := srv.Task(task); st.Status != clb.TaskSucceeded {
		t.Fatalf("running after latency and jitter: %+v", st)
	}
	if d := srv.Audit()[0].Time.Sub(t0); d < time.Second || d >= 1500*time.Millisecond {
		t.Errorf("completed %v after the call, want 1s-1.5s", d)
	}
}

// TestConcurrentDrains drains a generated fleet from many goroutines, one
// per listener, in chunks of 20, while others read, and checks that every
// target was removed exactly once.
func TestConcurrentDrains(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 4, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60, ENI: 0.2}
	state, err := clbsim.Generate(spec, 11)
	if err != nil {
		t.Fatal(err)
	}
	c, srv, _ := startClient(t, clbsim.Config{State: state, TaskLatency: 2 * time.Millisecond, TaskJitter: 3 * time.Millisecond, Rate: -1})
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, lb := range state.LoadBalancers {
		for _, l := range lb.Listeners {
			wg.Go(func() {
				places := []clb.Rule{{Targets: l.Targets}}
				if len(l.Rules) > 0 {
					places = l.Rules
				}
				for _, r := range places {
					sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId, LocationId: r.LocationId}
					for chunk := range chunks(r.Targets, 20) {
						drainChunk(t, ctx, c, sel, chunk)
					}
				}
			})
		}
		wg.Go(func() {
			for range 20 {
				if _, err := c.DescribeTargets(ctx, lb.LoadBalancerId, lb.Listeners[0].ListenerId); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := state.Count().Targets
	if got := srv.State().Count().Targets; got != 0 {
		t.Errorf("%d targets still bound", got)
	}
	seen := map[string]bool{}
	for _, ch := range srv.Audit() {
		k := ch.LoadBalancerId + "/" + ch.ListenerId + "/" + ch.LocationId + "/" + ch.Target
		if seen[k] {
			t.Errorf("removed twice: %s", k)
		}
		seen[k] = true
	}
	if len(seen) != want {
		t.Errorf("audit has %d removals, want %d", len(seen), want)
	}
	if busy := srv.Stats().Actions[clb.ActionDeregisterTargets].Errors["FailedOperation.ResourceInOperating"]; busy == 0 {
		t.Log("no lock contention happened")
	}
}

// chunks yields the bound targets as request targets, n at a time.
func chunks(in []clb.BoundTarget, n int) func(func([]clb.Target) bool) {
	return func(yield func([]clb.Target) bool) {
		for i := 0; i < len(in); i += n {
			var chunk []clb.Target
			for _, b := range in[i:min(i+n, len(in))] {
				t := clb.Target{InstanceId: b.InstanceId, Port: b.Port}
				if b.Type == clbsim.TypeENI {
					t = clb.Target{EniIp: b.PrivateIpAddresses[0], Port: b.Port}
				}
				chunk = append(chunk, t)
			}
			if !yield(chunk) {
				return
			}
		}
	}
}

// drainChunk deregisters a chunk, retrying while the load balancer is
// busy, and waits for its task.
func drainChunk(t *testing.T, ctx context.Context, c *clb.Client, sel clb.Selector, chunk []clb.Target) {
	for {
		task, err := c.DeregisterTargets(ctx, sel, chunk)
		if codeOf(err) == "FailedOperation.ResourceInOperating" {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Error(err)
			return
		}
		for {
			st, err := c.DescribeTaskStatus(ctx, task)
			if err != nil {
				t.Error(err)
				return
			}
			if st.Status != clb.TaskRunning {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
}
