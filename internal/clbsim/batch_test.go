package clbsim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func weighted(t clb.Target, w int64) clb.WeightedTarget {
	return clb.WeightedTarget{Target: t, Weight: w}
}

// TestBatchModifyTargetWeight: one call sets weights on a layer-4 listener
// and on two rules (by LocationId and by Domain+Url) in one task, which
// holds the load balancer's lock until it completes; the audit records
// each change under the task.
func TestBatchModifyTargetWeight(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	ctx := context.Background()
	entries := []clb.BatchWeightEntry{
		{Selector: tcpSel, Targets: []clb.WeightedTarget{weighted(ins("ins-aaaa0001", 8080), 0), weighted(clb.Target{EniIp: "fd00::5", Port: 8080}, 5)}},
		{Selector: ruleSel, Targets: []clb.WeightedTarget{weighted(ins("ins-aaaa0003", 9000), 100)}},
		{Selector: clb.Selector{ListenerId: "lbl-http0001", Domain: "www.example.com", Url: "/static/"},
			Targets: []clb.WeightedTarget{weighted(ins("ins-aaaa0002", 9000), 1)}},
	}
	task, err := e.client.BatchModifyTargetWeight(ctx, "lb-test0001", entries)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := e.client.DescribeTaskStatus(ctx, task); st.Status != clb.TaskRunning {
		t.Fatalf("status = %+v, want running", st)
	}
	_, err = e.client.DeregisterTargets(ctx, udpSel, []clb.Target{ins("ins-bbbb0001", 53)})
	wantCode(t, err, "") // another load balancer is not locked
	_, err = e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0002", 8080)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	if got := bound(e.sim.State(), "lb-test0001", "lbl-tcp00001", ""); got["ins-aaaa0001:8080"] != 10 {
		t.Fatalf("applied before the task ended: %v", got)
	}

	e.clock.Advance(time.Second)
	if st, _ := e.client.DescribeTaskStatus(ctx, task); st.Status != clb.TaskSucceeded {
		t.Fatalf("status = %+v, want succeeded", st)
	}
	state := e.sim.State()
	for _, c := range []struct {
		listener, location, key string
		want                    int64
	}{
		{"lbl-tcp00001", "", "ins-aaaa0001:8080", 0},
		{"lbl-tcp00001", "", "[fd00::5]:8080", 5},
		{"lbl-tcp00001", "", "ins-aaaa0002:8080", 20},
		{"lbl-http0001", "loc-rule0001", "ins-aaaa0003:9000", 100},
		{"lbl-http0001", "loc-rule0001", "ins-aaaa0001:9000", 10},
		{"lbl-http0001", "loc-rule0002", "ins-aaaa0002:9000", 1},
	} {
		if got := bound(state, "lb-test0001", c.listener, c.location)[c.key]; got != c.want {
			t.Errorf("%s/%s %s weight = %d, want %d", c.listener, c.location, c.key, got, c.want)
		}
	}
	audit := e.sim.Audit()
	if len(audit) != 5 || audit[4].Action != clb.ActionDeregisterTargets {
		t.Fatalf("audit = %+v, want 4 weight changes and the other load balancer's deregistration", audit)
	}
	for i, want := range []struct {
		location, key string
		old, new      int64
	}{{"", "ins-aaaa0001:8080", 10, 0}, {"", "[fd00::5]:8080", 30, 5}, {"loc-rule0001", "ins-aaaa0003:9000", 10, 100}, {"loc-rule0002", "ins-aaaa0002:9000", 50, 1}} {
		a := audit[i]
		if a.Action != "BatchModifyTargetWeight" || a.TaskID != task || a.LocationId != want.location || a.Target != want.key ||
			!eqPtr(a.OldWeight, &want.old) || !eqPtr(a.NewWeight, &want.new) {
			t.Errorf("audit[%d] = %+v, want %+v", i, a, want)
		}
	}
}

// batchRule is an entry of a BatchModifyTargetWeight request as the SDK
// sends it.
func batchRule(listener, location string, weight *int64, targets ...*v20180317.Target) *v20180317.RsWeightRule {
	return &v20180317.RsWeightRule{ListenerId: opt(listener), LocationId: opt(location), Weight: weight, Targets: targets}
}

