package clbsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func adminDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func decodeJSON[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return v
}

func TestAdminRoutes(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, addr := startClient(t, clbsim.Config{State: fixture(t), Clock: clock, TaskLatency: time.Second})
	base := "http://" + addr + "/_sim/"
	task := deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080))
	clock.Advance(time.Second)

	code, body := adminDo(t, http.MethodGet, base+"state", "")
	state := decodeJSON[clbsim.State](t, body)
	if code != http.StatusOK || state.Count() != (clbsim.Counts{LoadBalancers: 2, Listeners: 3, Rules: 2, Targets: 7}) {
		t.Errorf("state: %d %+v", code, state.Count())
	}
	if err := state.Check(); err != nil {
		t.Errorf("the state route does not give a valid fixture: %v", err)
	}

	_, body = adminDo(t, http.MethodGet, base+"audit", "")
	audit := decodeJSON[[]clbsim.Change](t, body)
	if len(audit) != 1 || audit[0].TaskID != task || audit[0].Target != "ins-aaaa0001:8080" || !strings.Contains(body, `"NewWeight": null`) ||
		!strings.Contains(body, `"TaskId": "`+task+`"`) {
		t.Errorf("audit: %s", body)
	}

	_, body = adminDo(t, http.MethodGet, base+"stats", "")
	stats := decodeJSON[clbsim.Stats](t, body)
	if stats.TasksSucceeded != 1 || stats.Actions[clb.ActionDeregisterTargets].Requests != 1 || stats.Actions[clb.ActionDeregisterTargets].MaxPerSecond != 1 {
		t.Errorf("stats: %s", body)
	}

	if code, body = adminDo(t, http.MethodPut, base+"faults", "DescribeTargets:ResourceUnavailable:1"); code != http.StatusNoContent {
		t.Fatalf("PUT faults: %d %s", code, body)
	}
	if _, body = adminDo(t, http.MethodGet, base+"faults", ""); strings.TrimSpace(body) != "DescribeTargets:ResourceUnavailable:1" {
		t.Errorf("GET faults: %q", body)
	}
	_, err := c.DescribeTargets(t.Context(), "lb-test0001", "lbl-tcp00001")
	wantCode(t, err, "ResourceUnavailable")
	if code, _ = adminDo(t, http.MethodPut, base+"faults", "DescribeTargets:oops"); code != http.StatusBadRequest {
		t.Errorf("bad fault spec: %d", code)
	}
	if code, _ = adminDo(t, http.MethodPut, base+"faults", ""); code != http.StatusNoContent || len(srv.Faults()) != 0 {
		t.Errorf("clearing faults: %d %v", code, srv.Faults())
	}

	code, body = adminDo(t, http.MethodPost, base+"lock", `{"LoadBalancerId": "lb-test0002", "Duration": "2s"}`)
	lock := decodeJSON[clbsim.LockResponse](t, body)
	if code != http.StatusOK || !lock.HeldUntil.Equal(clock.Now().Add(2*time.Second)) {
		t.Errorf("lock: %d %s", code, body)
	}
	_, err = c.DeregisterTargets(t.Context(), udpSel, []clb.Target{ins("ins-bbbb0001", 53)})
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	for _, bad := range []string{`{"LoadBalancerId": "lb-nothere1", "Duration": "2s"}`, `{"LoadBalancerId": "lb-test0002", "Duration": "soon"}`, `nope`} {
		if code, _ = adminDo(t, http.MethodPost, base+"lock", bad); code != http.StatusBadRequest {
			t.Errorf("lock %s: %d", bad, code)
		}
	}

	if code, _ = adminDo(t, http.MethodPost, base+"reset", ""); code != http.StatusNoContent {
		t.Errorf("reset: %d", code)
	}
	if got := srv.State().Count().Targets; got != 8 || len(srv.Audit()) != 0 || srv.Stats().TasksCreated != 0 {
		t.Errorf("after reset: %d targets, %d changes", got, len(srv.Audit()))
	}
	if _, ok := srv.Task(task); ok {
		t.Error("a task survived the reset")
	}
	deregister(t, c, udpSel, ins("ins-bbbb0001", 53))

	if code, _ = adminDo(t, http.MethodDelete, base+"state", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE state: %d", code)
	}
	if code, _ = adminDo(t, http.MethodGet, base+"nothing", ""); code != http.StatusNotFound {
		t.Errorf("unknown route: %d", code)
	}
}
