package clbsim_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// healthOf is the detail of every binding of the load balancers, by
// "listener[/location] key".
func (e *emulator) healthOf(t *testing.T, lbIDs ...string) map[string]string {
	t.Helper()
	hs, err := e.client.DescribeTargetHealth(context.Background(), lbIDs...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range hs {
		where := h.ListenerId
		if h.LocationId != "" {
			where += "/" + h.LocationId
		}
		key := h.IP
		if strings.HasPrefix(h.TargetId, "ins-") {
			key = h.TargetId
		}
		if strings.Contains(key, ":") {
			key = "[" + key + "]"
		}
		if (h.Detail == clb.HealthAlive) != h.Healthy {
			t.Errorf("%s %s: HealthStatus %v with detail %s", where, key, h.Healthy, h.Detail)
		}
		out[where+" "+key+":"+strconv.FormatInt(h.Port, 10)] = h.Detail
	}
	return out
}

// TestDescribeTargetHealthShape: the answer nests as the SDK's types do: a
// layer-4 listener's targets under one rule whose LocationId is the
// listener's id, a layer-7 listener's under its rules with Domain and Url;
// IP is the first private address, TargetId a CVM's InstanceId or an ENI
// target's EniId.
func TestDescribeTargetHealthShape(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	req := v20180317.NewDescribeTargetHealthRequest()
	req.LoadBalancerIds = common.StringPtrs([]string{"lb-test0002", "lb-test0001"})
	resp, err := e.sdk.DescribeTargetHealth(req)
	if err != nil {
		t.Fatal(err)
	}
	lbs := resp.Response.LoadBalancers
	if len(lbs) != 2 || *lbs[0].LoadBalancerId != "lb-test0002" || lbs[0].LoadBalancerName != nil || *lbs[1].LoadBalancerName != "web" {
		t.Fatalf("load balancers = %+v", lbs)
	}
	tcp := lbs[1].Listeners[0]
	if *tcp.ListenerId != "lbl-tcp00001" || *tcp.ListenerName != "web-tcp" || *tcp.Protocol != "TCP" || *tcp.Port != 80 || len(tcp.Rules) != 1 {
		t.Fatalf("layer-4 listener = %+v", tcp)
	}
	r := tcp.Rules[0]
	if *r.LocationId != "lbl-tcp00001" || r.Domain != nil || r.Url != nil || len(r.Targets) != 4 {
		t.Fatalf("layer-4 rule = %+v", r)
	}
	cvm, eni := r.Targets[0], r.Targets[2]
	if *cvm.IP != "10.0.0.1" || *cvm.Port != 8080 || *cvm.TargetId != "ins-aaaa0001" || !*cvm.HealthStatus || *cvm.HealthStatusDetail != "Alive" {
		t.Errorf("CVM target = %+v", cvm)
	}
	if *eni.IP != "10.0.1.5" || !strings.HasPrefix(*eni.TargetId, "eni-") || len(*eni.TargetId) != 12 {
		t.Errorf("ENI target = %+v", eni)
	}
	http7 := lbs[1].Listeners[1]
	if len(http7.Rules) != 2 || *http7.Rules[1].LocationId != "loc-rule0002" || *http7.Rules[1].Domain != "www.example.com" || *http7.Rules[1].Url != "/static/" {
		t.Errorf("layer-7 listener = %+v", http7)
	}

	for _, c := range []struct {
		ids  []string
		code string
	}{
		{nil, "MissingParameter"},
		{[]string{"lb-BAD"}, "InvalidParameter.FormatError"},
		{[]string{"lb-test0001", "lb-nothere1"}, "InvalidParameter.LBIdNotFound"},
		{make([]string, 21), "InvalidParameterValue.Length"},
	} {
		_, err := e.client.DescribeTargetHealth(context.Background(), c.ids...)
		wantCode(t, err, c.code)
	}
	if err := e.sim.SetDialect(clbsim.Dialect{PlainNotFound: true}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DescribeTargetHealth(context.Background(), "lb-nothere1")
	wantCode(t, err, "InvalidParameter")
}

// TestHealthModel: the fixture's bindings are healthy; a new binding is
// Unknown until the delay has passed after its task ended; the model's
// unhealthy keys and share stay Dead; a health set by the admin wins until
// the binding is removed.
func TestHealthModel(t *testing.T) {
	ctx := context.Background()
	e := startWith(t, clbsim.Config{Health: clbsim.HealthModel{Delay: 5 * time.Second, Unhealthy: []string{"ins-aaaa0003:9000"}}})
	h := e.healthOf(t, "lb-test0001")
	if len(h) != 7 || h["lbl-tcp00001 ins-aaaa0001:8080"] != "Alive" || h["lbl-tcp00001 [fd00::5]:8080"] != "Alive" ||
		h["lbl-http0001/loc-rule0001 ins-aaaa0003:9000"] != "Dead" {
		t.Fatalf("fixture health = %v", h)
	}

	if _, err := e.client.RegisterTargets(ctx, udpSel, []clb.WeightedTarget{weighted(ins("ins-aaaa0001", 53), 10)}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    string
	}{{0, ""}, {time.Second, "Unknown"}, {4*time.Second + 999*time.Millisecond, "Unknown"}, {time.Millisecond, "Alive"}}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		if got := e.healthOf(t, "lb-test0002")["lbl-udp00001 ins-aaaa0001:53"]; got != s.want {
			t.Fatalf("after %v more: %q, want %q", s.advance, got, s.want)
		}
	}

	n, err := e.sim.SetTargetHealth(clbsim.HealthSetting{Target: "ins-aaaa0001:53", Healthy: false})
	if err != nil || n != 1 {
		t.Fatalf("SetTargetHealth = %d, %v", n, err)
	}
	if _, err := e.sim.SetTargetHealth(clbsim.HealthSetting{Target: "ins-aaaa0003:9000", Healthy: true, LocationId: "loc-rule0001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.SetTargetHealth(clbsim.HealthSetting{Target: "ins-aaaa0003:9000", Healthy: true, LocationId: "loc-rule0002"}); err == nil {
		t.Error("a target not bound where the setting selects was set")
	}
	if h := e.healthOf(t, "lb-test0001", "lb-test0002"); h["lbl-udp00001 ins-aaaa0001:53"] != "Dead" || h["lbl-http0001/loc-rule0001 ins-aaaa0003:9000"] != "Alive" {
		t.Fatalf("after the admin's settings: %v", h)
	}

	// Removed and bound again: the admin's setting is gone with the
	// binding, and the delay runs again.
	if _, err := e.client.DeregisterTargets(ctx, udpSel, []clb.Target{ins("ins-aaaa0001", 53)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.client.RegisterTargets(ctx, udpSel, []clb.WeightedTarget{weighted(ins("ins-aaaa0001", 53), 10)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if got := e.healthOf(t, "lb-test0002")["lbl-udp00001 ins-aaaa0001:53"]; got != "Unknown" {
		t.Fatalf("bound again: %q, want Unknown", got)
	}
}

// TestHealthModelShare: a share of bindings stays Dead, the same ones on
// every call and for the same seed, about the share of a large fleet.
func TestHealthModelShare(t *testing.T) {
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 2, Listeners: 2, Layer7: 1, Rules: 2, Targets: 100, ENI: 0.3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{fleet.LoadBalancers[0].LoadBalancerId, fleet.LoadBalancers[1].LoadBalancerId}
	dead := func(seed uint64, share float64) map[string]bool {
		e := startWith(t, clbsim.Config{State: fleet, Seed: seed, Rate: -1, Health: clbsim.HealthModel{UnhealthyShare: share}})
		first, again := e.healthOf(t, ids...), e.healthOf(t, ids...)
		if !maps.Equal(first, again) {
			t.Fatalf("answers differ between calls")
		}
		out := map[string]bool{}
		for k, v := range first {
			if v == "Dead" {
				out[k] = true
			}
		}
		if len(first) != 600 {
			t.Fatalf("%d bindings, want 600", len(first))
		}
		return out
	}
	a, b := dead(1, 0.25), dead(1, 0.25)
	if len(a) < 110 || len(a) > 190 {
		t.Errorf("%d of 600 dead with share 0.25", len(a))
	}
	for k := range a {
		if !b[k] {
			t.Fatalf("seed 1 drew %s dead once and alive once", k)
		}
	}
	if len(dead(1, 0)) != 0 || len(dead(1, 1)) != 600 {
		t.Error("share 0 or 1 is not none or all")
	}
}

func TestHealthModelAdminRoutes(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	base := e.client.Endpoint() + "/_sim/"
	do := func(method, route, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+route, bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do(http.MethodPut, "health", `{"Target": "10.0.1.5:8080", "Healthy": false}`); code != 200 || !strings.Contains(body, `"Bindings": 1`) {
		t.Fatalf("PUT health: %d %s", code, body)
	}
	if got := e.healthOf(t, "lb-test0001")["lbl-tcp00001 10.0.1.5:8080"]; got != "Dead" {
		t.Errorf("after PUT health: %q", got)
	}
	for _, bad := range []string{`{"Target": "ins-aaaa0001"}`, `{"Target": "ins-zzzz0009:80"}`, `{"Target": "10.0.1.5:8080", "Colour": 1}`} {
		if code, _ := do(http.MethodPut, "health", bad); code != http.StatusBadRequest {
			t.Errorf("PUT health %s: %d, want 400", bad, code)
		}
	}
	if code, body := do(http.MethodPut, "health-model", `{"Delay": "3s", "Unhealthy": ["[FD00::5]:8080"], "UnhealthyShare": 0}`); code != 200 ||
		!strings.Contains(body, `"Delay": "3s"`) {
		t.Fatalf("PUT health-model: %d %s", code, body)
	}
	if m := e.sim.HealthModel(); m.Delay != 3*time.Second || len(m.Unhealthy) != 1 {
		t.Errorf("model = %+v", m)
	}
	if got := e.healthOf(t, "lb-test0001")["lbl-tcp00001 [fd00::5]:8080"]; got != "Dead" {
		t.Errorf("an unhealthy key in another spelling: %q", got)
	}
	for _, bad := range []string{`{"Delay": "-1s"}`, `{"UnhealthyShare": 2}`, `{"Unhealthy": ["nowhere"]}`, `{"Wait": "1s"}`} {
		if code, _ := do(http.MethodPut, "health-model", bad); code != http.StatusBadRequest {
			t.Errorf("PUT health-model %s: %d, want 400", bad, code)
		}
	}
	if code, body := do(http.MethodGet, "health-model", ""); code != 200 || !strings.Contains(body, `"[fd00::5]:8080"`) && !strings.Contains(body, `"[FD00::5]:8080"`) {
		t.Errorf("GET health-model: %d %s", code, body)
	}
	if code, _ := do(http.MethodGet, "health", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET health: %d, want 405", code)
	}
}

func TestParseTargetKey(t *testing.T) {
	for in, want := range map[string]string{"ins-abc12345:80": "ins-abc12345:80", "10.0.0.5:8080": "10.0.0.5:8080",
		"[fd00:0::5]:443": "[fd00::5]:443", "[::ffff:10.0.0.1]:80": "10.0.0.1:80"} {
		if got, err := clbsim.ParseTargetKey(in); err != nil || got != want {
			t.Errorf("ParseTargetKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ins-abc12345", "ins-ABC:80", "10.0.0.5:0", "10.0.0.5:70000", "host:80", "[fe80::1%eth0]:80"} {
		if _, err := clbsim.ParseTargetKey(bad); err == nil {
			t.Errorf("ParseTargetKey(%q) passed", bad)
		}
	}
}
