package clb

// Action names of the CLB API calls beyond API's: the reads and writes of
// server-wide drains, batch weights, restores and health checks. Each has
// its own pacer in a Client, as API's do.
const (
	ActionBatchModifyTargetWeight = "BatchModifyTargetWeight"
	ActionDescribeListeners       = "DescribeListeners"
	ActionDescribeLoadBalancers   = "DescribeLoadBalancers"
	ActionDescribeTargetHealth    = "DescribeTargetHealth"
)

// moreActions are the actions beyond API's that a Client calls.
var moreActions = []string{ActionBatchModifyTargetWeight, ActionDescribeListeners, ActionDescribeLoadBalancers,
	ActionDescribeTargetHealth}
