package clb

import (
	"context"
	"strconv"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// Bounds of DescribeLoadBalancers.
const (
	// MaxLoadBalancerIDs is the most LoadBalancerIds one call accepts.
	MaxLoadBalancerIDs = 20
	// MaxLoadBalancersPage is the largest Limit; the API's default is 20.
	MaxLoadBalancersPage = 100
)

// LoadBalancerSummary is a load balancer as DescribeLoadBalancers lists
// it: what a server-wide drain needs to know of it.
type LoadBalancerSummary struct {
	// LoadBalancerId and LoadBalancerName identify it.
	LoadBalancerId   string `json:"LoadBalancerId"`
	LoadBalancerName string `json:"LoadBalancerName,omitempty"`
	// LoadBalancerType is OPEN (public) or INTERNAL.
	LoadBalancerType string `json:"LoadBalancerType,omitempty"`
	// Forward is 1 for a CLB, 0 for a classic load balancer (whose
	// targets these calls do not manage).
	Forward uint64 `json:"Forward"`
	// Status is 0 while it is being created, 1 when it runs.
	Status uint64 `json:"Status"`
	// VpcId is its VPC, LoadBalancerVips its virtual addresses.
	VpcId            string   `json:"VpcId,omitempty"`
	LoadBalancerVips []string `json:"LoadBalancerVips,omitempty"`
}

// LoadBalancerQuery selects load balancers; the zero value selects all.
type LoadBalancerQuery struct {
	// LoadBalancerIds, when set, are the only ones listed (at most
	// MaxLoadBalancerIDs).
	LoadBalancerIds []string `json:"LoadBalancerIds,omitempty"`
	// BackendPrivateIps, when set, list only load balancers with a CVM
	// target at one of these private IPs (the API matches CVM targets only,
	// never ENI ones).
	BackendPrivateIps []string `json:"BackendPrivateIps,omitempty"`
	// Offset is how many matches to skip; Limit is the page size, at most
	// MaxLoadBalancersPage, 0 for the API's default (20).
	Offset int64 `json:"Offset,omitempty"`
	Limit  int64 `json:"Limit,omitempty"`
}

// LoadBalancerPage is one page of DescribeLoadBalancers.
type LoadBalancerPage struct {
	// TotalCount is how many load balancers match, on every page.
	TotalCount uint64 `json:"TotalCount"`
	// LoadBalancers are this page's, in the API's order.
	LoadBalancers []LoadBalancerSummary `json:"LoadBalancers"`
}

// LoadBalancerReader lists load balancers.
type LoadBalancerReader interface {
	// DescribeLoadBalancers returns one page of the load balancers q
	// selects.
	DescribeLoadBalancers(ctx context.Context, q LoadBalancerQuery) (LoadBalancerPage, error)
}

var _ LoadBalancerReader = (*Client)(nil)

// DescribeLoadBalancers implements LoadBalancerReader with one call.
func (c *Client) DescribeLoadBalancers(ctx context.Context, q LoadBalancerQuery) (LoadBalancerPage, error) {
	req := v20180317.NewDescribeLoadBalancersRequest()
	if len(q.LoadBalancerIds) > 0 {
		req.LoadBalancerIds = common.StringPtrs(q.LoadBalancerIds)
	}
	if len(q.BackendPrivateIps) > 0 {
		req.BackendPrivateIps = common.StringPtrs(q.BackendPrivateIps)
	}
	if q.Offset != 0 {
		req.Offset = common.Int64Ptr(q.Offset)
	}
	if q.Limit != 0 {
		req.Limit = common.Int64Ptr(q.Limit)
	}
	resp := v20180317.NewDescribeLoadBalancersResponse()
	var out LoadBalancerPage
	_, err := c.do(ctx, ActionDescribeLoadBalancers, req, resp, func() error {
		r := resp.Response
		if r == nil {
			return malformed(ActionDescribeLoadBalancers, "", "the answer has no Response")
		}
		if r.TotalCount == nil {
			return malformed(ActionDescribeLoadBalancers, value(r.RequestId), "the answer has no TotalCount")
		}
		out.TotalCount = *r.TotalCount
		out.LoadBalancers = make([]LoadBalancerSummary, 0, len(r.LoadBalancerSet))
		for _, lb := range r.LoadBalancerSet {
			if lb != nil {
				out.LoadBalancers = append(out.LoadBalancers, loadBalancerSummary(lb))
			}
		}
		return nil
	})
	if err != nil {
		return LoadBalancerPage{}, err
	}
	return out, nil
}

func loadBalancerSummary(lb *v20180317.LoadBalancer) LoadBalancerSummary {
	return LoadBalancerSummary{
		LoadBalancerId:   value(lb.LoadBalancerId),
		LoadBalancerName: value(lb.LoadBalancerName),
		LoadBalancerType: value(lb.LoadBalancerType),
		Forward:          value(lb.Forward),
		Status:           value(lb.Status),
		VpcId:            value(lb.VpcId),
		LoadBalancerVips: stringValues(lb.LoadBalancerVips),
	}
}

// AllLoadBalancers returns every load balancer q selects (q's Offset and
// Limit are ignored), reading pages of MaxLoadBalancersPage from r until
// TotalCount are read. TotalCount changing between pages (load balancers
// created or deleted meanwhile), or a page that comes back empty before
// the end, is an *Error of code ClientError.ParseJsonError (transient):
// the listing would not be exact, and the caller retries it.
func AllLoadBalancers(ctx context.Context, r LoadBalancerReader, q LoadBalancerQuery) ([]LoadBalancerSummary, error) {
	q.Offset, q.Limit = 0, MaxLoadBalancersPage
	var out []LoadBalancerSummary
	var total uint64
	for {
		page, err := r.DescribeLoadBalancers(ctx, q)
		if err != nil {
			return nil, err
		}
		switch {
		case q.Offset == 0:
			total = page.TotalCount
		case page.TotalCount != total:
			return nil, NewError(ActionDescribeLoadBalancers, CodeParseJSONError, "the load balancers changed while they were listed: "+
				strconv.FormatUint(total, 10)+" at first, "+strconv.FormatUint(page.TotalCount, 10)+" at offset "+strconv.FormatInt(q.Offset, 10))
		}
		out = append(out, page.LoadBalancers...)
		if uint64(len(out)) >= total {
			return out, nil
		}
		if len(page.LoadBalancers) == 0 {
			return nil, NewError(ActionDescribeLoadBalancers, CodeParseJSONError, "an empty page at offset "+
				strconv.FormatInt(q.Offset, 10)+" of "+strconv.FormatUint(total, 10))
		}
		q.Offset += int64(len(page.LoadBalancers))
	}
}