func (e *emulator) batch(lb string, rules ...*v20180317.RsWeightRule) (string, error) {
	req := v20180317.NewBatchModifyTargetWeightRequest()
	req.LoadBalancerId, req.ModifyList = opt(lb), rules
	resp, err := e.sdk.BatchModifyTargetWeight(req)
	if err != nil {
		return "", err
	}
	return *resp.Response.RequestId, nil
}

// TestBatchModifyTargetWeightEntryWeight: an entry's Weight applies to its
// targets without one; a target's own Weight wins; with neither, a
// target gets the API's default, 10, as with ModifyTargetWeight.
func TestBatchModifyTargetWeightEntryWeight(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	own := sdkTarget("ins-aaaa0002", "", 8080)
	own.Weight = common.Int64Ptr(77)
	if _, err := e.batch("lb-test0001", batchRule("lbl-tcp00001", "", common.Int64Ptr(3), sdkTarget("ins-aaaa0001", "", 8080), own)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	got := bound(e.sim.State(), "lb-test0001", "lbl-tcp00001", "")
	if got["ins-aaaa0001:8080"] != 3 || got["ins-aaaa0002:8080"] != 77 {
		t.Fatalf("weights = %v", got)
	}
	if _, err := e.batch("lb-test0001", batchRule("lbl-tcp00001", "", nil, sdkTarget("ins-aaaa0001", "", 8080))); err != nil {
		t.Fatalf("no weight anywhere: %v, want the default", err)
	}
	e.clock.Advance(time.Second)
	if got := bound(e.sim.State(), "lb-test0001", "lbl-tcp00001", "")["ins-aaaa0001:8080"]; got != 10 {
		t.Fatalf("weight = %d, want the default 10", got)
	}
}

func TestBatchModifyTargetWeightValidation(t *testing.T) {
	w := common.Int64Ptr
	tcp := func(targets ...*v20180317.Target) *v20180317.RsWeightRule {
		return batchRule("lbl-tcp00001", "", w(0), targets...)
	}
	withWeight := func(tg *v20180317.Target, n int64) *v20180317.Target { tg.Weight = &n; return tg }
	many := func(n int) []*v20180317.Target {
		var out []*v20180317.Target
		for i := range n {
			out = append(out, sdkTarget("", fmt.Sprintf("10.8.%d.%d", i/200, i%200+1), 8080))
		}
		return out
	}
	cvm := sdkTarget("ins-aaaa0001", "", 8080)
	tests := []struct {
		name        string
		lb          string
		rules       []*v20180317.RsWeightRule
		code, words string
	}{
		{"no load balancer", "", []*v20180317.RsWeightRule{tcp(cvm)}, "MissingParameter", "`LoadBalancerId`"},
		{"bad load balancer id", "lb-BAD", []*v20180317.RsWeightRule{tcp(cvm)}, "InvalidParameter.FormatError", "`LoadBalancerId`"},
		{"no ModifyList", "lb-test0001", nil, "MissingParameter", "`ModifyList`"},
		{"no listener", "lb-test0001", []*v20180317.RsWeightRule{batchRule("", "", w(0), cvm)}, "MissingParameter", "`ModifyList.0.ListenerId`"},
		{"bad listener id", "lb-test0001", []*v20180317.RsWeightRule{tcp(cvm), batchRule("lbl-x", "", w(0), cvm)}, "InvalidParameter.FormatError", "`ModifyList.1.ListenerId`"},
		{"bad location id", "lb-test0001", []*v20180317.RsWeightRule{batchRule("lbl-http0001", "loc-x", w(0), cvm)}, "InvalidParameter.FormatError", "`ModifyList.0.LocationId`"},
		{"no targets", "lb-test0001", []*v20180317.RsWeightRule{tcp()}, "MissingParameter", "`ModifyList.0.Targets`"},
		{"entry weight out of range", "lb-test0001", []*v20180317.RsWeightRule{batchRule("lbl-tcp00001", "", w(101), cvm)}, "InvalidParameterValue.Range", "`ModifyList.0.Weight`"},
		{"target weight out of range", "lb-test0001", []*v20180317.RsWeightRule{tcp(withWeight(sdkTarget("ins-aaaa0001", "", 8080), -1))}, "InvalidParameterValue.Range", "`ModifyList.0.Targets.0.Weight`"},
		{"both ids", "lb-test0001", []*v20180317.RsWeightRule{tcp(sdkTarget("ins-aaaa0001", "10.0.0.1", 8080))}, "InvalidParameter", "give exactly one"},
		{"duplicate in an entry", "lb-test0001", []*v20180317.RsWeightRule{tcp(cvm, sdkTarget("ins-aaaa0001", "", 8080))}, "InvalidParameterValue.Duplicate", "`ModifyList.0.Targets.1`"},
		{"duplicate across entries naming one rule", "lb-test0001", []*v20180317.RsWeightRule{
			batchRule("lbl-http0001", "loc-rule0002", w(0), sdkTarget("ins-aaaa0002", "", 9000)),
			{ListenerId: opt("lbl-http0001"), Domain: opt("www.example.com"), Url: opt("/static/"), Weight: w(1), Targets: []*v20180317.Target{sdkTarget("ins-aaaa0002", "", 9000)}},
		}, "InvalidParameterValue.Duplicate", "`ModifyList.1` duplicates one of `ModifyList.0`"},
		{"over 500 targets in all", "lb-test0001", []*v20180317.RsWeightRule{tcp(many(300)...), tcp(many(201)...)}, "InvalidParameterValue.Length", "501 targets"},
		{"unknown load balancer", "lb-nothere1", []*v20180317.RsWeightRule{tcp(cvm)}, "InvalidParameter.LBIdNotFound", "lb-nothere1"},
		{"unknown listener", "lb-test0001", []*v20180317.RsWeightRule{tcp(cvm), batchRule("lbl-nothere1", "", w(0), cvm)}, "InvalidParameter.ListenerIdNotFound", "`ModifyList.1`"},
		{"unknown rule", "lb-test0001", []*v20180317.RsWeightRule{batchRule("lbl-http0001", "loc-nothere1", w(0), cvm)}, "InvalidParameter.LocationNotFound", "loc-nothere1"},
		{"layer-7 rule required", "lb-test0001", []*v20180317.RsWeightRule{batchRule("lbl-http0001", "", w(0), cvm)}, "InvalidParameter", "name the rule"},
		{"layer 4 has no rules", "lb-test0001", []*v20180317.RsWeightRule{batchRule("lbl-tcp00001", "loc-rule0001", w(0), cvm)}, "InvalidParameter", "has no rules"},
		{"not bound", "lb-test0001", []*v20180317.RsWeightRule{tcp(cvm, sdkTarget("ins-aaaa0009", "", 8080)), batchRule("lbl-http0001", "loc-rule0002", w(0), sdkTarget("ins-aaaa0001", "", 9000))},
			"InvalidParameter", "not bound to lb-test0001: lbl-tcp00001 ins-aaaa0009:8080, lbl-http0001/loc-rule0002 ins-aaaa0001:9000"},
	}
	e := startWith(t, clbsim.Config{Rate: -1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.batch(tt.lb, tt.rules...)
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q does not say %q", err, tt.words)
			}
		})
	}
	if st := e.sim.Stats(); st.TasksCreated != 0 {
		t.Errorf("refused calls created %d tasks", st.TasksCreated)
	}
	// Exactly 500 targets in all go through.
	if _, err := e.batch("lb-test0001", batchRule("lbl-tcp00001", "", w(0), cvm), tcp(many(499)...)); err == nil || !strings.Contains(err.Error(), "not bound") {
		t.Errorf("500 targets: %v, want only the not-bound refusal", err)
	}
}

