package activities_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// clock is a fake clock: Sleep moves it, nothing waits for real.
type clock struct {
	mu  sync.Mutex
	now time.Time
	// onSleep, when set, runs before each sleep (with the clock unlocked).
	onSleep func(ctx context.Context, d time.Duration)
	sleeps  []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if c.onSleep != nil {
		c.onSleep(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

// fakeTask is a task of the fake CLB: running until its end on the clock.
type fakeTask struct {
	end     time.Time
	status  clb.TaskState
	message string
}

// fakeCLB is a small in-memory CLB: listeners with what is bound, tasks
// that end at a set time on the fake clock, and scripted error answers.
// Changes apply when called (the task only reports on them).
type fakeCLB struct {
	mu    sync.Mutex
	clock *clock
	// listeners by listener id.
	listeners map[string]*clb.Listener
	tasks     map[string]*fakeTask
	nextTask  int
	// taskTime is how long the next tasks take; taskStatus how they end.
	taskTime   func() time.Duration
	taskStatus clb.TaskState
	taskMsg    string
	// errs are answered, in order, before any normal answer, per action.
	errs map[string][]error
	// calls lists the actions called, in order.
	calls []string
	// sent records the targets of each mutating call.
	sent map[string][][]clb.Target
	// sick holds the keys of the targets DescribeTargetHealth reports
	// unhealthy.
	sick map[string]bool
}

func newFakeCLB(c *clock) *fakeCLB {
	return &fakeCLB{clock: c, listeners: map[string]*clb.Listener{}, tasks: map[string]*fakeTask{},
		taskTime: func() time.Duration { return 2 * time.Second }, errs: map[string][]error{},
		sent: map[string][][]clb.Target{}}
}

var (
	_ clb.API           = (*fakeCLB)(nil)
	_ clb.BatchWeighter = (*fakeCLB)(nil)
)

func (f *fakeCLB) fail(action string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[action] = append(f.errs[action], errs...)
}

func (f *fakeCLB) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == action {
			n++
		}
	}
	return n
}

// call records the call and returns the scripted error, if any.
func (f *fakeCLB) call(action string) error {
	f.calls = append(f.calls, action)
	if errs := f.errs[action]; len(errs) > 0 {
		f.errs[action] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeCLB) DescribeTargets(_ context.Context, lb, listener string) (clb.Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionDescribeTargets); err != nil {
		return clb.Listener{}, err
	}
	l, ok := f.listeners[listener]
	if !ok {
		return clb.Listener{}, clb.NewError(clb.ActionDescribeTargets, "InvalidParameter.ListenerIdNotFound", lb+" has no listener "+listener)
	}
	out := *l
	out.Targets = append([]clb.BoundTarget(nil), l.Targets...)
	out.Rules = nil
	for _, r := range l.Rules {
		r.Targets = append([]clb.BoundTarget(nil), r.Targets...)
		out.Rules = append(out.Rules, r)
	}
	return out, nil
}

func (f *fakeCLB) DescribeListeners(_ context.Context, lb string, ids ...string) ([]clb.ListenerAttributes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionDescribeListeners); err != nil {
		return nil, err
	}
	var out []clb.ListenerAttributes
	for _, id := range ids {
		l, ok := f.listeners[id]
		if !ok || l.ListenerId != id {
			return nil, clb.NewError(clb.ActionDescribeListeners, "InvalidParameter.ListenerIdNotFound", lb+" has no listener "+id)
		}
		info := clb.ListenerAttributes{ListenerId: l.ListenerId, Protocol: l.Protocol, Port: l.Port}
		for _, r := range l.Rules {
			info.Rules = append(info.Rules, clb.Rule{LocationId: r.LocationId, Domain: r.Domain, Url: r.Url})
		}
		out = append(out, info)
	}
	return out, nil
}

// bindings returns the targets bound where sel names (by LocationId on a
// layer-7 listener, as the workflow sends it).
func (f *fakeCLB) bindings(sel clb.Selector) *[]clb.BoundTarget {
	l := f.listeners[sel.ListenerId]
	if !clb.IsLayer7(l.Protocol) {
		return &l.Targets
	}
	for i := range l.Rules {
		if l.Rules[i].LocationId == sel.LocationId {
			return &l.Rules[i].Targets
		}
	}
	panic("no rule " + sel.LocationId)
}

func (f *fakeCLB) newTask() string {
	f.nextTask++
	id := fmt.Sprintf("req-%04d", f.nextTask)
	f.tasks[id] = &fakeTask{end: f.clock.Now().Add(f.taskTime()), status: f.taskStatus, message: f.taskMsg}
	return id
}

func (f *fakeCLB) DeregisterTargets(_ context.Context, sel clb.Selector, targets []clb.Target) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionDeregisterTargets); err != nil {
		return "", err
	}
	bound := f.bindings(sel)
	var keep []clb.BoundTarget
	for _, b := range *bound {
		gone := false
		for _, t := range targets {
			gone = gone || b.Matches(t)
		}
		if !gone {
			keep = append(keep, b)
		}
	}
	if len(*bound)-len(keep) != len(targets) {
		return "", clb.NewError(clb.ActionDeregisterTargets, "InvalidParameter", "some targets are not bound")
	}
	*bound = keep
	f.sent[clb.ActionDeregisterTargets] = append(f.sent[clb.ActionDeregisterTargets], targets)
	return f.newTask(), nil
}

