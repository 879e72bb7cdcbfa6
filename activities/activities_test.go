package activities_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

const (
	lbID    = "lb-abc12345"
	tcpID   = "lbl-tcp00001"
	httpID  = "lbl-http0001"
	locAPI  = "loc-aaaaaaaa"
	locWWW  = "loc-bbbbbbbb"
	ghostID = "lbl-ghost001"
)

func cvm(i int) clb.Target { return clb.Target{InstanceId: fmt.Sprintf("ins-%08d", i), Port: 80} }

func cvms(ids ...int) []clb.Target {
	var out []clb.Target
	for _, i := range ids {
		out = append(out, cvm(i))
	}
	return out
}

func eni(ip string) clb.Target { return clb.Target{EniIp: ip, Port: 8080} }

func weighted(t clb.Target, w int64) clb.WeightedTarget {
	return clb.WeightedTarget{Target: t, Weight: w}
}

func boundCVM(i int, w int64) clb.BoundTarget {
	t := cvm(i)
	return clb.BoundTarget{Type: "CVM", InstanceId: t.InstanceId, Port: t.Port, Weight: w,
		PrivateIpAddresses: []string{fmt.Sprintf("10.1.0.%d", i)}}
}

func tcpSel() clb.Selector { return clb.Selector{LoadBalancerId: lbID, ListenerId: tcpID} }

func httpSel(loc string) clb.Selector {
	return clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, LocationId: loc}
}

// testWriter sends the SDK's log lines to the test's log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

type harness struct {
	t       *testing.T
	clock   *clock
	clb     *fakeCLB
	acts    *activities.Activities
	env     *testsuite.TestActivityEnvironment
	metrics *metricsRecorder

	mu         sync.Mutex
	heartbeats []activities.WaitProgress
}

// newHarness is a fleet with a TCP listener (five CVMs and two ENI IPs)
// and an HTTP listener with two rules.
func newHarness(t *testing.T) *harness {
	c := newClock()
	f := newFakeCLB(c)
	f.listeners[tcpID] = &clb.Listener{ListenerId: tcpID, Protocol: clb.ProtocolTCP, Port: 80, Targets: []clb.BoundTarget{
		boundCVM(0, 10), boundCVM(1, 11), boundCVM(2, 12), boundCVM(3, 13), boundCVM(4, 14),
		{Type: "ENI", PrivateIpAddresses: []string{"10.0.0.7"}, Port: 8080, Weight: 30},
		{Type: "ENI", PrivateIpAddresses: []string{"fd00::5"}, Port: 8080, Weight: 40},
	}}
	f.listeners[httpID] = &clb.Listener{ListenerId: httpID, Protocol: clb.ProtocolHTTPS, Port: 443, Rules: []clb.Rule{
		{LocationId: locAPI, Domain: "api.example.com", Url: "/v1", Targets: []clb.BoundTarget{boundCVM(0, 50), boundCVM(1, 51), boundCVM(2, 52)}},
		{LocationId: locWWW, Domain: "www.example.com", Url: "/", Targets: []clb.BoundTarget{boundCVM(3, 60)}},
	}}
	f.listeners[ghostID] = &clb.Listener{ListenerId: "lbl-other001", Protocol: clb.ProtocolTCP}
	h := &harness{t: t, clock: c, clb: f, metrics: newMetrics(),
		acts: &activities.Activities{CLB: f, Sleep: c.Sleep, Now: c.Now}}
	h.env = h.newEnv(context.Background())
	return h
}

func (h *harness) newEnv(background context.Context) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{h.t}, nil))))
	s.SetMetricsHandler(h.metrics)
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: background})
	env.RegisterActivity(h.acts)
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p activities.WaitProgress
		require.NoError(h.t, details.Get(&p))
		h.mu.Lock()
		defer h.mu.Unlock()
		h.heartbeats = append(h.heartbeats, p)
	})
	return env
}

