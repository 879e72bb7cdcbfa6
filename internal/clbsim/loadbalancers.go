package clbsim

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// Load balancer types as DescribeLoadBalancers answers them.
const (
	LoadBalancerOpen     = "OPEN"
	LoadBalancerInternal = "INTERNAL"
	prefixVPC            = "vpc-"
	prefixSubnet         = "subnet-"
)

// Paging bounds of DescribeLoadBalancers.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// lbInfo is what DescribeLoadBalancers answers of a load balancer beside
// its id and name, as the fixture gives it (empty: the defaults).
type lbInfo struct {
	lbType, vpcID string
	vips          []string
}

// checkLBInfo reports a load balancer's type, VPC or VIP that the API would
// not answer.
func checkLBInfo(lb LoadBalancer) error {
	switch {
	case lb.LoadBalancerType != "" && lb.LoadBalancerType != LoadBalancerOpen && lb.LoadBalancerType != LoadBalancerInternal:
		return fmt.Errorf("clbsim: state: %s: LoadBalancerType %q is neither OPEN nor INTERNAL", lb.LoadBalancerId, lb.LoadBalancerType)
	case lb.VpcId != "" && !validID(lb.VpcId, prefixVPC):
		return fmt.Errorf("clbsim: state: %s: VpcId %q is not vpc- followed by 8 lowercase letters or digits", lb.LoadBalancerId, lb.VpcId)
	}
	for _, ip := range lb.LoadBalancerVips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("clbsim: state: %s: LoadBalancerVips holds %q, which is not an IP address", lb.LoadBalancerId, ip)
		}
	}
	return nil
}

type describeLoadBalancersRequest struct {
	LoadBalancerIds   []*string `json:"LoadBalancerIds"`
	BackendPrivateIps []*string `json:"BackendPrivateIps"`
	BackendPublicIps  []*string `json:"BackendPublicIps"`
	Offset            *int64    `json:"Offset"`
	Limit             *int64    `json:"Limit"`
	WithRs            *int64    `json:"WithRs"`
	Filters           []*filter `json:"Filters"`
}

// loadBalancerOutput is the SDK's LoadBalancer, the fields clbsim knows.
type loadBalancerOutput struct {
	LoadBalancerId   string   `json:"LoadBalancerId"`
	LoadBalancerName string   `json:"LoadBalancerName"`
	LoadBalancerType string   `json:"LoadBalancerType"`
	Forward          int      `json:"Forward"`
	LoadBalancerVips []string `json:"LoadBalancerVips"`
	Status           int      `json:"Status"`
	ProjectId        int      `json:"ProjectId"`
	VpcId            string   `json:"VpcId"`
	SubnetId         string   `json:"SubnetId"`
	AddressIPVersion string   `json:"AddressIPVersion"`
}

type describeLoadBalancersResponse struct {
	TotalCount      int                  `json:"TotalCount"`
	LoadBalancerSet []loadBalancerOutput `json:"LoadBalancerSet"`
	RequestId       string               `json:"RequestId"`
}

// lbQuery is a checked DescribeLoadBalancers request.
type lbQuery struct {
	ids           map[string]bool
	privateIPs    map[string]bool
	publicIPs     bool
	withRs        bool
	offset, limit int64
}

