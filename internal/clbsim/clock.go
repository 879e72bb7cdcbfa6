package clbsim

import (
	"sort"
	"sync"
	"time"
)

// Clock is the emulator's source of time: task completion, lock holds, the
// rate-limit window and the signature's freshness all read it.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// AfterFunc calls f once, in its own goroutine or synchronously, after
	// d has passed on this clock. The returned stop function cancels the
	// call and reports whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// ManualClock is a Clock that moves only when told to, for unit tests: tasks
// complete and locks expire exactly when the test advances it. Start it near
// the wall clock, since the SDK signs requests with the wall clock and the
// server rejects signatures more than five minutes off.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]manualTimer
}

type manualTimer struct {
	at  time.Time
	seq int
	f   func()
}

// NewManualClock returns a ManualClock set to start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, timers: map[int]manualTimer{}}
}

// Now is the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to run when Advance moves the clock d or more past
// the current time.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := c.seq
	c.timers[id] = manualTimer{at: c.now.Add(d), seq: id, f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, pending := c.timers[id]
		delete(c.timers, id)
		return pending
	}
}

// Advance moves the clock forward by d and runs, in order and in the
// caller's goroutine, every function whose time has come.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []manualTimer
	for id, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
			delete(c.timers, id)
		}
	}
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if !due[i].at.Equal(due[j].at) {
			return due[i].at.Before(due[j].at)
		}
		return due[i].seq < due[j].seq
	})
	for _, t := range due {
		t.f()
	}
}