func (h *harness) snapshot(in activities.SnapshotInput) (activities.SnapshotResult, error) {
	var res activities.SnapshotResult
	v, err := h.env.ExecuteActivity(h.acts.Snapshot, in)
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func (h *harness) deregister(in activities.DeregisterInput) (activities.DeregisterResult, error) {
	var res activities.DeregisterResult
	v, err := h.env.ExecuteActivity(h.acts.DeregisterTargets, in)
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func (h *harness) setWeight(in activities.SetWeightInput) (activities.SetWeightResult, error) {
	var res activities.SetWeightResult
	v, err := h.env.ExecuteActivity(h.acts.SetWeight, in)
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func (h *harness) wait(env *testsuite.TestActivityEnvironment, taskID string) (activities.WaitResult, error) {
	var res activities.WaitResult
	v, err := env.ExecuteActivity(h.acts.WaitForTask, activities.WaitInput{TaskID: taskID})
	if err == nil {
		require.NoError(h.t, v.Get(&res))
	}
	return res, err
}

func (h *harness) bound(listener string) []clb.BoundTarget {
	h.clb.mu.Lock()
	defer h.clb.mu.Unlock()
	return append([]clb.BoundTarget(nil), h.clb.listeners[listener].Targets...)
}

func sdkErr(code, msg string) error { return tcerr.NewTencentCloudSDKError(code, msg, "req-42") }

func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "not an ApplicationError: %v", err)
	return ae
}

func TestSnapshotLayer4(t *testing.T) {
	h := newHarness(t)
	in := []clb.Target{cvm(0), cvm(9), eni("10.0.0.7"), eni("fd00:0::5"), {InstanceId: cvm(1).InstanceId, Port: 81}, cvm(4)}
	res, err := h.snapshot(activities.SnapshotInput{Selector: tcpSel(), Targets: in})
	require.NoError(t, err)
	require.Equal(t, clb.ProtocolTCP, res.Protocol)
	require.Equal(t, tcpSel(), res.Selector)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(0), 10), weighted(eni("10.0.0.7"), 30), weighted(eni("fd00::5"), 40), weighted(cvm(4), 14)}, res.Bound,
		"bound targets in input order with their current weights; an ENI IP matches in any spelling and is named as bound")
	require.Equal(t, []clb.Renamed{{Requested: eni("fd00:0::5"), Bound: eni("fd00::5")}}, res.Renamed)
	require.Equal(t, []clb.Target{cvm(9), {InstanceId: cvm(1).InstanceId, Port: 81}}, res.Absent)
}

func TestSnapshotLayer7(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sel        clb.Selector
		want       clb.Selector
		wantBound  []clb.WeightedTarget
		wantAbsent []clb.Target
	}{
		{"by LocationId", httpSel(locAPI),
			clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, LocationId: locAPI, Domain: "api.example.com", Url: "/v1"},
			[]clb.WeightedTarget{weighted(cvm(0), 50), weighted(cvm(2), 52)}, cvms(3)},
		{"by Domain and Url, host in any case", clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, Domain: "API.Example.com", Url: "/v1"},
			clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, LocationId: locAPI, Domain: "api.example.com", Url: "/v1"},
			[]clb.WeightedTarget{weighted(cvm(0), 50), weighted(cvm(2), 52)}, cvms(3)},
		{"LocationId and Domain and Url of one rule", clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, LocationId: locWWW, Domain: "WWW.example.com", Url: "/"},
			clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, LocationId: locWWW, Domain: "www.example.com", Url: "/"},
			[]clb.WeightedTarget{weighted(cvm(3), 60)}, cvms(0, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := h.snapshot(activities.SnapshotInput{Selector: tc.sel, Targets: cvms(0, 3, 2)})
			require.NoError(t, err)
			require.Equal(t, clb.ProtocolHTTPS, res.Protocol)
			require.Equal(t, tc.want, res.Selector)
			require.Equal(t, tc.wantBound, res.Bound)
			require.Equal(t, tc.wantAbsent, res.Absent)
		})
	}
}

