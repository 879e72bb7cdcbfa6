package activities_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/turns"
)

func (h *harness) setWeights(in activities.SetWeightsInput) (activities.SetWeightsResult, error) {
	var res activities.SetWeightsResult
	v, err := h.env.ExecuteActivity(h.acts.SetWeights, in)
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func entry(sel clb.Selector, targets ...clb.WeightedTarget) clb.BatchWeightEntry {
	return clb.BatchWeightEntry{Selector: sel, Targets: targets}
}

// weightOf is the weight bound where sel names of t, or -1.
func (h *harness) weightOf(sel clb.Selector, t clb.Target) int64 {
	h.clb.mu.Lock()
	defer h.clb.mu.Unlock()
	for _, b := range *h.clb.bindings(sel) {
		if b.Matches(t) {
			return b.Weight
		}
	}
	return -1
}

// One call, one task, across a layer-4 listener and two rules of another.
func TestSetWeightsAcrossListenersAndRules(t *testing.T) {
	h := newHarness(t)
	in := activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
		entry(tcpSel(), weighted(cvm(0), 0), weighted(cvm(1), 77)),
		entry(httpSel(locAPI), weighted(cvm(0), 0)),
		entry(httpSel(locWWW), weighted(cvm(3), 5)),
	}}
	res, err := h.setWeights(in)
	require.NoError(t, err)
	require.NotEmpty(t, res.TaskID)
	require.Equal(t, in.Entries, res.Sent)
	require.Empty(t, res.Skipped)
	require.Empty(t, res.AlreadySet)
	require.Equal(t, []string{clb.ActionBatchModifyTargetWeight}, h.clb.calls, "one call, no read")
	require.EqualValues(t, 0, h.weightOf(tcpSel(), cvm(0)))
	require.EqualValues(t, 77, h.weightOf(tcpSel(), cvm(1)), "each target's own weight wins")
	require.EqualValues(t, 0, h.weightOf(httpSel(locAPI), cvm(0)))
	require.EqualValues(t, 51, h.weightOf(httpSel(locAPI), cvm(1)), "untouched")
	require.EqualValues(t, 5, h.weightOf(httpSel(locWWW), cvm(3)))
	require.EqualValues(t, 4, h.metrics.counter(activities.MetricTargetsWeightSet))

	_, err = h.env.ExecuteActivity(h.acts.WaitForTask, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: lbID, Action: clb.ActionBatchModifyTargetWeight})
	require.NoError(t, err, "WaitForTask takes the batch's task")
}

// Recheck reads each listener once and sends only what is bound and not
// at its weight.
func TestSetWeightsRecheck(t *testing.T) {
	h := newHarness(t)
	in := activities.SetWeightsInput{LoadBalancerId: lbID, Recheck: true, Entries: []clb.BatchWeightEntry{
		entry(tcpSel(), weighted(cvm(0), 10), weighted(cvm(9), 0), weighted(cvm(2), 0)),
		entry(httpSel(locAPI), weighted(cvm(0), 50), weighted(cvm(1), 0)),
		entry(httpSel(locWWW), weighted(cvm(3), 60)),
	}}
	res, err := h.setWeights(in)
	require.NoError(t, err)
	require.Equal(t, []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(2), 0)), entry(httpSel(locAPI), weighted(cvm(1), 0))}, res.Sent)
	require.Equal(t, []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(9), 0))}, res.Skipped)
	require.Equal(t, []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(0), 10)), entry(httpSel(locAPI), weighted(cvm(0), 50)),
		entry(httpSel(locWWW), weighted(cvm(3), 60))}, res.AlreadySet)
	require.Equal(t, []string{clb.ActionDescribeTargets, clb.ActionDescribeTargets, clb.ActionBatchModifyTargetWeight}, h.clb.calls,
		"one read per listener")
	require.EqualValues(t, 2, h.metrics.counter(activities.MetricTargetsWeightSet))

	// Everything at its weight already: no call, no task.
	res, err = h.setWeights(in)
	require.NoError(t, err)
	require.Empty(t, res.TaskID)
	require.Empty(t, res.Sent)
	require.Len(t, res.AlreadySet, 3)
	require.Equal(t, 1, h.clb.count(clb.ActionBatchModifyTargetWeight))
}

