package clb

import (
	"context"
	"strconv"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// MaxBatchTargets is the most targets BatchModifyTargetWeight accepts in
// one call, across all its entries.
const MaxBatchTargets = 500

// TargetRegistrar binds targets: what a restore needs beyond API.
type TargetRegistrar interface {
	// RegisterTargets binds at most MaxTargetsPerCall targets, each with
	// its weight, to the listener or rule sel names, and returns the task
	// id. A target already bound fails the whole call with an *Error of
	// class ClassAlreadyBound.
	RegisterTargets(ctx context.Context, sel Selector, targets []WeightedTarget) (taskID string, err error)
}

// BatchWeighter sets weights across listeners and rules of one load
// balancer in one task.
type BatchWeighter interface {
	// BatchModifyTargetWeight sets each target of entries to its weight,
	// at most MaxBatchTargets targets in all, on one load balancer, and
	// returns the task id. A target not bound fails the whole call with an
	// *Error of class ClassNotBound.
	BatchModifyTargetWeight(ctx context.Context, loadBalancerID string, entries []BatchWeightEntry) (taskID string, err error)
}

var (
	_ TargetRegistrar = (*Client)(nil)
	_ BatchWeighter   = (*Client)(nil)
)

// BatchWeightEntry is one listener or rule of a BatchModifyTargetWeight
// call: where, and each target with its new weight.
type BatchWeightEntry struct {
	// Selector names the listener or rule; its LoadBalancerId must be the
	// call's (or empty).
	Selector Selector `json:"Selector"`
	// Targets are the targets to set, each with its weight.
	Targets []WeightedTarget `json:"Targets"`
}

// RegisterTargets binds targets to the listener or rule sel names, each
// with its Weight, and returns the task id. LocationId, Domain and Url
// are sent as given, as DeregisterTargets sends them.
func (c *Client) RegisterTargets(ctx context.Context, sel Selector, targets []WeightedTarget) (string, error) {
	req := v20180317.NewRegisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url = selectorFields(sel)
	req.Targets = sdkWeightedTargets(targets)
	resp := v20180317.NewRegisterTargetsResponse()
	return c.mutate(ctx, ActionRegisterTargets, req, resp, func() *string {
		if resp.Response == nil {
			return nil
		}
		return resp.Response.RequestId
	})
}

// BatchModifyTargetWeight sends every entry's targets with their own
// Weight (the API's per-entry weight is not used) and returns the task id.
// An entry naming another load balancer, or more than MaxBatchTargets
// targets in all, is refused before anything is sent, with an *Error of
// class ClassCallerError: the API's entries carry no load balancer, so
// such an entry would change another listener.
func (c *Client) BatchModifyTargetWeight(ctx context.Context, loadBalancerID string, entries []BatchWeightEntry) (string, error) {
	req := v20180317.NewBatchModifyTargetWeightRequest()
	req.LoadBalancerId = common.StringPtr(loadBalancerID)
	total := 0
	for i, e := range entries {
		if lb := e.Selector.LoadBalancerId; lb != "" && lb != loadBalancerID {
			return "", NewError(ActionBatchModifyTargetWeight, "InvalidParameterValue",
				"entry "+strconv.Itoa(i)+" names load balancer "+lb+", not "+loadBalancerID)
		}
		total += len(e.Targets)
		rule := &v20180317.RsWeightRule{
			ListenerId: common.StringPtr(e.Selector.ListenerId),
			LocationId: optional(e.Selector.LocationId),
			Targets:    sdkWeightedTargets(e.Targets),
		}
		//lint:ignore SA1019 the API still names a rule by Domain and Url when no LocationId is given.
		rule.Domain, rule.Url = optional(e.Selector.Domain), optional(e.Selector.Url)
		req.ModifyList = append(req.ModifyList, rule)
	}
	if total > MaxBatchTargets {
		return "", NewError(ActionBatchModifyTargetWeight, "InvalidParameterValue.Length",
			strconv.Itoa(total)+" targets in one call; at most "+strconv.Itoa(MaxBatchTargets)+" are allowed")
	}
	resp := v20180317.NewBatchModifyTargetWeightResponse()
	return c.mutate(ctx, ActionBatchModifyTargetWeight, req, resp, func() *string {
		if resp.Response == nil {
			return nil
		}
		return resp.Response.RequestId
	})
}