func TestSnapshotRefusesWhatItCannotName(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		sel       clb.Selector
		want      []string
	}{
		{"layer 7 without a rule", activities.ErrNoRule, clb.Selector{LoadBalancerId: lbID, ListenerId: httpID},
			[]string{"listener lbl-http0001 of lb-abc12345 is HTTPS (layer 7)", "loc-aaaaaaaa (api.example.com/v1), loc-bbbbbbbb (www.example.com/)"}},
		{"unknown LocationId", activities.ErrNoRule, httpSel("loc-cccccccc"),
			[]string{`listener lbl-http0001 of lb-abc12345 has no rule "loc-cccccccc"`}},
		{"unknown Domain and Url", activities.ErrNoRule, clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, Domain: "api.example.com", Url: "/v2"},
			[]string{`has no rule "api.example.com/v2"`}},
		{"rule on layer 4", activities.ErrInvalidInput, clb.Selector{LoadBalancerId: lbID, ListenerId: tcpID, LocationId: locAPI},
			[]string{"listener lbl-tcp00001 of lb-abc12345 is TCP (layer 4)", "leave LocationId, Domain and Url empty"}},
		{"LocationId and Domain and Url of two rules", activities.ErrInvalidInput,
			clb.Selector{LoadBalancerId: lbID, ListenerId: httpID, LocationId: locWWW, Domain: "api.example.com", Url: "/v1"},
			[]string{"LocationId loc-bbbbbbbb is the rule www.example.com/, not Domain+Url api.example.com/v1"}},
		{"another listener answered", activities.ErrNoListener, clb.Selector{LoadBalancerId: lbID, ListenerId: ghostID},
			[]string{"listener lbl-ghost001 of lb-abc12345 not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.snapshot(activities.SnapshotInput{Selector: tc.sel, Targets: cvms(0)})
			ae := applicationError(t, err)
			require.Equal(t, tc.typ, ae.Type())
			require.True(t, ae.NonRetryable())
			for _, w := range tc.want {
				require.Contains(t, ae.Error(), w)
			}
		})
	}
}

func TestAPIErrorsAreTypedByCode(t *testing.T) {
	for _, tc := range []struct {
		err          error
		code         string
		nonRetryable bool
		minDelay     time.Duration
		maxDelay     time.Duration
	}{
		{sdkErr("RequestLimitExceeded", "too fast"), "RequestLimitExceeded", false, time.Second, 1500 * time.Millisecond},
		{sdkErr("InternalError", "oops"), "InternalError", false, time.Second, 1250 * time.Millisecond},
		{sdkErr("InvalidParameter.LBIdNotFound", "no such lb"), "InvalidParameter.LBIdNotFound", true, 0, 0},
		{sdkErr("AuthFailure.SignatureFailure", "bad signature"), "AuthFailure.SignatureFailure", true, 0, 0},
		{sdkErr("FailedOperation", "hmm"), "FailedOperation", false, 2 * time.Second, 2250 * time.Millisecond},
		{errors.New("connection reset by peer"), clb.CodeNetworkError, false, time.Second, 1250 * time.Millisecond},
	} {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t)
			h.clb.fail(clb.ActionDescribeTargets, tc.err)
			_, err := h.snapshot(activities.SnapshotInput{Selector: tcpSel(), Targets: cvms(0)})
			ae := applicationError(t, err)
			require.Equal(t, tc.code, ae.Type())
			require.Equal(t, tc.nonRetryable, ae.NonRetryable())
			require.GreaterOrEqual(t, ae.NextRetryDelay(), tc.minDelay)
			require.LessOrEqual(t, ae.NextRetryDelay(), tc.maxDelay)
			require.Contains(t, ae.Error(), "DescribeTargets: "+tc.code)
			var sdk *tcerr.TencentCloudSDKError
			if errors.As(tc.err, &sdk) {
				require.Contains(t, ae.Error(), "(RequestId req-42)")
			}
			class := clb.ClassOf(clb.ActionDescribeTargets, tc.code)
			require.EqualValues(t, 1, h.metrics.counter(activities.MetricAPIErrors, "action=DescribeTargets", "class="+string(class), "code="+tc.code))
		})
	}
}

