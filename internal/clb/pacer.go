package clb

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// pacer paces the requests of one action: at most n of them start in any
// window of length span, first come first served. A pacer of a second's
// requests (n = ⌊rate⌋, span = pacingWindow) lets them start at once after
// a quiet spell; a pacer of one request per pacingWindow/⌊rate⌋ spreads
// them evenly. Either keeps every second at the API within ⌊rate⌋.
type pacer struct {
	mu   sync.Mutex
	n    int
	span time.Duration
	// starts are the start times given out, ascending, none a span or more
	// before the latest: the n-th last bounds the next.
	starts []time.Time
}

// newPacer is the pacer of perSecond requests a second: at most
// ⌊perSecond⌋ (one, below 1/s) in any pacingWindow, so that no second at
// the API holds more even when requests arrive up to arrivalSlack after
// they start. With burst, a second's requests may start at once after a
// quiet spell; without, they start one per pacingWindow/⌊perSecond⌋.
// Below one a second, one request per pacingWindow/perSecond either way.
func newPacer(perSecond float64, burst bool) *pacer {
	whole := math.Floor(perSecond)
	switch {
	case whole < 1:
		return &pacer{n: 1, span: spanOf(float64(pacingWindow) / perSecond)}
	case burst:
		return &pacer{n: int(min(whole, math.MaxInt32)), span: pacingWindow}
	default:
		return &pacer{n: 1, span: spanOf(float64(pacingWindow) / whole)}
	}
}

// spanOf is ns nanoseconds, rounded up, and the longest Duration for more
// than a Duration holds (a rate below about one request in 290 years):
// converted as it is, such a span would go negative and pace nothing.
func spanOf(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(ns))
}

// startAt is when a request asked for at now may start. Unless that is
// past deadline (zero: none), the start is taken, and the requests after
// it start no sooner.
func (p *pacer) startAt(now, deadline time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := now
	if k := len(p.starts); k > 0 {
		start = laterOf(start, p.starts[k-1])
	}
	if k := len(p.starts); k >= p.n {
		start = laterOf(start, p.starts[k-p.n].Add(p.span))
	}
	if !deadline.IsZero() && start.After(deadline) {
		return start, false
	}
	// A start a span or more before this one bounds no later request.
	drop := 0
	for drop < len(p.starts) && !p.starts[drop].After(start.Add(-p.span)) {
		drop++
	}
	p.starts = append(p.starts[drop:], start)
	return start, true
}

// startedIn counts the starts given out in (at-span, at].
func (p *pacer) startedIn(at time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := 0
	for _, s := range p.starts {
		if s.After(at.Add(-p.span)) && !s.After(at) {
			c++
		}
	}
	return c
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// waitForStart takes a start from p, waiting for it as long as it takes,
// and returns how long that was: zero when the request could start at
// once. A wait that would outlast ctx's deadline is refused at once with
// an error wrapping context.DeadlineExceeded, and takes no start; a wait
// cut by ctx keeps its start (the pacer only grows more careful).
func waitForStart(ctx context.Context, p *pacer) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now()
	deadline, _ := ctx.Deadline()
	start, ok := p.startAt(now, deadline)
	if !ok {
		return 0, fmt.Errorf("the rate limit's next start, in %v, is past the deadline: %w", start.Sub(now), context.DeadlineExceeded)
	}
	wait := start.Sub(now)
	if wait <= 0 {
		return 0, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
		return time.Since(now), nil
	}
}
