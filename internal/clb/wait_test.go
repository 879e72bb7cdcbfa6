package clb

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// budget is the account's documented limit per action.
const budget = 20

// t0 is the fake clock's origin: the pacers are driven through startAt,
// so no test here sleeps or reads the real clock.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// saturate drives p as a process that sends a request of one action the
// moment its pacer lets it, from start until end, on the fake clock, and
// returns when each request was sent.
func saturate(p *pacer, start, end time.Time) []time.Time {
	var sent []time.Time
	for at := start; ; {
		var ok bool
		if at, ok = p.startAt(at, end); !ok || !at.Before(end) {
			return sent
		}
		sent = append(sent, at)
	}
}

// mostInWindow is the most of times (in any order) that fall in one
// half-open window [t, t+window), whatever its alignment: the busiest
// window starts at one of the times.
func mostInWindow(times []time.Time, window time.Duration) int {
	sorted := slices.SortedFunc(slices.Values(times), func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range sorted {
		for j < len(sorted) && sorted[j].Sub(sorted[i]) < window {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// arrivalWindow is the width of send times whose requests may arrive in
// one second: a request sent at s arrives between s and s+arrivalSlack, so
// the requests that can arrive in [t, t+1s) are those sent in
// [t-arrivalSlack, t+1s).
const arrivalWindow = time.Second + arrivalSlack

// phasings are the ways the fleet's processes start, each after a quiet
// spell: all at the same instant; evenly interleaved within one request
// interval; one after another, a second apart; and at random (seeded)
// moments of the first three seconds.
func phasings(n int, interval time.Duration) map[string][]time.Duration {
	rng := rand.New(rand.NewPCG(uint64(n), 2026))
	out := map[string][]time.Duration{}
	for i := range n {
		out["in phase"] = append(out["in phase"], 0)
		out["interleaved"] = append(out["interleaved"], time.Duration(i)*interval/time.Duration(n))
		out["a second apart"] = append(out["a second apart"], time.Duration(i)*time.Second)
		out["random"] = append(out["random"], time.Duration(rng.Int64N(int64(3*time.Second))))
	}
	return out
}

// TestFleetPacing proves the claim of the README's "Running a fleet": N
// workers, each at --api-rate 20/N, never put more than 20 requests of one
// action into any one second at the API, even when each request may arrive
// up to arrivalSlack after it was sent, for N = 1..10, whatever the phases
// of the workers, with each pacer letting a second's requests start at
// once after a quiet spell and spreading those that wait. It runs the real
// pacers that NewClient builds, on a fake clock.
//
// The pacing before this test, a bucket at 20/N run 5% slow, fails it:
// N=3 puts 21 requests into some arrival window (each in-phase process
// sends 7 where 20/3 allows 6.67), N=6 24, N=7 21, N=8 24, N=9 27.
func TestFleetPacing(t *testing.T) {
	for n := 1; n <= 10; n++ {
		perWorker := float64(budget) / float64(n)
		interval := time.Duration(float64(pacingWindow) / math.Floor(perWorker))
		for _, action := range []string{ActionDescribeTargets, ActionDeregisterTargets} {
			for name, phases := range phasings(n, interval) {
				t.Run(fmt.Sprintf("N=%d %s %s", n, action, name), func(t *testing.T) {
					var fleet []time.Time
					for _, phase := range phases {
						p := newPacers(perWorker)[action]
						start := t0.Add(phase)
						fleet = append(fleet, saturate(p, start, start.Add(6*time.Second))...)
					}
					assert.LessOrEqual(t, mostInWindow(fleet, arrivalWindow), budget,
						"requests that may arrive within one second, %d workers at --api-rate %.4g", n, perWorker)
					assert.LessOrEqual(t, mostInWindow(fleet, time.Second), budget, "requests sent within one second")
				})
			}
		}
	}
}

// TestClientRateLimit: each action the Client calls has its own pacer at
// the rate of Config.RatePerAction, so two actions run at full rate side
// by side, and none puts more than the rate into any second at the API,
// late arrivals included: a second's requests start at once after a quiet
// spell, and the requests that wait go evenly spread, not in a second
// wave. The pacers are the Client's own, driven on a fake clock.
func TestClientRateLimit(t *testing.T) {
	const perSecond = 20
	c, err := NewClient(Config{Region: "ap-guangzhou", Credential: common.NewCredential("AKIDtest", "key"),
		RatePerAction: perSecond})
	require.NoError(t, err)
	actions := []string{ActionDescribeTargets, ActionDescribeListeners, ActionDescribeLoadBalancers, ActionDescribeTargetHealth,
		ActionDeregisterTargets, ActionDescribeTaskStatus, ActionModifyTargetWeight, ActionRegisterTargets,
		ActionBatchModifyTargetWeight}
	require.Len(t, c.pacers, len(actions))
	seen := map[*pacer]string{}
	for _, action := range actions {
		p := c.pacers[action]
		require.NotNil(t, p, action)
		other, shared := seen[p]
		require.False(t, shared, "%s shares the pacer of %s", action, other)
		seen[p] = action
	}

	// Every action at once, each saturating its own pacer for 3 s.
	const span = 3 * time.Second
	gap := pacingWindow / perSecond
	for _, action := range actions {
		sent := saturate(c.pacers[action], t0, t0.Add(span))
		assert.LessOrEqual(t, mostInWindow(sent, arrivalWindow), perSecond, "%s: requests that may arrive within one second", action)
		assert.Equal(t, perSecond, mostInWindow(sent, time.Millisecond), "%s: a second's requests start at once", action)
		require.Greater(t, len(sent), perSecond, action)
		assert.Equal(t, t0.Add(pacingWindow), sent[perSecond], "%s: the next one a window after the first", action)
		assert.Equal(t, 1, mostInWindow(sent[perSecond:], gap), "%s: the ones that waited, spread evenly", action)
		assert.Equal(t, perSecond+1+int((span-pacingWindow)/gap), len(sent), "%s: requests in %v", action, span)
	}
}

// TestClientTakesTheStartOfItsAction: a call through the Client takes a
// start from the pacer of its own action and from no other.
func TestClientTakesTheStartOfItsAction(t *testing.T) {
	c, err := NewClient(Config{Region: "ap-guangzhou", Endpoint: "http://127.0.0.1:9", Credential: common.NewCredential("AKIDtest", "key"),
		RatePerAction: 0.01, Transport: answering(`{"Response":{"Status":0,"RequestId":"req-1"}}`)})
	require.NoError(t, err)
	_, err = c.DescribeTaskStatus(context.Background(), "task-1")
	require.NoError(t, err)
	now := time.Now()
	for action, p := range c.pacers {
		want := 0
		if action == ActionDescribeTaskStatus {
			want = 1
		}
		assert.Equal(t, want, p.startedIn(now), action)
	}
}

// answering is a transport that answers every request with body.
func answering(body string) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: r,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPacing: one pacer at any rate lets at most the whole part of its
// rate (one, below one per second) into any second at the API, late
// arrivals included, and keeps that pace, no faster; so workers with
// unequal rates that add up to the budget stay within it together.
func TestPacing(t *testing.T) {
	for _, perSecond := range []float64{0.25, 0.5, 1, 1.5, 2, 2.5, 6.667, 7, 9.99, 13, 19.9, 20, 40} {
		t.Run(fmt.Sprint(perSecond), func(t *testing.T) {
			sent := saturate(newPacer(perSecond), t0, t0.Add(20*time.Second))
			most, pace := max(1, int(perSecond)), math.Floor(perSecond)
			if pace < 1 {
				pace = perSecond
			}
			assert.Equal(t, most, mostInWindow(sent, arrivalWindow), "requests that may arrive within one second")
			assert.GreaterOrEqual(t, float64(len(sent)), math.Floor(20*pace/pacingWindow.Seconds()), "requests in 20 s")
			assert.LessOrEqual(t, float64(len(sent)), 20*pace/pacingWindow.Seconds()+float64(most), "requests in 20 s, at most the pace")
		})
	}
	for _, rates := range [][]float64{{7, 7, 6}, {6.5, 6.5, 7}, {10, 5, 5}, {13, 7}, {19.5, 0.5}, {2.5, 2.5, 5, 10}} {
		t.Run(fmt.Sprint(rates), func(t *testing.T) {
			var fleet []time.Time
			for _, perSecond := range rates {
				fleet = append(fleet, saturate(newPacer(perSecond), t0, t0.Add(6*time.Second))...)
			}
			assert.LessOrEqual(t, mostInWindow(fleet, arrivalWindow), budget)
		})
	}
}

// TestPacerLetsABurstGoAndKeepsItsWindow: after a quiet spell a pacer at
// 10/s lets 10 requests start at once, the 11th one window after the
// first, and the 12th a tenth of a window after the 11th, not with it (no
// second wave); a start refused for its deadline is not taken; a request
// asked for while another waits goes after it; after another quiet spell,
// a burst again; starts older than a window are forgotten.
func TestPacerLetsABurstGoAndKeepsItsWindow(t *testing.T) {
	p := newPacer(10)
	for i := range 10 {
		at, ok := p.startAt(t0, time.Time{})
		require.True(t, ok)
		assert.Equal(t, t0, at, "request %d of the burst", i+1)
	}
	assert.Equal(t, 10, p.startedIn(t0))
	_, ok := p.startAt(t0, t0.Add(time.Second))
	assert.False(t, ok, "the 11th start is past a deadline a second away")
	at, ok := p.startAt(t0.Add(10*time.Millisecond), time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(pacingWindow), at, "the 11th starts a window after the first")
	assert.Equal(t, 1, p.startedIn(t0.Add(pacingWindow)), "the refused start was not taken")
	at, ok = p.startAt(t0.Add(20*time.Millisecond), time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(pacingWindow+p.gap), at, "the 12th waits its turn after the 11th, a gap after it")
	at, ok = p.startAt(t0.Add(pacingWindow+3*p.gap), time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(pacingWindow+3*p.gap), at, "one that finds none waiting and room in its window starts at once")

	later := t0.Add(10 * time.Second)
	for range 10 {
		at, ok := p.startAt(later, time.Time{})
		require.True(t, ok)
		assert.Equal(t, later, at)
	}
	assert.LessOrEqual(t, len(p.starts), 11, "starts older than a window are forgotten")
}

// TestPacerQueuesLikeItsDefinition drives pacers with requests that come
// at random: in bursts, while earlier ones still wait, a little apart and
// after quiet spells, some with a deadline too near to start. Every start
// is the one the pacer's contract gives, computed over all the starts given
// before (none forgotten): when it was asked, if no start before it is
// later, fewer than n fall in the span before it, and the one before it
// did not wait or started a gap or more before; else the latest of
// when it was asked, a gap after the start before it (first come first
// served, evenly spread) and a span after the n-th start before it; a
// start refused for its deadline is none. So the pacer forgets no start
// that still bounds a later one, and no window holds more than a second's
// requests.
func TestPacerQueuesLikeItsDefinition(t *testing.T) {
	for _, perSecond := range []float64{0.5, 1, 3, 6.667, 20} {
		t.Run(fmt.Sprint(perSecond), func(t *testing.T) {
			p := newPacer(perSecond)
			rng := rand.New(rand.NewPCG(uint64(perSecond*1000), 7))
			gaps := []time.Duration{0, 0, time.Millisecond, p.gap / 3, p.span / 2, 2 * p.span}
			var want []time.Time
			waited := false
			at := t0
			for i := range 2000 {
				at = at.Add(gaps[rng.IntN(len(gaps))])
				next := at
				if k := len(want); k > 0 && (want[k-1].After(at) || inSpan(want, at, p.span) >= p.n ||
					waited && want[k-1].Add(p.gap).After(at)) {
					next = laterOf(next, want[k-1].Add(p.gap))
					if k >= p.n {
						next = laterOf(next, want[k-p.n].Add(p.span))
					}
				}
				var deadline time.Time
				if rng.IntN(5) == 0 {
					deadline = at.Add(time.Duration(rng.Int64N(int64(2 * p.span))))
				}
				got, ok := p.startAt(at, deadline)
				require.Equal(t, next, got, "request %d, asked at %v", i, at.Sub(t0))
				require.Equal(t, deadline.IsZero() || !next.After(deadline), ok, "request %d refused", i)
				if ok {
					want, waited = append(want, next), next.After(at)
				}
			}
			assert.LessOrEqual(t, mostInWindow(want, arrivalWindow), max(1, int(perSecond)))
			assert.LessOrEqual(t, len(p.starts), p.n, "starts older than a span are forgotten")
		})
	}
}

// inSpan counts the times in (at-span, at].
func inSpan(times []time.Time, at time.Time, span time.Duration) int {
	c := 0
	for _, s := range times {
		if s.After(at.Add(-span)) && !s.After(at) {
			c++
		}
	}
	return c
}

// TestPacerOfATinyRate: a rate so low that a span between two requests
// overflows a time.Duration (below about one request in 290 years) still
// paces, one request and then none for as long as a Duration reaches,
// instead of a span gone negative that lets every request start at once.
func TestPacerOfATinyRate(t *testing.T) {
	for _, perSecond := range []float64{1e-10, 1e-15, math.SmallestNonzeroFloat64} {
		p := newPacers(perSecond)[ActionDescribeTargets]
		assert.Positive(t, p.span, "%v", perSecond)
		assert.Positive(t, p.gap, "%v", perSecond)
		at, ok := p.startAt(t0, time.Time{})
		require.True(t, ok)
		require.Equal(t, t0, at)
		_, ok = p.startAt(t0.Add(time.Hour), t0.Add(100*365*24*time.Hour))
		assert.False(t, ok, "%v: a second request within a century", perSecond)
	}
}

// TestWaitForStartEndsWithItsContext: a request waiting for its start
// (here a quarter of an hour away) returns as soon as its context is
// cancelled, with the context's error, and its start stays taken (the
// pacer only grows more careful).
func TestWaitForStartEndsWithItsContext(t *testing.T) {
	p := newPacer(0.001)
	_, err := waitForStart(context.Background(), p)
	require.NoError(t, err)
	last := func() time.Time {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.starts[len(p.starts)-1]
	}
	first := last()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := waitForStart(ctx, p)
		done <- err
	}()
	for last().Equal(first) {
		runtime.Gosched()
	}
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait outlived its context")
	}
	assert.Equal(t, first.Add(p.span), last(), "the cancelled request keeps its start")
}

// TestPacerSpareStart: a request sent only on spare budget starts at once
// or not at all: while, counting it, at most half of the window's starts
// are taken; never while another request waits, nor within a gap of a
// start that waited. A spare start counts like any other, a refused one
// takes none, and the requests that must go still find the other half of
// the window.
func TestPacerSpareStart(t *testing.T) {
	p := newPacer(10)
	for i := range 5 {
		require.True(t, p.spareStart(t0), "spare request %d of 5", i+1)
	}
	assert.False(t, p.spareStart(t0), "a sixth would take more than half the window")
	assert.Equal(t, 5, p.startedIn(t0), "the refused one took no start")
	for i := range 5 {
		at, ok := p.startAt(t0, time.Time{})
		require.True(t, ok)
		assert.Equal(t, t0, at, "request %d that must go finds the other half", i+1)
	}
	at, ok := p.startAt(t0.Add(time.Millisecond), time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(pacingWindow), at, "the window is full")
	assert.False(t, p.spareStart(t0.Add(2*time.Millisecond)), "a request waits")
	assert.False(t, p.spareStart(t0.Add(pacingWindow+time.Millisecond)), "within a gap of a start that waited")
	assert.True(t, p.spareStart(t0.Add(pacingWindow+p.gap)), "a gap after it, with the window all but empty")

	one := newPacer(1)
	assert.False(t, one.spareStart(t0), "a window of one request has none to spare")
	at, ok = one.startAt(t0, time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0, at, "the request that must go finds it")

	two := newPacer(2)
	require.True(t, two.spareStart(t0), "one of a window of two")
	assert.False(t, two.spareStart(t0.Add(time.Second)), "not the second")
	at, ok = two.startAt(t0.Add(time.Second), time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Second), at, "which the request that must go takes")
	at, ok = two.startAt(t0.Add(time.Second), time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Second+two.gap), at, "the spare start counts like any other: the window is full")
}

