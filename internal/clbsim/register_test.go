package clbsim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// TestRegisterTargets: bindings with their weights land when the task
// completes, which holds the load balancer's lock meanwhile; every
// refusal changes nothing.
func TestRegisterTargets(t *testing.T) {
	ctx := context.Background()
	newENI := func(i int) clb.WeightedTarget {
		return weighted(clb.Target{EniIp: fmt.Sprintf("10.7.0.%d", i+1), Port: 8080}, int64(i))
	}
	var twentyOne []clb.WeightedTarget
	for i := range 21 {
		twentyOne = append(twentyOne, newENI(i))
	}
	tests := []struct {
		name        string
		sel         clb.Selector
		targets     []clb.WeightedTarget
		code, words string
		class       clb.Class
	}{
		{"already bound", tcpSel, []clb.WeightedTarget{newENI(0), weighted(ins("ins-aaaa0002", 8080), 5)}, "InvalidParameter",
			"already bound to lb-test0001/lbl-tcp00001: ins-aaaa0002:8080", clb.ClassAlreadyBound},
		{"over 20 targets", tcpSel, twentyOne, "InvalidParameterValue.Length", "at most 20", clb.ClassCallerError},
		{"weight over 100", tcpSel, []clb.WeightedTarget{weighted(ins("ins-aaaa0009", 8080), 101)}, "InvalidParameterValue.Range", "`Targets.0.Weight`", clb.ClassCallerError},
		{"layer-7 rule required", clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-http0001"}, []clb.WeightedTarget{newENI(1)},
			"InvalidParameter", "name the rule", clb.ClassAlreadyBound},
		{"unknown rule", clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-http0001", LocationId: "loc-nothere1"}, []clb.WeightedTarget{newENI(1)},
			"InvalidParameter.LocationNotFound", "loc-nothere1", clb.ClassCallerError},
		{"duplicate", tcpSel, []clb.WeightedTarget{newENI(1), weighted(clb.Target{EniIp: "10.7.0.2", Port: 8080}, 3)}, "InvalidParameterValue.Duplicate", "`Targets.1`", clb.ClassCallerError},
		{"bad instance id", tcpSel, []clb.WeightedTarget{weighted(ins("ins-X", 8080), 3)}, "InvalidParameter.FormatError", "`Targets.0.InstanceId`", clb.ClassCallerError},
	}
	e := startWith(t, clbsim.Config{Rate: -1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.RegisterTargets(ctx, tt.sel, tt.targets)
			wantCode(t, err, tt.code)
			var ce *clb.Error
			if !errors.As(err, &ce) || ce.Class != tt.class || !strings.Contains(ce.Message, tt.words) {
				t.Errorf("error %v: want class %s and words %q", err, tt.class, tt.words)
			}
		})
	}
	if st := e.sim.Stats(); st.TasksCreated != 0 {
		t.Fatalf("refused calls created %d tasks", st.TasksCreated)
	}

	// Twenty targets, on a layer-4 listener and on a rule named by Domain
	// and Url; the lock holds until the task ends.
	task, err := e.client.RegisterTargets(ctx, tcpSel, twentyOne[:20])
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.RegisterTargets(ctx, clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-http0001", Domain: "www.example.com", Url: "/static/"},
		[]clb.WeightedTarget{weighted(ins("ins-aaaa0003", 9000), 0)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	if got := bound(e.sim.State(), "lb-test0001", "lbl-tcp00001", ""); len(got) != 4 {
		t.Fatalf("bound before the task ended: %v", got)
	}
	e.clock.Advance(time.Second)
	if st, _ := e.client.DescribeTaskStatus(ctx, task); st.Status != clb.TaskSucceeded {
		t.Fatalf("status = %+v", st)
	}
	if _, err = e.client.RegisterTargets(ctx, clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-http0001", Domain: "www.example.com", Url: "/static/"},
		[]clb.WeightedTarget{weighted(ins("ins-aaaa0003", 9000), 0)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	got := bound(e.sim.State(), "lb-test0001", "lbl-tcp00001", "")
	for i := range 20 {
		if w, ok := got[fmt.Sprintf("10.7.0.%d:8080", i+1)]; !ok || w != int64(i) {
			t.Errorf("10.7.0.%d: bound %v with weight %d, want weight %d", i+1, ok, w, i)
		}
	}
	if w, ok := bound(e.sim.State(), "lb-test0001", "lbl-http0001", "loc-rule0002")["ins-aaaa0003:9000"]; !ok || w != 0 {
		t.Errorf("rule by Domain and Url: bound %v weight %d, want weight 0", ok, w)
	}
}

// TestRegisterTargetsExactlyOnceThroughLostAnswers: with every answer of
// RegisterTargets dropped, a caller that sends each chunk until it is
// told "already bound" binds each target once, as the audit proves.
func TestRegisterTargetsExactlyOnceThroughLostAnswers(t *testing.T) {
	e := startWith(t, clbsim.Config{Rate: -1, Faults: clbsim.Faults{{Action: clb.ActionRegisterTargets, Kind: clbsim.FaultDrop, Probability: 1}}})
	ctx := context.Background()
	var targets []clb.WeightedTarget
	for i := range 40 {
		targets = append(targets, weighted(clb.Target{EniIp: fmt.Sprintf("10.6.0.%d", i+1), Port: 80}, 10))
	}
	for start := 0; start < len(targets); start += clb.MaxTargetsPerCall {
		chunk := targets[start : start+clb.MaxTargetsPerCall]
		for attempt := 0; ; attempt++ {
			_, err := e.client.RegisterTargets(ctx, udpSel, chunk)
			var ce *clb.Error
			if !errors.As(err, &ce) {
				t.Fatalf("chunk %d attempt %d: %v", start, attempt, err)
			}
			if ce.Class == clb.ClassAlreadyBound {
				break
			}
			if ce.Class == clb.ClassBusy || ce.Code == clb.CodeNetworkError || ce.Code == clb.CodeIOError {
				e.clock.Advance(time.Second)
				continue
			}
			t.Fatalf("chunk %d attempt %d: %v", start, attempt, err)
		}
	}
	count := map[string]int{}
	for _, c := range e.sim.Audit() {
		if c.Action == clb.ActionRegisterTargets {
			count[c.Target]++
		}
	}
	if len(count) != 40 {
		t.Fatalf("registered %d targets, want 40", len(count))
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s registered %d times", k, n)
		}
	}
}
