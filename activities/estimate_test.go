package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/clbdrain/clbdrain/internal/clb"
)

const ms = time.Millisecond

func TestTaskEstimateWindow(t *testing.T) {
	var e taskEstimate
	s := PollSettings{}
	assert.Equal(t, pollWindow{from: 700 * ms, until: 1500 * ms, expected: time.Second, step: 125 * ms, stuck: 10 * time.Second}, e.window(s),
		"before any measure: Expected, give or take a quarter")

	e.outlived(1600 * ms)
	assert.Equal(t, pollWindow{from: 1150 * ms, until: 2400 * ms, expected: 1600 * ms, step: 200 * ms, stuck: 10 * time.Second}, e.window(s),
		"a task seen running longer than the guess moves it")
	e.outlived(900 * ms)
	assert.Equal(t, 1150*ms, e.window(s).from, "a shorter one does not")

	e.observe(taskMeasure{d: 2000 * ms, spread: 120 * ms}, s)
	assert.Equal(t, pollWindow{from: 1830 * ms, until: 2240 * ms, expected: 2000 * ms, step: 100 * ms, measured: true, stuck: 10 * time.Second}, e.window(s),
		"the first measure sets the mean and, from its spread, the deviation")
	e.outlived(5 * time.Second)
	assert.Equal(t, 1830*ms, e.window(s).from, "once measured, running answers change nothing")

	e.observe(taskMeasure{d: 2200 * ms, spread: 50 * ms}, s)
	assert.Equal(t, 2100*ms, e.mean, "the second measure is averaged in")
	assert.Equal(t, 160*ms, e.dev)
	e.observe(taskMeasure{d: 2100 * ms, spread: 50 * ms}, s)
	e.observe(taskMeasure{d: 2500 * ms, spread: 50 * ms}, s)
	assert.Equal(t, 2200*ms, e.mean, "from the fourth on, smoothed by a quarter")

	for range 20 {
		e.observe(taskMeasure{d: 2200 * ms, spread: 10 * ms}, s)
	}
	assert.Equal(t, 50*ms, e.dev, "the deviation stays at half a poll interval or more")
	assert.Equal(t, pollWindow{from: 2100 * ms, until: 2300 * ms, expected: 2200 * ms, step: 100 * ms, measured: true, stuck: 10 * time.Second}, e.window(s))
}

func TestTaskEstimateAtMost(t *testing.T) {
	var e taskEstimate
	s := PollSettings{}
	e.observe(taskMeasure{d: 2 * time.Second, spread: 50 * ms}, s)
	e.observe(taskMeasure{d: 3 * time.Second, spread: 750 * ms, atMost: true}, s)
	assert.Equal(t, 2*time.Second, e.mean, "an end seen late bounds the duration from above only")
	assert.Equal(t, 1, e.n)
	e.observe(taskMeasure{d: 1800 * ms, spread: 450 * ms, atMost: true}, s)
	assert.Equal(t, 1900*ms, e.mean, "an end seen early lowers the mean")
}

func TestTaskEnd(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	assert.Equal(t, taskMeasure{d: 1900 * ms, spread: 100 * ms}, taskEnd(start, start.Add(1800*ms), start.Add(2000*ms)))
	assert.Equal(t, taskMeasure{d: 2000 * ms, spread: 500 * ms, atMost: true}, taskEnd(start, time.Time{}, start.Add(2000*ms)))
}

func TestSeenAt(t *testing.T) {
	asked := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	polled := asked.Add(400 * ms)
	assert.Equal(t, asked.Add(300*ms), seenAt(asked, polled, clb.TaskStatus{Waited: 300 * ms}), "sent after its wait for the budget")
	assert.Equal(t, asked, seenAt(asked, polled, clb.TaskStatus{}), "sent at once")
	assert.Equal(t, polled, seenAt(asked, polled, clb.TaskStatus{Waited: time.Hour}), "never after the answer")
}

// stubClock is a clock that Sleep moves, with a hook run before each sleep.
type stubClock struct {
	now     time.Time
	onSleep func()
}

func (c *stubClock) Now() time.Time { return c.now }

