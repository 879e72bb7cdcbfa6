package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Stall detection: a ticker that fires late by more than stallThreshold
// means the benchmark process was not run for that long, as when the
// machine is overloaded or paused. Figures taken across a stall measure the
// machine, not clbdrain, and the table says so.
const (
	stallTick      = 100 * time.Millisecond
	stallThreshold = 500 * time.Millisecond
)

// stalls counts the stalls seen so far.
type stalls struct {
	mu      sync.Mutex
	count   int
	total   time.Duration
	longest time.Duration
}

// record notes a tick that came gap after the one before, and reports
// whether that was a stall, and how long.
func (s *stalls) record(gap time.Duration) (time.Duration, bool) {
	late := gap - stallTick
	if late < stallThreshold {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.total += late
	s.longest = max(s.longest, late)
	return late, true
}

// String summarises the stalls.
func (s *stalls) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 {
		return fmt.Sprintf("none of %s or more", stallThreshold)
	}
	return fmt.Sprintf("%d, %.1f s in all, the longest %.1f s", s.count, s.total.Seconds(), s.longest.Seconds())
}

// watch records stalls until ctx is done, with a progress line for each.
func (s *stalls) watch(ctx context.Context) {
	t := time.NewTicker(stallTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			if late, ok := s.record(now.Sub(last)); ok {
				progress("the machine stalled: the benchmark did not run for %.1f s", late.Seconds())
			}
			last = now
		}
	}
}
