package clbsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Target types as DescribeTargets reports them.
const (
	TypeCVM = "CVM"
	TypeENI = "ENI"
)

// State is a fleet of load balancers and what is bound to them. It is the
// fixture format that --state reads and the answer of GET /_sim/state.
// Listeners and targets use clb's snapshot types: a layer-4 listener has
// Targets, a layer-7 listener (HTTP, HTTPS) has Rules with Targets. A CVM
// target has Type "CVM", an InstanceId and its PrivateIpAddresses; an ENI
// target has Type "ENI" and its one address in PrivateIpAddresses.
type State struct {
	LoadBalancers []LoadBalancer `json:"LoadBalancers"`
}

// LoadBalancer is one CLB instance and its listeners.
type LoadBalancer struct {
	LoadBalancerId   string `json:"LoadBalancerId"`
	LoadBalancerName string `json:"LoadBalancerName,omitempty"`
	// LoadBalancerType is OPEN (public) or INTERNAL; empty means INTERNAL.
	LoadBalancerType string `json:"LoadBalancerType,omitempty"`
	// VpcId is the load balancer's VPC, vpc- and 8 lowercase letters or
	// digits; empty answers one derived from LoadBalancerId.
	VpcId string `json:"VpcId,omitempty"`
	// LoadBalancerVips are its virtual IPs; empty answers none.
	LoadBalancerVips []string       `json:"LoadBalancerVips,omitempty"`
	Listeners        []clb.Listener `json:"Listeners"`
	// ListenerAttributes are what DescribeListeners answers of each
	// listener beside its id, protocol and port, by ListenerId. A listener
	// left out, or a field left out, has the API's default.
	ListenerAttributes map[string]ListenerAttributes `json:"ListenerAttributes,omitempty"`
}

// ListenerAttributes are a listener's attributes that change what a drain
// means, with the API's names. A nil field takes the API's default where
// the API has the attribute (see the fields); GET /_sim/state shows the
// defaults filled in.
type ListenerAttributes struct {
	// ListenerName is the listener's name; empty answers none.
	ListenerName string `json:"ListenerName,omitempty"`
	// DeregisterTargetRst is whether unbinding a target sends RST to its
	// clients, ending their connections at once. TCP listeners only;
	// default false.
	DeregisterTargetRst *bool `json:"DeregisterTargetRst,omitempty"`
	// IdleConnectTimeout is how many seconds an idle connection is kept,
	// 300-1980. TCP listeners only; default 900.
	IdleConnectTimeout *int64 `json:"IdleConnectTimeout,omitempty"`
	// SessionExpireTime is the session persistence time in seconds, 0
	// (off) or 30-3600. Layer-4 listeners only (the API keeps a layer-7
	// listener's per rule, which clbsim does not model); default 0.
	SessionExpireTime *int64 `json:"SessionExpireTime,omitempty"`
}

// Listener attribute defaults and bounds, as the API documents them.
const (
	DefaultIdleConnectTimeout = 900
	minIdleConnectTimeout     = 300
	maxIdleConnectTimeout     = 1980
	minSessionExpireTime      = 30
	maxSessionExpireTime      = 3600
)

// withDefaults fills in the defaults of the attributes a listener of the
// protocol has.
func (a ListenerAttributes) withDefaults(protocol string) ListenerAttributes {
	if protocol == clb.ProtocolTCP {
		if a.DeregisterTargetRst == nil {
			a.DeregisterTargetRst = ptr(false)
		}
		if a.IdleConnectTimeout == nil {
			a.IdleConnectTimeout = ptr[int64](DefaultIdleConnectTimeout)
		}
	}
	if !clb.IsLayer7(protocol) && a.SessionExpireTime == nil {
		a.SessionExpireTime = ptr[int64](0)
	}
	return a
}