func TestDeregisterSendsTheChunk(t *testing.T) {
	h := newHarness(t)
	res, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: []clb.Target{cvm(0), eni("10.0.0.7")}})
	require.NoError(t, err)
	require.Equal(t, "req-0001", res.TaskID)
	require.Equal(t, []clb.Target{cvm(0), eni("10.0.0.7")}, res.Sent)
	require.Empty(t, res.AlreadyGone)
	require.Equal(t, 1, res.Attempt)
	require.Equal(t, h.clock.Now(), res.TaskCreated, "the task runs from the answer on")
	require.Equal(t, []string{clb.ActionDeregisterTargets}, h.clb.calls, "a first attempt does not re-check")
	require.Len(t, h.bound(tcpID), 5)
	require.EqualValues(t, 2, h.metrics.counter(activities.MetricTargetsDeregistered))
}

func TestDeregisterRecheckSendsOnlyWhatIsBound(t *testing.T) {
	h := newHarness(t)
	res, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1, 8, 2), Recheck: true})
	require.NoError(t, err)
	require.Equal(t, cvms(1, 2), res.Sent)
	require.Equal(t, cvms(8), res.AlreadyGone)
	require.Equal(t, []string{clb.ActionDescribeTargets, clb.ActionDeregisterTargets}, h.clb.calls)

	res, err = h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(1, 2), Recheck: true})
	require.NoError(t, err)
	require.Empty(t, res.TaskID, "nothing left to send")
	require.Empty(t, res.Sent)
	require.Equal(t, cvms(1, 2), res.AlreadyGone)
	require.Equal(t, 1, h.clb.count(clb.ActionDeregisterTargets))
}

// Recheck reads what is bound and changes nothing.
func TestRecheckOnlyReads(t *testing.T) {
	h := newHarness(t)
	v, err := h.env.ExecuteActivity(h.acts.Recheck, activities.RecheckInput{Selector: tcpSel(), Targets: cvms(1, 8, 2)})
	require.NoError(t, err)
	var res activities.RecheckResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, cvms(1, 2), res.Bound)
	require.Equal(t, cvms(8), res.Gone)
	require.Equal(t, []string{clb.ActionDescribeTargets}, h.clb.calls)
}

// A rule whose Url another writer changed after the drain resolved it is
// still re-checked by its LocationId; only the user's input is held to
// LocationId and Domain+Url naming one rule.
func TestRecheckFollowsARuleByLocationID(t *testing.T) {
	h := newHarness(t)
	stale := httpSel(locAPI)
	stale.Domain, stale.Url = "api.example.com", "/renamed-since"
	v, err := h.env.ExecuteActivity(h.acts.Recheck, activities.RecheckInput{Selector: stale, Targets: cvms(0, 3)})
	require.NoError(t, err)
	var res activities.RecheckResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, cvms(0), res.Bound)
	require.Equal(t, cvms(3), res.Gone)
	dr, err := h.deregister(activities.DeregisterInput{Selector: stale, Targets: cvms(0, 3), Recheck: true})
	require.NoError(t, err)
	require.Equal(t, cvms(0), dr.Sent)

	_, err = h.env.ExecuteActivity(h.acts.Snapshot, activities.SnapshotInput{Selector: stale, Targets: cvms(0)})
	require.ErrorContains(t, err, "name one rule", "the user's own input is still checked")
}

func TestDeregisterRecheckOnARule(t *testing.T) {
	h := newHarness(t)
	res, err := h.deregister(activities.DeregisterInput{Selector: httpSel(locAPI), Targets: cvms(0, 3), Recheck: true})
	require.NoError(t, err)
	require.Equal(t, cvms(0), res.Sent)
	require.Equal(t, cvms(3), res.AlreadyGone, "cvm 3 is bound to another rule only")
}