// TestBatchModifyTargetWeightFaultsAndDialects: a failed task changes
// nothing; injected codes, the lock code and plain not-found answers of
// the dialect apply as to the other mutating actions; the client
// classifies a target gone as not bound.
func TestBatchModifyTargetWeightFaultsAndDialects(t *testing.T) {
	ctx := context.Background()
	entries := []clb.BatchWeightEntry{{Selector: tcpSel, Targets: []clb.WeightedTarget{weighted(ins("ins-aaaa0001", 8080), 0)}}}

	e := startWith(t, clbsim.Config{Faults: clbsim.Faults{{Action: "BatchModifyTargetWeight", Kind: clbsim.FaultTaskFail, Probability: 1}}})
	task, err := e.client.BatchModifyTargetWeight(ctx, "lb-test0001", entries)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if st, _ := e.client.DescribeTaskStatus(ctx, task); st.Status != clb.TaskFailed || st.Message == "" {
		t.Errorf("status = %+v, want failed with a message", st)
	}
	if len(e.sim.Audit()) != 0 || bound(e.sim.State(), "lb-test0001", "lbl-tcp00001", "")["ins-aaaa0001:8080"] != 10 {
		t.Errorf("a failed task changed something: %+v", e.sim.Audit())
	}

	e.sim.SetFaults(clbsim.Faults{{Action: "BatchModifyTargetWeight", Kind: clbsim.FaultError, Code: "InternalError", Probability: 1}})
	_, err = e.client.BatchModifyTargetWeight(ctx, "lb-test0001", entries)
	wantCode(t, err, "InternalError")
	e.sim.SetFaults(nil)

	if _, err := e.sim.HoldLock("lb-test0001", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetDialect(clbsim.Dialect{LockCode: "FailedOperation.InvalidLBStatus", PlainNotFound: true}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.BatchModifyTargetWeight(ctx, "lb-test0001", entries)
	wantCode(t, err, "FailedOperation.InvalidLBStatus")
	_, err = e.client.BatchModifyTargetWeight(ctx, "lb-nothere1", nil)
	wantCode(t, err, "MissingParameter")
	_, err = e.client.BatchModifyTargetWeight(ctx, "lb-nothere1", []clb.BatchWeightEntry{{Selector: clb.Selector{ListenerId: "lbl-tcp00001"}, Targets: entries[0].Targets}})
	wantCode(t, err, "InvalidParameter")
	e.clock.Advance(time.Minute)

	_, err = e.client.BatchModifyTargetWeight(ctx, "lb-test0001", []clb.BatchWeightEntry{{Selector: tcpSel,
		Targets: []clb.WeightedTarget{weighted(ins("ins-aaaa0009", 8080), 0)}}})
	var ce *clb.Error
	if !errors.As(err, &ce) || ce.Class != clb.ClassNotBound {
		t.Errorf("a target not bound: %v, want class %s", err, clb.ClassNotBound)
	}
}

// TestBatchModifyTargetWeightFiveHundred: 500 targets in all, across a
// layer-4 listener and two rules of a layer-7 one, go in one call and one
// task, which holds the load balancer (a second batch is refused busy)
// and sets every weight when it completes, each target once.
func TestBatchModifyTargetWeightFiveHundred(t *testing.T) {
	state, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 170, ENI: 0.2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, clbsim.Config{State: state, Rate: -1})
	ctx := context.Background()
	lb := state.LoadBalancers[0]
	var entries []clb.BatchWeightEntry
	add := func(sel clb.Selector, targets []clb.BoundTarget, n int) {
		var ws []clb.WeightedTarget
		for i, tg := range clbsim.RequestTargets(targets)[:n] {
			ws = append(ws, weighted(tg, int64(i%101)))
		}
		entries = append(entries, clb.BatchWeightEntry{Selector: sel, Targets: ws})
	}
	for _, l := range lb.Listeners {
		if len(l.Rules) == 0 {
			add(clb.Selector{ListenerId: l.ListenerId}, l.Targets, 170)
			continue
		}
		add(clb.Selector{ListenerId: l.ListenerId, LocationId: l.Rules[0].LocationId}, l.Rules[0].Targets, 170)
		add(clb.Selector{ListenerId: l.ListenerId, Domain: l.Rules[1].Domain, Url: l.Rules[1].Url}, l.Rules[1].Targets, 160)
	}
	task, err := e.client.BatchModifyTargetWeight(ctx, lb.LoadBalancerId, entries)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.BatchModifyTargetWeight(ctx, lb.LoadBalancerId, entries[:1]); err == nil {
		t.Fatal("a second batch while the first runs was accepted")
	} else {
		wantCode(t, err, "FailedOperation.ResourceInOperating")
	}
	if len(e.sim.Audit()) != 0 {
		t.Fatal("applied before the task ended")
	}
	e.clock.Advance(time.Second)
	if st, _ := e.client.DescribeTaskStatus(ctx, task); st.Status != clb.TaskSucceeded {
		t.Fatalf("status = %+v, want succeeded", st)
	}
	audit := e.sim.Audit()
	if len(audit) != clb.MaxBatchTargets {
		t.Fatalf("%d changes, want %d", len(audit), clb.MaxBatchTargets)
	}
	seen := map[string]bool{}
	for _, c := range audit {
		k := c.ListenerId + "/" + c.LocationId + " " + c.Target
		if seen[k] || c.TaskID != task {
			t.Fatalf("change %+v: twice, or of another task", c)
		}
		seen[k] = true
	}
	if st := e.sim.Stats(); st.TasksCreated != 1 {
		t.Errorf("%d tasks, want 1", st.TasksCreated)
	}
}
