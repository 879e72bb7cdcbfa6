package clbsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestDialectLingeringLock(t *testing.T) {
	failTasks := clbsim.Faults{{Action: clbsim.AnyAction, Kind: clbsim.FaultTaskFail, Probability: 1}}
	cases := []struct {
		name    string
		dialect clbsim.Dialect
		faults  clbsim.Faults
		// lingers is how long after the task ends the lock stays.
		lingers time.Duration
	}{
		{"default: the lock ends with the task", clbsim.Dialect{}, nil, 0},
		{"after a task that succeeded", clbsim.Dialect{LingeringLock: 2 * time.Second}, nil, 2 * time.Second},
		{"after a task that failed", clbsim.Dialect{LingeringLock: 500 * time.Millisecond}, failTasks, 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startWith(t, clbsim.Config{Dialect: tc.dialect, Faults: tc.faults})
			ctx := t.Context()
			task, err := e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
			if st, err := e.client.DescribeTaskStatus(ctx, task); err != nil || st.Status == clb.TaskRunning {
				t.Fatalf("the task has not ended: %+v, %v", st, err)
			}
			next := []clb.Target{ins("ins-aaaa0002", 8080)}
			if tc.lingers > 0 {
				_, err = e.client.DeregisterTargets(ctx, tcpSel, next)
				wantCode(t, err, "FailedOperation.ResourceInOperating")
				if !strings.Contains(err.Error(), "settling after task "+task) {
					t.Errorf("the lock error does not name the task that left it: %v", err)
				}
				// Another load balancer is not locked.
				if _, err := e.client.DeregisterTargets(ctx, udpSel, []clb.Target{ins("ins-bbbb0001", 53)}); err != nil {
					t.Fatalf("another load balancer: %v", err)
				}
				e.clock.Advance(tc.lingers - time.Millisecond)
				_, err = e.client.DeregisterTargets(ctx, tcpSel, next)
				wantCode(t, err, "FailedOperation.ResourceInOperating")
				e.clock.Advance(time.Millisecond)
			}
			if _, err := e.client.DeregisterTargets(ctx, tcpSel, next); err != nil {
				t.Fatalf("%s after the task ended: %v", tc.lingers, err)
			}
		})
	}
}

func TestDialectLockCode(t *testing.T) {
	for _, code := range append([]string{""}, clbsim.LockCodes...) {
		want := code
		if want == "" {
			want = "FailedOperation.ResourceInOperating"
		}
		t.Run("lock-code="+code, func(t *testing.T) {
			e := startWith(t, clbsim.Config{Dialect: clbsim.Dialect{LockCode: code}})
			ctx := t.Context()
			if _, err := e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)}); err != nil {
				t.Fatal(err)
			}
			// A task holds the lock: every mutating action is refused.
			_, err := e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0002", 8080)})
			wantCode(t, err, want)
			req := v20180317.NewModifyTargetWeightRequest()
			req.LoadBalancerId, req.ListenerId = common.StringPtr("lb-test0001"), common.StringPtr("lbl-tcp00001")
			req.Targets = []*v20180317.Target{{InstanceId: common.StringPtr("ins-aaaa0002"), Port: common.Int64Ptr(8080)}}
			req.Weight = common.Int64Ptr(0)
			_, err = e.sdk.ModifyTargetWeight(req)
			wantCode(t, err, want)
			// A competing writer holds the lock.
			if _, err := e.sim.HoldLock("lb-test0002", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			_, err = e.client.DeregisterTargets(ctx, udpSel, []clb.Target{ins("ins-bbbb0001", 53)})
			wantCode(t, err, want)
			e.clock.Advance(5 * time.Second)
			if st := e.sim.Stats(); st.TasksCreated != 1 || len(e.sim.Audit()) != 1 {
				t.Errorf("a refused call made a task or a change: %d tasks, audit %+v", st.TasksCreated, e.sim.Audit())
			}
		})
	}
}

