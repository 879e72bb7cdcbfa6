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
	// MinInterval is the interval between polls once the task is expected
	// to end; it grows by half at each poll up to MaxInterval. It bounds
	// the delay between a task's end and its detection. Default 100 ms.
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
	// TaskId is the task to wait for: the RequestId of the mutating call.
	TaskId string `json:"TaskId"`
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
	// TaskId is the task that ended with Status 1.
	TaskId string `json:"TaskId"`
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
// moving estimate (mean and deviation) of task durations, sleeps until just
// before the expected end, then polls every MinInterval, growing by half up
// to MaxInterval. Every poll heartbeats a WaitProgress, and a sleep longer
// than half the heartbeat timeout is cut into heartbeated slices, so another
// worker takes over within seconds after a crash, resuming the poll count.
// Errors of DescribeTaskStatus go through the error-code table: retryable
// ones are retried inside the activity after the class's delay until the
// class's bound is spent, then fail non-retryable; others fail at once.
func (a *Activities) WaitForTask(ctx context.Context, in WaitInput) (WaitResult, error) {
	if in.TaskId == "" {
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
			logger.Warn("heartbeat details unreadable, counting polls afresh", "taskId", in.TaskId, "error", err)
		} else {
			prog, resumed = prev, true
		}
	}
	next := prog.Started.Add(a.estimate.firstPoll(a.Poll))
	if resumed {
		// The previous attempt may have seen the task near its end.
		next = start
	}
	interval := a.Poll.minInterval()
	var lastRunning time.Time
	errs := 0
	for {
		if err := a.sleepUntil(ctx, next, prog); err != nil {
			return WaitResult{Polls: prog.Polls}, err
		}
		st, err := a.CLB.DescribeTaskStatus(ctx, in.TaskId)
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
			errs++
			p := ce.Policy()
			if p.Exhausted(errs) {
				return WaitResult{Polls: prog.Polls}, newAPIError(ce, true, 0)
			}
			delay := p.NextDelay(errs)
			logger.Warn("DescribeTaskStatus failed, polling again", "taskId", in.TaskId, "code", ce.Code,
				"requestId", ce.RequestId, "errors", errs, "delay", delay)
			next = polled.Add(delay)
			continue
		}
		errs = 0
		switch st.Status {
		case clb.TaskSucceeded:
			res := WaitResult{Polls: prog.Polls, Elapsed: polled.Sub(prog.Started)}
			if !resumed {
				// A resumed wait saw only part of the task: it would skew
				// the estimate.
				a.estimate.observe(taskEnd(prog.Started, lastRunning, polled), a.Poll)
			}
			metrics.WithTags(map[string]string{"outcome": "succeeded"}).Counter(MetricTasksWaited).Inc(1)
			metrics.Timer(MetricTaskWaitDuration).Record(res.Elapsed)
			return res, nil
		case clb.TaskFailed:
			metrics.WithTags(map[string]string{"outcome": "failed"}).Counter(MetricTasksWaited).Inc(1)
			return WaitResult{Polls: prog.Polls}, taskFailed(in.TaskId, st.Message, prog.Polls)
		case clb.TaskRunning:
		default:
			logger.Warn("unknown task status, polling on", "taskId", in.TaskId, "status", st.Status.String())
		}
		lastRunning = polled
		next = polled.Add(interval)
		interval = min(interval*3/2, a.Poll.maxInterval())
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
		Details:      []any{TaskFailure{TaskId: taskID, Message: message, Polls: polls}},
	})
}

// taskEnd estimates how long after started a task ended that was seen
// running at lastRunning (zero if never) and ended at ended: midway between
// the two polls, or at the first poll when that one already saw the end.
func taskEnd(started, lastRunning, ended time.Time) time.Duration {
	if lastRunning.IsZero() {
		return ended.Sub(started)
	}
	return lastRunning.Sub(started) + ended.Sub(lastRunning)/2
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
}

// firstPoll is how long after the wait starts to poll first: one deviation
// and half a poll interval before the expected end, so that most tasks are
// seen running once and then ended within MinInterval.
func (e *taskEstimate) firstPoll(s PollSettings) time.Duration {
	e.mu.Lock()
	mean, dev := e.mean, e.dev
	if e.n == 0 {
		mean, dev = s.expected(), s.expected()/4
	}
	e.mu.Unlock()
	return max(0, mean-dev-s.minInterval()/2)
}

// observe adds a measured task duration. The deviation never falls below
// half a poll interval: a measure is never more precise than that.
func (e *taskEstimate) observe(d time.Duration, s PollSettings) {
	e.mu.Lock()
	defer e.mu.Unlock()
	floor := s.minInterval() / 2
	if e.n == 0 {
		e.mean, e.dev = d, max(d/4, floor)
	} else {
		diff := d - e.mean
		e.mean += diff / 4
		if diff < 0 {
			diff = -diff
		}
		e.dev = max(e.dev+(diff-e.dev)/4, floor)
	}
	e.n++
}