// checkAttributes reports the first listener attribute of lb that names
// no listener of lb, does not apply to the listener's protocol or is out of
// range.
func checkAttributes(lb LoadBalancer) error {
	protocols := map[string]string{}
	for _, l := range lb.Listeners {
		protocols[l.ListenerId] = l.Protocol
	}
	for _, id := range slices.Sorted(maps.Keys(lb.ListenerAttributes)) {
		a, where := lb.ListenerAttributes[id], lb.LoadBalancerId+"/"+id
		p, ok := protocols[id]
		switch {
		case !ok:
			return fmt.Errorf("clbsim: state: ListenerAttributes names %s, which is not a listener of %s", id, lb.LoadBalancerId)
		case p != clb.ProtocolTCP && (a.DeregisterTargetRst != nil || a.IdleConnectTimeout != nil):
			return fmt.Errorf("clbsim: state: %s: DeregisterTargetRst and IdleConnectTimeout apply to TCP listeners only, not %s", where, p)
		case a.IdleConnectTimeout != nil && (*a.IdleConnectTimeout < minIdleConnectTimeout || *a.IdleConnectTimeout > maxIdleConnectTimeout):
			return fmt.Errorf("clbsim: state: %s: IdleConnectTimeout %d is not %d-%d seconds", where, *a.IdleConnectTimeout, minIdleConnectTimeout, maxIdleConnectTimeout)
		case a.SessionExpireTime != nil && clb.IsLayer7(p):
			return fmt.Errorf("clbsim: state: %s: SessionExpireTime applies to layer-4 listeners only, not %s", where, p)
		case a.SessionExpireTime != nil && *a.SessionExpireTime != 0 &&
			(*a.SessionExpireTime < minSessionExpireTime || *a.SessionExpireTime > maxSessionExpireTime):
			return fmt.Errorf("clbsim: state: %s: SessionExpireTime %d is neither 0 nor %d-%d seconds", where, *a.SessionExpireTime, minSessionExpireTime, maxSessionExpireTime)
		}
	}
	return nil
}

// Counts is the size of a State.
type Counts struct {
	LoadBalancers int `json:"LoadBalancers"`
	Listeners     int `json:"Listeners"`
	Rules         int `json:"Rules"`
	Targets       int `json:"Targets"`
}

// Count tallies the load balancers, listeners, rules and bound targets.
func (s State) Count() Counts {
	var c Counts
	for _, lb := range s.LoadBalancers {
		c.LoadBalancers++
		for _, l := range lb.Listeners {
			c.Listeners++
			c.Targets += len(l.Targets)
			for _, r := range l.Rules {
				c.Rules++
				c.Targets += len(r.Targets)
			}
		}
	}
	return c
}

// ReadState decodes a State from JSON and checks it.
func ReadState(r io.Reader) (State, error) {
	var s State
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, fmt.Errorf("clbsim: decode state: %w", err)
	}
	if err := s.Check(); err != nil {
		return State{}, err
	}
	return s, nil
}