func TestDeregisterNotBound(t *testing.T) {
	t.Run("none bound is done", func(t *testing.T) {
		h := newHarness(t)
		res, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(7, 8)})
		require.NoError(t, err)
		require.Empty(t, res.TaskID)
		require.Equal(t, cvms(7, 8), res.AlreadyGone)
		require.Equal(t, []string{clb.ActionDeregisterTargets, clb.ActionDescribeTargets}, h.clb.calls)
	})
	t.Run("those still bound are sent once", func(t *testing.T) {
		h := newHarness(t)
		res, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0, 8, 1)})
		require.NoError(t, err)
		require.Equal(t, cvms(0, 1), res.Sent)
		require.Equal(t, cvms(8), res.AlreadyGone)
		require.NotEmpty(t, res.TaskID)
		require.Equal(t, []string{clb.ActionDeregisterTargets, clb.ActionDescribeTargets, clb.ActionDeregisterTargets}, h.clb.calls)
		require.Equal(t, [][]clb.Target{cvms(0, 1)}, h.clb.sent[clb.ActionDeregisterTargets])
	})
	t.Run("all still bound is a caller error", func(t *testing.T) {
		h := newHarness(t)
		h.clb.fail(clb.ActionDeregisterTargets, sdkErr("InvalidParameter", "bad request"))
		_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0, 1)})
		ae := applicationError(t, err)
		require.Equal(t, "InvalidParameter", ae.Type())
		require.True(t, ae.NonRetryable())
		require.Contains(t, ae.Error(), "DeregisterTargets: InvalidParameter: bad request (RequestId req-42)")
		require.Equal(t, 1, h.clb.count(clb.ActionDeregisterTargets))
		require.Len(t, h.bound(tcpID), 7)
	})
}

func TestDeregisterErrors(t *testing.T) {
	for _, tc := range []struct {
		code         string
		nonRetryable bool
	}{
		{"FailedOperation.ResourceInOperating", false},
		{"RequestLimitExceeded.UinLimitExceeded", false},
		{"InvalidParameterValue.Duplicate", true},
		{"UnauthorizedOperation", true},
	} {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t)
			h.clb.fail(clb.ActionDeregisterTargets, sdkErr(tc.code, "refused"))
			_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0)})
			ae := applicationError(t, err)
			require.Equal(t, tc.code, ae.Type())
			require.Equal(t, tc.nonRetryable, ae.NonRetryable())
			require.Equal(t, !tc.nonRetryable, ae.NextRetryDelay() >= time.Second)
			require.Len(t, h.bound(tcpID), 7)
		})
	}
}

func TestBatchBounds(t *testing.T) {
	h := newHarness(t)
	many := make([]clb.Target, clb.MaxTargetsPerCall+1)
	for i := range many {
		many[i] = cvm(i)
	}
	_, err := h.deregister(activities.DeregisterInput{Selector: tcpSel(), Targets: many})
	require.Equal(t, activities.ErrInvalidInput, applicationError(t, err).Type())
	_, err = h.setWeight(activities.SetWeightInput{Selector: tcpSel()})
	require.Equal(t, activities.ErrInvalidInput, applicationError(t, err).Type())
	_, err = h.wait(h.env, "")
	require.Equal(t, activities.ErrInvalidInput, applicationError(t, err).Type())
	require.Empty(t, h.clb.calls)
}

func TestSetWeight(t *testing.T) {
	h := newHarness(t)
	res, err := h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(0), 0), weighted(cvm(1), 77)}})
	require.NoError(t, err)
	require.NotEmpty(t, res.TaskID)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(0), 0), weighted(cvm(1), 77)}, res.Sent)
	b := h.bound(tcpID)
	require.EqualValues(t, 0, b[0].Weight)
	require.EqualValues(t, 77, b[1].Weight, "each target's own weight wins")
	require.EqualValues(t, 2, h.metrics.counter(activities.MetricTargetsWeightSet))

	res, err = h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(9), 10), weighted(cvm(2), 20)}, Recheck: true})
	require.NoError(t, err)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(2), 20)}, res.Sent)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(9), 10)}, res.Skipped)
}