func (c *stubClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.onSleep != nil {
		c.onSleep()
	}
	c.now = c.now.Add(d)
	return ctx.Err()
}

// stubTasks answers DescribeTaskStatus for one task that ends at end, and
// records when it was asked.
type stubTasks struct {
	clb.API
	clock *stubClock
	end   time.Time
	polls []time.Time
	// spare are the polls asked for on spare budget (clb.IfSpare); with
	// noSpare, none is sent: the budget has nothing to spare.
	spare   []time.Time
	noSpare bool
}

func (s *stubTasks) DescribeTaskStatus(ctx context.Context, _ string) (clb.TaskStatus, error) {
	if clb.IsSpare(ctx) {
		s.spare = append(s.spare, s.clock.now)
		if s.noSpare {
			return clb.TaskStatus{}, clb.ErrNoSpare
		}
	}
	s.polls = append(s.polls, s.clock.now)
	if s.clock.now.Before(s.end) {
		return clb.TaskStatus{Status: clb.TaskRunning}, nil
	}
	return clb.TaskStatus{Status: clb.TaskSucceeded}, nil
}

// TestWaitForTaskLearnsWhileAsleep: a wait that began before any task was
// measured follows a measure that another wait of the process makes while
// it sleeps, instead of polling on its guess.
func TestWaitForTaskLearnsWhileAsleep(t *testing.T) {
	clock, tasks, a := newStubWait(3 * time.Second)
	start := clock.now
	est := a.estimates.of(taskKind{})
	clock.onSleep = func() {
		if est.n == 0 {
			est.observe(taskMeasure{d: 3 * time.Second, spread: 50 * ms}, a.Poll)
		}
	}
	res := runWait(t, a, WaitInput{TaskID: "task-1"})
	assert.Equal(t, []time.Time{start.Add(2900 * ms), start.Add(3000 * ms)}, tasks.polls,
		"no poll on the guess of 1 s; the first one a deviation and half an interval before 3 s")
	assert.Equal(t, 2, res.Polls)
}

// TestLoadBalancerEstimateStartsFromAgreeingPeers: a load balancer that has
// measured nothing starts from what the others measured when they agree
// (a fleet learns a duration once), and from Expected when they do not
// (one slow load balancer does not slow the polls of the rest).
func TestLoadBalancerEstimateStartsFromAgreeingPeers(t *testing.T) {
	s := PollSettings{}
	var es taskEstimates
	a := es.of(taskKind{"lb-aaaaaaaa", clb.ActionDeregisterTargets})
	a.observe(taskMeasure{d: 2000 * ms, spread: 100 * ms}, s)
	a.observe(taskMeasure{d: 2100 * ms, spread: 100 * ms}, s)
	b := es.of(taskKind{"lb-bbbbbbbb", clb.ActionDeregisterTargets})
	w := b.window(s)
	assert.True(t, w.measured, "from its peers")
	assert.InDelta(t, float64(1900*ms), float64(w.from), float64(100*ms))
	other := es.of(taskKind{"lb-bbbbbbbb", clb.ActionModifyTargetWeight})
	assert.False(t, other.window(s).measured, "another action learns apart")

	slow := es.of(taskKind{"lb-cccccccc", clb.ActionDeregisterTargets})
	slow.observe(taskMeasure{d: 60 * time.Second, spread: time.Second}, s)
	c := es.of(taskKind{"lb-dddddddd", clb.ActionDeregisterTargets})
	assert.Equal(t, pollWindow{from: 700 * ms, until: 1500 * ms, expected: time.Second, step: 125 * ms, stuck: 10 * time.Second}, c.window(s),
		"peers that disagree: Expected")
	assert.False(t, b.window(s).measured, "b has measured nothing itself: once its peers disagree it starts from Expected too")
}