func TestDialectTaskExpiry(t *testing.T) {
	const unknown = "7a1d6f2e-0000-4000-8000-000000000000"
	cases := []struct {
		spec string
		// age is how long an ended task stays queryable, -1 for ever.
		age  time.Duration
		code string
	}{
		{"", -1, "InvalidParameter"},
		{"task-expiry=30s", 30 * time.Second, "InvalidParameter"},
		{"task-expiry=30s:ResourceNotFound", 30 * time.Second, "ResourceNotFound"},
		{"task-expiry=0s:ResourceNotFound", 0, "ResourceNotFound"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			d, err := clbsim.ParseDialect(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			e := startWith(t, clbsim.Config{Dialect: d, TaskLatency: 10 * time.Second})
			ctx := t.Context()
			_, err = e.client.DescribeTaskStatus(ctx, unknown)
			wantCode(t, err, tc.code)
			task, err := e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
			if err != nil {
				t.Fatal(err)
			}
			// A running task never expires, however long it runs.
			e.clock.Advance(10*time.Second - time.Millisecond)
			if st, err := e.client.DescribeTaskStatus(ctx, task); err != nil || st.Status != clb.TaskRunning {
				t.Fatalf("running task: %+v, %v", st, err)
			}
			e.clock.Advance(time.Millisecond)
			if tc.age < 0 {
				e.clock.Advance(4 * time.Minute) // as long as the signature check allows
			} else {
				e.clock.Advance(tc.age)
			}
			if st, err := e.client.DescribeTaskStatus(ctx, task); err != nil || st.Status != clb.TaskSucceeded {
				t.Fatalf("%s after it ended: %+v, %v", tc.age, st, err)
			}
			if tc.age < 0 {
				return
			}
			e.clock.Advance(time.Millisecond)
			_, err = e.client.DescribeTaskStatus(ctx, task)
			wantCode(t, err, tc.code)
			if st, ok := e.sim.Task(task); !ok || st.Status != clb.TaskSucceeded {
				t.Errorf("Server.Task of an expired task = %+v, %v", st, ok)
			}
		})
	}
}

// sparseFleet has listeners with and without targets.
func sparseFleet() clbsim.State {
	bound := []clb.BoundTarget{{Type: clbsim.TypeCVM, InstanceId: "ins-aaaa0001", PrivateIpAddresses: []string{"10.0.0.1"}, Port: 80, Weight: 10}}
	return clbsim.State{LoadBalancers: []clbsim.LoadBalancer{{LoadBalancerId: "lb-sparse01", Listeners: []clb.Listener{
		{ListenerId: "lbl-tcp00001", Protocol: clb.ProtocolTCP, Port: 80, Targets: bound},
		{ListenerId: "lbl-tcp00002", Protocol: clb.ProtocolTCP, Port: 81},
		{ListenerId: "lbl-http0001", Protocol: clb.ProtocolHTTP, Port: 80, Rules: []clb.Rule{{LocationId: "loc-rule0001", Domain: "a.example.com", Url: "/"}}},
		{ListenerId: "lbl-http0002", Protocol: clb.ProtocolHTTPS, Port: 443},
		{ListenerId: "lbl-http0003", Protocol: clb.ProtocolHTTP, Port: 8080, Rules: []clb.Rule{
			{LocationId: "loc-rule0002", Domain: "b.example.com", Url: "/"},
			{LocationId: "loc-rule0003", Domain: "b.example.com", Url: "/x/", Targets: bound},
		}},
	}}}}
}