// A target removed by someone else is skipped, not a failure: the not-bound
// answer is checked and the targets still bound are sent again.
func TestSetWeightSkipsWhatWasRemoved(t *testing.T) {
	h := newHarness(t)
	h.clb.listeners[tcpID].Targets = h.clb.listeners[tcpID].Targets[1:] // cvm(0) removed meanwhile
	res, err := h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(0), 0), weighted(cvm(1), 0)}})
	require.NoError(t, err)
	require.NotEmpty(t, res.TaskID)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(1), 0)}, res.Sent)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(0), 0)}, res.Skipped)
	require.EqualValues(t, 0, h.bound(tcpID)[0].Weight)
	require.Equal(t, []string{clb.ActionModifyTargetWeight, clb.ActionDescribeTargets, clb.ActionModifyTargetWeight}, h.clb.calls)

	// Every target gone: nothing to send, no task.
	res, err = h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(0), 0)}})
	require.NoError(t, err)
	require.Empty(t, res.TaskID)
	require.Equal(t, []clb.WeightedTarget{weighted(cvm(0), 0)}, res.Skipped)

	// Every target still bound: the answer is about something else.
	h.clb.fail(clb.ActionModifyTargetWeight, sdkErr("InvalidParameter", "Weight is invalid"))
	_, err = h.setWeight(activities.SetWeightInput{Selector: tcpSel(), Targets: []clb.WeightedTarget{weighted(cvm(1), 0)}})
	ae := applicationError(t, err)
	require.Equal(t, "InvalidParameter", ae.Type())
	require.True(t, ae.NonRetryable())
}

func TestWaitForTask(t *testing.T) {
	h := newHarness(t)
	id := h.clb.addTask(2 * time.Second)
	res, err := h.wait(h.env, id)
	require.NoError(t, err)
	require.Equal(t, h.clb.count(clb.ActionDescribeTaskStatus), res.Polls)
	require.GreaterOrEqual(t, res.Elapsed, 2*time.Second)
	require.NotEmpty(t, h.heartbeats)
	require.EqualValues(t, res.Polls, h.metrics.counter(activities.MetricTaskPolls))
	require.EqualValues(t, 1, h.metrics.counter(activities.MetricTasksWaited, "outcome=succeeded"))
	require.Equal(t, []time.Duration{res.Elapsed}, h.metrics.timer(activities.MetricTaskWaitDuration))
}

// TestWaitForTaskAdapts drains a listener's worth of 2 s tasks and checks
// the polling budget: on average at most 4 DescribeTaskStatus calls per
// task, and the end seen within 150 ms.
func TestWaitForTaskAdapts(t *testing.T) {
	h := newHarness(t)
	const tasks = 60
	var lag time.Duration
	polls := 0
	for i := range tasks {
		// 2 s give or take 60 ms, as a real CLB varies.
		d := 2*time.Second + time.Duration((i*37)%13-6)*10*time.Millisecond
		id := h.clb.addTask(d)
		end := h.clock.Now().Add(d)
		res, err := h.wait(h.env, id)
		require.NoError(t, err)
		lag += h.clock.Now().Sub(end)
		polls += res.Polls
		if i == 0 {
			require.Greater(t, res.Polls, 3, "the first task, before any estimate, takes more polls")
		}
	}
	avgPolls := float64(polls) / tasks
	avgLag := lag / tasks
	t.Logf("average: %.2f polls, %v detection lag", avgPolls, avgLag)
	require.LessOrEqual(t, avgPolls, 4.0)
	require.Less(t, avgLag, 150*time.Millisecond)
	require.Equal(t, polls, h.clb.count(clb.ActionDescribeTaskStatus))
}

