package clb

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"golang.org/x/time/rate"
)

// budget is the account's documented limit per action.
const budget = 20

// t0 is the fake clock's origin: the limiters are driven through their
// *At methods, so no test here sleeps or reads the real clock.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// saturate drives lim as a process that sends a request of one action the
// moment its bucket lets it, from start until end, on the fake clock, and
// returns when each request was sent.
func saturate(lim *rate.Limiter, start, end time.Time) []time.Time {
	var sent []time.Time
	for at := start; ; {
		r := lim.ReserveN(at, 1)
		if !r.OK() {
			panic("a reservation of one token failed")
		}
		if at = at.Add(r.DelayFrom(at)); !at.Before(end) {
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

// phasings are the ways the fleet's processes start, each from a full
// bucket: all at the same instant; evenly interleaved within one token
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
// workers, each at --api-rate 20/N with the default burst and its bucket
// starting full, never put more than 20 requests of one action into any
// one second at the API, even when each request may arrive up to
// arrivalSlack after it was sent, for N = 1..10 and whatever the phases of
// the workers. It runs the real limiter that NewClient builds, on a fake
// clock.
//
// The pacing before this test, a bucket at 20/N run 5% slow, fails it:
// N=3 puts 21 requests into some arrival window (each in-phase process
// sends 7 where 20/3 allows 6.67), N=6 24, N=7 21, N=8 24, N=9 27.
func TestFleetPacing(t *testing.T) {
	for n := 1; n <= 10; n++ {
		perWorker := float64(budget) / float64(n)
		interval := time.Duration(float64(time.Second) / float64(bucketLimit(perWorker)))
		for name, phases := range phasings(n, interval) {
			t.Run(fmt.Sprintf("N=%d %s", n, name), func(t *testing.T) {
				var fleet []time.Time
				for _, phase := range phases {
					lim := newLimiters(perWorker, DefaultBurst)[ActionDeregisterTargets]
					start := t0.Add(phase)
					fleet = append(fleet, saturate(lim, start, start.Add(6*time.Second))...)
				}
				assert.LessOrEqual(t, mostInWindow(fleet, arrivalWindow), budget,
					"requests that may arrive within one second, %d workers at --api-rate %.4g", n, perWorker)
				assert.LessOrEqual(t, mostInWindow(fleet, time.Second), budget, "requests sent within one second")
			})
		}
	}
}

// TestClientRateLimit: each action the Client calls has its own bucket at
// the rate of Config.RatePerAction, so two actions run at full rate side
// by side, and neither puts more than the rate into any second at the API,
// late arrivals included. The buckets are the Client's own, driven on a
// fake clock.
func TestClientRateLimit(t *testing.T) {
	const perSecond = 20
	c, err := NewClient(Config{Region: "ap-guangzhou", Credential: common.NewCredential("AKIDtest", "key"),
		RatePerAction: perSecond})
	require.NoError(t, err)
	actions := []string{ActionDeregisterTargets, ActionDescribeTaskStatus, ActionDescribeTargets,
		ActionModifyTargetWeight, ActionRegisterTargets, ActionBatchModifyTargetWeight, ActionDescribeListeners,
		ActionDescribeLoadBalancers, ActionDescribeTargetHealth}
	require.Len(t, c.limiters, len(actions))
	seen := map[*rate.Limiter]string{}
	for _, action := range actions {
		lim := c.limiters[action]
		require.NotNil(t, lim, action)
		other, shared := seen[lim]
		require.False(t, shared, "%s shares the bucket of %s", action, other)
		seen[lim] = action
		assert.Equal(t, DefaultBurst, lim.Burst(), action)
	}

	// Two actions at once, each saturating its own bucket for 3 s.
	const span = 3 * time.Second
	byAction := map[string][]time.Time{}
	for _, action := range []string{ActionDescribeTaskStatus, ActionDeregisterTargets} {
		byAction[action] = saturate(c.limiters[action], t0, t0.Add(span))
	}
	for action, sent := range byAction {
		assert.LessOrEqual(t, mostInWindow(sent, arrivalWindow), perSecond, "%s: requests that may arrive within one second", action)
		// Full rate: a request at once, then one per interval.
		want := 1 + int(span.Seconds()*perSecond/pacingWindow.Seconds())
		assert.Equal(t, want, len(sent), "%s: requests in %v", action, span)
	}
}

// TestClientTakesTheTokenOfItsAction: a call through the Client takes a
// token from the bucket of its own action and from no other.
func TestClientTakesTheTokenOfItsAction(t *testing.T) {
	// At 0.01/s a taken token takes 105 s to come back.
	c, err := NewClient(Config{Region: "ap-guangzhou", Endpoint: "http://127.0.0.1:9", Credential: common.NewCredential("AKIDtest", "key"),
		RatePerAction: 0.01, Transport: answering(`{"Response":{"Status":0,"RequestId":"req-1"}}`)})
	require.NoError(t, err)
	_, err = c.DescribeTaskStatus(context.Background(), "task-1")
	require.NoError(t, err)
	now := time.Now()
	for action, lim := range c.limiters {
		want := 1.0
		if action == ActionDescribeTaskStatus {
			want = 0
		}
		assert.InDelta(t, want, lim.TokensAt(now), 0.01, action)
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

// TestBucketPacing: one bucket at any rate lets at most the whole part of
// its rate (one, below one per second) into any second at the API, late
// arrivals included, and keeps that pace; so workers with unequal rates
// that add up to the budget stay within it together.
func TestBucketPacing(t *testing.T) {
	for _, perSecond := range []float64{0.25, 0.5, 1, 1.5, 2, 2.5, 6.667, 7, 9.99, 13, 19.9, 20, 40} {
		t.Run(fmt.Sprint(perSecond), func(t *testing.T) {
			sent := saturate(newLimiters(perSecond, 1)[ActionDescribeTargets], t0, t0.Add(20*time.Second))
			most, pace := max(1, int(perSecond)), math.Floor(perSecond)
			if pace < 1 {
				pace = perSecond
			}
			assert.Equal(t, most, mostInWindow(sent, arrivalWindow), "requests that may arrive within one second")
			assert.GreaterOrEqual(t, float64(len(sent)), math.Floor(20*pace/pacingWindow.Seconds()), "requests in 20 s")
		})
	}
	for _, rates := range [][]float64{{7, 7, 6}, {6.5, 6.5, 7}, {10, 5, 5}, {13, 7}, {19.5, 0.5}, {2.5, 2.5, 5, 10}} {
		t.Run(fmt.Sprint(rates), func(t *testing.T) {
			var fleet []time.Time
			for _, perSecond := range rates {
				fleet = append(fleet, saturate(newLimiters(perSecond, 1)[ActionDescribeTargets], t0, t0.Add(6*time.Second))...)
			}
			assert.LessOrEqual(t, mostInWindow(fleet, arrivalWindow), budget)
		})
	}
}