func TestDialectOmitEmptyListeners(t *testing.T) {
	all := "lbl-tcp00001 lbl-tcp00002 lbl-http0001 lbl-http0002 lbl-http0003"
	cases := []struct {
		name    string
		omit    bool
		before  string
		after   string
		askNone string
	}{
		{"default: every listener is listed", false, all, all, "lbl-tcp00002"},
		{"omit-empty-listeners", true, "lbl-tcp00001 lbl-http0003", "lbl-http0003", ""},
	}
	ids := func(ls []*v20180317.ListenerBackend) string {
		var out []string
		for _, l := range ls {
			out = append(out, *l.ListenerId)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startWith(t, clbsim.Config{State: sparseFleet(), Dialect: clbsim.Dialect{OmitEmptyListeners: tc.omit}})
			if got := ids(e.describeTargets(t, "lb-sparse01")); got != tc.before {
				t.Errorf("listed %q, want %q", got, tc.before)
			}
			if got := ids(e.describeTargets(t, "lb-sparse01", "lbl-tcp00002")); got != tc.askNone {
				t.Errorf("asked for an empty listener: listed %q, want %q", got, tc.askNone)
			}
			sel := clb.Selector{LoadBalancerId: "lb-sparse01", ListenerId: "lbl-tcp00001"}
			if _, err := e.client.DeregisterTargets(t.Context(), sel, []clb.Target{ins("ins-aaaa0001", 80)}); err != nil {
				t.Fatal(err)
			}
			if got := ids(e.describeTargets(t, "lb-sparse01")); got != tc.before {
				t.Errorf("before the task ended: listed %q, want %q", got, tc.before)
			}
			e.clock.Advance(time.Second)
			if got := ids(e.describeTargets(t, "lb-sparse01")); got != tc.after {
				t.Errorf("after the last target left: listed %q, want %q", got, tc.after)
			}
		})
	}
}

func TestDialectLowerCaseTypes(t *testing.T) {
	eniID := regexp.MustCompile(`^eni-[a-z0-9]{8}$`)
	cases := []struct {
		name       string
		lower      bool
		types      string
		withEniIDs bool
	}{
		{"default: upper case, no EniId", false, "CVM CVM ENI ENI", false},
		{"lowercase-type", true, "cvm cvm eni eni", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startWith(t, clbsim.Config{Dialect: clbsim.Dialect{LowerCaseTypes: tc.lower}})
			ls := e.describeTargets(t, "lb-test0001")
			var types []string
			seen := map[string]bool{}
			for _, b := range ls[0].Targets {
				types = append(types, *b.Type)
				switch {
				case b.EniId == nil:
					if tc.withEniIDs && strings.EqualFold(*b.Type, clbsim.TypeENI) {
						t.Errorf("ENI backend %s has no EniId", *b.PrivateIpAddresses[0])
					}
				case !tc.withEniIDs || !strings.EqualFold(*b.Type, clbsim.TypeENI) || !eniID.MatchString(*b.EniId) || seen[*b.EniId]:
					t.Errorf("backend %s has EniId %q", *b.PrivateIpAddresses[0], *b.EniId)
				default:
					seen[*b.EniId] = true
				}
			}
			if got := strings.Join(types, " "); got != tc.types {
				t.Errorf("types %q, want %q", got, tc.types)
			}
			if rt := ls[1].Rules[0].Targets[0]; *rt.Type != strings.Fields(tc.types)[0] {
				t.Errorf("rule backend type %q", *rt.Type)
			}
			// The same address has the same EniId on another emulator.
			again := startWith(t, clbsim.Config{Dialect: clbsim.Dialect{LowerCaseTypes: tc.lower}}).describeTargets(t, "lb-test0001")
			for i, b := range ls[0].Targets {
				if (b.EniId == nil) != (again[0].Targets[i].EniId == nil) || b.EniId != nil && *b.EniId != *again[0].Targets[i].EniId {
					t.Errorf("EniId of %s is not deterministic", *b.PrivateIpAddresses[0])
				}
			}
			// The fixture format keeps its spelling.
			if got := e.sim.State().LoadBalancers[0].Listeners[0].Targets[0].Type; got != clbsim.TypeCVM {
				t.Errorf("state type %q", got)
			}
		})
	}
}