func (f *fakeCLB) ModifyTargetWeight(_ context.Context, sel clb.Selector, targets []clb.WeightedTarget) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionModifyTargetWeight); err != nil {
		return "", err
	}
	bound := f.bindings(sel)
	// As the API does: a target not bound fails the whole call.
	for _, t := range targets {
		found := false
		for _, b := range *bound {
			found = found || b.Matches(t.Target)
		}
		if !found {
			return "", clb.NewError(clb.ActionModifyTargetWeight, "InvalidParameter", t.Key()+" is not bound")
		}
	}
	for _, t := range targets {
		for i := range *bound {
			if (*bound)[i].Matches(t.Target) {
				(*bound)[i].Weight = t.Weight
			}
		}
	}
	f.sent[clb.ActionModifyTargetWeight] = append(f.sent[clb.ActionModifyTargetWeight], clb.Unweighted(targets))
	return f.newTask(), nil
}

// BatchModifyTargetWeight sets weights across the load balancer's
// listeners and rules: as the API does, a target not bound fails the whole
// call, and nothing changes.
func (f *fakeCLB) BatchModifyTargetWeight(_ context.Context, lb string, entries []clb.BatchWeightEntry) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionBatchModifyTargetWeight); err != nil {
		return "", err
	}
	var all []clb.Target
	for _, e := range entries {
		bound := f.bindings(e.Selector)
		for _, t := range e.Targets {
			found := false
			for _, b := range *bound {
				found = found || b.Matches(t.Target)
			}
			if !found {
				return "", clb.NewError(clb.ActionBatchModifyTargetWeight, "InvalidParameter", t.Key()+" is not bound on "+lb)
			}
		}
		all = append(all, clb.Unweighted(e.Targets)...)
	}
	for _, e := range entries {
		bound := f.bindings(e.Selector)
		for _, t := range e.Targets {
			for i := range *bound {
				if (*bound)[i].Matches(t.Target) {
					(*bound)[i].Weight = t.Weight
				}
			}
		}
	}
	f.sent[clb.ActionBatchModifyTargetWeight] = append(f.sent[clb.ActionBatchModifyTargetWeight], all)
	return f.newTask(), nil
}

func (f *fakeCLB) DescribeTaskStatus(_ context.Context, taskID string) (clb.TaskStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(clb.ActionDescribeTaskStatus); err != nil {
		return clb.TaskStatus{}, err
	}
	t, ok := f.tasks[taskID]
	if !ok {
		return clb.TaskStatus{}, clb.NewError(clb.ActionDescribeTaskStatus, "InvalidParameter", "no task "+taskID)
	}
	if f.clock.Now().Before(t.end) {
		return clb.TaskStatus{Status: clb.TaskRunning, RequestID: "req-status"}, nil
	}
	return clb.TaskStatus{Status: t.status, Message: t.message, RequestID: "req-status"}, nil
}

// addTask registers a task that ends after d, as a mutating call would.
func (f *fakeCLB) addTask(d time.Duration) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.taskTime
	f.taskTime = func() time.Duration { return d }
	id := f.newTask()
	f.taskTime = prev
	return id
}

// metricsRecorder captures what the activities emit.
type metricsRecorder struct {
	mu       *sync.Mutex
	tags     map[string]string
	counters map[string]int64
	timers   map[string][]time.Duration
}

func newMetrics() *metricsRecorder {
	return &metricsRecorder{mu: &sync.Mutex{}, tags: map[string]string{}, counters: map[string]int64{}, timers: map[string][]time.Duration{}}
}

// key is the metric's name followed by its tags, sorted.
func (m *metricsRecorder) key(name string) string {
	var parts []string
	for k, v := range m.tags {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return name
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func (m *metricsRecorder) WithTags(tags map[string]string) client.MetricsHandler {
	merged := map[string]string{}
	for k, v := range m.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &metricsRecorder{mu: m.mu, tags: merged, counters: m.counters, timers: m.timers}
}

func (m *metricsRecorder) Counter(name string) client.MetricsCounter {
	key := m.key(name)
	return counterFunc(func(n int64) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.counters[key] += n
	})
}

func (m *metricsRecorder) Gauge(string) client.MetricsGauge { return gaugeFunc(func(float64) {}) }

func (m *metricsRecorder) Timer(name string) client.MetricsTimer {
	key := m.key(name)
	return timerFunc(func(d time.Duration) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.timers[key] = append(m.timers[key], d)
	})
}

// counter is the total of the counter name over every tag set that has
// the tags given as "key=value" (the SDK adds tags of its own).
func (m *metricsRecorder) counter(name string, tags ...string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var total int64
	for key, v := range m.counters {
		if matches(key, name, tags) {
			total += v
		}
	}
	return total
}

// timer is what the timer name recorded, over every tag set.
func (m *metricsRecorder) timer(name string) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Duration
	for key, v := range m.timers {
		if matches(key, name, nil) {
			out = append(out, v...)
		}
	}
	return out
}

func matches(key, name string, tags []string) bool {
	n, rest, _ := strings.Cut(key, "{")
	if n != name {
		return false
	}
	have := strings.Split(strings.TrimSuffix(rest, "}"), ",")
	for _, t := range tags {
		found := false
		for _, h := range have {
			found = found || h == t
		}
		if !found {
			return false
		}
	}
	return true
}

type counterFunc func(int64)

func (f counterFunc) Inc(n int64) { f(n) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