// TestClientIfSpare: a request made IfSpare that its action's pacer has
// no room for is not sent and fails at once with ErrNoSpare; one with
// room is sent like any other.
func TestClientIfSpare(t *testing.T) {
	c, sent := countingClient(t)
	ctx := IfSpare(context.Background())
	assert.True(t, IsSpare(ctx))
	assert.False(t, IsSpare(context.Background()))
	st, err := c.DescribeTaskStatus(ctx, "task-1")
	require.NoError(t, err)
	assert.Equal(t, TaskSucceeded, st.Status)
	require.Equal(t, 1, *sent)
	_, err = c.DescribeTaskStatus(ctx, "task-1")
	require.ErrorIs(t, err, ErrNoSpare)
	assert.Equal(t, 1, *sent, "not sent")
	assert.Equal(t, 1, c.pacers[ActionDescribeTaskStatus].startedIn(time.Now()), "and no start taken")
}

// countingClient is a Client at 2 requests/s whose every request is
// answered Status 0, and the count of the requests it sent.
func countingClient(t *testing.T) (*Client, *int) {
	t.Helper()
	sent := 0
	c, err := NewClient(Config{Region: "ap-guangzhou", Endpoint: "http://127.0.0.1:9", Credential: common.NewCredential("AKIDtest", "key"),
		RatePerAction: 2, Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			sent++
			return answering(`{"Response":{"Status":0,"RequestId":"req-1"}}`).RoundTrip(r)
		})})
	require.NoError(t, err)
	return c, &sent
}