func TestWaitForTaskFailed(t *testing.T) {
	h := newHarness(t)
	h.clb.taskStatus, h.clb.taskMsg = clb.TaskFailed, "real server health check failed"
	id := h.clb.addTask(time.Second)
	_, err := h.wait(h.env, id)
	ae := applicationError(t, err)
	require.Equal(t, activities.ErrTaskFailed, ae.Type())
	require.True(t, ae.NonRetryable())
	require.Contains(t, ae.Error(), "CLB task "+id+" failed: real server health check failed")
	var tf activities.TaskFailure
	require.NoError(t, ae.Details(&tf))
	require.Equal(t, activities.TaskFailure{TaskID: id, Message: "real server health check failed", Polls: h.clb.count(clb.ActionDescribeTaskStatus)}, tf)
	require.EqualValues(t, 1, h.metrics.counter(activities.MetricTasksWaited, "outcome=failed"))
}

func TestWaitForTaskErrors(t *testing.T) {
	t.Run("throttled and transient answers are polled through", func(t *testing.T) {
		h := newHarness(t)
		h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("RequestLimitExceeded", "slow down"), sdkErr("InternalError", "oops"),
			sdkErr("RequestLimitExceeded", "slow down"))
		id := h.clb.addTask(100 * time.Millisecond)
		res, err := h.wait(h.env, id)
		require.NoError(t, err)
		require.Equal(t, 4, res.Polls)
		require.GreaterOrEqual(t, res.Elapsed, 3*time.Second, "each error waits its class's delay")
	})
	t.Run("transient past its bound fails", func(t *testing.T) {
		h := newHarness(t)
		for range activities.TransientMaxAttempts {
			h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("InternalError", "oops"))
		}
		_, err := h.wait(h.env, h.clb.addTask(time.Second))
		ae := applicationError(t, err)
		require.Equal(t, "InternalError", ae.Type())
		require.True(t, ae.NonRetryable(), "the class's bound is spent inside the activity")
		require.Equal(t, activities.TransientMaxAttempts, h.clb.count(clb.ActionDescribeTaskStatus))
	})
	t.Run("a throttled spell does not use up the transient bound", func(t *testing.T) {
		h := newHarness(t)
		for range 2 * activities.TransientMaxAttempts {
			h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("RequestLimitExceeded", "slow down"))
		}
		h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("InternalError", "oops"))
		id := h.clb.addTask(100 * time.Millisecond)
		res, err := h.wait(h.env, id)
		require.NoError(t, err)
		require.Equal(t, 2*activities.TransientMaxAttempts+2, res.Polls)
		require.Less(t, h.clock.sleeps[len(h.clock.sleeps)-1], 2*time.Second, "the first transient fault waits the first delay")
	})
	t.Run("a caller error fails at once", func(t *testing.T) {
		h := newHarness(t)
		h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("MissingParameter", "TaskId"))
		_, err := h.wait(h.env, h.clb.addTask(time.Second))
		ae := applicationError(t, err)
		require.Equal(t, "MissingParameter", ae.Type())
		require.True(t, ae.NonRetryable())
		require.Equal(t, 1, h.clb.count(clb.ActionDescribeTaskStatus))
	})
	for _, code := range []string{"InvalidParameter", "ResourceNotFound"} {
		t.Run("an unknown task answered "+code+" is TaskUnknown", func(t *testing.T) {
			h := newHarness(t)
			id := h.clb.addTask(2 * time.Second)
			h.clb.fail(clb.ActionDescribeTaskStatus, sdkErr("RequestLimitExceeded", "slow down"), sdkErr(code, "task not found"))
			_, err := h.wait(h.env, id)
			ae := applicationError(t, err)
			require.Equal(t, activities.ErrTaskUnknown, ae.Type())
			require.True(t, ae.NonRetryable(), "the workflow re-checks; polling on cannot help")
			var tf activities.TaskFailure
			require.NoError(t, ae.Details(&tf))
			require.Equal(t, id, tf.TaskID)
			require.Equal(t, 2, tf.Polls)
			require.Contains(t, tf.Message, code+": task not found")
			require.EqualValues(t, 1, h.metrics.counter(activities.MetricTasksWaited, "outcome=unknown"))
		})
	}
	t.Run("an Action that makes no task is refused", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.env.ExecuteActivity(h.acts.WaitForTask, activities.WaitInput{TaskID: "t-1", Action: clb.ActionDescribeTargets})
		ae := applicationError(t, err)
		require.Equal(t, activities.ErrInvalidInput, ae.Type())
		require.Contains(t, ae.Error(), `Action "DescribeTargets"`)
	})
}

