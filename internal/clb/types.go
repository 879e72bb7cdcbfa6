package clb

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Target names one binding: a real server, by CVM instance (InstanceId) or
// by an IP bound through an elastic network interface (EniIp), never both,
// and the port it serves on. It carries no weight: see WeightedTarget.
type Target struct {
	// InstanceId is the CVM instance, such as ins-abc12345.
	InstanceId string `json:"InstanceId,omitempty"`
	// EniIp is the private IPv4 or IPv6 address of an ENI target.
	EniIp string `json:"EniIp,omitempty"`
	// Port is the real server's port, 1-65535.
	Port int64 `json:"Port"`
}

// Key identifies the binding: "ins-abc12345:80", "10.0.0.5:8080" or
// "[fd00::5]:8080". Two targets with the same Key are the same binding. An
// address is keyed in its canonical form, an IPv4-mapped IPv6 address
// (::ffff:10.0.0.5) as the IPv4 address it maps, so every spelling of one
// address gives one Key.
func (t Target) Key() string {
	host := t.InstanceId
	if host == "" {
		host = t.EniIp
		if addr, ok := parseIP(t.EniIp); ok {
			host = addr.String()
			if addr.Is6() {
				host = "[" + host + "]"
			}
		}
	}
	return host + ":" + strconv.FormatInt(t.Port, 10)
}

