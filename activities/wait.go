package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// PollSettings tune how WaitForTask polls DescribeTaskStatus. Zero fields
// take the defaults.
type PollSettings struct {
	// Expected is how long a task is assumed to take before the first one
	// was measured. Default 1 s.
	Expected time.Duration
	// MinInterval is the shortest interval between polls, used around a
	// task's expected end; past it the interval grows by half at each poll
	// up to MaxInterval. It bounds the delay between a task's end and its
	// detection. Default 100 ms.
	MinInterval time.Duration
	// MaxInterval caps the interval between polls. Default 1 s.
	MaxInterval time.Duration
	// StuckInterval caps the interval between polls of a task well past
	// its estimate (stuckFactor times the mean, and stuckAfter): the
	// interval goes on growing by half up to it. Default 5 s.
	StuckInterval time.Duration
}

// Default poll settings.
const (
	DefaultExpectedTask = time.Second
	DefaultMinInterval  = 100 * time.Millisecond
	DefaultMaxInterval  = time.Second
	// DefaultStuckInterval polls a task stuck in Status 2 every 5 s: 0.2
	// requests/s, 1% of the account's 20/s DescribeTaskStatus budget
	// instead of 5% at MaxInterval, over a stuck task's 30 minutes. It
	// costs at most 5 s of delay on a task that has already taken 10 s or
	// more, and three times as long as its kind of task takes.
	DefaultStuckInterval = 5 * time.Second
)

// A task is well past its estimate, and polled at most StuckInterval
// apart, once it has run stuckFactor times the estimated mean and at least
// stuckAfter: a lone slow task among quick ones is not taken for stuck.
const (
	stuckFactor = 3
	stuckAfter  = 10 * time.Second
)

// CallHeartbeat is how often WaitForTask heartbeats while a
// DescribeTaskStatus call is in flight: the call's wait for its start
// from the client's pacer has no bound, and the request itself may take the
// client's timeout (clb.DefaultTimeout).
const CallHeartbeat = time.Second

func (s PollSettings) expected() time.Duration {
	if s.Expected > 0 {
		return s.Expected
	}
	return DefaultExpectedTask
}

func (s PollSettings) minInterval() time.Duration {
	if s.MinInterval > 0 {
		return s.MinInterval
	}
	return DefaultMinInterval
}

func (s PollSettings) maxInterval() time.Duration {
	if s.MaxInterval > 0 {
		return max(s.MaxInterval, s.minInterval())
	}
	return max(DefaultMaxInterval, s.minInterval())
}

func (s PollSettings) stuckInterval() time.Duration {
	if s.StuckInterval > 0 {
		return max(s.StuckInterval, s.maxInterval())
	}
	return max(DefaultStuckInterval, s.maxInterval())
}

// WaitInput is the input of WaitForTask.
type WaitInput struct {
	// TaskID is the task to wait for: the RequestId of the mutating call.
	TaskID string `json:"TaskId"`
	// LoadBalancerID is the load balancer the task changes and Action the
	// mutating action that made it (clb.ActionDeregisterTargets,
	// clb.ActionModifyTargetWeight, clb.ActionBatchModifyTargetWeight,
	// clb.ActionRegisterTargets): together
	// they pick the estimate of how long the task takes. Both empty (as in
	// inputs scheduled before they existed): the process's shared estimate.
	LoadBalancerID string `json:"LoadBalancerId,omitempty"`
	Action         string `json:"Action,omitempty"`
	// Turn is the turn on the load balancer held for the task, if any:
	// renewed while the wait goes on, released when the task ends.
	Turn *turns.Turn `json:"Turn,omitempty"`
	// TaskCreated is when the mutating activity had the answer that made
	// the task (DeregisterResult.TaskCreated); zero when unknown. The wait
	// times the task from it rather than from its own start, so that the
	// time between the call and the wait (the workflow's turn, the wait's
	// dispatch) neither blurs the estimate nor delays the polls. A time
	// after the wait's start or more than maxTaskAge before it (another
	// worker's clock) is ignored.
	TaskCreated time.Time `json:"TaskCreated,omitzero"`
}