// TestLoadBalancersFirstTasksShareWhatTheyOutlived: before any task is
// measured, a task seen running at one load balancer moves the first
// guess of the others, as one estimate for all did.
func TestLoadBalancersFirstTasksShareWhatTheyOutlived(t *testing.T) {
	s := PollSettings{}
	var es taskEstimates
	a := es.of(taskKind{"lb-aaaaaaaa", clb.ActionDeregisterTargets})
	b := es.of(taskKind{"lb-bbbbbbbb", clb.ActionDeregisterTargets})
	a.outlived(1600 * ms)
	assert.Equal(t, 1150*ms, b.window(s).from, "b's first guess follows what a's task outlived")
	a.observe(taskMeasure{d: 60 * time.Second, spread: time.Second}, s)
	a.observe(taskMeasure{d: 2 * time.Second, spread: 100 * ms}, s)
	assert.Equal(t, 700*ms, b.window(s).from, "once measured, and disagreeing, the peers lend nothing")
}

// TestWaitForTaskPollsAtTheExpectedEndWhilePollsQueue: while the process's
// polls wait for the API budget, the first poll aims at the expected end,
// not a deviation and half an interval before it: a poll that sees the task
// running takes the budget of a wait whose task has ended.
func TestWaitForTaskPollsAtTheExpectedEndWhilePollsQueue(t *testing.T) {
	for _, c := range []struct {
		name  string
		wait  time.Duration
		polls []time.Duration
	}{
		{"no queue", 0, []time.Duration{2900 * ms, 3000 * ms}},
		{"a short queue", 40 * ms, []time.Duration{2900 * ms, 3000 * ms}},
		{"polls queue", 300 * ms, []time.Duration{3000 * ms}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock, tasks, a := newStubWait(3 * time.Second)
			start := clock.now
			a.estimates.of(taskKind{}).observe(taskMeasure{d: 3 * time.Second, spread: 50 * ms}, a.Poll)
			for range 20 {
				a.estimates.queue.observe(c.wait)
			}
			runWait(t, a, WaitInput{TaskID: "task-1"})
			assert.Equal(t, c.polls, since(start, tasks.polls))
		})
	}
}

func TestPollQueue(t *testing.T) {
	var q pollQueue
	s := PollSettings{}
	assert.False(t, q.queued(s))
	q.observe(400 * ms)
	assert.Equal(t, 100*ms, q.wait, "smoothed by a quarter")
	assert.True(t, q.queued(s), "over half the shortest interval")
	for range 10 {
		q.observe(0)
	}
	assert.False(t, q.queued(s), "polls sent at once again")
}

// beatCounter counts the heartbeats activities record, before the SDK
// batches them.
type beatCounter struct {
	interceptor.WorkerInterceptorBase
	beats []WaitProgress
}

func (c *beatCounter) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &beatCounterInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, c: c}
}

type beatCounterInbound struct {
	interceptor.ActivityInboundInterceptorBase
	c *beatCounter
}

func (i *beatCounterInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&beatCounterOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}, c: i.c})
}

type beatCounterOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	c *beatCounter
}

func (o *beatCounterOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.Next.RecordHeartbeat(ctx, details...)
	if len(details) == 1 {
		if p, ok := details[0].(WaitProgress); ok {
			o.c.beats = append(o.c.beats, p)
		}
	}
}

// TestWaitForTaskHeartbeatsOnlyToGoOn: a poll that sees the task running
// heartbeats the progress for a retried attempt to resume from; one that
// ends the wait completes the activity instead, with no heartbeat.
func TestWaitForTaskHeartbeatsOnlyToGoOn(t *testing.T) {
	for _, c := range []struct {
		name  string
		end   time.Duration
		beats []int
	}{
		{"seen ended at once", 2900 * ms, nil},
		{"seen running once", 2950 * ms, []int{1}},
		{"seen running twice", 3050 * ms, []int{1, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, a := newStubWait(c.end)
			a.estimates.of(taskKind{}).observe(taskMeasure{d: 3 * time.Second, spread: 50 * ms}, a.Poll)
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			counter := &beatCounter{}
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{counter}})
			env.RegisterActivity(a)
			_, err := env.ExecuteActivity(a.WaitForTask, WaitInput{TaskID: "task-1"})
			require.NoError(t, err)
			var polls []int
			for _, b := range counter.beats {
				polls = append(polls, b.Polls)
			}
			assert.Equal(t, c.beats, polls)
		})
	}
}