// checkLBQuery validates a DescribeLoadBalancers request as the API does:
// at most 20 LoadBalancerIds, Offset not negative, Limit 1-100 (default
// 20), WithRs 0 or 1, no Filters (clbsim keeps none of what they filter).
func checkLBQuery(req *describeLoadBalancersRequest) (lbQuery, *apiError) {
	q := lbQuery{limit: defaultLimit}
	if len(req.LoadBalancerIds) > maxLoadBalancerIDs {
		return q, fail(codeLength, "The length of parameter `LoadBalancerIds` is %d; at most %d are allowed.", len(req.LoadBalancerIds), maxLoadBalancerIDs)
	}
	for i, id := range req.LoadBalancerIds {
		if e := checkID("LoadBalancerIds."+strconv.Itoa(i), str(id), prefixLB); e != nil {
			return q, e
		}
		if q.ids == nil {
			q.ids = map[string]bool{}
		}
		q.ids[*id] = true
	}
	for i, ip := range req.BackendPrivateIps {
		a, err := netip.ParseAddr(str(ip))
		if err != nil {
			return q, fail(codeFormatError, "The format of parameter `BackendPrivateIps.%d` is wrong: %q is not an IP address.", i, str(ip))
		}
		if q.privateIPs == nil {
			q.privateIPs = map[string]bool{}
		}
		q.privateIPs[a.String()] = true
	}
	q.publicIPs = len(req.BackendPublicIps) > 0
	switch {
	case len(req.Filters) > 0:
		return q, fail(codeUnsupportedOp, "clbsim keeps no tags, zones or charge types; Filters are not supported.")
	case req.WithRs != nil && *req.WithRs != 0 && *req.WithRs != 1:
		return q, fail(codeRange, "The value of parameter `WithRs` is %d; it must be 0 or 1.", *req.WithRs)
	case req.Offset != nil && *req.Offset < 0:
		return q, fail(codeRange, "The value of parameter `Offset` is %d; it must not be negative.", *req.Offset)
	case req.Limit != nil && (*req.Limit < 1 || *req.Limit > maxLimit):
		return q, fail(codeRange, "The value of parameter `Limit` is %d; it must be 1-%d.", *req.Limit, maxLimit)
	}
	q.withRs = req.WithRs != nil && *req.WithRs == 1
	if req.Offset != nil {
		q.offset = *req.Offset
	}
	if req.Limit != nil {
		q.limit = *req.Limit
	}
	return q, nil
}

// describeLoadBalancers lists the load balancers a query selects, in the
// fleet's order, one page at a time; TotalCount counts every match.
func (s *Server) describeLoadBalancers(c *call, _ faultPlan) (any, *apiError) {
	var req describeLoadBalancersRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	q, e := checkLBQuery(&req)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	resp := describeLoadBalancersResponse{LoadBalancerSet: []loadBalancerOutput{}, RequestId: c.id}
	for _, lb := range s.fleet.lbs {
		if !q.selects(lb) {
			continue
		}
		if n := int64(resp.TotalCount); n >= q.offset && n < q.offset+q.limit {
			resp.LoadBalancerSet = append(resp.LoadBalancerSet, lb.output())
		}
		resp.TotalCount++
	}
	return resp, nil
}

// selects reports whether the query lists lb. BackendPrivateIps match the
// private IPs of CVM bindings only, as the API documents; clbsim's
// backends have no public IPs, so BackendPublicIps match none.
func (q lbQuery) selects(lb *lbState) bool {
	switch {
	case q.ids != nil && !q.ids[lb.id]:
		return false
	case q.publicIPs:
		return false
	}
	if q.privateIPs == nil && !q.withRs {
		return true
	}
	for _, l := range lb.listeners {
		for _, set := range l.sets("") {
			for _, e := range set.list {
				if q.privateIPs == nil {
					return true
				}
				if e.Type == TypeCVM && slices.ContainsFunc(e.PrivateIpAddresses, func(ip string) bool { return q.privateIPs[canonicalIP(ip)] }) {
					return true
				}
			}
		}
	}
	return false
}

// output is the load balancer as DescribeLoadBalancers answers it, the
// defaults filled in: INTERNAL, a VPC and subnet derived from its id.
func (lb *lbState) output() loadBalancerOutput {
	out := loadBalancerOutput{LoadBalancerId: lb.id, LoadBalancerName: lb.name, LoadBalancerType: lb.info.lbType, Forward: 1,
		LoadBalancerVips: slices.Clone(lb.info.vips), Status: 1, VpcId: lb.info.vpcID, SubnetId: derivedID(prefixSubnet, lb.id),
		AddressIPVersion: "ipv4"}
	if out.LoadBalancerType == "" {
		out.LoadBalancerType = LoadBalancerInternal
	}
	if out.VpcId == "" {
		out.VpcId = derivedID(prefixVPC, lb.id)
	}
	if out.LoadBalancerVips == nil {
		out.LoadBalancerVips = []string{}
	}
	return out
}