// maxTaskAge bounds how long before a wait's start its task may have been
// made, by WaitInput.TaskCreated, for the wait to time the task from then.
const maxTaskAge = time.Minute

// WaitResult is the result of WaitForTask.
type WaitResult struct {
	// Polls counts DescribeTaskStatus calls, over every attempt.
	Polls int `json:"Polls"`
	// Elapsed runs from the first attempt's start to the poll that saw the
	// task succeed.
	Elapsed time.Duration `json:"Elapsed"`
}

// WaitProgress is what WaitForTask records with each heartbeat, so that an
// attempt retried on another worker (after a crash) resumes the count.
type WaitProgress struct {
	// Polls counts DescribeTaskStatus calls so far.
	Polls int `json:"Polls"`
	// Started is when the first attempt began waiting.
	Started time.Time `json:"Started"`
	// FirstPoll is when DescribeTaskStatus was first called; zero before.
	FirstPoll time.Time `json:"FirstPoll,omitzero"`
}

// TaskFailure is the detail of an ErrTaskFailed or ErrTaskUnknown error.
type TaskFailure struct {
	// TaskID is the task that ended with Status 1, or that
	// DescribeTaskStatus did not know.
	TaskID string `json:"TaskId"`
	// Message is the task's Message, as DescribeTaskStatus gave it; for an
	// unknown task, the API's error.
	Message string `json:"Message"`
	// Polls counts DescribeTaskStatus calls spent on the task.
	Polls int `json:"Polls"`
}

// WaitForTask polls DescribeTaskStatus until the task ends. It returns on
// Status 0, and fails with a non-retryable ErrTaskFailed (details: a
// TaskFailure) on Status 1, or ErrTaskUnknown when DescribeTaskStatus does
// not know the task (its id expired): the caller then learns from
// DescribeTargets what the task did. Every poll that does not end the wait
// heartbeats a WaitProgress (one that ends it completes the activity, so
// a task seen ended at the first poll costs no heartbeat), as does every
// CallHeartbeat while a call is in flight, and a retried attempt resumes
// from it. A failed poll is retried inside the activity as its
// class's retry policy says, counting the failures of that class since the
// last answer; past the bound it fails non-retryable. Polls follow the
// process's estimate of how long tasks of the load balancer and action
// take (taskEstimate), and space out to StuckInterval once the task is
// well past it; a poll before the expected end goes only on spare budget
// (clb.IfSpare), skipped when there is none. It renews in.Turn while it waits and releases it when the
// wait is over for good (keepTurn): the task ended, failed or is unknown.
func (a *Activities) WaitForTask(ctx context.Context, in WaitInput) (_ WaitResult, err error) {
	if err := checkWaitInput(in); err != nil {
		return WaitResult{}, err
	}
	endTurn := a.keepTurn(ctx, in.Turn)
	defer func() { endTurn(err) }()
	w := a.startWait(ctx, in)
	defer w.endScout()
	next := w.firstPoll()
	for {
		if err := a.sleepUntil(ctx, next, w.prog); err != nil {
			return WaitResult{Polls: w.prog.Polls}, cutShort(ctx, err)
		}
		// Other waits may have moved the estimate later meanwhile, as when
		// a fleet's first tasks start together.
		if from := w.since.Add(w.window().from); !w.resumed && from.After(a.now()) {
			next = from
			continue
		}
		st, asked, polled, err := w.poll(ctx)
		if errors.Is(err, clb.ErrNoSpare) {
			next = w.afterNoSpare()
			continue
		}
		if err != nil {
			if next, err = w.pollFailed(ctx, err, polled); err != nil {
				return WaitResult{Polls: w.prog.Polls}, err
			}
			activity.RecordHeartbeat(ctx, w.prog)
			continue
		}
		clear(w.errs)
		if res, done, err := w.ended(ctx, st, asked, polled); done {
			return res, err
		}
		activity.RecordHeartbeat(ctx, w.prog)
		next = w.nextPoll(seenAt(asked, polled, st), polled)
	}
}