// TestWaitForTaskTimesTheTaskFromItsCreation: a wait given when its task
// was made times the task from then, not from its own later start; a
// creation time after the start, or long before it, is another clock's
// and is ignored.
func TestWaitForTaskTimesTheTaskFromItsCreation(t *testing.T) {
	for _, c := range []struct {
		name    string
		created time.Duration
		polls   []time.Duration
	}{
		{"unknown", 0, []time.Duration{1900 * ms}},
		{"300 ms before the wait", -300 * ms, []time.Duration{1600 * ms, 1700 * ms}},
		{"after the wait's start", 200 * ms, []time.Duration{1900 * ms}},
		{"long before the wait", -2 * time.Minute, []time.Duration{1900 * ms}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The task was made 300 ms before the wait and takes 2 s.
			clock, tasks, a := newStubWait(1700 * ms)
			start := clock.now
			a.estimates.of(taskKind{}).observe(taskMeasure{d: 2 * time.Second, spread: 50 * ms}, a.Poll)
			in := WaitInput{TaskID: "task-1"}
			if c.created != 0 {
				in.TaskCreated = start.Add(c.created)
			}
			runWait(t, a, in)
			assert.Equal(t, c.polls, since(start, tasks.polls))
		})
	}
}

// TestWaitForTaskPollsAtTheGuessWhilePollsQueue: before any task was
// measured, queued polls start at the guess, not three quarters of it.
func TestWaitForTaskPollsAtTheGuessWhilePollsQueue(t *testing.T) {
	for _, c := range []struct {
		name  string
		wait  time.Duration
		first time.Duration
	}{
		{"no queue", 0, 700 * ms},
		{"polls queue", 300 * ms, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock, tasks, a := newStubWait(2 * time.Second)
			start := clock.now
			for range 20 {
				a.estimates.queue.observe(c.wait)
			}
			runWait(t, a, WaitInput{TaskID: "task-1"})
			require.NotEmpty(t, tasks.polls)
			assert.Equal(t, c.first, tasks.polls[0].Sub(start))
		})
	}
}

// since lists times as offsets from start.
func since(start time.Time, times []time.Time) []time.Duration {
	var out []time.Duration
	for _, t := range times {
		out = append(out, t.Sub(start))
	}
	return out
}

// TestWaitForTaskPollsEarlyOnlyOnSpareBudget: a poll before the task's
// expected end goes only on spare budget (clb.IfSpare); when the budget
// has none, it is not sent, not counted, and the wait polls at the
// expected end, as a poll that must go.
func TestWaitForTaskPollsEarlyOnlyOnSpareBudget(t *testing.T) {
	for _, noSpare := range []bool{false, true} {
		t.Run(fmt.Sprint("no spare ", noSpare), func(t *testing.T) {
			clock, tasks, a := newStubWait(3 * time.Second)
			start := clock.now
			tasks.noSpare = noSpare
			a.estimates.of(taskKind{}).observe(taskMeasure{d: 3 * time.Second, spread: 50 * ms}, a.Poll)
			res := runWait(t, a, WaitInput{TaskID: "task-1"})
			assert.Equal(t, []time.Duration{2900 * ms}, since(start, tasks.spare), "the poll before 3 s, on spare budget")
			want := []time.Duration{2900 * ms, 3000 * ms}
			if noSpare {
				want = []time.Duration{3000 * ms}
			}
			assert.Equal(t, want, since(start, tasks.polls), "polls sent")
			assert.Equal(t, len(want), res.Polls, "polls counted")
		})
	}
}

