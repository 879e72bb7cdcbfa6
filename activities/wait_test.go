package activities_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// slowPolls is the fake CLB whose DescribeTaskStatus call number slow
// takes callTime on the clock: for each second of it, it ticks the
// activity's heartbeat ticker and waits for the heartbeat to arrive.
type slowPolls struct {
	*fakeCLB
	slow     int
	callTime time.Duration
	ticks    chan time.Time
	beats    chan activities.WaitProgress

	// inCall is true while the slow call is in flight.
	inCall atomic.Bool

	mu    sync.Mutex
	polls int
	// during are the heartbeats received while the slow call was in flight.
	during []activities.WaitProgress
}

func (s *slowPolls) DescribeTaskStatus(ctx context.Context, taskID string) (clb.TaskStatus, error) {
	s.mu.Lock()
	s.polls++
	n := s.polls
	s.mu.Unlock()
	if n == s.slow {
		s.inCall.Store(true)
		defer s.inCall.Store(false)
		for range s.callTime / time.Second {
			s.clock.mu.Lock()
			s.clock.now = s.clock.now.Add(time.Second)
			s.clock.mu.Unlock()
			s.ticks <- s.clock.Now()
			beat := <-s.beats
			s.mu.Lock()
			s.during = append(s.during, beat)
			s.mu.Unlock()
		}
	}
	return s.fakeCLB.DescribeTaskStatus(ctx, taskID)
}

// A poll may wait for a token without bound and then take the client's
// request timeout: WaitForTask heartbeats all along, so that a poll of 8 s
// (longer than the old 5 s heartbeat timeout) still completes the wait.
func TestWaitForTaskHeartbeatsThroughASlowPoll(t *testing.T) {
	h := newHarness(t)
	slow := &slowPolls{fakeCLB: h.clb, slow: 2, callTime: 8 * time.Second,
		ticks: make(chan time.Time), beats: make(chan activities.WaitProgress)}
	var tickerDone <-chan struct{}
	var mu sync.Mutex
	acts := &activities.Activities{CLB: slow, Sleep: h.clock.Sleep, Now: h.clock.Now,
		Ticks: func(ctx context.Context, d time.Duration) <-chan time.Time {
			mu.Lock()
			defer mu.Unlock()
			if d != activities.CallHeartbeat {
				panic("heartbeat ticker of " + d.String())
			}
			tickerDone = ctx.Done()
			return slow.ticks
		}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	// Without heartbeats during the call, the slow call would block on its
	// first tick: fail then rather than hang.
	env.SetTestTimeout(time.Minute)
	// Every heartbeat the activity records, before the SDK batches them.
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&heartbeatSpy{beats: slow.beats, armed: &slow.inCall}}})
	env.RegisterActivity(acts)

	id := h.clb.addTask(3 * time.Second)
	v, err := env.ExecuteActivity(acts.WaitForTask, activities.WaitInput{TaskID: id})
	require.NoError(t, err, "the wait completes through a poll of 8 s")
	var res activities.WaitResult
	require.NoError(t, v.Get(&res))
	require.Len(t, slow.during, 8, "a heartbeat for each second of the call")
	for _, p := range slow.during {
		require.Equal(t, 1, p.Polls, "the progress as it stood before the call")
	}
	mu.Lock()
	done := tickerDone
	mu.Unlock()
	select {
	case <-done:
	default:
		t.Fatal("the heartbeat ticker outlives the activity")
	}
	select {
	case slow.ticks <- time.Time{}:
		t.Fatal("a heartbeat goroutine still runs after the activity returned")
	default:
	}
}

// heartbeatSpy passes on the WaitProgress of every heartbeat an activity
// records while armed.
type heartbeatSpy struct {
	interceptor.WorkerInterceptorBase
	beats chan activities.WaitProgress
	armed *atomic.Bool
}

func (s *heartbeatSpy) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &heartbeatSpyInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, spy: s}
}