// A target removed by someone else is skipped, not a failure.
func TestSetWeightsSkipsWhatWasRemoved(t *testing.T) {
	h := newHarness(t)
	h.clb.listeners[tcpID].Targets = h.clb.listeners[tcpID].Targets[1:] // cvm(0) removed meanwhile
	res, err := h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
		entry(tcpSel(), weighted(cvm(0), 0), weighted(cvm(1), 0)),
		entry(httpSel(locWWW), weighted(cvm(3), 0)),
	}})
	require.NoError(t, err)
	require.NotEmpty(t, res.TaskID)
	require.Equal(t, []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(1), 0)), entry(httpSel(locWWW), weighted(cvm(3), 0))}, res.Sent)
	require.Equal(t, []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(0), 0))}, res.Skipped)
	require.Equal(t, []string{clb.ActionBatchModifyTargetWeight, clb.ActionDescribeTargets, clb.ActionDescribeTargets,
		clb.ActionBatchModifyTargetWeight}, h.clb.calls)
	require.EqualValues(t, 0, h.weightOf(tcpSel(), cvm(1)))
	require.EqualValues(t, 0, h.weightOf(httpSel(locWWW), cvm(3)))
	require.EqualValues(t, 2, h.metrics.counter(activities.MetricTargetsWeightSet))

	// Every target gone: nothing to send, no task.
	res, err = h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(0), 0))}})
	require.NoError(t, err)
	require.Empty(t, res.TaskID)
	require.Equal(t, []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(0), 0))}, res.Skipped)

	// Every target still bound: the answer is about something else.
	h.clb.fail(clb.ActionBatchModifyTargetWeight, sdkErr("InvalidParameter", "Weight is invalid"))
	_, err = h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(1), 0))}})
	ae := applicationError(t, err)
	require.Equal(t, "InvalidParameter", ae.Type())
	require.True(t, ae.NonRetryable(), "a caller error")
}

func TestSetWeightsRetryClasses(t *testing.T) {
	in := activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(1), 0))}}
	for _, tc := range []struct {
		code      string
		retryable bool
	}{
		{"FailedOperation.ResourceInOperating", true},
		{"RequestLimitExceeded", true},
		{"InternalError", true},
		{"FailedOperation", true}, // lock-shaped on a mutating call: busy
		{"UnauthorizedOperation", false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t)
			h.clb.fail(clb.ActionBatchModifyTargetWeight, sdkErr(tc.code, "no"))
			_, err := h.setWeights(in)
			ae := applicationError(t, err)
			require.Equal(t, tc.code, ae.Type())
			require.Equal(t, tc.retryable, !ae.NonRetryable())
			if tc.retryable {
				require.GreaterOrEqual(t, ae.NextRetryDelay(), time.Second)
			}
			require.EqualValues(t, 1, h.metrics.counter(activities.MetricAPIErrors, "action="+clb.ActionBatchModifyTargetWeight, "code="+tc.code))
			require.Zero(t, h.metrics.counter(activities.MetricTargetsWeightSet))
		})
	}
}