// TestClientIfSpareCancelled: a request made IfSpare whose context is
// already done fails with the context's error, not ErrNoSpare, is not
// sent and takes no start, though the pacer has room for it.
func TestClientIfSpareCancelled(t *testing.T) {
	c, sent := countingClient(t)
	ctx, cancel := context.WithCancel(IfSpare(context.Background()))
	cancel()
	_, err := c.DescribeTaskStatus(ctx, "task-1")
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrNoSpare)
	assert.Equal(t, 0, *sent, "not sent")
	assert.Equal(t, 0, c.pacers[ActionDescribeTaskStatus].startedIn(time.Now()), "no start taken")
}

// TestPacerOfAHighRateKeepsUp: a pacer counts the starts of its window
// without going through them all, so that at a high rate (the emulator's
// benchmarks and tests run their Clients at 10,000/s and more) a request
// costs no more than at 20/s: 100,000 requests within a tenth of a window
// of a pacer at 10⁶/s take well under a second, not minutes.
func TestPacerOfAHighRateKeepsUp(t *testing.T) {
	p := newPacer(1e6)
	began := time.Now()
	for i := range 100_000 {
		at, ok := p.startAt(t0.Add(time.Duration(i)*time.Microsecond), time.Time{})
		require.True(t, ok)
		require.Equal(t, t0.Add(time.Duration(i)*time.Microsecond), at, "request %d starts at once", i)
	}
	assert.Equal(t, 100_000, p.startedIn(t0.Add(100*time.Millisecond)))
	assert.Less(t, time.Since(began), 10*time.Second, "100,000 starts")
}

