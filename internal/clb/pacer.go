package clb

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// pacer paces the requests of one action, first come first served: at
// most n of them start in any window of length span. A request starts at
// once while fewer than n started in the window before it, none waits,
// and the one before it did not wait, or started gap (span/n) or more
// before; otherwise it waits, and starts gap after the one before it at
// the earliest. So the requests of a quiet spell (a plan's reads, a
// server drain's weight changes, a round of tasks ending together) go
// together, and a stream of more than the window holds goes evenly
// spread, as from a token bucket, not in waves of a window's requests
// at a time, which would keep a fleet's load balancers in step. Either way
// no second at the API holds more than n.
type pacer struct {
	mu   sync.Mutex
	n    int
	span time.Duration
	gap  time.Duration
	// starts are the start times given out, ascending, none a span or more
	// before the latest: the n-th last bounds the next.
	starts []time.Time
	// waited is true when the latest start came after it was asked for:
	// the requests after it are spread, a gap apart, until one finds a
	// gap free before it.
	waited bool
}

// newPacer is the pacer of perSecond requests a second: at most
// ⌊perSecond⌋ (one, below 1/s) in any pacingWindow, so that no second at
// the API holds more even when requests arrive up to arrivalSlack after
// they start; requests that wait start pacingWindow/⌊perSecond⌋ apart.
// Below one a second, one request per pacingWindow/perSecond.
func newPacer(perSecond float64) *pacer {
	whole := math.Floor(perSecond)
	if whole < 1 {
		span := spanOf(float64(pacingWindow) / perSecond)
		return &pacer{n: 1, span: span, gap: span}
	}
	return &pacer{n: int(min(whole, math.MaxInt32)), span: pacingWindow, gap: spanOf(float64(pacingWindow) / whole)}
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
	if !p.free(now) {
		k := len(p.starts)
		start = laterOf(start, p.starts[k-1].Add(p.gap))
		if k >= p.n {
			start = laterOf(start, p.starts[k-p.n].Add(p.span))
		}
	}
	if !deadline.IsZero() && start.After(deadline) {
		return start, false
	}
	p.take(start, start.After(now))
	return start, true
}

// take records a start, the latest, and whether it waited; p.mu is held.
func (p *pacer) take(start time.Time, waited bool) {
	p.waited = waited
	// A start a span or more before this one bounds no later request.
	drop := 0
	for drop < len(p.starts) && !p.starts[drop].After(start.Add(-p.span)) {
		drop++
	}
	p.starts = append(p.starts[drop:], start)
}

// free reports whether a request asked for at now may start at once:
// none waits, fewer than n started in the window before it, and, when
// the latest start had to wait, it was a gap or more before; p.mu is
// held.
func (p *pacer) free(now time.Time) bool {
	k := len(p.starts)
	if k == 0 {
		return true
	}
	last := p.starts[k-1]
	return !last.After(now) && p.startedBy(now) < p.n && (!p.waited || !last.Add(p.gap).After(now))
}

// spareStart takes a start at now for a request that is sent only on
// spare budget (IfSpare): when it may start at once and, counting it, at
// most half of the window's n starts are taken, so that the requests that
// must go find the other half free. A window of one request (below 2/s)
// has none to spare. It reports whether it took one.
func (p *pacer) spareStart(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.startedBy(now); !p.free(now) || 2*(c+1) > p.n {
		return false
	}
	p.take(now, false)
	return true
}

// startedIn counts the starts given out in (at-span, at].
func (p *pacer) startedIn(at time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startedBy(at)
}

// startedBy counts the starts in (at-span, at]; p.mu is held. The starts
// are ascending: two binary searches count them, so that a high rate's
// full window costs a request no more than a low rate's.
func (p *pacer) startedBy(at time.Time) int {
	from := at.Add(-p.span)
	lo := sort.Search(len(p.starts), func(i int) bool { return p.starts[i].After(from) })
	hi := sort.Search(len(p.starts), func(i int) bool { return p.starts[i].After(at) })
	return max(0, hi-lo)
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
