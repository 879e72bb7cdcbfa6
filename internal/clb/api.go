package clb

import "context"

// MaxTargetsPerCall is the most targets DeregisterTargets and
// ModifyTargetWeight accept in one call.
const MaxTargetsPerCall = 20

// Action names of the CLB API calls clbdrain makes.
const (
	ActionDeregisterTargets  = "DeregisterTargets"
	ActionDescribeTaskStatus = "DescribeTaskStatus"
	ActionDescribeTargets    = "DescribeTargets"
	ActionModifyTargetWeight = "ModifyTargetWeight"
	ActionRegisterTargets    = "RegisterTargets"
)

// API is what clbdrain needs of the CLB API, and nothing more. Mutating
// calls are asynchronous: they return the task id (the call's RequestId) to
// be watched with DescribeTaskStatus.
type API interface {
	// DescribeTargets returns one listener of a load balancer with what is
	// bound to it now (layer-4 targets, or layer-7 rules and their targets).
	DescribeTargets(ctx context.Context, loadBalancerID, listenerID string) (Listener, error)
	// DeregisterTargets unbinds at most MaxTargetsPerCall targets from the
	// listener or rule sel names, and returns the task id.
	DeregisterTargets(ctx context.Context, sel Selector, targets []Target) (taskID string, err error)
	// ModifyTargetWeight sets each target's own Weight, at most
	// MaxTargetsPerCall of them, and returns the task id.
	ModifyTargetWeight(ctx context.Context, sel Selector, targets []WeightedTarget) (taskID string, err error)
	// DescribeTaskStatus reports the state of an async task.
	DescribeTaskStatus(ctx context.Context, taskID string) (TaskStatus, error)
	// ListenerReader tells a listener with nothing bound, which
	// DescribeTargets may leave out of its answer, from one that does not
	// exist, and gives a layer-7 listener's rules then.
	ListenerReader
}
