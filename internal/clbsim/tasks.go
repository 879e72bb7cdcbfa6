package clbsim

import (
	"container/heap"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Change is one applied change to one target, as GET /_sim/audit lists it.
type Change struct {
	// Time is when the task that made the change completed.
	Time time.Time `json:"Time"`
	// TaskID is the task (the RequestId of the mutating call).
	TaskID         string `json:"TaskId"`
	Action         string `json:"Action"`
	LoadBalancerId string `json:"LoadBalancerId"`
	ListenerId     string `json:"ListenerId"`
	// LocationId is the layer-7 rule, empty for a layer-4 listener.
	LocationId string `json:"LocationId,omitempty"`
	// Target is the target's key, such as "ins-abc12345:80" or "10.0.0.5:80".
	Target string `json:"Target"`
	// OldWeight is nil when the target was not bound (RegisterTargets).
	OldWeight *int64 `json:"OldWeight"`
	// NewWeight is nil when the target was unbound (DeregisterTargets).
	NewWeight *int64 `json:"NewWeight"`
}

// task is the async work of one accepted mutating call.
type task struct {
	id     string
	action string
	lbID   string
	due    time.Time
	status clb.TaskState
	// message explains a failed task.
	message string

	// What to apply, until the task ends: one part per listener or rule
	// (BatchModifyTargetWeight has several).
	lb    *lbState
	parts []taskPart
	fail  bool
	// seq orders tasks due at the same time by creation; index is the
	// task's place in the queue.
	seq, index int
}

// taskPart is what a task changes on one listener or rule: its targets
// and the call's weight, if any.
type taskPart struct {
	listener *listenerState
	rule     *ruleState
	targets  []checkedTarget
	weight   *int64
}

// set is where the part's targets are bound.
func (p taskPart) set() *targetSet {
	if p.rule != nil {
		return p.rule.targets
	}
	return p.listener.targets
}

// taskQueue orders running tasks by due time, then by creation.
type taskQueue []*task

func (q taskQueue) Len() int { return len(q) }
func (q taskQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q taskQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *taskQueue) Push(x any) {
	t := x.(*task)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *taskQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return t
}

// startTask registers a running task that holds its load balancer's lock
// until it completes. Callers hold s.mu.
func (s *Server) startTask(t *task, now time.Time) {
	latency := s.latency
	if s.jitter > 0 {
		latency += time.Duration(s.rng.Int64N(int64(s.jitter)))
	}
	t.due = now.Add(latency)
	t.status = clb.TaskRunning
	t.seq = s.tasksCreated
	t.lb.task = t
	s.tasks[t.id] = t
	heap.Push(&s.queue, t)
	s.tasksCreated++
	s.schedule(now)
}

// advance completes, in order, every task due by now. Callers hold s.mu.
func (s *Server) advance(now time.Time) {
	for len(s.queue) > 0 && !s.queue[0].due.After(now) {
		s.complete(heap.Pop(&s.queue).(*task))
	}
}

// complete ends a task: applies its change at its due time, or fails it.
func (s *Server) complete(t *task) {
	if t.fail {
		t.status = clb.TaskFailed
		t.message = "clbsim: injected task failure: the backend operation of " + t.action + " did not complete; nothing was changed"
		s.tasksFailed++
	} else {
		s.apply(t)
		t.status = clb.TaskSucceeded
		s.tasksSucceeded++
	}
	t.lb.task = nil
	if linger := s.dialect.LingeringLock; linger > 0 {
		if until := t.due.Add(linger); until.After(t.lb.lingerUntil) {
			t.lb.lingerUntil, t.lb.lingerTask = until, t.id
		}
	}
	t.lb, t.parts = nil, nil
}

// apply makes a task's change and records it in the audit log, part by
// part, target by target.
func (s *Server) apply(t *task) {
	for _, p := range t.parts {
		change := Change{Time: t.due, TaskID: t.id, Action: t.action, LoadBalancerId: t.lbID, ListenerId: p.listener.id}
		if p.rule != nil {
			change.LocationId = p.rule.id
		}
		switch t.action {
		case clb.ActionDeregisterTargets:
			s.unbind(p, change)
		case clb.ActionRegisterTargets:
			s.bind(p, change, t.due)
		default:
			s.reweigh(p, change)
		}
	}
}

// unbind removes a part's targets that are still bound.
func (s *Server) unbind(p taskPart, change Change) {
	set := p.set()
	gone := make(map[string]bool, len(p.targets))
	for _, ct := range p.targets {
		b, ok := set.get(ct.key)
		if !ok {
			continue
		}
		gone[ct.key] = true
		c := change
		c.Target, c.OldWeight = ct.key, ptr(b.Weight)
		s.audit = append(s.audit, c)
	}
	set.remove(gone)
}

// reweigh sets the weight of a part's targets that are still bound
// (ModifyTargetWeight, BatchModifyTargetWeight).
func (s *Server) reweigh(p taskPart, change Change) {
	set := p.set()
	for _, ct := range p.targets {
		b, ok := set.get(ct.key)
		if !ok {
			continue
		}
		w := weightOf(ct, p.weight)
		set.setWeight(ct.key, w)
		c := change
		c.Target, c.OldWeight, c.NewWeight = ct.key, ptr(b.Weight), ptr(w)
		s.audit = append(s.audit, c)
	}
}

// bind adds a part's targets that are not bound yet, each healthy once the
// health model's delay has passed after at.
func (s *Server) bind(p taskPart, change Change, at time.Time) {
	set := p.set()
	for _, ct := range p.targets {
		if _, ok := set.get(ct.key); ok {
			continue
		}
		b := s.newBinding(ct)
		set.addAt(b, at.Add(s.health.Delay))
		c := change
		c.Target, c.NewWeight = ct.key, ptr(b.Weight)
		s.audit = append(s.audit, c)
	}
}

// newBinding is a target as RegisterTargets binds it. A CVM's private
// addresses come from wherever the initial fleet bound the instance (none
// for an instance it never saw).
func (s *Server) newBinding(ct checkedTarget) clb.BoundTarget {
	b := clb.BoundTarget{Port: ct.port, Weight: weightOf(ct, nil)}
	if ct.instanceID != "" {
		b.Type, b.InstanceId = TypeCVM, ct.instanceID
		b.PrivateIpAddresses = append([]string(nil), s.instanceIPs[ct.instanceID]...)
		return b
	}
	b.Type, b.PrivateIpAddresses = TypeENI, []string{ct.eniIP}
	return b
}

// weightOf is a target's own weight, else the call's, else the API default.
func weightOf(ct checkedTarget, callWeight *int64) int64 {
	switch {
	case ct.weight != nil:
		return *ct.weight
	case callWeight != nil:
		return *callWeight
	}
	return defaultWeight
}

func ptr[T any](v T) *T { return &v }

// schedule arms one timer for the earliest running task, so that changes
// land when their task completes even if nobody calls. Callers hold s.mu.
func (s *Server) schedule(now time.Time) {
	if len(s.queue) == 0 || s.closed {
		if s.stopTimer != nil {
			s.stopTimer()
			s.stopTimer, s.timerAt = nil, time.Time{}
		}
		return
	}
	next := s.queue[0].due
	if s.stopTimer != nil && s.timerAt.Equal(next) {
		return
	}
	if s.stopTimer != nil {
		s.stopTimer()
	}
	s.timerAt = next
	s.stopTimer = s.clock.AfterFunc(next.Sub(now), s.onTimer)
}

func (s *Server) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.stopTimer, s.timerAt = nil, time.Time{}
	s.advance(now)
	s.schedule(now)
}