// TestOneWaitScoutsForAnUnmeasuredAction: while an action has measured no
// task, one wait at a time (the scout) polls from the start of the
// guessed window; the others wait for the guess, by then the scout's
// measure may have reached them. Once a task is measured, nobody scouts.
func TestOneWaitScoutsForAnUnmeasuredAction(t *testing.T) {
	acts := &Activities{}
	a := acts.estimates.of(taskKind{"lb-aaaaaaaa", clb.ActionBatchModifyTargetWeight})
	b := acts.estimates.of(taskKind{"lb-bbbbbbbb", clb.ActionBatchModifyTargetWeight})
	other := acts.estimates.of(taskKind{"lb-bbbbbbbb", clb.ActionDeregisterTargets})
	require.True(t, a.claimScout(), "the first wait of the action scouts")
	assert.False(t, b.claimScout(), "the action has a scout")
	assert.True(t, other.claimScout(), "another action has its own")
	scout := &taskWait{a: acts, est: a, scout: true}
	follower := &taskWait{a: acts, est: b}
	assert.Equal(t, 700*ms, scout.window().from, "the scout polls from a deviation and half an interval before the guess")
	assert.Equal(t, time.Second, follower.window().from, "the others from the guess")
	a.releaseScout()
	assert.True(t, b.claimScout(), "once the scout's wait ended, the next wait scouts")
	b.releaseScout()
	a.observe(taskMeasure{d: 900 * ms, spread: 50 * ms}, PollSettings{})
	assert.False(t, b.claimScout(), "measured: nobody scouts")
	assert.Equal(t, 800*ms, follower.window().from, "and every wait follows the measure")
}

// TestWaitForTaskFollowsTheGuessWhileAnotherScouts: a wait on an action
// that measured nothing, begun while another wait scouts, first polls at
// the guess (Expected); alone, it polls from the start of the window.
func TestWaitForTaskFollowsTheGuessWhileAnotherScouts(t *testing.T) {
	for _, scouted := range []bool{false, true} {
		t.Run(fmt.Sprint("another scouts ", scouted), func(t *testing.T) {
			clock, tasks, a := newStubWait(1200 * ms)
			start := clock.now
			if scouted {
				require.True(t, a.estimates.of(taskKind{"lb-aaaaaaaa", clb.ActionDeregisterTargets}).claimScout())
			}
			runWait(t, a, WaitInput{TaskID: "task-1", LoadBalancerID: "lb-bbbbbbbb",
				Action: clb.ActionDeregisterTargets})
			first := 700 * ms
			if scouted {
				first = time.Second
			}
			require.NotEmpty(t, tasks.polls)
			assert.Equal(t, first, tasks.polls[0].Sub(start))
		})
	}
}

// TestWaitForTaskPollsFromTheWindowOnceItsActionMeasured: once the action
// has a task measured, nobody scouts for it, and a wait on a load balancer
// that has measured none polls from the start of the guessed window (on
// spare budget) even when the action's tasks disagree and so give that
// load balancer no estimate: only while the action has measured nothing do
// the waits other than its scout poll from the guess.
func TestWaitForTaskPollsFromTheWindowOnceItsActionMeasured(t *testing.T) {
	clock, tasks, a := newStubWait(1200 * ms)
	start := clock.now
	measured := a.estimates.of(taskKind{"lb-aaaaaaaa", clb.ActionDeregisterTargets})
	measured.observe(taskMeasure{d: 400 * ms, spread: 50 * ms}, a.Poll)
	measured.observe(taskMeasure{d: 3 * time.Second, spread: 50 * ms}, a.Poll)
	_, _, agreed := measured.prior.agreed()
	require.False(t, agreed, "the action's tasks disagree")
	runWait(t, a, WaitInput{TaskID: "task-1", LoadBalancerID: "lb-bbbbbbbb",
		Action: clb.ActionDeregisterTargets})
	require.NotEmpty(t, tasks.polls)
	assert.Equal(t, 700*ms, tasks.polls[0].Sub(start), "from a deviation and half an interval before the guess")
	require.NotEmpty(t, tasks.spare, "on spare budget")
	assert.Equal(t, tasks.polls[0], tasks.spare[0], "on spare budget")
}

// newStubWait is a clock, a task that ends end after its start, and
// Activities that poll it on that clock.
func newStubWait(end time.Duration) (*stubClock, *stubTasks, *Activities) {
	clock := &stubClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	tasks := &stubTasks{clock: clock, end: clock.now.Add(end)}
	return clock, tasks, &Activities{CLB: tasks, Now: clock.Now, Sleep: clock.Sleep}
}

// runWait runs a.WaitForTask(in) in a test activity environment and
// returns its result.
func runWait(t *testing.T, a *Activities, in WaitInput) WaitResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.WaitForTask, in)
	require.NoError(t, err)
	var res WaitResult
	require.NoError(t, v.Get(&res))
	return res
}