// TestPacerSpareStartsKeepTheWindow drives pacers with requests that must
// go and requests made IfSpare, mixed at random: the starts, spare ones
// included, keep their order and at most n fall in any window, and the
// spare ones at most half of n (none, for a window of one), so that the
// requests that must go always find the other half.
func TestPacerSpareStartsKeepTheWindow(t *testing.T) {
	for _, perSecond := range []float64{0.5, 1, 2, 3, 5, 20} {
		t.Run(fmt.Sprint(perSecond), func(t *testing.T) {
			p := newPacer(perSecond)
			rng := rand.New(rand.NewPCG(uint64(perSecond*1000), 11))
			gaps := []time.Duration{0, 0, time.Millisecond, p.gap / 3, p.gap, p.span / 2, 2 * p.span}
			var all, spare []time.Time
			at := t0
			for i := range 5000 {
				at = at.Add(gaps[rng.IntN(len(gaps))])
				start, ok := at, false
				if rng.IntN(2) == 0 {
					if ok = p.spareStart(at); ok {
						spare = append(spare, at)
					}
				} else {
					start, ok = p.startAt(at, time.Time{})
					require.True(t, ok)
				}
				if ok {
					require.False(t, len(all) > 0 && start.Before(all[len(all)-1]), "request %d starts before the one before it", i)
					all = append(all, start)
				}
			}
			if p.n >= 2 {
				require.NotEmpty(t, spare)
			} else {
				require.Empty(t, spare, "a window of one request has none to spare")
			}
			assert.LessOrEqual(t, mostInWindow(all, p.span), p.n, "starts in a window")
			assert.LessOrEqual(t, mostInWindow(spare, p.span), p.n/2, "spare starts in a window")
		})
	}
}
