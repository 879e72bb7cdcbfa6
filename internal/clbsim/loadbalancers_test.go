package clbsim_test

import (
	"context"
	"strings"
	"testing"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// TestDescribeLoadBalancersPages: every page of a 45-load-balancer fleet
// holds exactly the load balancers at its offsets, in the fleet's order,
// with the total on every page.
func TestDescribeLoadBalancersPages(t *testing.T) {
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 45, Listeners: 1, Targets: 1}, 5)
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, clbsim.Config{State: fleet, Rate: -1})
	tests := []struct {
		offset, limit int64
		first, n      int
	}{
		{0, 0, 0, 20}, {0, 100, 0, 45}, {20, 20, 20, 20}, {40, 20, 40, 5}, {44, 1, 44, 1}, {45, 20, 45, 0}, {1000, 100, 45, 0}, {3, 7, 3, 7},
	}
	for _, tt := range tests {
		page, err := e.client.DescribeLoadBalancers(context.Background(), clb.LoadBalancerQuery{Offset: tt.offset, Limit: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 45 || len(page.LoadBalancers) != tt.n {
			t.Errorf("offset %d limit %d: total %d, %d listed; want 45, %d", tt.offset, tt.limit, page.TotalCount, len(page.LoadBalancers), tt.n)
			continue
		}
		for i, lb := range page.LoadBalancers {
			if want := fleet.LoadBalancers[tt.first+i]; lb.LoadBalancerId != want.LoadBalancerId || lb.LoadBalancerName != want.LoadBalancerName {
				t.Errorf("offset %d limit %d: [%d] = %s, want %s", tt.offset, tt.limit, i, lb.LoadBalancerId, want.LoadBalancerId)
			}
		}
	}
}

// TestDescribeLoadBalancersSelects: by id, by the private IP of a CVM
// backend (never of an ENI one), with backends only; fields from the
// fixture or their defaults.
func TestDescribeLoadBalancersSelects(t *testing.T) {
	state := fixture(t)
	state.LoadBalancers[0].LoadBalancerType, state.LoadBalancers[0].VpcId = "OPEN", "vpc-web00001"
	state.LoadBalancers[0].LoadBalancerVips = []string{"203.0.113.10"}
	state.LoadBalancers = append(state.LoadBalancers, clbsim.LoadBalancer{LoadBalancerId: "lb-empty001", LoadBalancerName: "empty"})
	e := startWith(t, clbsim.Config{State: state})
	list := func(q clb.LoadBalancerQuery) []string {
		t.Helper()
		page, err := e.client.DescribeLoadBalancers(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, lb := range page.LoadBalancers {
			ids = append(ids, lb.LoadBalancerId)
		}
		if int(page.TotalCount) != len(ids) {
			t.Errorf("TotalCount %d, %d listed", page.TotalCount, len(ids))
		}
		return ids
	}
	for _, c := range []struct {
		name string
		q    clb.LoadBalancerQuery
		want string
	}{
		{"all", clb.LoadBalancerQuery{}, "lb-test0001 lb-test0002 lb-empty001"},
		{"by id", clb.LoadBalancerQuery{LoadBalancerIds: []string{"lb-empty001", "lb-test0002"}}, "lb-test0002 lb-empty001"},
		{"CVM private IP", clb.LoadBalancerQuery{BackendPrivateIps: []string{"10.0.2.1"}}, "lb-test0002"},
		{"CVM private IP on a rule", clb.LoadBalancerQuery{BackendPrivateIps: []string{"10.0.0.3"}}, "lb-test0001"},
		{"either of two IPs", clb.LoadBalancerQuery{BackendPrivateIps: []string{"10.0.0.3", "10.0.2.1"}}, "lb-test0001 lb-test0002"},
		{"ENI IP matches nothing", clb.LoadBalancerQuery{BackendPrivateIps: []string{"10.0.1.5"}}, ""},
		{"IPv6 ENI IP matches nothing", clb.LoadBalancerQuery{BackendPrivateIps: []string{"fd00::5"}}, ""},
		{"IP and id", clb.LoadBalancerQuery{LoadBalancerIds: []string{"lb-test0002"}, BackendPrivateIps: []string{"10.0.0.3"}}, ""},
	} {
		if got := strings.Join(list(c.q), " "); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}

	req := v20180317.NewDescribeLoadBalancersRequest()
	req.WithRs = common.Int64Ptr(1)
	resp, err := e.sdk.DescribeLoadBalancers(req)
	if err != nil {
		t.Fatal(err)
	}
	if *resp.Response.TotalCount != 2 {
		t.Errorf("WithRs 1: %d load balancers, want 2", *resp.Response.TotalCount)
	}
	req.WithRs, req.BackendPublicIps = nil, common.StringPtrs([]string{"203.0.113.4"})
	if resp, err = e.sdk.DescribeLoadBalancers(req); err != nil || *resp.Response.TotalCount != 0 {
		t.Errorf("BackendPublicIps: %v, %v; want none (clbsim backends have no public IP)", resp, err)
	}
	req.BackendPublicIps, req.LoadBalancerIds = nil, common.StringPtrs([]string{"lb-test0001", "lb-test0002"})
	resp, err = e.sdk.DescribeLoadBalancers(req)
	if err != nil {
		t.Fatal(err)
	}
	web, udp := resp.Response.LoadBalancerSet[0], resp.Response.LoadBalancerSet[1]
	if *web.LoadBalancerType != "OPEN" || *web.VpcId != "vpc-web00001" || *web.LoadBalancerVips[0] != "203.0.113.10" || *web.Forward != 1 || *web.Status != 1 {
		t.Errorf("from the fixture: %+v", *web)
	}
	if *udp.LoadBalancerType != "INTERNAL" || !strings.HasPrefix(*udp.VpcId, "vpc-") || len(*udp.VpcId) != 12 || !strings.HasPrefix(*udp.SubnetId, "subnet-") {
		t.Errorf("defaults: %+v", *udp)
	}
}

func TestDescribeLoadBalancersValidation(t *testing.T) {
	e := startWith(t, clbsim.Config{Rate: -1})
	i := common.Int64Ptr
	tests := []struct {
		name        string
		edit        func(*v20180317.DescribeLoadBalancersRequest)
		code, words string
	}{
		{"Limit over 100", func(r *v20180317.DescribeLoadBalancersRequest) { r.Limit = i(101) }, "InvalidParameterValue.Range", "`Limit` is 101"},
		{"Limit 0", func(r *v20180317.DescribeLoadBalancersRequest) { r.Limit = i(0) }, "InvalidParameterValue.Range", "`Limit` is 0"},
		{"negative Offset", func(r *v20180317.DescribeLoadBalancersRequest) { r.Offset = i(-1) }, "InvalidParameterValue.Range", "`Offset` is -1"},
		{"21 ids", func(r *v20180317.DescribeLoadBalancersRequest) {
			r.LoadBalancerIds = common.StringPtrs(strings.Fields(strings.Repeat("lb-test0001 ", 21)))
		}, "InvalidParameterValue.Length", "at most 20"},
		{"bad id", func(r *v20180317.DescribeLoadBalancersRequest) {
			r.LoadBalancerIds = common.StringPtrs([]string{"lb-1"})
		}, "InvalidParameter.FormatError", "`LoadBalancerIds.0`"},
		{"bad IP", func(r *v20180317.DescribeLoadBalancersRequest) {
			r.BackendPrivateIps = common.StringPtrs([]string{"10.0.0.1", "ten"})
		}, "InvalidParameter.FormatError", "`BackendPrivateIps.1`"},
		{"WithRs 2", func(r *v20180317.DescribeLoadBalancersRequest) { r.WithRs = i(2) }, "InvalidParameterValue.Range", "`WithRs`"},
		{"Filters", func(r *v20180317.DescribeLoadBalancersRequest) {
			r.Filters = []*v20180317.Filter{{Name: common.StringPtr("tag-key"), Values: common.StringPtrs([]string{"a"})}}
		}, "UnsupportedOperation", "Filters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := v20180317.NewDescribeLoadBalancersRequest()
			tt.edit(req)
			_, err := e.sdk.DescribeLoadBalancers(req)
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q does not say %q", err, tt.words)
			}
		})
	}
}