func TestSetWeightsRefusesBadInput(t *testing.T) {
	many := make([]clb.WeightedTarget, clb.MaxBatchTargets/2+1)
	for i := range many {
		many[i] = weighted(cvm(i), 0)
	}
	one := []clb.WeightedTarget{weighted(cvm(1), 0)}
	for _, tc := range []struct {
		name string
		in   activities.SetWeightsInput
		want string
	}{
		{"no load balancer", activities.SetWeightsInput{Entries: []clb.BatchWeightEntry{{Selector: tcpSel(), Targets: one}}}, "LoadBalancerId is required"},
		{"no entry", activities.SetWeightsInput{LoadBalancerId: lbID}, "Entries is empty"},
		{"another load balancer", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
			{Selector: tcpSel(), Targets: one}, {Selector: clb.Selector{LoadBalancerId: "lb-other001", ListenerId: tcpID}, Targets: one}}},
			`Entries[1]: Selector.LoadBalancerId "lb-other001" is not the call's LoadBalancerId "lb-abc12345"`},
		{"no listener", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{{Targets: one}}}, "Entries[0]: Selector.ListenerId is required"},
		{"no target", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{{Selector: tcpSel()}}}, "Entries[0] (" + tcpSel().String() + "): Targets is empty"},
		{"over 500 in all", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
			{Selector: tcpSel(), Targets: many}, {Selector: httpSel(locAPI), Targets: many}}}, "1 to 500 targets in all, got 502"},
		{"a target twice in an entry", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
			entry(tcpSel(), weighted(cvm(1), 0), weighted(cvm(2), 0), weighted(cvm(1), 50))}},
			`Entries[0].Targets[2]: ins-00000001:80 is named again (Entries[0].Targets[0]): one weight per target and listener or rule`},
		{"a target twice on one listener", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
			entry(tcpSel(), weighted(cvm(1), 0)), entry(httpSel(locAPI), weighted(cvm(1), 0)), entry(tcpSel(), weighted(cvm(1), 0))}},
			`Entries[2].Targets[0]: ins-00000001:80 is named again (Entries[0].Targets[0])`},
		{"a target twice on one rule by Domain and Url", activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
			entry(clb.Selector{ListenerId: httpID, Domain: "www.example.com", Url: "/"}, weighted(cvm(3), 0)),
			entry(clb.Selector{ListenerId: httpID, Domain: "WWW.example.com", Url: "/"}, weighted(cvm(3), 0))}},
			`Entries[1].Targets[0]: ins-00000003:80 is named again (Entries[0].Targets[0])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			f := withTurns(h)
			_, err := h.setWeights(tc.in)
			ae := applicationError(t, err)
			require.Equal(t, activities.ErrInvalidInput, ae.Type())
			require.True(t, ae.NonRetryable())
			require.Contains(t, ae.Error(), tc.want)
			require.Empty(t, h.clb.calls, "checked before any call")
			require.Empty(t, f.requests, "and before taking a turn")
		})
	}
}

// A client without BatchModifyTargetWeight is refused plainly.
func TestSetWeightsNeedsABatchClient(t *testing.T) {
	h := newHarness(t)
	h.acts.CLB = struct{ clb.API }{h.clb}
	h.env = h.newEnv(context.Background())
	_, err := h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(1), 0))}})
	ae := applicationError(t, err)
	require.Equal(t, activities.ErrInvalidInput, ae.Type())
	require.Contains(t, ae.Error(), "no BatchModifyTargetWeight")
	require.Empty(t, h.clb.calls)
}

// Exactly 500 targets go in one call.
func TestSetWeightsTakesFiveHundred(t *testing.T) {
	h := newHarness(t)
	const big = "lbl-big00001"
	l := &clb.Listener{ListenerId: big, Protocol: clb.ProtocolTCP, Port: 8000}
	var targets []clb.WeightedTarget
	for i := range clb.MaxBatchTargets {
		l.Targets = append(l.Targets, boundCVM(100+i, 10))
		targets = append(targets, weighted(cvm(100+i), 0))
	}
	h.clb.listeners[big] = l
	sel := clb.Selector{LoadBalancerId: lbID, ListenerId: big}
	res, err := h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{entry(sel, targets...)}})
	require.NoError(t, err)
	require.NotEmpty(t, res.TaskID)
	require.Len(t, h.clb.sent[clb.ActionBatchModifyTargetWeight], 1)
	require.Len(t, h.clb.sent[clb.ActionBatchModifyTargetWeight][0], clb.MaxBatchTargets)
	require.EqualValues(t, clb.MaxBatchTargets, h.metrics.counter(activities.MetricTargetsWeightSet))
}

func TestSetWeightsTakesTheTurn(t *testing.T) {
	h := newHarness(t)
	f := withTurns(h)
	in := activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{
		entry(tcpSel(), weighted(cvm(0), 0)), entry(httpSel(locAPI), weighted(cvm(0), 0), weighted(cvm(1), 0))}}
	res, err := h.setWeights(in)
	require.NoError(t, err)
	require.Len(t, f.requests, 1)
	require.Equal(t, []int{0}, f.callsBefore, "the turn comes before any CLB call")
	require.Equal(t, "BatchModifyTargetWeight "+lbID+" (3 targets)", f.requests[0].What)
	want := turnFor(f.requests[0])
	require.Equal(t, &want, res.Turn, "the turn goes to WaitForTask")
	require.Empty(t, f.released(), "held until the task ends")

	_, err = h.env.ExecuteActivity(h.acts.WaitForTask, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: lbID,
		Action: clb.ActionBatchModifyTargetWeight, Turn: res.Turn})
	require.NoError(t, err)
	f.eventuallyReleased(t, []turns.Release{{Token: want.Token}})

	// Nothing left to send: the turn goes back at once.
	in.Recheck = true
	res, err = h.setWeights(in)
	require.NoError(t, err)
	require.Empty(t, res.TaskID)
	require.Nil(t, res.Turn)
	require.Len(t, f.released(), 2)

	// A retried error keeps the turn for the next attempt.
	h.clb.fail(clb.ActionBatchModifyTargetWeight, sdkErr("FailedOperation.ResourceInOperating", "busy"))
	_, err = h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Entries: []clb.BatchWeightEntry{entry(tcpSel(), weighted(cvm(1), 0))}})
	require.False(t, applicationError(t, err).NonRetryable())
	require.Len(t, f.released(), 2, "the next attempt takes the turn over")
}

// emulatedEntries are the first n targets of each of the emulated load
// balancer's listeners, each with weight w.
func (e *emulated) emulatedEntries(n int, w int64) []clb.BatchWeightEntry {
	lb := e.state.LoadBalancers[0]
	var out []clb.BatchWeightEntry
	for _, l := range lb.Listeners {
		var targets []clb.WeightedTarget
		for _, tg := range clbsim.RequestTargets(l.Targets)[:n] {
			targets = append(targets, weighted(tg, w))
		}
		out = append(out, entry(clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}, targets...))
	}
	return out
}

// Against the emulator: 500 targets across two listeners in one task, each
// changed once; 501 refused before any call.
func TestEmulatorSetWeightsFiveHundred(t *testing.T) {
	e := newEmulatedFleet(t, clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Targets: 250, ENI: 0.2}, time.Second)
	lb := e.sel.LoadBalancerId
	entries := e.emulatedEntries(250, 0)
	res, err := e.setWeights(activities.SetWeightsInput{LoadBalancerId: lb, Entries: entries})
	require.NoError(t, err)
	require.Equal(t, entries, res.Sent)
	_, err = e.env.ExecuteActivity(e.acts.WaitForTask, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: lb, Action: clb.ActionBatchModifyTargetWeight})
	require.NoError(t, err)
	changed := e.changes(clb.ActionBatchModifyTargetWeight)
	require.Len(t, changed, clb.MaxBatchTargets)
	for key, n := range changed {
		require.Equal(t, 1, n, key)
	}
	require.Equal(t, 1, e.sim.Stats().Actions[clb.ActionBatchModifyTargetWeight].Requests)

	over := append(entries, entry(entries[0].Selector, weighted(clb.Target{InstanceId: "ins-zzzzzzzz", Port: 80}, 0)))
	_, err = e.setWeights(activities.SetWeightsInput{LoadBalancerId: lb, Entries: over})
	require.Equal(t, activities.ErrInvalidInput, applicationError(t, err).Type())
	require.Equal(t, 1, e.sim.Stats().Actions[clb.ActionBatchModifyTargetWeight].Requests, "nothing sent")
}

// Against the emulator: the answer is lost, the retry re-checks and finds
// the change made; nothing is sent twice.
func TestEmulatorSetWeightsLostAnswer(t *testing.T) {
	e := newEmulatedFleet(t, clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Targets: 10}, 200*time.Millisecond)
	lb := e.sel.LoadBalancerId
	entries := e.emulatedEntries(5, 0)
	e.sim.SetFaults(clbsim.Faults{{Action: clb.ActionBatchModifyTargetWeight, Kind: clbsim.FaultDrop, Probability: 1}})
	_, err := e.setWeights(activities.SetWeightsInput{LoadBalancerId: lb, Entries: entries})
	ae := applicationError(t, err)
	require.Equal(t, clb.CodeNetworkError, ae.Type())
	require.False(t, ae.NonRetryable(), "a lost answer is retried")

	e.sim.SetFaults(nil)
	e.simClock.Advance(ae.NextRetryDelay())
	res, err := e.setWeights(activities.SetWeightsInput{LoadBalancerId: lb, Entries: entries, Recheck: true})
	require.NoError(t, err)
	require.Empty(t, res.TaskID, "nothing left to send")
	require.Equal(t, entries, res.AlreadySet)
	require.Equal(t, 1, e.sim.Stats().Actions[clb.ActionBatchModifyTargetWeight].Requests)
	changed := e.changes(clb.ActionBatchModifyTargetWeight)
	require.Len(t, changed, 10)
	for key, n := range changed {
		require.Equal(t, 1, n, key)
	}
}

// Against the emulator: a target deregistered meanwhile is skipped after
// the API's not-bound answer, the rest set in one more call.
func TestEmulatorSetWeightsTargetGone(t *testing.T) {
	e := newEmulatedFleet(t, clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Targets: 10}, 200*time.Millisecond)
	lb := e.sel.LoadBalancerId
	entries := e.emulatedEntries(3, 0)
	gone := entries[1].Targets[0]
	dr, err := e.deregister(activities.DeregisterInput{Selector: entries[1].Selector, Targets: []clb.Target{gone.Target}})
	require.NoError(t, err)
	_, err = e.wait(e.env, dr.TaskID)
	require.NoError(t, err)

	res, err := e.setWeights(activities.SetWeightsInput{LoadBalancerId: lb, Entries: entries})
	require.NoError(t, err)
	require.Equal(t, []clb.BatchWeightEntry{entry(entries[1].Selector, gone)}, res.Skipped)
	require.Equal(t, []clb.BatchWeightEntry{entries[0], entry(entries[1].Selector, entries[1].Targets[1:]...)}, res.Sent)
	_, err = e.env.ExecuteActivity(e.acts.WaitForTask, activities.WaitInput{TaskID: res.TaskID, LoadBalancerID: lb, Action: clb.ActionBatchModifyTargetWeight})
	require.NoError(t, err)
	require.Len(t, e.changes(clb.ActionBatchModifyTargetWeight), 5)
	stats := e.sim.Stats().Actions[clb.ActionBatchModifyTargetWeight]
	require.Equal(t, 2, stats.Requests)
	require.Equal(t, 1, stats.Errors["InvalidParameter"], fmt.Sprint(stats.Errors))
}

// Recheck reads listener after listener once the turn is held: each read
// heartbeats, so that a batch over many listeners is not taken for a dead
// worker while it reads.
func TestSetWeightsRecheckHeartbeatsPerListener(t *testing.T) {
	h := newHarness(t)
	_, err := h.setWeights(activities.SetWeightsInput{LoadBalancerId: lbID, Recheck: true, Entries: []clb.BatchWeightEntry{
		entry(tcpSel(), weighted(cvm(0), 0)), entry(httpSel(locAPI), weighted(cvm(0), 0)), entry(httpSel(locWWW), weighted(cvm(3), 0)),
	}})
	require.NoError(t, err)
	h.mu.Lock()
	defer h.mu.Unlock()
	// One per listener read; the SDK sends the first and throttles the next.
	require.NotEmpty(t, h.heartbeats, "heartbeats while it reads")
}
