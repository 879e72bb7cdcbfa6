package clb

import (
	"context"
	"strconv"
	"strings"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// MaxListenerIDs is the most ListenerIds DescribeListeners accepts.
const MaxListenerIDs = 100

// ListenerAttributes are a listener's identity and the attributes that
// change what a drain means, as DescribeListeners reports them. A nil
// attribute is one the listener does not have (or the API left out).
type ListenerAttributes struct {
	// ListenerId is the listener, such as lbl-abc12345.
	ListenerId string `json:"ListenerId"`
	// ListenerName is the listener's name, "" when it has none.
	ListenerName string `json:"ListenerName,omitempty"`
	// Protocol is TCP, UDP, TCP_SSL, QUIC, HTTP or HTTPS.
	Protocol string `json:"Protocol"`
	// Port is the listener's port.
	Port int64 `json:"Port"`
	// DeregisterTargetRst is whether unbinding a target resets its live
	// connections at once (TCP listeners).
	DeregisterTargetRst *bool `json:"DeregisterTargetRst,omitempty"`
	// IdleConnectTimeout is how many seconds an idle connection is kept
	// (TCP listeners).
	IdleConnectTimeout *int64 `json:"IdleConnectTimeout,omitempty"`
	// SessionExpireTime is the session persistence time in seconds, 0 when
	// off (layer-4 listeners).
	SessionExpireTime *int64 `json:"SessionExpireTime,omitempty"`
	// Rules are a layer-7 listener's rules, without their targets
	// (DescribeTargets has those).
	Rules []Rule `json:"Rules,omitempty"`
}

// ListenerReader reads listeners' attributes.
type ListenerReader interface {
	// DescribeListeners returns the listeners of a load balancer that
	// listenerIDs name (at most MaxListenerIDs; none: every listener), in
	// the API's order. A named listener missing from the answer is an
	// *Error with code InvalidParameter.ListenerIdNotFound.
	DescribeListeners(ctx context.Context, loadBalancerID string, listenerIDs ...string) ([]ListenerAttributes, error)
}

var _ ListenerReader = (*Client)(nil)

// DescribeListeners implements ListenerReader. More than MaxListenerIDs
// ids are refused before anything is sent, with an *Error of code
// InvalidParameterValue.Length, as the API would answer.
func (c *Client) DescribeListeners(ctx context.Context, loadBalancerID string, listenerIDs ...string) ([]ListenerAttributes, error) {
	if len(listenerIDs) > MaxListenerIDs {
		return nil, NewError(ActionDescribeListeners, "InvalidParameterValue.Length",
			strconv.Itoa(len(listenerIDs))+" ListenerIds; at most "+strconv.Itoa(MaxListenerIDs)+" are allowed")
	}
	req := v20180317.NewDescribeListenersRequest()
	req.LoadBalancerId = common.StringPtr(loadBalancerID)
	if len(listenerIDs) > 0 {
		req.ListenerIds = common.StringPtrs(listenerIDs)
	}
	resp := v20180317.NewDescribeListenersResponse()
	var out []ListenerAttributes
	_, err := c.do(ctx, ActionDescribeListeners, req, resp, func() error {
		if resp.Response == nil {
			return malformed(ActionDescribeListeners, "", "the answer has no Response")
		}
		out = listenerAttributes(resp.Response.Listeners)
		return missingListeners(loadBalancerID, listenerIDs, out, value(resp.Response.RequestId))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listenerAttributes converts the SDK's listeners, skipping nil entries.
func listenerAttributes(in []*v20180317.Listener) []ListenerAttributes {
	out := make([]ListenerAttributes, 0, len(in))
	for _, l := range in {
		if l == nil {
			continue
		}
		out = append(out, ListenerAttributes{
			ListenerId:          value(l.ListenerId),
			ListenerName:        value(l.ListenerName),
			Protocol:            value(l.Protocol),
			Port:                value(l.Port),
			DeregisterTargetRst: copyPtr(l.DeregisterTargetRst),
			IdleConnectTimeout:  copyPtr(l.IdleConnectTimeout),
			SessionExpireTime:   copyPtr(l.SessionExpireTime),
			Rules:               rulesOf(l.Rules),
		})
	}
	return out
}

// rulesOf converts the SDK's rules to Rules without targets, skipping nil
// entries.
func rulesOf(in []*v20180317.RuleOutput) []Rule {
	var out []Rule
	for _, r := range in {
		if r != nil {
			out = append(out, Rule{LocationId: value(r.LocationId), Domain: value(r.Domain), Url: value(r.Url)})
		}
	}
	return out
}

// missingListeners is an *Error naming the listeners asked for that the
// answer left out, nil when none is missing.
func missingListeners(loadBalancerID string, asked []string, got []ListenerAttributes, requestID string) error {
	found := make(map[string]bool, len(got))
	for _, l := range got {
		found[l.ListenerId] = true
	}
	var missing []string
	for _, id := range asked {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	e := NewError(ActionDescribeListeners, "InvalidParameter.ListenerIdNotFound",
		"load balancer "+loadBalancerID+" has no listener "+strings.Join(missing, ", "))
	e.RequestID = requestID
	return e
}

// copyPtr is a copy of *p in a new variable, nil for nil: what the Client
// returns shares nothing with the SDK's answer.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