// parseIP parses an address, unmapping an IPv4-mapped IPv6 one.
func parseIP(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// String is the Key.
func (t Target) String() string { return t.Key() }

// WeightedTarget is a target with a forwarding weight (0-100): the weight a
// snapshot found, or the weight to set. Its JSON is the Target's fields and
// "Weight".
type WeightedTarget struct {
	Target
	// Weight is the forwarding weight.
	Weight int64 `json:"Weight"`
}

// String is the Key followed by "@weight".
func (w WeightedTarget) String() string {
	return w.Key() + "@" + strconv.FormatInt(w.Weight, 10)
}

// Renamed pairs a target as it was asked for with the same binding as it
// is bound, when the two are spelled differently: an EniIp naming a CVM
// binding by its private IP, or an address written another way.
type Renamed struct {
	Requested Target `json:"Requested"`
	Bound     Target `json:"Bound"`
}

// Unweighted returns the targets of ws without their weights, in order.
func Unweighted(ws []WeightedTarget) []Target {
	out := make([]Target, len(ws))
	for i, w := range ws {
		out[i] = w.Target
	}
	return out
}

// Selector names where targets are bound: a listener of a load balancer
// and, for a layer-7 listener, a rule, by LocationId or by Domain+Url. When
// LocationId is set, Domain and Url are ignored (as the API does).
type Selector struct {
	// LoadBalancerId is the CLB instance, such as lb-abc12345.
	LoadBalancerId string `json:"LoadBalancerId"`
	// ListenerId is the listener, such as lbl-abc12345.
	ListenerId string `json:"ListenerId"`
	// LocationId names a layer-7 rule, such as loc-abc12345.
	LocationId string `json:"LocationId,omitempty"`
	// Domain and Url name a layer-7 rule together, when LocationId is empty.
	Domain string `json:"Domain,omitempty"`
	Url    string `json:"Url,omitempty"`
}

// HasRule reports whether the selector names a layer-7 rule.
func (s Selector) HasRule() bool {
	return s.LocationId != "" || s.Domain != "" || s.Url != ""
}

// String is "lb/listener", followed by "/loc-..." or "/domain+url" for a rule.
func (s Selector) String() string {
	out := s.LoadBalancerId + "/" + s.ListenerId
	switch {
	case s.LocationId != "":
		out += "/" + s.LocationId
	case s.Domain != "" || s.Url != "":
		out += "/" + s.Domain + s.Url
	}
	return out
}

// Listener protocols as the API names them.
const (
	ProtocolTCP    = "TCP"
	ProtocolUDP    = "UDP"
	ProtocolTCPSSL = "TCP_SSL"
	ProtocolQUIC   = "QUIC"
	ProtocolHTTP   = "HTTP"
	ProtocolHTTPS  = "HTTPS"
)

// IsLayer7 reports whether a listener protocol binds targets to rules
// (HTTP, HTTPS) rather than to the listener itself.
func IsLayer7(protocol string) bool {
	p := strings.ToUpper(protocol)
	return p == ProtocolHTTP || p == ProtocolHTTPS
}

// Backend types as DescribeTargets spells them; answers in lower case
// (cvm, eni) are met too, so compare with strings.EqualFold (IsCVM does).
const (
	TypeCVM = "CVM"
	TypeENI = "ENI"
)

// BoundTarget is a real server bound now, as DescribeTargets reports it.
type BoundTarget struct {
	// Type is CVM or ENI, in either case.
	Type string `json:"Type,omitempty"`
	// InstanceId is the CVM instance (set for CVM targets).
	InstanceId string `json:"InstanceId,omitempty"`
	// PrivateIpAddresses are the target's private IPs; an ENI target is
	// matched by one of them.
	PrivateIpAddresses []string `json:"PrivateIpAddresses,omitempty"`
	// Port is the real server's port.
	Port int64 `json:"Port"`
	// Weight is the current forwarding weight.
	Weight int64 `json:"Weight"`
	// EniId is the elastic network interface of an ENI target, when the
	// API gives it.
	EniId string `json:"EniId,omitempty"`
}

// IsCVM reports whether the binding is a CVM instance, bound by its
// InstanceId: Type CVM in any case, or no Type and an InstanceId.
func (b BoundTarget) IsCVM() bool {
	if b.Type == "" {
		return b.InstanceId != ""
	}
	return strings.EqualFold(b.Type, TypeCVM)
}

// Matches reports whether the bound target is the binding t names: same port
// and the same InstanceId, or (for an EniIp target) one of its private IPs,
// compared as addresses (an IPv4-mapped IPv6 address matches the IPv4 one).
// An EniIp may name a CVM binding by its private IP: Identity gives the
// target to send for it.
func (b BoundTarget) Matches(t Target) bool {
	if b.Port != t.Port {
		return false
	}
	if t.InstanceId != "" {
		return b.InstanceId == t.InstanceId
	}
	_, ok := b.matchedIP(t.EniIp)
	return ok
}

// matchedIP is the private IP of b, as the API spells it, that eniIP names.
func (b BoundTarget) matchedIP(eniIP string) (string, bool) {
	for _, ip := range b.PrivateIpAddresses {
		if sameAddress(ip, eniIP) {
			return ip, true
		}
	}
	return "", false
}

// Identity is the target that names b in a mutating call, for a target t
// that Matches it: a CVM binding by its InstanceId (the API refuses an
// EniIp for it), an ENI binding by the private IP t names, spelled as the
// API answered it.
func (b BoundTarget) Identity(t Target) Target {
	if b.IsCVM() && b.InstanceId != "" {
		return Target{InstanceId: b.InstanceId, Port: b.Port}
	}
	if ip, ok := b.matchedIP(t.EniIp); ok {
		return Target{EniIp: ip, Port: b.Port}
	}
	return t
}

// sameAddress reports whether a and b are the same IP address, spelt alike
// or not (fd00::5 and FD00:0::5, ::ffff:10.0.0.5 and 10.0.0.5), or the same
// non-empty string.
func sameAddress(a, b string) bool {
	if a != "" && a == b {
		return true
	}
	x, okX := parseIP(a)
	y, okY := parseIP(b)
	return okX && okY && x == y
}

// Rule is a layer-7 forwarding rule with the targets bound to it.
type Rule struct {
	// LocationId is the rule's ID, such as loc-abc12345.
	LocationId string `json:"LocationId"`
	// Domain and Url are what the rule matches.
	Domain string `json:"Domain"`
	Url    string `json:"Url"`
	// Targets are bound to the rule.
	Targets []BoundTarget `json:"Targets,omitempty"`
}

// Listener is a snapshot of one listener and what is bound to it now.
type Listener struct {
	// ListenerId is the listener's ID, such as lbl-abc12345.
	ListenerId string `json:"ListenerId"`
	// Protocol is TCP, UDP, TCP_SSL, QUIC (layer 4), HTTP or HTTPS (layer 7).
	Protocol string `json:"Protocol"`
	// Port is the listener's port.
	Port int64 `json:"Port"`
	// Targets are bound to a layer-4 listener.
	Targets []BoundTarget `json:"Targets,omitempty"`
	// Rules are a layer-7 listener's rules, each with its targets.
	Rules []Rule `json:"Rules,omitempty"`
}

// TaskState is the state of an async task, as DescribeTaskStatus reports it.
type TaskState int64

// Task states, with the API's numbers.
const (
	TaskSucceeded TaskState = 0
	TaskFailed    TaskState = 1
	TaskRunning   TaskState = 2
)

// String names the state.
func (s TaskState) String() string {
	switch s {
	case TaskSucceeded:
		return "succeeded"
	case TaskFailed:
		return "failed"
	case TaskRunning:
		return "running"
	}
	return "unknown(" + strconv.FormatInt(int64(s), 10) + ")"
}

// TaskStatus is the answer of DescribeTaskStatus.
type TaskStatus struct {
	// Status is the task's state.
	Status TaskState `json:"Status"`
	// Message explains a failed task, when the API gives one.
	Message string `json:"Message,omitempty"`
	// LoadBalancerIds are the load balancers the task works on.
	LoadBalancerIds []string `json:"LoadBalancerIds,omitempty"`
	// RequestID is the RequestId of the DescribeTaskStatus call.
	RequestID string `json:"RequestId,omitempty"`
	// Waited is how long the call waited for the rate limiter before it
	// was sent: the status is as of that long after the call was made.
	Waited time.Duration `json:"Waited,omitempty"`
}
