package clbsim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// listenerView is what a test compares of DescribeListeners' Listener.
type listenerView struct {
	id, name, protocol  string
	port                int64
	rst                 *bool
	idle, session       *int64
	rules               int
	firstRuleListenerID string
}

func view(l *v20180317.Listener) listenerView {
	v := listenerView{id: *l.ListenerId, protocol: *l.Protocol, port: *l.Port, rst: l.DeregisterTargetRst,
		idle: l.IdleConnectTimeout, session: l.SessionExpireTime, rules: len(l.Rules)}
	if l.ListenerName != nil {
		v.name = *l.ListenerName
	}
	if len(l.Rules) > 0 {
		v.firstRuleListenerID = *l.Rules[0].ListenerId
	}
	return v
}

func (v listenerView) String() string {
	b, _ := json.Marshal(map[string]any{"id": v.id, "name": v.name, "protocol": v.protocol, "port": v.port,
		"rst": v.rst, "idle": v.idle, "session": v.session, "rules": v.rules})
	return string(b)
}

func equalViews(a, b listenerView) bool {
	eqB := func(x, y *bool) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	eqI := func(x, y *int64) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.id == b.id && a.name == b.name && a.protocol == b.protocol && a.port == b.port && eqB(a.rst, b.rst) &&
		eqI(a.idle, b.idle) && eqI(a.session, b.session) && a.rules == b.rules && a.firstRuleListenerID == b.firstRuleListenerID
}

func TestDescribeListenersAnswersAttributes(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	tcp := listenerView{id: "lbl-tcp00001", name: "web-tcp", protocol: "TCP", port: 80,
		rst: common.BoolPtr(true), idle: common.Int64Ptr(600), session: common.Int64Ptr(30)}
	http0 := listenerView{id: "lbl-http0001", name: "web-http", protocol: "HTTP", port: 80, rules: 2, firstRuleListenerID: "lbl-http0001"}
	udp := listenerView{id: "lbl-udp00001", protocol: "UDP", port: 53, session: common.Int64Ptr(0)}
	cases := []struct {
		name string
		edit func(*v20180317.DescribeListenersRequest)
		want []listenerView
	}{
		{"every listener of a load balancer", func(*v20180317.DescribeListenersRequest) {}, []listenerView{tcp, http0}},
		{"defaults where the fixture gives none", func(r *v20180317.DescribeListenersRequest) { r.LoadBalancerId = common.StringPtr("lb-test0002") }, []listenerView{udp}},
		{"by ListenerIds", func(r *v20180317.DescribeListenersRequest) {
			r.ListenerIds = common.StringPtrs([]string{"lbl-http0001"})
		}, []listenerView{http0}},
		{"an unknown ListenerId is left out", func(r *v20180317.DescribeListenersRequest) {
			r.ListenerIds = common.StringPtrs([]string{"lbl-nothere1", "lbl-tcp00001"})
		}, []listenerView{tcp}},
		{"by Protocol, any case", func(r *v20180317.DescribeListenersRequest) { r.Protocol = common.StringPtr("tcp") }, []listenerView{tcp}},
		{"by Port", func(r *v20180317.DescribeListenersRequest) { r.Port = common.Int64Ptr(80) }, []listenerView{tcp, http0}},
		{"by Protocol and Port", func(r *v20180317.DescribeListenersRequest) {
			r.Protocol, r.Port = common.StringPtr("HTTP"), common.Int64Ptr(80)
		}, []listenerView{http0}},
		{"nothing selected", func(r *v20180317.DescribeListenersRequest) { r.Port = common.Int64Ptr(81) }, nil},
		{"100 ListenerIds", func(r *v20180317.DescribeListenersRequest) {
			for range 100 {
				r.ListenerIds = append(r.ListenerIds, common.StringPtr("lbl-tcp00001"))
			}
		}, []listenerView{tcp}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := v20180317.NewDescribeListenersRequest()
			req.LoadBalancerId = common.StringPtr("lb-test0001")
			tc.edit(req)
			resp, err := e.sdk.DescribeListeners(req)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.Response.Listeners
			if resp.Response.TotalCount == nil || *resp.Response.TotalCount != uint64(len(tc.want)) || len(got) != len(tc.want) {
				t.Fatalf("TotalCount %v, %d listeners, want %d", resp.Response.TotalCount, len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if v := view(got[i]); !equalViews(v, w) {
					t.Errorf("listener %d = %s, want %s", i, v, w)
				}
			}
		})
	}
}

func TestDescribeListenersRefuses(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	cases := []struct {
		name, code, field string
		edit              func(*v20180317.DescribeListenersRequest)
	}{
		{"no load balancer", "MissingParameter", "LoadBalancerId", func(r *v20180317.DescribeListenersRequest) { r.LoadBalancerId = nil }},
		{"a malformed load balancer id", "InvalidParameter.FormatError", "LoadBalancerId", func(r *v20180317.DescribeListenersRequest) { r.LoadBalancerId = common.StringPtr("lb-1") }},
		{"an unknown load balancer", "InvalidParameter.LBIdNotFound", "lb-nothere1", func(r *v20180317.DescribeListenersRequest) { r.LoadBalancerId = common.StringPtr("lb-nothere1") }},
		{"101 ListenerIds", "InvalidParameterValue.Length", "ListenerIds", func(r *v20180317.DescribeListenersRequest) {
			for range 101 {
				r.ListenerIds = append(r.ListenerIds, common.StringPtr("lbl-tcp00001"))
			}
		}},
		{"a malformed ListenerId", "InvalidParameter.FormatError", "ListenerIds.1", func(r *v20180317.DescribeListenersRequest) {
			r.ListenerIds = common.StringPtrs([]string{"lbl-tcp00001", "lbl-x"})
		}},
		{"an unknown protocol", "InvalidParameterValue", "Protocol", func(r *v20180317.DescribeListenersRequest) { r.Protocol = common.StringPtr("SCTP") }},
		{"a port out of range", "InvalidParameterValue.Range", "Port", func(r *v20180317.DescribeListenersRequest) { r.Port = common.Int64Ptr(70000) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := v20180317.NewDescribeListenersRequest()
			req.LoadBalancerId = common.StringPtr("lb-test0001")
			tc.edit(req)
			_, err := e.sdk.DescribeListeners(req)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("the error does not name %s: %v", tc.field, err)
			}
		})
	}
}

func TestStateRouteShowsListenerAttributes(t *testing.T) {
	e := startWith(t, clbsim.Config{})
	code, body := adminDo(t, http.MethodGet, e.client.Endpoint()+"/_sim/state", "")
	if code != http.StatusOK {
		t.Fatalf("GET state: %d", code)
	}
	state, err := clbsim.ReadState(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	a := state.LoadBalancers[0].ListenerAttributes["lbl-tcp00001"]
	if a.DeregisterTargetRst == nil || !*a.DeregisterTargetRst || a.IdleConnectTimeout == nil || *a.IdleConnectTimeout != 600 {
		t.Errorf("lbl-tcp00001 = %+v in %s", a, body)
	}
	if u := state.LoadBalancers[1].ListenerAttributes["lbl-udp00001"]; u.SessionExpireTime == nil || *u.SessionExpireTime != 0 || u.DeregisterTargetRst != nil {
		t.Errorf("lbl-udp00001 = %+v", u)
	}
}