func TestDialectThrottleCode(t *testing.T) {
	const (
		uin    = "RequestLimitExceeded.UinLimitExceeded"
		global = "RequestLimitExceeded.GlobalRegionUinLimitExceeded"
		ip     = "RequestLimitExceeded.IPLimitExceeded"
	)
	cases := []struct {
		spec string
		want []string
	}{
		{"", []string{"RequestLimitExceeded", "RequestLimitExceeded", "RequestLimitExceeded"}},
		{"throttle-code=" + uin, []string{uin, uin, uin}},
		{"throttle-code=GlobalRegionUinLimitExceeded", []string{global, global, global}},
		{"throttle-code=IPLimitExceeded", []string{ip, ip, ip}},
		{"throttle-code=rotate", []string{uin, global, ip}},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			d, err := clbsim.ParseDialect(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			e := startWith(t, clbsim.Config{Dialect: d, Rate: 2})
			req := v20180317.NewDescribeTargetsRequest()
			req.LoadBalancerId = common.StringPtr("lb-test0001")
			var got []string
			for range 5 {
				_, err := e.sdk.DescribeTargets(req)
				got = append(got, codeOf(err))
			}
			want := append([]string{"", ""}, tc.want...)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("codes %q, want %q", got, want)
			}
			if th := e.sim.Stats().Actions[clb.ActionDescribeTargets].Throttled; th != 3 {
				t.Errorf("Stats counts %d throttled answers, want 3", th)
			}
		})
	}
}

func TestDialectPlainNotFound(t *testing.T) {
	cases := []struct {
		name         string
		call         func(e *emulator) error
		code, plain  string
		plainMessage string
	}{
		{"DescribeTargets of an unknown load balancer", func(e *emulator) error {
			_, err := e.client.DescribeTargets(context.Background(), "lb-nothere1", "lbl-tcp00001")
			return err
		}, "InvalidParameter.LBIdNotFound", "InvalidParameter", "LoadBalancer not exist"},
		{"DeregisterTargets on an unknown load balancer", func(e *emulator) error {
			_, err := e.client.DeregisterTargets(context.Background(), clb.Selector{LoadBalancerId: "lb-nothere1", ListenerId: "lbl-tcp00001"}, []clb.Target{ins("ins-aaaa0001", 8080)})
			return err
		}, "InvalidParameter.LBIdNotFound", "InvalidParameter", "LoadBalancer not exist"},
		{"DeregisterTargets on an unknown listener", func(e *emulator) error {
			_, err := e.client.DeregisterTargets(context.Background(), clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-nothere1"}, []clb.Target{ins("ins-aaaa0001", 8080)})
			return err
		}, "InvalidParameter.ListenerIdNotFound", "InvalidParameter", "Listener not exist"},
		{"DescribeListeners of an unknown load balancer", func(e *emulator) error {
			req := v20180317.NewDescribeListenersRequest()
			req.LoadBalancerId = common.StringPtr("lb-nothere1")
			_, err := e.sdk.DescribeListeners(req)
			return err
		}, "InvalidParameter.LBIdNotFound", "InvalidParameter", "LoadBalancer not exist"},
		{"an unknown rule keeps its code", func(e *emulator) error {
			_, err := e.client.DeregisterTargets(context.Background(), clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-http0001", LocationId: "loc-nothere1"}, []clb.Target{ins("ins-aaaa0001", 9000)})
			return err
		}, "InvalidParameter.LocationNotFound", "InvalidParameter.LocationNotFound", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(startWith(t, clbsim.Config{}))
			wantCode(t, err, tc.code)
			err = tc.call(startWith(t, clbsim.Config{Dialect: clbsim.Dialect{PlainNotFound: true}}))
			wantCode(t, err, tc.plain)
			if !strings.Contains(err.Error(), tc.plainMessage) {
				t.Errorf("message of %v does not say %q", err, tc.plainMessage)
			}
		})
	}
}

func TestDialectAll(t *testing.T) {
	d, err := clbsim.ParseDialect("all")
	if err != nil || d != clbsim.DialectAll {
		t.Fatalf("all = %+v, %v", d, err)
	}
	if d.LingeringLock <= 0 || d.LockCode == "" || d.TaskExpiryCode == "" || !d.OmitEmptyListeners || !d.LowerCaseTypes || d.ThrottleCode == "" || !d.PlainNotFound {
		t.Fatalf("all leaves a variant off: %+v", d)
	}
	e := startWith(t, clbsim.Config{Dialect: d, Rate: 1})
	ctx := t.Context()
	task, err := e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0001", 8080)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0002", 8080)})
	wantCode(t, err, "RequestLimitExceeded.UinLimitExceeded")
	e.clock.Advance(time.Second)
	_, err = e.client.DeregisterTargets(ctx, tcpSel, []clb.Target{ins("ins-aaaa0002", 8080)})
	wantCode(t, err, "InternalError")
	e.clock.Advance(d.TaskExpiry + time.Millisecond)
	_, err = e.client.DescribeTaskStatus(ctx, task)
	wantCode(t, err, "ResourceNotFound")
	_, err = e.client.DeregisterTargets(ctx, clb.Selector{LoadBalancerId: "lb-nothere1", ListenerId: "lbl-tcp00001"}, []clb.Target{ins("ins-aaaa0002", 8080)})
	wantCode(t, err, "InvalidParameter")
	if typ := *e.describeTargets(t, "lb-test0001")[0].Targets[0].Type; typ != "cvm" {
		t.Errorf("type %q", typ)
	}
}