// checkWaitInput refuses a WaitInput without a task, or whose Action
// makes no task.
func checkWaitInput(in WaitInput) error {
	if in.TaskID == "" {
		return invalidInput("WaitForTask: TaskId is required")
	}
	switch in.Action {
	case "", clb.ActionDeregisterTargets, clb.ActionModifyTargetWeight, clb.ActionBatchModifyTargetWeight, clb.ActionRegisterTargets:
		return nil
	}
	return invalidInput(fmt.Sprintf("WaitForTask: Action %q makes no task: want %s, %s, %s or %s", in.Action,
		clb.ActionDeregisterTargets, clb.ActionModifyTargetWeight, clb.ActionBatchModifyTargetWeight, clb.ActionRegisterTargets))
}

// taskWait is the state of one WaitForTask attempt.
type taskWait struct {
	a      *Activities
	taskID string
	// est is the estimate of the task's load balancer and action.
	est  *taskEstimate
	prog WaitProgress
	// since is when the task is timed from: WaitInput.TaskCreated when
	// usable, else the first attempt's start.
	since time.Time
	// resumed is true when an earlier attempt's progress was read: this
	// one saw only part of the task.
	resumed bool
	// scout is true for the one wait of an action that polls before the
	// guess while no task of the action was measured (taskEstimate.claimScout).
	scout bool
	// interval spaces the polls past the expected end; it grows by half.
	interval    time.Duration
	lastRunning time.Time
	// errs counts the failed polls since the last answer, by class: each
	// class's policy bounds and spaces its own failures.
	errs map[clb.Class]int
}

// startWait begins a wait, resuming the progress an earlier attempt
// heartbeated, and timing the task from in.TaskCreated when it is usable.
func (a *Activities) startWait(ctx context.Context, in WaitInput) *taskWait {
	taskID := in.TaskID
	w := &taskWait{a: a, taskID: taskID, est: a.estimates.of(taskKind{in.LoadBalancerID, in.Action}), prog: WaitProgress{Started: a.now()},
		interval: a.Poll.minInterval(), errs: map[clb.Class]int{}}
	if activity.HasHeartbeatDetails(ctx) {
		var prev WaitProgress
		if err := activity.GetHeartbeatDetails(ctx, &prev); err != nil {
			activity.GetLogger(ctx).Warn("heartbeat details unreadable, counting polls afresh", "taskId", taskID, "error", err)
		} else {
			w.prog, w.resumed = prev, true
		}
	}
	w.since = w.prog.Started
	w.scout = !w.resumed && w.est.claimScout()
	if c := in.TaskCreated; !c.IsZero() && !c.After(w.since) && w.since.Sub(c) <= maxTaskAge {
		w.since = c
	}
	return w
}

// window is the poll window of the wait's estimate. While the process's
// polls queue for the API budget (pollQueue), a poll sent before the task's
// end takes the budget another wait needed to see its task ended, and
// comes late anyway: the window then starts at the expected end (the
// guess, before any task was measured), not a deviation before it. So it
// does, before any task of the action was measured, for a wait that is
// not its scout (taskEstimate.claimScout).
func (w *taskWait) window() pollWindow {
	win := w.est.window(w.a.Poll)
	if w.a.estimates.queue.queued(w.a.Poll) || (!w.scout && !w.est.scouted().hasMeasured()) {
		win.from = max(win.from, win.expected)
	}
	return win
}

// endScout gives up the wait's scouting, if it had it.
func (w *taskWait) endScout() {
	if w.scout {
		w.est.releaseScout()
	}
}

// firstPoll is when to poll first: at the start of the expected window, or
// at once for a resumed wait (the previous attempt may have seen the task
// near its end).
func (w *taskWait) firstPoll() time.Time {
	if w.resumed {
		return w.a.now()
	}
	return w.since.Add(w.window().from)
}

// poll calls DescribeTaskStatus once, heartbeating while it is in flight,
// counts it, and returns when it was asked and when it was answered. An
// early poll goes only on spare budget (early); one not sent for want of
// it fails with clb.ErrNoSpare and is not counted.
func (w *taskWait) poll(ctx context.Context) (st clb.TaskStatus, asked, polled time.Time, err error) {
	asked = w.a.now()
	pctx := ctx
	if w.early(asked) {
		pctx = clb.IfSpare(ctx)
	}
	stop := w.a.heartbeatWhile(ctx, w.prog)
	st, err = w.a.CLB.DescribeTaskStatus(pctx, w.taskID)
	stop()
	polled = w.a.now()
	if errors.Is(err, clb.ErrNoSpare) {
		return st, asked, polled, err
	}
	if err == nil {
		w.a.estimates.queue.observe(st.Waited)
	}
	w.prog.Polls++
	if w.prog.FirstPoll.IsZero() {
		w.prog.FirstPoll = polled
	}
	activity.GetMetricsHandler(ctx).Counter(MetricTaskPolls).Inc(1)
	return st, asked, polled, err
}