// WriteState encodes a State as indented JSON, the format ReadState reads.
func WriteState(w io.Writer, s State) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// LoadStateFile reads a State fixture from a JSON file.
func LoadStateFile(path string) (State, error) {
	f, err := os.Open(path)
	if err != nil {
		return State{}, err
	}
	defer f.Close()
	s, err := ReadState(f)
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Check reports the first inconsistency of a fleet: ID formats and
// uniqueness, known protocols, targets on layer-4 listeners and rules on
// layer-7 ones, well-formed targets bound at most once per listener or
// rule, listener attributes that apply to their listener and are in range.
func (s State) Check() error {
	ids := map[string]bool{}
	unique := func(id string) error {
		if ids[id] {
			return fmt.Errorf("clbsim: state: %s appears twice", id)
		}
		ids[id] = true
		return nil
	}
	for _, lb := range s.LoadBalancers {
		if !validID(lb.LoadBalancerId, prefixLB) {
			return fmt.Errorf("clbsim: state: load balancer id %q is not lb- followed by 8 lowercase letters or digits", lb.LoadBalancerId)
		}
		if err := cmp.Or(unique(lb.LoadBalancerId), checkLBInfo(lb)); err != nil {
			return err
		}
		ports := map[string]bool{}
		for _, l := range lb.Listeners {
			where := lb.LoadBalancerId + "/" + l.ListenerId
			if !validID(l.ListenerId, prefixListener) {
				return fmt.Errorf("clbsim: state: %s: listener id is not lbl- followed by 8 lowercase letters or digits", where)
			}
			if err := unique(l.ListenerId); err != nil {
				return err
			}
			if !knownProtocol(l.Protocol) {
				return fmt.Errorf("clbsim: state: %s: unknown protocol %q", where, l.Protocol)
			}
			if l.Port < minPort || l.Port > maxPort {
				return fmt.Errorf("clbsim: state: %s: port %d is not 1-65535", where, l.Port)
			}
			pp := l.Protocol + ":" + fmt.Sprint(l.Port)
			if ports[pp] {
				return fmt.Errorf("clbsim: state: %s: a second %s listener on port %d", where, l.Protocol, l.Port)
			}
			ports[pp] = true
			if clb.IsLayer7(l.Protocol) {
				if len(l.Targets) > 0 {
					return fmt.Errorf("clbsim: state: %s: a layer-7 listener binds targets to rules, not to itself", where)
				}
				if err := checkRules(where, l.Rules, unique); err != nil {
					return err
				}
				continue
			}
			if len(l.Rules) > 0 {
				return fmt.Errorf("clbsim: state: %s: a layer-4 listener has no rules", where)
			}
			if err := checkTargets(where, l.Targets); err != nil {
				return err
			}
		}
		if err := checkAttributes(lb); err != nil {
			return err
		}
	}
	return nil
}

func checkRules(where string, rules []clb.Rule, unique func(string) error) error {
	names := map[string]bool{}
	for _, r := range rules {
		at := where + "/" + r.LocationId
		if !validID(r.LocationId, prefixLocation) {
			return fmt.Errorf("clbsim: state: %s: location id is not loc- followed by 8 lowercase letters or digits", at)
		}
		if err := unique(r.LocationId); err != nil {
			return err
		}
		if r.Domain == "" || !strings.HasPrefix(r.Url, "/") {
			return fmt.Errorf("clbsim: state: %s: a rule needs a Domain and a Url starting with /", at)
		}
		if names[r.Domain+r.Url] {
			return fmt.Errorf("clbsim: state: %s: a second rule for %s%s", at, r.Domain, r.Url)
		}
		names[r.Domain+r.Url] = true
		if err := checkTargets(at, r.Targets); err != nil {
			return err
		}
	}
	return nil
}

func checkTargets(where string, targets []clb.BoundTarget) error {
	keys := map[string]bool{}
	for _, b := range targets {
		b = normalizeBound(b)
		switch b.Type {
		case TypeCVM:
			if !validID(b.InstanceId, prefixInstance) {
				return fmt.Errorf("clbsim: state: %s: instance id %q is not ins- followed by 8 lowercase letters or digits", where, b.InstanceId)
			}
		case TypeENI:
			if b.InstanceId != "" || len(b.PrivateIpAddresses) != 1 {
				return fmt.Errorf("clbsim: state: %s: an ENI target has no InstanceId and exactly one private IP", where)
			}
		default:
			return fmt.Errorf("clbsim: state: %s: unknown target type %q", where, b.Type)
		}
		for _, ip := range b.PrivateIpAddresses {
			if _, err := netip.ParseAddr(ip); err != nil {
				return fmt.Errorf("clbsim: state: %s: private IP %q is not an IP address", where, ip)
			}
		}
		if b.Port < minPort || b.Port > maxPort {
			return fmt.Errorf("clbsim: state: %s: target port %d is not 1-65535", where, b.Port)
		}
		if b.Weight < minWeight || b.Weight > maxWeight {
			return fmt.Errorf("clbsim: state: %s: target weight %d is not 0-100", where, b.Weight)
		}
		k := boundKey(b)
		if keys[k] {
			return fmt.Errorf("clbsim: state: %s: target %s is bound twice", where, k)
		}
		keys[k] = true
	}
	return nil
}

// normalizeBound fills in a target's Type when a fixture leaves it out.
func normalizeBound(b clb.BoundTarget) clb.BoundTarget {
	if b.Type == "" {
		b.Type = TypeENI
		if b.InstanceId != "" {
			b.Type = TypeCVM
		}
	}
	return b
}

// boundKey identifies a bound target the way a request names it: a CVM by
// its InstanceId, an ENI by its address (see clb.Target.Key).
func boundKey(b clb.BoundTarget) string {
	if b.Type == TypeENI && len(b.PrivateIpAddresses) > 0 {
		return targetKey("", b.PrivateIpAddresses[0], b.Port)
	}
	return targetKey(b.InstanceId, "", b.Port)
}

func knownProtocol(p string) bool {
	switch p {
	case clb.ProtocolTCP, clb.ProtocolUDP, clb.ProtocolTCPSSL, clb.ProtocolQUIC, clb.ProtocolHTTP, clb.ProtocolHTTPS:
		return true
	}
	return false
}

// RequestTargets are the request targets that name bound targets, in order:
// an ENI binding (Type ENI in any case, or neither Type nor InstanceId, as a
// fixture may leave it) by its first address, any other by its InstanceId.
// An ENI binding without an address is named by its empty InstanceId, which
// a request refuses; RequestTargets itself never fails.
func RequestTargets(bound []clb.BoundTarget) []clb.Target {
	out := make([]clb.Target, 0, len(bound))
	for _, b := range bound {
		eni := strings.EqualFold(b.Type, TypeENI) || b.Type == "" && b.InstanceId == ""
		if eni && len(b.PrivateIpAddresses) > 0 {
			out = append(out, clb.Target{EniIp: b.PrivateIpAddresses[0], Port: b.Port})
			continue
		}
		out = append(out, clb.Target{InstanceId: b.InstanceId, Port: b.Port})
	}
	return out
}