func TestWaitForTaskResumesFromHeartbeat(t *testing.T) {
	h := newHarness(t)
	started := h.clock.Now()
	id := h.clb.addTask(3 * time.Second)
	h.clock.mu.Lock()
	h.clock.now = h.clock.now.Add(10 * time.Second) // the first worker crashed
	h.clock.mu.Unlock()
	h.env.SetHeartbeatDetails(activities.WaitProgress{Polls: 4, Started: started, FirstPoll: started.Add(time.Second)})
	res, err := h.wait(h.env, id)
	require.NoError(t, err)
	require.Equal(t, 5, res.Polls, "the count goes on from the heartbeat")
	require.Equal(t, 10*time.Second, res.Elapsed, "measured from the first attempt's start")
	require.Empty(t, h.clock.sleeps, "a resumed wait polls at once")
	require.Empty(t, h.heartbeats, "the poll that saw the end completes the wait: no heartbeat")
}

func TestWaitForTaskResumedHeartbeatsItsProgressOn(t *testing.T) {
	h := newHarness(t)
	started := h.clock.Now()
	id := h.clb.addTask(10100 * time.Millisecond)
	h.clock.mu.Lock()
	h.clock.now = h.clock.now.Add(10 * time.Second) // the first worker crashed
	h.clock.mu.Unlock()
	h.env.SetHeartbeatDetails(activities.WaitProgress{Polls: 4, Started: started, FirstPoll: started.Add(time.Second)})
	res, err := h.wait(h.env, id)
	require.NoError(t, err)
	require.Equal(t, 6, res.Polls, "the count goes on from the heartbeat")
	require.NotEmpty(t, h.heartbeats)
	require.Equal(t, activities.WaitProgress{Polls: 5, Started: started, FirstPoll: started.Add(time.Second)}, h.heartbeats[0],
		"the task seen running: the progress goes on from the first attempt's")
}

func TestWaitForTaskStopsOnCancel(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := h.newEnv(ctx)
	h.clock.onSleep = func(_ context.Context, _ time.Duration) {
		if h.clb.count(clb.ActionDescribeTaskStatus) == 2 {
			cancel()
		}
	}
	_, err := h.wait(env, h.clb.addTask(time.Hour))
	require.Error(t, err)
	require.ErrorContains(t, err, context.Canceled.Error())
	require.Equal(t, 2, h.clb.count(clb.ActionDescribeTaskStatus), "no poll after the cancellation")
}

// Temporal retries a mutating activity attempt after attempt; the retry
// policies bound and spaces the retries of each class by that class's
// failures, which travel from attempt to attempt in the heartbeat details:
// a throttled spell longer than the transient bound, then one InternalError,
// is retried.
func TestRetriesCountFailuresOfEachClassAcrossAttempts(t *testing.T) {
	h := newHarness(t)
	spell := activities.TransientMaxAttempts + 2
	for range spell {
		h.clb.fail(clb.ActionDeregisterTargets, sdkErr("RequestLimitExceeded", "slow down"))
	}
	h.clb.fail(clb.ActionDeregisterTargets, sdkErr("InternalError", "oops"))

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(h.acts)
	deregister := func(ctx workflow.Context) (activities.DeregisterResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: int32(spell + 5)}})
		var res activities.DeregisterResult
		err := workflow.ExecuteActivity(ctx, h.acts.DeregisterTargets,
			activities.DeregisterInput{Selector: tcpSel(), Targets: cvms(0, 1)}).Get(ctx, &res)
		return res, err
	}
	env.RegisterWorkflow(deregister)
	env.ExecuteWorkflow(deregister)
	require.NoError(t, env.GetWorkflowError())
	var res activities.DeregisterResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, spell+2, res.Attempt, "every throttled answer and the InternalError were retried")
	require.Equal(t, spell+2, h.clb.count(clb.ActionDeregisterTargets))
}