// early reports whether a poll at now comes before the task's expected
// end: it then goes only on spare budget (clb.IfSpare), so that the polls
// of tasks that have ended find their budget. A resumed wait's polls are
// never early: the task may have ended while no worker watched it.
func (w *taskWait) early(now time.Time) bool {
	return !w.resumed && now.Sub(w.since) < w.window().expected
}

// afterNoSpare is when to poll again after an early poll that the budget
// had no room for: a poll interval later, and no later than the expected
// end.
func (w *taskWait) afterNoSpare() time.Time {
	return earlierOf(w.a.now().Add(w.a.Poll.minInterval()), w.since.Add(w.window().expected))
}

func earlierOf(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// pollFailed decides what follows a failed poll: when to poll again, or the
// error that ends the wait.
func (w *taskWait) pollFailed(ctx context.Context, err error, polled time.Time) (time.Time, error) {
	if cut := interrupted(ctx, err); cut != nil {
		return time.Time{}, cut
	}
	ce := clb.Classify(clb.ActionDescribeTaskStatus, err)
	countAPIError(ctx, ce)
	if ce.Class == clb.ClassTaskUnknown {
		activity.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": "unknown"}).Counter(MetricTasksWaited).Inc(1)
		return time.Time{}, taskUnknown(w.taskID, ce, w.prog.Polls)
	}
	w.errs[ce.Class]++
	n := w.errs[ce.Class]
	stop, delay := retryDecision(ce, n)
	if stop {
		return time.Time{}, newAPIError(ce, true, 0)
	}
	activity.GetLogger(ctx).Warn("DescribeTaskStatus failed, polling again", "taskId", w.taskID, "code", ce.Code,
		"requestId", ce.RequestID, "errors", n, "delay", delay)
	return polled.Add(delay), nil
}

// ended reports whether the status ends the wait, and with what.
func (w *taskWait) ended(ctx context.Context, st clb.TaskStatus, asked, polled time.Time) (WaitResult, bool, error) {
	metrics := activity.GetMetricsHandler(ctx)
	switch st.Status {
	case clb.TaskSucceeded:
		res := WaitResult{Polls: w.prog.Polls, Elapsed: polled.Sub(w.prog.Started)}
		if !w.resumed {
			// A resumed wait saw only part of the task: it would skew the
			// estimate.
			w.est.observe(taskEnd(w.since, w.lastRunning, seenAt(asked, polled, st)), w.a.Poll)
		}
		metrics.WithTags(map[string]string{"outcome": "succeeded"}).Counter(MetricTasksWaited).Inc(1)
		metrics.Timer(MetricTaskWaitDuration).Record(res.Elapsed)
		return res, true, nil
	case clb.TaskFailed:
		metrics.WithTags(map[string]string{"outcome": "failed"}).Counter(MetricTasksWaited).Inc(1)
		return WaitResult{Polls: w.prog.Polls}, true, taskFailed(w.taskID, st.Message, w.prog.Polls)
	case clb.TaskRunning:
	default:
		activity.GetLogger(ctx).Warn("unknown task status, polling on", "taskId", w.taskID, "status", st.Status.String())
	}
	return WaitResult{}, false, nil
}

// nextPoll records a task seen running at seen (answered at polled) and
// returns when to poll next, by the estimate as it stands now: other waits
// may have refined it since this one began.
func (w *taskWait) nextPoll(seen, polled time.Time) time.Time {
	w.lastRunning = seen
	elapsed := seen.Sub(w.since)
	if !w.resumed {
		w.est.outlived(elapsed)
	}
	win := w.window()
	switch {
	case elapsed < win.from:
		return w.since.Add(win.from)
	case win.measured && elapsed < win.until:
		return polled.Add(win.step)
	}
	limit := w.a.Poll.maxInterval()
	if elapsed > win.stuck {
		limit = w.a.Poll.stuckInterval()
	}
	next := polled.Add(w.interval)
	w.interval = min(w.interval*3/2, limit)
	return next
}

// heartbeatWhile heartbeats prog every CallHeartbeat, from another
// goroutine, until the stop it returns is called; stop returns once the
// heartbeats have stopped, so that none follows the activity's end.
func (a *Activities) heartbeatWhile(ctx context.Context, prog WaitProgress) (stop func()) {
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ticks <-chan time.Time
		if a.Ticks != nil {
			ticks = a.Ticks(hctx, CallHeartbeat)
		} else {
			t := time.NewTicker(CallHeartbeat)
			defer t.Stop()
			ticks = t.C
		}
		for {
			select {
			case <-hctx.Done():
				return
			case _, ok := <-ticks:
				if !ok {
					return
				}
				activity.RecordHeartbeat(ctx, prog)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// cutShort is the error of a wait whose sleep ended with err: as
// interrupted says when the activity's context is done, err otherwise.
func cutShort(ctx context.Context, err error) error {
	if cut := interrupted(ctx, err); cut != nil {
		return cut
	}
	return err
}

// taskUnknown is the error of a task DescribeTaskStatus does not know.
func taskUnknown(taskID string, ce *clb.Error, polls int) error {
	return temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("CLB task %s is unknown to DescribeTaskStatus (expired?): %s", taskID, ce.Error()),
		ErrTaskUnknown, temporal.ApplicationErrorOptions{
			NonRetryable: true,
			Cause:        ce.Err,
			Details:      []any{TaskFailure{TaskID: taskID, Message: ce.Error(), Polls: polls}},
		})
}

// taskFailed is the error of a task that ended with Status 1.
func taskFailed(taskID, message string, polls int) error {
	msg := fmt.Sprintf("CLB task %s failed: %s", taskID, message)
	if message == "" {
		msg = fmt.Sprintf("CLB task %s failed (Status 1, no message)", taskID)
	}
	return temporal.NewApplicationErrorWithOptions(msg, ErrTaskFailed, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Details:      []any{TaskFailure{TaskID: taskID, Message: message, Polls: polls}},
	})
}

// seenAt is when a status asked for at asked and answered at polled held:
// when the call was sent, after its wait for the API budget. Measured from
// there, a task's duration leaves out the time polls queue for the budget.
func seenAt(asked, polled time.Time, st clb.TaskStatus) time.Time {
	if at := asked.Add(st.Waited); at.Before(polled) {
		return at
	}
	return polled
}

// taskMeasure is what one wait learned of how long its task took.
type taskMeasure struct {
	// d is the duration, give or take spread.
	d, spread time.Duration
	// atMost is true when the first poll already saw the end: the task
	// took d or less, by how much is unknown.
	atMost bool
}

// taskEnd measures a task whose wait started at started, seen running at
// lastRunning (zero if never) and ended at ended: midway between the two
// polls, give or take half the time between them; or, when the first poll
// already saw the end, at most until that poll.
func taskEnd(started, lastRunning, ended time.Time) taskMeasure {
	if lastRunning.IsZero() {
		d := ended.Sub(started)
		return taskMeasure{d: d, spread: d / 4, atMost: true}
	}
	spread := ended.Sub(lastRunning) / 2
	return taskMeasure{d: lastRunning.Sub(started) + spread, spread: spread}
}

// sleepUntil sleeps until t, heartbeating prog at least every half
// heartbeat timeout so that a long sleep does not look like a crash.
func (a *Activities) sleepUntil(ctx context.Context, t time.Time, prog WaitProgress) error {
	slice := activity.GetInfo(ctx).HeartbeatTimeout / 2
	for {
		d := t.Sub(a.now())
		if d <= 0 {
			return ctx.Err()
		}
		if slice > 0 && d > slice {
			d = slice
		}
		if err := a.sleep(ctx, d); err != nil {
			return err
		}
		if slice > 0 {
			activity.RecordHeartbeat(ctx, prog)
		}
	}
}

// taskKind names the tasks that share an estimate: those of one load
// balancer and action. The zero taskKind is the shared default.
type taskKind struct{ loadBalancerID, action string }

// maxEstimates bounds the estimates a process keeps; past it, they start
// afresh.
const maxEstimates = 4096

// taskEstimates are the process's estimates, one per taskKind: how long a
// task takes depends on its load balancer (its size, its other bindings)
// and on the action, and one estimate for all would poll quick tasks on
// the timing of slow ones.
type taskEstimates struct {
	mu     sync.Mutex
	byKind map[taskKind]*taskEstimate
	// queue is how long the process's polls wait for the API budget.
	queue pollQueue
}

// pollQueue is how long the process's DescribeTaskStatus calls waited for
// their start within the API budget (clb.TaskStatus.Waited), smoothed with a
// gain of 1/4: the polls of many waits, across load balancers, share one
// budget.
type pollQueue struct {
	mu   sync.Mutex
	wait time.Duration
}

// observe adds the pacer wait of one poll.
func (q *pollQueue) observe(waited time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.wait += (waited - q.wait) / 4
}

// queued reports whether polls queue for the budget: their smoothed wait
// is over half the shortest poll interval.
func (q *pollQueue) queued(s PollSettings) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wait > s.minInterval()/2
}

// of is the estimate of kind, made on first use.
func (e *taskEstimates) of(kind taskKind) *taskEstimate {
	e.mu.Lock()
	defer e.mu.Unlock()
	if est, ok := e.byKind[kind]; ok {
		return est
	}
	if e.byKind == nil || len(e.byKind) >= maxEstimates {
		e.byKind = map[taskKind]*taskEstimate{}
	}
	est := &taskEstimate{}
	if kind.loadBalancerID != "" {
		// A load balancer's estimate learns from its action's, which
		// learns from every load balancer's tasks.
		actionKind := taskKind{action: kind.action}
		prior, ok := e.byKind[actionKind]
		if !ok {
			prior = &taskEstimate{}
			e.byKind[actionKind] = prior
		}
		est.prior = prior
	}
	e.byKind[kind] = est
	return est
}

// taskEstimate is a moving estimate of how long tasks of one kind take,
// shared by the process's WaitForTask calls on them: the mean and the mean deviation, smoothed as
// TCP smooths round-trip times. A wait sleeps until just before the expected
// end, polls every half deviation until a deviation past it, then ever less
// often, up to MaxInterval apart. Durations run from when each poll was sent,
// after its wait for the API budget, so queueing does not stretch them.
type taskEstimate struct {
	mu   sync.Mutex
	mean time.Duration
	dev  time.Duration
	n    int
	// longest is the longest a task was seen running before the first one
	// was measured.
	longest time.Duration
	// prior, for a load balancer's estimate, is its action's estimate
	// over every load balancer: before this one has measured a task, it
	// starts from the prior when the load balancers agree (see agreed), so
	// that a fleet of load balancers does not learn the same duration
	// once each; otherwise from Expected.
	prior *taskEstimate
	// scouting is true while a wait scouts for the action (claimScout).
	scouting bool
}

// scouted is the estimate whose scout a wait on e claims: the action's,
// for a load balancer's estimate.
func (e *taskEstimate) scouted() *taskEstimate {
	if e.prior != nil {
		return e.prior
	}
	return e
}

// claimScout makes the caller the action's scout, if the action has
// measured no task and has no scout: the scout polls from the start of
// the guessed window, to learn early how long tasks take, while the
// other waits poll from the guess on, since the scout's measure reaches
// them. Waits that begin together, as a server drain's weight tasks, one
// per load balancer, then do not spend the API budget on polls that
// cannot tell them anything the scout will not.
func (e *taskEstimate) claimScout() bool {
	a := e.scouted()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n > 0 || a.scouting {
		return false
	}
	a.scouting = true
	return true
}

// hasMeasured reports whether the estimate has measured a task.
func (e *taskEstimate) hasMeasured() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n > 0
}

