package clb

import (
	"context"
	"strings"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// Health details as DescribeTargetHealth reports them.
const (
	// HealthAlive: the health check passes.
	HealthAlive = "Alive"
	// HealthDead: the health check fails.
	HealthDead = "Dead"
	// HealthUnknown: not probed yet, being probed, or unknown.
	HealthUnknown = "Unknown"
	// HealthClose: the listener's or rule's health check is off (or the
	// listener is stopped). HealthStatus is then false and stays false:
	// the CLB forwards by weight alone, with nothing to wait for.
	HealthClose = "Close"
)

// TargetHealth is the health of one binding, as DescribeTargetHealth
// reports it.
type TargetHealth struct {
	// Selector is the listener or rule the target is bound to; its rule
	// is empty for a layer-4 listener (whose targets the API nests under a
	// rule of its own).
	Selector
	// IP is the target's private address, TargetId its instance (a CVM's
	// InstanceId), Port its port.
	IP       string `json:"IP,omitempty"`
	TargetId string `json:"TargetId,omitempty"`
	Port     int64  `json:"Port"`
	// Healthy is true only when the health check passes: traffic goes to a
	// target that is healthy and has a weight above 0.
	Healthy bool `json:"Healthy"`
	// Detail is HealthAlive, HealthDead, HealthUnknown or HealthClose (or
	// what else the API answers).
	Detail string `json:"Detail,omitempty"`
}

// Matches reports whether the health is that of the binding t names: same
// port and, for a CVM target, its InstanceId as TargetId; for an EniIp
// target, its address as IP.
func (h TargetHealth) Matches(t Target) bool {
	if h.Port != t.Port {
		return false
	}
	if t.InstanceId != "" {
		return h.TargetId == t.InstanceId
	}
	return sameAddress(h.IP, t.EniIp)
}

// Unchecked reports whether no health check runs on the binding: the
// API's detail is HealthClose (any case).
func (h TargetHealth) Unchecked() bool { return strings.EqualFold(h.Detail, HealthClose) }

// HealthReader reads the health of bound targets.
type HealthReader interface {
	// DescribeTargetHealth returns the health of every binding of the
	// load balancers named, listener by listener and rule by rule in the
	// API's order.
	DescribeTargetHealth(ctx context.Context, loadBalancerIDs ...string) ([]TargetHealth, error)
}

var _ HealthReader = (*Client)(nil)

// DescribeTargetHealth implements HealthReader. A layer-4 listener's
// targets come with an empty LocationId whatever rule the API nests them
// under.
func (c *Client) DescribeTargetHealth(ctx context.Context, loadBalancerIDs ...string) ([]TargetHealth, error) {
	req := v20180317.NewDescribeTargetHealthRequest()
	req.LoadBalancerIds = common.StringPtrs(loadBalancerIDs)
	resp := v20180317.NewDescribeTargetHealthResponse()
	var out []TargetHealth
	_, err := c.do(ctx, ActionDescribeTargetHealth, req, resp, func() error {
		if resp.Response == nil {
			return malformed(ActionDescribeTargetHealth, "", "the answer has no Response")
		}
		for _, lb := range resp.Response.LoadBalancers {
			if lb != nil {
				out = append(out, lbHealth(lb)...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lbHealth flattens one load balancer's answer, skipping nil entries.
func lbHealth(lb *v20180317.LoadBalancerHealth) []TargetHealth {
	var out []TargetHealth
	for _, l := range lb.Listeners {
		if l == nil {
			continue
		}
		layer7 := IsLayer7(value(l.Protocol))
		for _, r := range l.Rules {
			if r == nil {
				continue
			}
			where := TargetHealth{Selector: Selector{LoadBalancerId: value(lb.LoadBalancerId), ListenerId: value(l.ListenerId)}}
			if layer7 {
				where.LocationId, where.Domain, where.Url = value(r.LocationId), value(r.Domain), value(r.Url)
			}
			for _, t := range r.Targets {
				if t == nil {
					continue
				}
				h := where
				h.IP, h.TargetId, h.Port = value(t.IP), value(t.TargetId), value(t.Port)
				h.Healthy, h.Detail = value(t.HealthStatus), healthDetail(t)
				out = append(out, h)
			}
		}
	}
	return out
}

// healthDetail is HealthStatusDetail, or the deprecated misspelt field
// when only that one is answered; Alive or Dead from HealthStatus when
// neither is.
func healthDetail(t *v20180317.TargetHealth) string {
	//lint:ignore SA1019 older answers carry only the misspelt field.
	for _, d := range []*string{t.HealthStatusDetail, t.HealthStatusDetial} {
		if s := strings.TrimSpace(value(d)); s != "" {
			return s
		}
	}
	if value(t.HealthStatus) {
		return HealthAlive
	}
	return HealthDead
}
