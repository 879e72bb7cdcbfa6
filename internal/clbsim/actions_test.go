package clbsim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

func TestDescribeTargets(t *testing.T) {
	c, _, _ := startClient(t, clbsim.Config{State: fixture(t)})
	ctx := context.Background()

	l4, err := c.DescribeTargets(ctx, "lb-test0001", "lbl-tcp00001")
	if err != nil {
		t.Fatal(err)
	}
	if l4.Protocol != "TCP" || l4.Port != 80 || len(l4.Targets) != 4 || len(l4.Rules) != 0 {
		t.Fatalf("layer-4 listener = %+v", l4)
	}
	if b := l4.Targets[1]; b.Type != clbsim.TypeCVM || b.InstanceId != "ins-aaaa0002" || b.Weight != 20 || !slices.Equal(b.PrivateIpAddresses, []string{"10.0.0.2"}) {
		t.Errorf("CVM target = %+v", b)
	}
	if b := l4.Targets[3]; b.Type != clbsim.TypeENI || b.InstanceId != "" || !b.Matches(clb.Target{EniIp: "fd00:0::5", Port: 8080}) {
		t.Errorf("ENI target = %+v", b)
	}

	l7, err := c.DescribeTargets(ctx, "lb-test0001", "lbl-http0001")
	if err != nil {
		t.Fatal(err)
	}
	if l7.Protocol != "HTTP" || len(l7.Targets) != 0 || len(l7.Rules) != 2 {
		t.Fatalf("layer-7 listener = %+v", l7)
	}
	if r := l7.Rules[1]; r.LocationId != "loc-rule0002" || r.Domain != "www.example.com" || r.Url != "/static/" || len(r.Targets) != 1 {
		t.Errorf("rule = %+v", r)
	}

	_, err = c.DescribeTargets(ctx, "lb-test0001", "lbl-nothere1")
	wantCode(t, err, "InvalidParameter.ListenerIdNotFound")
	_, err = c.DescribeTargets(ctx, "lb-nothere1", "lbl-tcp00001")
	wantCode(t, err, "InvalidParameter.LBIdNotFound")
	_, err = c.DescribeTargets(ctx, "lb-BAD", "lbl-tcp00001")
	wantCode(t, err, "InvalidParameter.FormatError")
}