// releaseScout ends the scout's wait.
func (e *taskEstimate) releaseScout() {
	a := e.scouted()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scouting = false
}

// agreed is the estimate's mean and deviation when it has measured a task
// and its tasks agree (a deviation of at most half the mean): tasks of
// many load balancers that take much the same time.
func (e *taskEstimate) agreed() (mean, dev time.Duration, ok bool) {
	if e == nil {
		return 0, 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mean, e.dev, e.n > 0 && e.dev <= e.mean/2
}

// pollWindow is when, measured from the start of a wait, its task is
// expected to end.
type pollWindow struct {
	// from is one deviation and half a poll interval before the mean, so
	// that most tasks are seen running once; until is two deviations after
	// the mean, so that tasks of uneven length (as uniform over ±2
	// deviations) are still polled a step apart at their slowest; expected
	// is the mean.
	from, until, expected time.Duration
	// step spaces the polls within the window: half a deviation, at least
	// MinInterval, so that a task is seen ended within about a quarter of
	// a deviation, for a handful of polls at most.
	step time.Duration
	// measured is false until a task has been measured: the window is
	// then a guess, and polls space out from its start on.
	measured bool
	// stuck is when a task is well past the estimate: stuckFactor times
	// the mean, and stuckAfter at least.
	stuck time.Duration
}

// window is the poll window as the estimate stands. Before any task was
// measured, the mean is Expected, or the longest a task was seen running
// if that is longer, and the deviation a quarter of it.
func (e *taskEstimate) window(s PollSettings) pollWindow {
	e.mu.Lock()
	mean, dev, measured, longest := e.mean, e.dev, e.n > 0, e.longest
	e.mu.Unlock()
	if !measured {
		guess := max(s.expected(), longest, e.prior.unmeasuredLongest())
		mean, dev = guess, guess/4
		if pm, pd, ok := e.prior.agreed(); ok {
			mean, dev, measured = max(pm, longest), pd, true
		}
	}
	return pollWindow{
		from:     max(0, mean-dev-s.minInterval()/2),
		until:    mean + 2*dev,
		expected: mean,
		step:     max(s.minInterval(), dev/2),
		measured: measured,
		stuck:    max(stuckFactor*mean, stuckAfter),
	}
}

// outlived records a task seen running d after its wait began. Before the
// first task is measured, it moves the guess later: waits that began
// together then stop polling for tasks that cannot have ended yet.
func (e *taskEstimate) outlived(d time.Duration) {
	e.mu.Lock()
	if e.n == 0 {
		e.longest = max(e.longest, d)
	}
	e.mu.Unlock()
	if e.prior != nil {
		e.prior.outlived(d)
	}
}

// unmeasuredLongest is the longest a task was seen running while the
// estimate has measured none, else 0: the load balancers of a fleet whose
// first tasks start together stop polling for tasks that cannot have ended.
func (e *taskEstimate) unmeasuredLongest() time.Duration {
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		return 0
	}
	return e.longest
}

