package clb

import (
	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// Action names of the CLB API calls beyond API's: the reads and writes of
// server-wide drains, batch weights, restores and health checks. Each has
// its own token bucket in a Client, as API's do.
const (
	ActionBatchModifyTargetWeight = "BatchModifyTargetWeight"
	ActionDescribeListeners       = "DescribeListeners"
	ActionDescribeLoadBalancers   = "DescribeLoadBalancers"
	ActionDescribeTargetHealth    = "DescribeTargetHealth"
)

// moreActions are the actions beyond API's that a Client calls.
var moreActions = []string{ActionBatchModifyTargetWeight, ActionDescribeListeners, ActionDescribeLoadBalancers,
	ActionDescribeTargetHealth}

// sdkWeightedTargets are targets as the SDK sends them, each with its
// Weight.
func sdkWeightedTargets(targets []WeightedTarget) []*v20180317.Target {
	out := make([]*v20180317.Target, 0, len(targets))
	for _, t := range targets {
		out = append(out, &v20180317.Target{
			InstanceId: optional(t.InstanceId),
			EniIp:      optional(t.EniIp),
			Port:       common.Int64Ptr(t.Port),
			Weight:     common.Int64Ptr(t.Weight),
		})
	}
	return out
}