func TestParseDialect(t *testing.T) {
	all := clbsim.DialectAll
	allFailed := all
	allFailed.LockCode = "FailedOperation"
	cases := []struct {
		spec string
		want clbsim.Dialect
	}{
		{"", clbsim.Dialect{}},
		{"lingering-lock=2s", clbsim.Dialect{LingeringLock: 2 * time.Second}},
		{"lock-code=FailedOperation.InvalidLBStatus", clbsim.Dialect{LockCode: "FailedOperation.InvalidLBStatus"}},
		{"task-expiry=30s", clbsim.Dialect{TaskExpiry: 30 * time.Second, TaskExpiryCode: "InvalidParameter"}},
		{"task-expiry=0s:ResourceNotFound", clbsim.Dialect{TaskExpiryCode: "ResourceNotFound"}},
		{" omit-empty-listeners, lowercase-type ,plain-not-found", clbsim.Dialect{OmitEmptyListeners: true, LowerCaseTypes: true, PlainNotFound: true}},
		{"plain-not-found=true,plain-not-found=false", clbsim.Dialect{}},
		{"throttle-code=IPLimitExceeded", clbsim.Dialect{ThrottleCode: "RequestLimitExceeded.IPLimitExceeded"}},
		{"throttle-code=rotate", clbsim.Dialect{ThrottleCode: clbsim.ThrottleRotate}},
		{"all", all},
		{"all,lock-code=FailedOperation", allFailed},
	}
	for _, tc := range cases {
		got, err := clbsim.ParseDialect(tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("ParseDialect(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
			continue
		}
		if again, err := clbsim.ParseDialect(got.String()); err != nil || again != got {
			t.Errorf("String %q does not read back: %+v, %v", got.String(), again, err)
		}
		b, err := json.Marshal(got)
		var decoded clbsim.Dialect
		if err != nil || json.Unmarshal(b, &decoded) != nil || decoded != got {
			t.Errorf("JSON %s does not read back: %+v", b, decoded)
		}
	}
	// The help states what "all" is.
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if !strings.Contains(squeeze(clbsim.DialectHelp), squeeze(clbsim.DialectAll.String())) {
		t.Errorf("DialectHelp does not say that all is %s", clbsim.DialectAll)
	}
	for _, bad := range []string{"nonsense", "lingering-lock", "lingering-lock=-1s", "lingering-lock=soon", "lock-code=Busy",
		"task-expiry=1s:Gone", "task-expiry=x", "throttle-code=Slow", "omit-empty-listeners=maybe", "all=1"} {
		_, err := clbsim.ParseDialect("lowercase-type," + bad)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseDialect(%q): %v, want an error naming the entry", bad, err)
		}
	}
}