// observe adds a measure. The first one sets the mean, and the deviation
// to its spread; the next ones are averaged in, so that the estimate
// settles within a few tasks, and later ones smoothed with a gain of 1/4.
// A measure that only bounds the duration from above can lower the mean,
// never raise it: when polls queue for the API budget, the first one comes
// late and sees the end, and taking its time for the duration would push
// every later first poll later still. The deviation never falls below half
// a poll interval: a measure is never more precise than that.
func (e *taskEstimate) observe(m taskMeasure, s PollSettings) {
	e.observeOwn(m, s)
	if e.prior != nil {
		e.prior.observe(m, s)
	}
}

// observeOwn adds a measure to this estimate alone.
func (e *taskEstimate) observeOwn(m taskMeasure, s PollSettings) {
	e.mu.Lock()
	defer e.mu.Unlock()
	floor := s.minInterval() / 2
	switch {
	case e.n == 0:
		e.mean, e.dev = m.d, max(m.spread, floor)
	case m.atMost && m.d >= e.mean:
		return
	default:
		gain := time.Duration(min(e.n+1, 4))
		diff := m.d - e.mean
		e.mean += diff / gain
		if diff < 0 {
			diff = -diff
		}
		e.dev = max(e.dev+(diff-e.dev)/gain, floor)
	}
	e.n++
}
