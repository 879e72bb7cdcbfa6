package clb

import (
	"context"
	"strconv"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// MaxTargetsListenerIDs is the most ListenerIds one DescribeTargets call
// accepts.
const MaxTargetsListenerIDs = 20

// FleetReader is what finding a server's bindings across load balancers
// reads: the load balancers, their listeners, and what is bound to them.
type FleetReader interface {
	LoadBalancerReader
	ListenerReader
	// DescribeListenersTargets returns what is bound now to the listeners
	// of a load balancer that listenerIDs name (1 to
	// MaxTargetsListenerIDs), in the API's order. A listener with nothing
	// bound may be left out, as the API may leave it out.
	DescribeListenersTargets(ctx context.Context, loadBalancerID string, listenerIDs []string) ([]Listener, error)
}

var _ FleetReader = (*Client)(nil)

// DescribeListenersTargets implements FleetReader with one DescribeTargets
// call. No ids, or more than MaxTargetsListenerIDs, are refused before
// anything is sent, with an *Error of code InvalidParameterValue.Length.
func (c *Client) DescribeListenersTargets(ctx context.Context, loadBalancerID string, listenerIDs []string) ([]Listener, error) {
	if len(listenerIDs) == 0 || len(listenerIDs) > MaxTargetsListenerIDs {
		return nil, NewError(ActionDescribeTargets, "InvalidParameterValue.Length",
			strconv.Itoa(len(listenerIDs))+" ListenerIds; 1 to "+strconv.Itoa(MaxTargetsListenerIDs)+" are allowed")
	}
	req := v20180317.NewDescribeTargetsRequest()
	req.LoadBalancerId = common.StringPtr(loadBalancerID)
	req.ListenerIds = common.StringPtrs(listenerIDs)
	resp := v20180317.NewDescribeTargetsResponse()
	var out []Listener
	_, err := c.do(ctx, ActionDescribeTargets, req, resp, func() error {
		if resp.Response == nil {
			return malformed(ActionDescribeTargets, "", "the answer has no Response")
		}
		out = make([]Listener, 0, len(resp.Response.Listeners))
		for _, l := range resp.Response.Listeners {
			if l == nil {
				continue
			}
			if b := withoutWeight(l); b != nil {
				return malformed(ActionDescribeTargets, value(resp.Response.RequestId),
					"a backend of listener "+value(l.ListenerId)+" has no Weight")
			}
			out = append(out, listenerOf(l))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
