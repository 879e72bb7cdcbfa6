package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
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
}

// Default poll settings.
const (
	DefaultExpectedTask = time.Second
	DefaultMinInterval  = 100 * time.Millisecond
	DefaultMaxInterval  = time.Second
)

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

// WaitInput is the input of WaitForTask.
type WaitInput struct {
	// TaskID is the task to wait for: the RequestId of the mutating call.
	TaskID string `json:"TaskId"`
}

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

// TaskFailure is the detail of an ErrTaskFailed error.
type TaskFailure struct {
	// TaskID is the task that ended with Status 1.
	TaskID string `json:"TaskId"`
	// Message is the task's Message, as DescribeTaskStatus gave it.
	Message string `json:"Message"`
	// Polls counts DescribeTaskStatus calls spent on the task.
	Polls int `json:"Polls"`
}

// WaitForTask polls DescribeTaskStatus until the task ends. It returns on
// Status 0, and fails with a non-retryable ErrTaskFailed (details: a
// TaskFailure) on Status 1.
//
// Polling adapts to how long tasks take: the Activities value keeps a
// moving estimate (mean and deviation) of task durations, shared by every
// wait of the process. A wait sleeps until just before the expected end,
// polls every half deviation (MinInterval at least) until a deviation past
// it, then ever less often, up to MaxInterval apart. The estimate is read
// afresh after every sleep and every poll, so that waits that began
// together before any task was measured (a fleet of drains starting) follow
// the first measure, and the tasks they see still running move the guess
// later. Durations are measured from when each poll was sent, after its
// wait for the API budget, so queueing for the budget does not stretch the
// estimate. Every poll heartbeats a WaitProgress, and a sleep longer
// than half the heartbeat timeout is cut into heartbeated slices, so another
// worker takes over within seconds after a crash, resuming the poll count.
// Errors of DescribeTaskStatus go through the error-code table: retryable
// ones are retried inside the activity after the class's delay until the
// class's bound is spent, counting the failures of that class since the last
// answer (a throttled spell does not use up the bound of transient faults),
// then fail non-retryable; others fail at once.
func (a *Activities) WaitForTask(ctx context.Context, in WaitInput) (WaitResult, error) {
	if in.TaskID == "" {
		return WaitResult{}, invalidInput("WaitForTask: TaskId is required")
	}
	logger := activity.GetLogger(ctx)
	metrics := activity.GetMetricsHandler(ctx)
	start := a.now()
	prog := WaitProgress{Started: start}
	resumed := false
	if activity.HasHeartbeatDetails(ctx) {
		var prev WaitProgress
		if err := activity.GetHeartbeatDetails(ctx, &prev); err != nil {
			logger.Warn("heartbeat details unreadable, counting polls afresh", "taskId", in.TaskID, "error", err)
		} else {
			prog, resumed = prev, true
		}
	}
	next := prog.Started.Add(a.estimate.window(a.Poll).from)
	if resumed {
		// The previous attempt may have seen the task near its end.
		next = start
	}
	interval := a.Poll.minInterval()
	var lastRunning time.Time
	// errs counts the failed polls since the last answer, by class: each
	// class's policy bounds and spaces its own failures.
	errs := map[clb.Class]int{}
	for {
		if err := a.sleepUntil(ctx, next, prog); err != nil {
			return WaitResult{Polls: prog.Polls}, err
		}
		// Other waits may have moved the estimate later meanwhile, as when
		// a fleet's first tasks start together.
		if from := prog.Started.Add(a.estimate.window(a.Poll).from); !resumed && from.After(a.now()) {
			next = from
			continue
		}
		asked := a.now()
		st, err := a.CLB.DescribeTaskStatus(ctx, in.TaskID)
		polled := a.now()
		prog.Polls++
		if prog.FirstPoll.IsZero() {
			prog.FirstPoll = polled
		}
		metrics.Counter(MetricTaskPolls).Inc(1)
		activity.RecordHeartbeat(ctx, prog)
		if err != nil {
			if ctx.Err() != nil {
				return WaitResult{Polls: prog.Polls}, ctx.Err()
			}
			ce := clb.Classify(clb.ActionDescribeTaskStatus, err)
			countAPIError(ctx, ce)
			errs[ce.Class]++
			n := errs[ce.Class]
			stop, delay := retryDecision(ce, n)
			if stop {
				return WaitResult{Polls: prog.Polls}, newAPIError(ce, true, 0)
			}
			logger.Warn("DescribeTaskStatus failed, polling again", "taskId", in.TaskID, "code", ce.Code,
				"requestId", ce.RequestId, "errors", n, "delay", delay)
			next = polled.Add(delay)
			continue
		}
		clear(errs)
		switch st.Status {
		case clb.TaskSucceeded:
			res := WaitResult{Polls: prog.Polls, Elapsed: polled.Sub(prog.Started)}
			if !resumed {
				// A resumed wait saw only part of the task: it would skew
				// the estimate.
				a.estimate.observe(taskEnd(prog.Started, lastRunning, seenAt(asked, polled, st)), a.Poll)
			}
			metrics.WithTags(map[string]string{"outcome": "succeeded"}).Counter(MetricTasksWaited).Inc(1)
			metrics.Timer(MetricTaskWaitDuration).Record(res.Elapsed)
			return res, nil
		case clb.TaskFailed:
			metrics.WithTags(map[string]string{"outcome": "failed"}).Counter(MetricTasksWaited).Inc(1)
			return WaitResult{Polls: prog.Polls}, taskFailed(in.TaskID, st.Message, prog.Polls)
		case clb.TaskRunning:
		default:
			logger.Warn("unknown task status, polling on", "taskId", in.TaskID, "status", st.Status.String())
		}
		lastRunning = seenAt(asked, polled, st)
		elapsed := lastRunning.Sub(prog.Started)
		if !resumed {
			a.estimate.outlived(elapsed)
		}
		// Read afresh: other waits may have refined the estimate since
		// this one began, as when a fleet's first tasks start together.
		w := a.estimate.window(a.Poll)
		switch {
		case elapsed < w.from:
			next = prog.Started.Add(w.from)
		case w.measured && elapsed < w.until:
			next = polled.Add(w.step)
		default:
			next = polled.Add(interval)
			interval = min(interval*3/2, a.Poll.maxInterval())
		}
	}
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

// taskEstimate is a moving estimate of how long tasks take, shared by the
// process's WaitForTask calls: the mean and the mean deviation, smoothed as
// TCP smooths round-trip times.
type taskEstimate struct {
	mu   sync.Mutex
	mean time.Duration
	dev  time.Duration
	n    int
	// longest is the longest a task was seen running before the first one
	// was measured.
	longest time.Duration
}

// pollWindow is when, measured from the start of a wait, its task is
// expected to end.
type pollWindow struct {
	// from is one deviation and half a poll interval before the mean, so
	// that most tasks are seen running once; until is one deviation after
	// the mean.
	from, until time.Duration
	// step spaces the polls within the window: half a deviation, at least
	// MinInterval, so that a task is seen ended within about a quarter of
	// a deviation, for a handful of polls at most.
	step time.Duration
	// measured is false until a task has been measured: the window is
	// then a guess, and polls space out from its start on.
	measured bool
}

// window is the poll window as the estimate stands. Before any task was
// measured, the mean is Expected, or the longest a task was seen running
// if that is longer, and the deviation a quarter of it.
func (e *taskEstimate) window(s PollSettings) pollWindow {
	e.mu.Lock()
	mean, dev, measured := e.mean, e.dev, e.n > 0
	if !measured {
		mean = max(s.expected(), e.longest)
		dev = mean / 4
	}
	e.mu.Unlock()
	return pollWindow{
		from:     max(0, mean-dev-s.minInterval()/2),
		until:    mean + dev,
		step:     max(s.minInterval(), dev/2),
		measured: measured,
	}
}

// outlived records a task seen running d after its wait began. Before the
// first task is measured, it moves the guess later: waits that began
// together then stop polling for tasks that cannot have ended yet.
func (e *taskEstimate) outlived(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		e.longest = max(e.longest, d)
	}
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
