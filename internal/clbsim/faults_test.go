package clbsim_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestParseFaults(t *testing.T) {
	spec := "DeregisterTargets:InternalError:0.1, DeregisterTargets:drop:0.05,*:taskfail:0.05,*:latency:200ms,DescribeTaskStatus:latency:1s:0.5,ModifyTargetWeight:FailedOperation.ResourceInOperating:1"
	got, err := clbsim.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := clbsim.Faults{
		{Action: "DeregisterTargets", Kind: clbsim.FaultError, Code: "InternalError", Probability: 0.1},
		{Action: "DeregisterTargets", Kind: clbsim.FaultDrop, Probability: 0.05},
		{Action: "*", Kind: clbsim.FaultTaskFail, Probability: 0.05},
		{Action: "*", Kind: clbsim.FaultLatency, Probability: 1, Latency: 200 * time.Millisecond},
		{Action: "DescribeTaskStatus", Kind: clbsim.FaultLatency, Probability: 0.5, Latency: time.Second},
		{Action: "ModifyTargetWeight", Kind: clbsim.FaultError, Code: "FailedOperation.ResourceInOperating", Probability: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseFaults = %+v\nwant %+v", got, want)
	}
	again, err := clbsim.ParseFaults(got.String())
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("round trip through %q: %+v, %v", got.String(), again, err)
	}
	if f, err := clbsim.ParseFaults(" "); err != nil || f != nil {
		t.Errorf("empty spec: %v, %v", f, err)
	}
	for _, bad := range []string{
		"DeregisterTargets:InternalError",
		"Deregister:InternalError:0.1",
		"DeregisterTargets:InternalError:1.5",
		"DeregisterTargets:internalError:0.1",
		"DeregisterTargets:Internal..Error:0.1",
		"*:latency:soon",
		"*:latency:-1s",
		"*:drop:0.1:0.2",
		"*:drop:x",
	} {
		if _, err := clbsim.ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
}

func TestInjectedErrorChangesNothing(t *testing.T) {
	f, _ := clbsim.ParseFaults("DeregisterTargets:InternalError:1")
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Faults: f})
	_, err := c.DeregisterTargets(context.Background(), tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
	wantCode(t, err, "InternalError")
	if _, err := c.DescribeTargets(context.Background(), "lb-test0001", "lbl-tcp00001"); err != nil {
		t.Errorf("a fault for another action: %v", err)
	}
	if st := srv.Stats(); st.TasksCreated != 0 || st.Actions[clb.ActionDeregisterTargets].Errors["InternalError"] != 1 {
		t.Errorf("stats = %+v", st)
	}
	srv.SetFaults(nil)
	deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))
}

func TestDropAppliesTheCallButLosesTheAnswer(t *testing.T) {
	f, _ := clbsim.ParseFaults("DeregisterTargets:drop:1")
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Faults: f, TaskLatency: 10 * time.Millisecond})
	_, err := c.DeregisterTargets(context.Background(), tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
	wantCode(t, err, clb.CodeNetworkError)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().TasksRunning > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	audit := srv.Audit()
	if len(audit) != 1 || audit[0].Target != "ins-aaaa0001:8080" || audit[0].NewWeight != nil {
		t.Fatalf("audit = %+v", audit)
	}
	st := srv.Stats()
	if a := st.Actions[clb.ActionDeregisterTargets]; a.Dropped != 1 || len(a.Errors) != 0 || st.TasksSucceeded != 1 {
		t.Errorf("stats = %+v", st)
	}
	// A retry of the lost call now meets a target that is not bound.
	_, err = c.DeregisterTargets(context.Background(), tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
	if codeOf(err) != "InvalidParameter" || !strings.Contains(err.Error(), "ins-aaaa0001:8080") {
		t.Errorf("retry: %v", err)
	}
}

func TestTaskFail(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	f, _ := clbsim.ParseFaults("*:taskfail:1")
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Faults: f, Clock: clock, TaskLatency: time.Second})
	ctx := context.Background()
	task := deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))
	if st, _ := c.DescribeTaskStatus(ctx, task); st.Status != clb.TaskRunning {
		t.Fatalf("status = %+v", st)
	}
	clock.Advance(time.Second)
	st, err := c.DescribeTaskStatus(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != clb.TaskFailed || st.Message == "" {
		t.Fatalf("status = %+v", st)
	}
	if len(srv.Audit()) != 0 || len(bound(srv.State(), "lb-test0001", "lbl-tcp00001", "")) != 4 {
		t.Error("a failed task changed something")
	}
	if s := srv.Stats(); s.TasksFailed != 1 || s.TasksSucceeded != 0 {
		t.Errorf("stats = %+v", s)
	}
	// Reads never fail as tasks, and the lock was released.
	if _, err := c.DescribeTargets(ctx, "lb-test0001", "lbl-tcp00001"); err != nil {
		t.Fatal(err)
	}
	deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))
}

func TestLatencyFault(t *testing.T) {
	f, _ := clbsim.ParseFaults("DescribeTargets:latency:60ms")
	c, _, _ := startClient(t, clbsim.Config{State: fixture(t), Faults: f})
	t0 := time.Now()
	if _, err := c.DescribeTargets(context.Background(), "lb-test0001", "lbl-tcp00001"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 60*time.Millisecond {
		t.Errorf("answered after %v, want at least 60ms", d)
	}
	t0 = time.Now()
	if _, err := c.DescribeTaskStatus(context.Background(), "nothere"); codeOf(err) != "InvalidParameter" {
		t.Fatal(err)
	}
	if d := time.Since(t0); d >= 60*time.Millisecond {
		t.Errorf("another action was delayed %v", d)
	}
}

// TestFaultsAreDeterministic replays the same calls against two servers with
// the same seed and expects the same faults.
func TestFaultsAreDeterministic(t *testing.T) {
	f, _ := clbsim.ParseFaults("DescribeTargets:InternalError:0.3,DescribeTargets:ResourceUnavailable:0.3")
	outcomes := func(seed uint64) string {
		c, _, _ := startClient(t, clbsim.Config{State: fixture(t), Faults: f, Seed: seed, Rate: -1})
		var b strings.Builder
		for range 40 {
			_, err := c.DescribeTargets(context.Background(), "lb-test0001", "lbl-tcp00001")
			b.WriteString(codeOf(err) + ",")
		}
		return b.String()
	}
	a, b := outcomes(42), outcomes(42)
	if a != b {
		t.Errorf("same seed, different faults:\n%s\n%s", a, b)
	}
	for _, code := range []string{"InternalError", "ResourceUnavailable", ",,"} {
		if !strings.Contains(a, code) {
			t.Errorf("40 calls at 30%%+30%% never gave %q: %s", code, a)
		}
	}
	if a == outcomes(43) {
		t.Error("another seed gave the same faults")
	}
}
