package clb

// WeightedTarget is a target with the forwarding weight to give it: what
// RegisterTargets binds and BatchModifyTargetWeight sets. Its JSON is the
// target's InstanceId or EniIp, Port, and Weight.
type WeightedTarget struct {
	Target
	// Weight is the forwarding weight, 0-100; 0 sends no new connections.
	Weight int64 `json:"Weight"`
}
