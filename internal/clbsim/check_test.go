package clbsim_test

import (
	"errors"
	"strings"
	"testing"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

// mutation is a mutating request as the SDK builds it.
type mutation struct {
	lb, listener, location, domain, url string
	targets                             []*v20180317.Target
	weight                              *int64
}

func sdkTarget(instance, eni string, port int64) *v20180317.Target {
	t := &v20180317.Target{Port: common.Int64Ptr(port)}
	if instance != "" {
		t.InstanceId = common.StringPtr(instance)
	}
	if eni != "" {
		t.EniIp = common.StringPtr(eni)
	}
	return t
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (m mutation) send(sdk *v20180317.Client, action string) error {
	var err error
	switch action {
	case clb.ActionDeregisterTargets:
		req := v20180317.NewDeregisterTargetsRequest()
		req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url = opt(m.lb), opt(m.listener), opt(m.location), opt(m.domain), opt(m.url)
		req.Targets = m.targets
		_, err = sdk.DeregisterTargets(req)
	case clb.ActionModifyTargetWeight:
		req := v20180317.NewModifyTargetWeightRequest()
		req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url = opt(m.lb), opt(m.listener), opt(m.location), opt(m.domain), opt(m.url)
		req.Targets, req.Weight = m.targets, m.weight
		_, err = sdk.ModifyTargetWeight(req)
	case clb.ActionRegisterTargets:
		req := v20180317.NewRegisterTargetsRequest()
		req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url = opt(m.lb), opt(m.listener), opt(m.location), opt(m.domain), opt(m.url)
		req.Targets = m.targets
		_, err = sdk.RegisterTargets(req)
	}
	return err
}

func TestValidationAsTheAPI(t *testing.T) {
	one := []*v20180317.Target{sdkTarget("ins-aaaa0001", "", 8080)}
	many := func(n int) []*v20180317.Target {
		var out []*v20180317.Target
		for i := range n {
			out = append(out, sdkTarget("", "10.1.0."+string(rune('a'+i%26)), 8080))
		}
		return out
	}
	tcp := func(targets ...*v20180317.Target) mutation {
		return mutation{lb: "lb-test0001", listener: "lbl-tcp00001", targets: targets}
	}
	rule := func(targets ...*v20180317.Target) mutation {
		return mutation{lb: "lb-test0001", listener: "lbl-http0001", location: "loc-rule0001", targets: targets}
	}
	withWeight := func(m mutation, w int64) mutation { m.weight = &w; return m }
	targetWeight := func(t *v20180317.Target, w int64) *v20180317.Target { t.Weight = &w; return t }

	cases := []struct {
		name    string
		action  string
		m       mutation
		code    string
		message string
	}{
		{"no load balancer", clb.ActionDeregisterTargets, mutation{listener: "lbl-tcp00001", targets: one}, "MissingParameter", "LoadBalancerId"},
		{"no listener", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", targets: one}, "MissingParameter", "ListenerId"},
		{"no targets", clb.ActionDeregisterTargets, tcp(), "MissingParameter", "Targets"},
		{"no port", clb.ActionDeregisterTargets, tcp(&v20180317.Target{InstanceId: common.StringPtr("ins-aaaa0001")}), "MissingParameter", "Targets.0.Port"},
		{"neither instance nor ENI", clb.ActionDeregisterTargets, tcp(sdkTarget("", "", 8080)), "MissingParameter", "Targets.0.InstanceId"},
		{"domain without url", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-http0001", domain: "www.example.com", targets: one}, "MissingParameter", "Url"},
		{"bad load balancer id", clb.ActionDeregisterTargets, mutation{lb: "lb-1234567", listener: "lbl-tcp00001", targets: one}, "InvalidParameter.FormatError", "LoadBalancerId"},
		{"bad listener id", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-TCP00001", targets: one}, "InvalidParameter.FormatError", "ListenerId"},
		{"bad location id", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-http0001", location: "loc-1", targets: one}, "InvalidParameter.FormatError", "LocationId"},
		{"bad instance id", clb.ActionDeregisterTargets, tcp(sdkTarget("i-abc", "", 8080)), "InvalidParameter.FormatError", "Targets.0.InstanceId"},
		{"bad ENI address", clb.ActionDeregisterTargets, tcp(sdkTarget("", "10.0.0.300", 8080)), "InvalidParameter.FormatError", "Targets.0.EniIp"},
		{"21 targets", clb.ActionDeregisterTargets, tcp(many(21)...), "InvalidParameterValue.Length", "at most 20"},
		{"duplicate", clb.ActionDeregisterTargets, tcp(sdkTarget("ins-aaaa0001", "", 8080), sdkTarget("ins-aaaa0002", "", 8080), sdkTarget("ins-aaaa0001", "", 8080)), "InvalidParameterValue.Duplicate", "Targets.2"},
		{"duplicate IPv6 spellings", clb.ActionDeregisterTargets, tcp(sdkTarget("", "fd00::5", 8080), sdkTarget("", "fd00:0:0::5", 8080)), "InvalidParameterValue.Duplicate", "[fd00::5]:8080"},
		{"instance and ENI", clb.ActionDeregisterTargets, tcp(sdkTarget("ins-aaaa0001", "10.0.0.1", 8080)), "InvalidParameter", "both InstanceId"},
		{"port out of range", clb.ActionDeregisterTargets, tcp(sdkTarget("ins-aaaa0001", "", 70000)), "InvalidParameterValue.Range", "Targets.0.Port"},
		{"call weight out of range", clb.ActionModifyTargetWeight, withWeight(tcp(one...), 101), "InvalidParameterValue.Range", "Weight"},
		{"target weight out of range", clb.ActionModifyTargetWeight, withWeight(tcp(targetWeight(sdkTarget("ins-aaaa0001", "", 8080), -1)), 5), "InvalidParameterValue.Range", "Targets.0.Weight"},
		{"register weight out of range", clb.ActionRegisterTargets, tcp(targetWeight(sdkTarget("ins-aaaa0009", "", 8080), 101)), "InvalidParameterValue.Range", "Targets.0.Weight"},
		{"unknown load balancer", clb.ActionDeregisterTargets, mutation{lb: "lb-nothere1", listener: "lbl-tcp00001", targets: one}, "InvalidParameter.LBIdNotFound", "lb-nothere1"},
		{"unknown listener", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-udp00001", targets: one}, "InvalidParameter.ListenerIdNotFound", "lbl-udp00001"},
		{"unknown location", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-http0001", location: "loc-nothere", targets: one}, "InvalidParameter.FormatError", "LocationId"},
		{"unknown location id", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-http0001", location: "loc-nothere1", targets: one}, "InvalidParameter.LocationNotFound", "loc-nothere1"},
		{"unknown domain and url", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-http0001", domain: "www.example.com", url: "/nothere/", targets: one}, "InvalidParameter.LocationNotFound", "www.example.com/nothere/"},
		{"layer-7 without rule", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-http0001", targets: one}, "InvalidParameter", "layer-7"},
		{"layer-4 with rule", clb.ActionDeregisterTargets, mutation{lb: "lb-test0001", listener: "lbl-tcp00001", location: "loc-rule0001", targets: one}, "InvalidParameter", "layer-4"},
		{"not bound", clb.ActionDeregisterTargets, tcp(sdkTarget("ins-aaaa0001", "", 8080), sdkTarget("ins-aaaa0003", "", 8080), sdkTarget("", "10.0.0.2", 8080)), "InvalidParameter", "lb-test0001/lbl-tcp00001: ins-aaaa0003:8080, 10.0.0.2:8080."},
		{"not bound to the rule", clb.ActionModifyTargetWeight, withWeight(rule(sdkTarget("ins-aaaa0002", "", 9000)), 0), "InvalidParameter", "lb-test0001/lbl-http0001/loc-rule0001: ins-aaaa0002:9000"},
		{"already bound", clb.ActionRegisterTargets, tcp(sdkTarget("ins-aaaa0009", "", 8080), sdkTarget("ins-aaaa0002", "", 8080)), "InvalidParameter", "already bound to lb-test0001/lbl-tcp00001: ins-aaaa0002:8080"},
	}
	srv, addr := start(t, clbsim.Config{State: fixture(t), Rate: -1})
	sdk := sdkClient(t, addr, clbsimtest.SecretID, clbsimtest.SecretKey)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.send(sdk, tc.action)
			wantCode(t, err, tc.code)
			var sdkErr *tcerr.TencentCloudSDKError
			if !strings.Contains(err.Error(), tc.message) || !errors.As(err, &sdkErr) || sdkErr.RequestId == "" {
				t.Errorf("error %v: want a RequestId and a message naming %q", err, tc.message)
			}
		})
	}
	if st := srv.Stats(); st.TasksCreated != 0 || len(srv.Audit()) != 0 {
		t.Errorf("a refused call made a task: %+v", st)
	}
	if got, want := srv.State(), fixture(t); len(bound(got, "lb-test0001", "lbl-tcp00001", "")) != len(bound(want, "lb-test0001", "lbl-tcp00001", "")) {
		t.Errorf("a refused call changed the state")
	}
}

func TestLocationIdWinsOverDomainAndUrl(t *testing.T) {
	srv, addr := start(t, clbsim.Config{State: fixture(t)})
	sdk := sdkClient(t, addr, clbsimtest.SecretID, clbsimtest.SecretKey)
	m := mutation{lb: "lb-test0001", listener: "lbl-http0001", location: "loc-rule0002", domain: "nothere.example.com", url: "/nothere/",
		targets: []*v20180317.Target{sdkTarget("ins-aaaa0002", "", 9000)}}
	if err := m.send(sdk, clb.ActionDeregisterTargets); err != nil {
		t.Fatal(err)
	}
	if got := bound(srv.State(), "lb-test0001", "lbl-http0001", "loc-rule0002"); len(got) != 0 {
		t.Errorf("still bound: %v", got)
	}
	m = mutation{lb: "lb-test0001", listener: "lbl-http0001", domain: "www.example.com", url: "/api/",
		targets: []*v20180317.Target{sdkTarget("ins-aaaa0003", "", 9000)}}
	if err := m.send(sdk, clb.ActionDeregisterTargets); err != nil {
		t.Fatal(err)
	}
	if got := bound(srv.State(), "lb-test0001", "lbl-http0001", "loc-rule0001"); len(got) != 1 {
		t.Errorf("by Domain and Url: bound %v", got)
	}
}