func TestDescribeTargetsSelection(t *testing.T) {
	_, addr := start(t, clbsim.Config{State: fixture(t)})
	sdk := sdkClient(t, addr, clbsimtest.SecretID, clbsimtest.SecretKey)
	describe := func(edit func(*v20180317.DescribeTargetsRequest)) []*v20180317.ListenerBackend {
		t.Helper()
		req := v20180317.NewDescribeTargetsRequest()
		req.LoadBalancerId = common.StringPtr("lb-test0001")
		edit(req)
		resp, err := sdk.DescribeTargets(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Response.Listeners
	}
	filter := func(name string, values ...string) []*v20180317.Filter {
		return []*v20180317.Filter{{Name: common.StringPtr(name), Values: common.StringPtrs(values)}}
	}
	if got := describe(func(*v20180317.DescribeTargetsRequest) {}); len(got) != 2 {
		t.Errorf("all listeners: %d, want 2", len(got))
	}
	if got := describe(func(r *v20180317.DescribeTargetsRequest) { r.Protocol = common.StringPtr("HTTP") }); len(got) != 1 || *got[0].ListenerId != "lbl-http0001" {
		t.Errorf("Protocol HTTP: %d listeners", len(got))
	}
	if got := describe(func(r *v20180317.DescribeTargetsRequest) {
		r.Port = common.Int64Ptr(80)
		r.Protocol = common.StringPtr("TCP")
	}); len(got) != 1 || *got[0].ListenerId != "lbl-tcp00001" {
		t.Errorf("TCP:80: %d listeners", len(got))
	}
	got := describe(func(r *v20180317.DescribeTargetsRequest) { r.Filters = filter("location-id", "loc-rule0002") })
	if len(got) != 1 || len(got[0].Rules) != 1 || *got[0].Rules[0].LocationId != "loc-rule0002" {
		t.Errorf("location-id filter: %+v", got)
	}
	got = describe(func(r *v20180317.DescribeTargetsRequest) { r.Filters = filter("private-ip-address", "10.0.0.2") })
	if len(got) != 2 || len(got[0].Targets) != 1 || *got[0].Targets[0].InstanceId != "ins-aaaa0002" ||
		len(got[1].Rules) != 1 || *got[1].Rules[0].LocationId != "loc-rule0002" {
		t.Errorf("private-ip-address filter: %d listeners", len(got))
	}
	got = describe(func(r *v20180317.DescribeTargetsRequest) { r.Filters = filter("private-ip-address", "fd00:0:0::5") })
	if len(got) != 1 || len(got[0].Targets) != 1 {
		t.Errorf("IPv6 private-ip-address filter: %+v", got)
	}

	req := v20180317.NewDescribeTargetsRequest()
	req.LoadBalancerId = common.StringPtr("lb-test0001")
	req.Filters = filter("colour", "blue")
	_, err := sdk.DescribeTargets(req)
	wantCode(t, err, "InvalidParameterValue")
	req.Filters = nil
	for range 21 {
		req.ListenerIds = append(req.ListenerIds, common.StringPtr("lbl-tcp00001"))
	}
	_, err = sdk.DescribeTargets(req)
	wantCode(t, err, "InvalidParameterValue.Length")
	_, err = sdk.DescribeTargets(v20180317.NewDescribeTargetsRequest())
	wantCode(t, err, "MissingParameter")
}

func TestMutationsApplyWhenTheirTaskCompletes(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, addr := startClient(t, clbsim.Config{State: fixture(t), Clock: clock, TaskLatency: time.Second})
	ctx := context.Background()

	task := deregister(t, c, tcpSel, ins("ins-aaaa0001", 8080), clb.Target{EniIp: "fd00::5", Port: 8080})
	st, err := c.DescribeTaskStatus(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != clb.TaskRunning || !slices.Equal(st.LoadBalancerIds, []string{"lb-test0001"}) {
		t.Fatalf("status while running = %+v", st)
	}
	if got := bound(srv.State(), "lb-test0001", "lbl-tcp00001", ""); len(got) != 4 {
		t.Fatalf("applied before the task completed: %v", got)
	}
	clock.Advance(time.Second)
	if st, _ = c.DescribeTaskStatus(ctx, task); st.Status != clb.TaskSucceeded || st.Message != "" {
		t.Fatalf("status after completion = %+v", st)
	}
	got := bound(srv.State(), "lb-test0001", "lbl-tcp00001", "")
	if len(got) != 2 || got["ins-aaaa0002:8080"] != 20 || got["10.0.1.5:8080"] != 10 {
		t.Fatalf("bound after deregistering = %v", got)
	}

	// ModifyTargetWeight: a target's own Weight wins over the call's. Sent
	// with the SDK, which spells every request field as the API does.
	sdk := sdkClient(t, addr, clbsimtest.SecretID, clbsimtest.SecretKey)
	own := func(t *v20180317.Target, w int64) *v20180317.Target { t.Weight = &w; return t }
	mreq := v20180317.NewModifyTargetWeightRequest()
	mreq.LoadBalancerId, mreq.ListenerId, mreq.LocationId = &ruleSel.LoadBalancerId, &ruleSel.ListenerId, &ruleSel.LocationId
	mreq.Targets = []*v20180317.Target{sdkTarget("ins-aaaa0001", "", 9000), own(sdkTarget("ins-aaaa0003", "", 9000), 7)}
	mreq.Weight = common.Int64Ptr(0)
	mresp, err := sdk.ModifyTargetWeight(mreq)
	if err != nil {
		t.Fatal(err)
	}
	task = *mresp.Response.RequestId
	clock.Advance(time.Second)
	if st, ok := srv.Task(task); !ok || st.Status != clb.TaskSucceeded {
		t.Fatalf("ModifyTargetWeight task = %+v, %v", st, ok)
	}
	if got := bound(srv.State(), "lb-test0001", "lbl-http0001", "loc-rule0001"); got["ins-aaaa0001:9000"] != 0 || got["ins-aaaa0003:9000"] != 7 {
		t.Fatalf("weights = %v", got)
	}

	// RegisterTargets binds with the default weight 10, a CVM with the
	// addresses the fleet knows it by.
	rreq := v20180317.NewRegisterTargetsRequest()
	rreq.LoadBalancerId, rreq.ListenerId = &tcpSel.LoadBalancerId, &tcpSel.ListenerId
	rreq.Targets = []*v20180317.Target{sdkTarget("ins-aaaa0001", "", 8080), own(sdkTarget("", "10.9.9.9", 8080), 60)}
	if _, err = sdk.RegisterTargets(rreq); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	l, err := c.DescribeTargets(ctx, "lb-test0001", "lbl-tcp00001")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Targets) != 4 {
		t.Fatalf("after registering: %+v", l.Targets)
	}
	if b := l.Targets[2]; b.InstanceId != "ins-aaaa0001" || b.Type != clbsim.TypeCVM || b.Weight != 10 || !slices.Equal(b.PrivateIpAddresses, []string{"10.0.0.1"}) {
		t.Errorf("registered CVM = %+v", b)
	}
	if b := l.Targets[3]; b.Type != clbsim.TypeENI || b.Weight != 60 || !slices.Equal(b.PrivateIpAddresses, []string{"10.9.9.9"}) {
		t.Errorf("registered ENI = %+v", b)
	}

	audit := srv.Audit()
	want := []struct {
		action, target string
		old, new       *int64
	}{
		{clb.ActionDeregisterTargets, "ins-aaaa0001:8080", ptr[int64](10), nil},
		{clb.ActionDeregisterTargets, "[fd00::5]:8080", ptr[int64](30), nil},
		{clb.ActionModifyTargetWeight, "ins-aaaa0001:9000", ptr[int64](10), ptr[int64](0)},
		{clb.ActionModifyTargetWeight, "ins-aaaa0003:9000", ptr[int64](10), ptr[int64](7)},
		{clb.ActionRegisterTargets, "ins-aaaa0001:8080", nil, ptr[int64](10)},
		{clb.ActionRegisterTargets, "10.9.9.9:8080", nil, ptr[int64](60)},
	}
	if len(audit) != len(want) {
		t.Fatalf("audit has %d changes, want %d: %+v", len(audit), len(want), audit)
	}
	for i, w := range want {
		a := audit[i]
		if a.Action != w.action || a.Target != w.target || !eqPtr(a.OldWeight, w.old) || !eqPtr(a.NewWeight, w.new) || a.LoadBalancerId != "lb-test0001" {
			t.Errorf("audit[%d] = %+v, want %+v", i, a, w)
		}
	}
	if audit[2].LocationId != "loc-rule0001" || audit[2].ListenerId != "lbl-http0001" || audit[0].LocationId != "" {
		t.Errorf("audit places: %+v / %+v", audit[0], audit[2])
	}
	if audit[0].TaskID != audit[1].TaskID || audit[1].TaskID == audit[2].TaskID {
		t.Errorf("audit task ids: %s %s %s", audit[0].TaskID, audit[1].TaskID, audit[2].TaskID)
	}
	if !audit[5].Time.After(audit[0].Time) || !audit[0].Time.Equal(audit[1].Time) {
		t.Errorf("audit times: %v %v %v", audit[0].Time, audit[1].Time, audit[5].Time)
	}

	st2 := srv.Stats()
	if st2.TasksCreated != 3 || st2.TasksSucceeded != 3 || st2.TasksFailed != 0 || st2.TasksRunning != 0 {
		t.Errorf("task stats = %+v", st2)
	}
	if a := st2.Actions[clb.ActionDescribeTaskStatus]; a.Requests != 2 || len(a.Errors) != 0 {
		t.Errorf("DescribeTaskStatus stats = %+v", a)
	}
}

func eqPtr(a, b *int64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func TestDescribeTaskStatusErrors(t *testing.T) {
	_, addr := start(t, clbsim.Config{State: fixture(t)})
	sdk := sdkClient(t, addr, clbsimtest.SecretID, clbsimtest.SecretKey)
	req := v20180317.NewDescribeTaskStatusRequest()
	_, err := sdk.DescribeTaskStatus(req)
	wantCode(t, err, "MissingParameter")
	req.TaskId = common.StringPtr("7a1d6f2e-0000-4000-8000-000000000000")
	_, err = sdk.DescribeTaskStatus(req)
	wantCode(t, err, "InvalidParameter")
}

func TestDescribeListenersAndLoadBalancers(t *testing.T) {
	_, addr := start(t, clbsim.Config{State: fixture(t)})
	sdk := sdkClient(t, addr, clbsimtest.SecretID, clbsimtest.SecretKey)

	lreq := v20180317.NewDescribeListenersRequest()
	lreq.LoadBalancerId = common.StringPtr("lb-test0001")
	lresp, err := sdk.DescribeListeners(lreq)
	if err != nil {
		t.Fatal(err)
	}
	ls := lresp.Response.Listeners
	if *lresp.Response.TotalCount != 2 || len(ls) != 2 || len(ls[0].Rules) != 0 || len(ls[1].Rules) != 2 || *ls[1].Rules[0].Url != "/api/" {
		t.Errorf("DescribeListeners = %+v", lresp.Response)
	}

	breq := v20180317.NewDescribeLoadBalancersRequest()
	bresp, err := sdk.DescribeLoadBalancers(breq)
	if err != nil {
		t.Fatal(err)
	}
	if *bresp.Response.TotalCount != 2 || len(bresp.Response.LoadBalancerSet) != 2 || *bresp.Response.LoadBalancerSet[0].LoadBalancerName != "web" {
		t.Errorf("DescribeLoadBalancers = %+v", bresp.Response)
	}
	breq.LoadBalancerIds = common.StringPtrs([]string{"lb-test0002"})
	if bresp, err = sdk.DescribeLoadBalancers(breq); err != nil || *bresp.Response.TotalCount != 1 || *bresp.Response.LoadBalancerSet[0].LoadBalancerId != "lb-test0002" {
		t.Errorf("DescribeLoadBalancers by id = %+v, %v", bresp, err)
	}
	breq.LoadBalancerIds = nil
	breq.Offset, breq.Limit = common.Int64Ptr(1), common.Int64Ptr(5)
	if bresp, err = sdk.DescribeLoadBalancers(breq); err != nil || *bresp.Response.TotalCount != 2 || len(bresp.Response.LoadBalancerSet) != 1 {
		t.Errorf("DescribeLoadBalancers page = %+v, %v", bresp, err)
	}
}