func TestDialectJSON(t *testing.T) {
	cases := []struct {
		body string
		want clbsim.Dialect
	}{
		{`"all"`, clbsim.DialectAll},
		{`""`, clbsim.Dialect{}},
		{`{}`, clbsim.Dialect{}},
		{`{"LingeringLock": "2s", "LockCode": "InternalError"}`, clbsim.Dialect{LingeringLock: 2 * time.Second, LockCode: "InternalError"}},
		{`{"TaskExpiry": "5s"}`, clbsim.Dialect{TaskExpiry: 5 * time.Second, TaskExpiryCode: "InvalidParameter"}},
		{`{"TaskExpiryCode": "ResourceNotFound"}`, clbsim.Dialect{TaskExpiryCode: "ResourceNotFound"}},
		{`{"ThrottleCode": "UinLimitExceeded", "OmitEmptyListeners": true}`, clbsim.Dialect{ThrottleCode: "RequestLimitExceeded.UinLimitExceeded", OmitEmptyListeners: true}},
	}
	for _, tc := range cases {
		var got clbsim.Dialect
		if err := json.Unmarshal([]byte(tc.body), &got); err != nil || got != tc.want {
			t.Errorf("%s = %+v, %v; want %+v", tc.body, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"Nope": true}`, `{"LockCode": "Busy"}`, `{"LingeringLock": "soon"}`, `{"TaskExpiry": "-1s"}`, `"nonsense"`, `[]`} {
		var d clbsim.Dialect
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if err := (clbsim.Dialect{TaskExpiry: time.Second}).Check(); err == nil || !strings.Contains(err.Error(), "TaskExpiryCode") {
		t.Errorf("TaskExpiry without a code: %v", err)
	}
	if _, err := clbsim.New(clbsim.Config{Dialect: clbsim.Dialect{LockCode: "Busy"}}); err == nil || !strings.Contains(err.Error(), "Busy") {
		t.Errorf("New with a bad dialect: %v", err)
	}
}

func TestDialectRoute(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	code, body := adminDo(t, http.MethodGet, e.client.Endpoint()+"/_sim/dialect", "")
	var got clbsim.Dialect
	if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got != (clbsim.Dialect{}) {
		t.Fatalf("GET dialect: %d %s", code, body)
	}
	if code, body = adminDo(t, http.MethodPut, e.client.Endpoint()+"/_sim/dialect", `"all"`); code != http.StatusOK {
		t.Fatalf("PUT all: %d %s", code, body)
	}
	if e.sim.Dialect() != clbsim.DialectAll {
		t.Fatalf("after PUT all: %+v", e.sim.Dialect())
	}
	code, body = adminDo(t, http.MethodPut, e.client.Endpoint()+"/_sim/dialect", `{"PlainNotFound": true, "TaskExpiry": "1m"}`)
	want := clbsim.Dialect{PlainNotFound: true, TaskExpiry: time.Minute, TaskExpiryCode: "InvalidParameter"}
	if code != http.StatusOK || e.sim.Dialect() != want {
		t.Fatalf("PUT object: %d %s, dialect %+v", code, body, e.sim.Dialect())
	}
	_, err := e.client.DescribeTargets(t.Context(), "lb-nothere1", "lbl-tcp00001")
	wantCode(t, err, "InvalidParameter")
	_, body = adminDo(t, http.MethodGet, e.client.Endpoint()+"/_sim/dialect", "")
	if !strings.Contains(body, `"TaskExpiry": "1m0s"`) || !strings.Contains(body, `"PlainNotFound": true`) {
		t.Errorf("GET dialect: %s", body)
	}
	for _, bad := range []string{`{"LockCode": "Busy"}`, `"lock-code=Busy"`, `lock-code=InternalError`, ``} {
		if code, body = adminDo(t, http.MethodPut, e.client.Endpoint()+"/_sim/dialect", bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d %s", bad, code, body)
		}
	}
	if e.sim.Dialect() != want {
		t.Errorf("a refused PUT changed the dialect: %+v", e.sim.Dialect())
	}
	e.sim.Reset()
	if e.sim.Dialect() != want {
		t.Errorf("Reset changed the dialect: %+v", e.sim.Dialect())
	}
	if code, _ = adminDo(t, http.MethodDelete, e.client.Endpoint()+"/_sim/dialect", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE dialect: %d", code)
	}
}