type heartbeatSpyInbound struct {
	interceptor.ActivityInboundInterceptorBase
	spy *heartbeatSpy
}

func (i *heartbeatSpyInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&heartbeatSpyOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}, spy: i.spy})
}

type heartbeatSpyOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	spy *heartbeatSpy
}

func (o *heartbeatSpyOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.Next.RecordHeartbeat(ctx, details...)
	if len(details) == 1 {
		if p, ok := details[0].(activities.WaitProgress); ok && o.spy.armed.Load() {
			o.spy.beats <- p
		}
	}
}

// waitTasks runs a wait for a task of d on lb, as DeregisterTargets makes
// it, and returns how long after the task's end the wait saw it.
func (h *harness) waitTask(lb string, d time.Duration) time.Duration {
	h.t.Helper()
	id := h.clb.addTask(d)
	end := h.clock.Now().Add(d)
	_, err := h.env.ExecuteActivity(h.acts.WaitForTask,
		activities.WaitInput{TaskID: id, LoadBalancerID: lb, Action: clb.ActionDeregisterTargets})
	require.NoError(h.t, err)
	return h.clock.Now().Sub(end)
}

// With one task in four taking 60 s on another load balancer, the 2 s
// tasks are still seen ending promptly: each load balancer and action has
// its own estimate.
func TestWaitForTaskEstimatesEachLoadBalancer(t *testing.T) {
	h := newHarness(t)
	var quickLag, slowLag time.Duration
	quick := 0
	for i := range 40 {
		if i%4 == 3 {
			slowLag = max(slowLag, h.waitTask("lb-slow0001", 60*time.Second))
			continue
		}
		lag := h.waitTask("lb-quick001", 2*time.Second)
		if i >= 8 { // once both estimates settled
			quickLag += lag
			quick++
		}
	}
	avg := quickLag / time.Duration(quick)
	t.Logf("2 s tasks seen %v late on average; 60 s tasks at most %v late", avg, slowLag)
	require.Less(t, avg, 150*time.Millisecond, "the 2 s tasks are noticed promptly")
	require.Less(t, slowLag, 2*time.Second)
}

// Inputs from before WaitInput named the load balancer and action share
// one default estimate, apart from the named ones.
func TestWaitForTaskWithoutKindUsesTheSharedEstimate(t *testing.T) {
	h := newHarness(t)
	for range 5 {
		h.waitTask("lb-slow0001", 60*time.Second)
	}
	id := h.clb.addTask(2 * time.Second)
	end := h.clock.Now().Add(2 * time.Second)
	_, err := h.wait(h.env, id)
	require.NoError(t, err)
	require.Less(t, h.clock.Now().Sub(end), time.Second, "the 60 s tasks of a named load balancer do not delay it")
}

// A task stuck in Status 2 is polled ever less often once well past its
// estimate, up to StuckInterval apart and no further.
func TestWaitForTaskBacksOffFromAStuckTask(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		h.waitTask(lbID, 2*time.Second)
	}
	h.clock.mu.Lock()
	h.clock.sleeps = nil
	h.clock.mu.Unlock()
	polls := h.clb.count(clb.ActionDescribeTaskStatus)
	h.waitTask(lbID, 30*time.Minute)
	polls = h.clb.count(clb.ActionDescribeTaskStatus) - polls

	var at, longest time.Duration
	for i, d := range h.clock.sleeps {
		if i > 0 && at+d <= 10*time.Second {
			require.LessOrEqual(t, d, activities.DefaultMaxInterval, "at %v: not taken for stuck before 10 s", at)
		}
		at += d
		longest = max(longest, d)
	}
	require.Equal(t, activities.DefaultStuckInterval, longest, "the interval grows to the bound and no further")
	t.Logf("%d polls over 30 minutes", polls)
	require.Less(t, polls, 30*60/5+25, "about one poll per 5 s, after the window's few and the backing off")
}
