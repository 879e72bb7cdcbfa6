package clbsim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HealthModel is how DescribeTargetHealth judges bindings. The initial
// fleet's bindings are healthy; a binding RegisterTargets makes is
// Unknown (not healthy) until Delay has passed after its task ended, then
// healthy; a binding the model makes unhealthy (by key, or drawn in the
// share) stays Dead; a health set with PUT /_sim/health (SetTargetHealth)
// wins over all of these until the binding is removed.
type HealthModel struct {
	// Delay is how long after its RegisterTargets task ends a new binding
	// becomes healthy; zero: at once.
	Delay time.Duration
	// Unhealthy are target keys (as clb.Target.Key spells them, such as
	// "ins-abc12345:80" or "10.0.0.5:80") whose bindings stay unhealthy
	// wherever they are bound.
	Unhealthy []string
	// UnhealthyShare is the share, 0-1, of bindings that stay unhealthy,
	// drawn once per binding (load balancer, listener, rule, target) from
	// the Server's seed: the same binding draws the same way every time.
	UnhealthyShare float64
}

// healthModelJSON is the JSON form of a HealthModel, Delay as a Go
// duration string.
type healthModelJSON struct {
	Delay          string   `json:"Delay"`
	Unhealthy      []string `json:"Unhealthy"`
	UnhealthyShare float64  `json:"UnhealthyShare"`
}

// MarshalJSON writes {"Delay": "5s", "Unhealthy": ["ins-abc12345:80"],
// "UnhealthyShare": 0.1}.
func (m HealthModel) MarshalJSON() ([]byte, error) {
	j := healthModelJSON{Delay: m.Delay.String(), Unhealthy: m.Unhealthy, UnhealthyShare: m.UnhealthyShare}
	if j.Unhealthy == nil {
		j.Unhealthy = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes; fields left out are
// zero, unknown fields and values the emulator cannot play are errors.
func (m *HealthModel) UnmarshalJSON(b []byte) error {
	var j healthModelJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("clbsim: health model: %w", err)
	}
	out := HealthModel{Unhealthy: j.Unhealthy, UnhealthyShare: j.UnhealthyShare}
	if j.Delay != "" {
		d, err := parseNonNegative(j.Delay)
		if err != nil {
			return fmt.Errorf("clbsim: health model Delay: %w", err)
		}
		out.Delay = d
	}
	if err := out.Check(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Check reports the first value the emulator cannot play.
func (m HealthModel) Check() error {
	switch {
	case m.Delay < 0:
		return fmt.Errorf("clbsim: health Delay %s is negative", m.Delay)
	case m.UnhealthyShare < 0 || m.UnhealthyShare > 1 || m.UnhealthyShare != m.UnhealthyShare:
		return fmt.Errorf("clbsim: health UnhealthyShare %v is not a number from 0 to 1", m.UnhealthyShare)
	}
	for _, k := range m.Unhealthy {
		if _, err := ParseTargetKey(k); err != nil {
			return fmt.Errorf("clbsim: health Unhealthy: %w", err)
		}
	}
	return nil
}

// ParseTargetKey reads a target key such as "ins-abc12345:80",
// "10.0.0.5:80" or "[fd00::5]:80" and returns it in the form
// clb.Target.Key spells it.
func ParseTargetKey(key string) (string, error) {
	i := strings.LastIndexByte(key, ':')
	if i <= 0 {
		return "", fmt.Errorf("target key %q is not INSTANCE:PORT or IP:PORT", key)
	}
	host, portText := strings.TrimSuffix(strings.TrimPrefix(key[:i], "["), "]"), key[i+1:]
	port, err := strconv.ParseInt(portText, 10, 64)
	if err != nil || port < minPort || port > maxPort {
		return "", fmt.Errorf("target key %q: port %q is not 1-65535", key, portText)
	}
	if strings.HasPrefix(host, prefixInstance) {
		if !validID(host, prefixInstance) {
			return "", fmt.Errorf("target key %q: %q is not ins- followed by 8 lowercase letters or digits", key, host)
		}
		return targetKey(host, "", port), nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return "", fmt.Errorf("target key %q: %q is neither an instance id nor an IP address", key, host)
	}
	return targetKey("", addr.String(), port), nil
}

// Health details as DescribeTargetHealth spells them.
const (
	HealthAlive   = "Alive"
	HealthDead    = "Dead"
	HealthUnknown = "Unknown"
)

// healthOf is a binding's HealthStatusDetail at now. Callers hold s.mu.
func (s *Server) healthOf(lbID, listenerID, locationID string, e boundEntry, now time.Time) string {
	switch {
	case e.health != nil && *e.health:
		return HealthAlive
	case e.health != nil:
		return HealthDead
	case s.unhealthyKeys[e.key] || s.drawnUnhealthy(lbID, listenerID, locationID, e.key):
		return HealthDead
	case now.Before(e.healthyAt):
		return HealthUnknown
	}
	return HealthAlive
}

// drawnUnhealthy reports whether a binding falls in the model's unhealthy
// share: a hash of the seed and the binding, read as a number in [0, 1).
func (s *Server) drawnUnhealthy(lbID, listenerID, locationID, key string) bool {
	share := s.health.UnhealthyShare
	if share <= 0 {
		return false
	}
	h := fnv.New64a()
	_ = binary.Write(h, binary.LittleEndian, s.seed)
	_, _ = h.Write([]byte(lbID + "/" + listenerID + "/" + locationID + "/" + key))
	return float64(h.Sum64()>>11)/(1<<53) < share
}

// HealthModel returns the health model in force.
func (s *Server) HealthModel() HealthModel {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.health
	m.Unhealthy = slices.Clone(m.Unhealthy)
	return m
}

// SetHealthModel replaces the health model from now on. A new Delay applies
// to bindings made after the change.
func (s *Server) SetHealthModel(m HealthModel) error {
	if err := m.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHealthLocked(m)
	return nil
}

// setHealthLocked installs a checked model. Callers hold s.mu.
func (s *Server) setHealthLocked(m HealthModel) {
	m.Unhealthy = slices.Clone(m.Unhealthy)
	s.health = m
	s.unhealthyKeys = make(map[string]bool, len(m.Unhealthy))
	for _, k := range m.Unhealthy {
		key, _ := ParseTargetKey(k)
		s.unhealthyKeys[key] = true
	}
}

// HealthSetting is the body of PUT /_sim/health: the health of one target
// wherever it is bound, or only where the optional ids say.
type HealthSetting struct {
	// Target is the target's key, such as "ins-abc12345:80".
	Target string `json:"Target"`
	// Healthy is the health to set: true answers Alive, false Dead.
	Healthy bool `json:"Healthy"`
	// LoadBalancerId, ListenerId and LocationId, when set, narrow where.
	LoadBalancerId string `json:"LoadBalancerId,omitempty"`
	ListenerId     string `json:"ListenerId,omitempty"`
	LocationId     string `json:"LocationId,omitempty"`
}

// HealthSet is the answer of PUT /_sim/health.
type HealthSet struct {
	// Bindings is how many bindings took the health.
	Bindings int `json:"Bindings"`
}

// SetTargetHealth sets the health of every binding of h.Target that h
// selects, until the binding is removed, and returns how many there were.
// A target bound nowhere h selects is an error.
func (s *Server) SetTargetHealth(h HealthSetting) (int, error) {
	key, err := ParseTargetKey(h.Target)
	if err != nil {
		return 0, fmt.Errorf("clbsim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	n := 0
	for _, lb := range s.fleet.lbs {
		for _, l := range lb.listeners {
			if h.LoadBalancerId != "" && lb.id != h.LoadBalancerId || h.ListenerId != "" && l.id != h.ListenerId {
				continue
			}
			for _, set := range l.sets(h.LocationId) {
				if i, ok := set.index[key]; ok {
					set.list[i].health = ptr(h.Healthy)
					n++
				}
			}
		}
	}
	if n == 0 {
		return 0, errors.New("clbsim: target " + key + " is not bound where the setting selects")
	}
	return n, nil
}

// sets are the target sets of a listener: its own (layer 4), or its
// rules' (layer 7), only the rule locationID names when it is set.
func (l *listenerState) sets(locationID string) []*targetSet {
	if !l.layer7() {
		if locationID != "" {
			return nil
		}
		return []*targetSet{l.targets}
	}
	var out []*targetSet
	for _, r := range l.rules {
		if locationID == "" || r.id == locationID {
			out = append(out, r.targets)
		}
	}
	return out
}

type describeTargetHealthRequest struct {
	LoadBalancerIds []*string `json:"LoadBalancerIds"`
}

// targetHealthOutput, ruleHealthOutput, listenerHealthOutput and
// loadBalancerHealthOutput are the SDK's TargetHealth, RuleHealth,
// ListenerHealth and LoadBalancerHealth.
type targetHealthOutput struct {
	IP                 string `json:"IP"`
	Port               int64  `json:"Port"`
	HealthStatus       bool   `json:"HealthStatus"`
	TargetId           string `json:"TargetId"`
	HealthStatusDetail string `json:"HealthStatusDetail"`
	HealthStatusDetial string `json:"HealthStatusDetial"`
}

type ruleHealthOutput struct {
	LocationId string               `json:"LocationId"`
	Domain     *string              `json:"Domain"`
	Url        *string              `json:"Url"`
	Targets    []targetHealthOutput `json:"Targets"`
}

type listenerHealthOutput struct {
	ListenerId   string             `json:"ListenerId"`
	ListenerName *string            `json:"ListenerName"`
	Protocol     string             `json:"Protocol"`
	Port         int64              `json:"Port"`
	Rules        []ruleHealthOutput `json:"Rules"`
}

type loadBalancerHealthOutput struct {
	LoadBalancerId   string                 `json:"LoadBalancerId"`
	LoadBalancerName *string                `json:"LoadBalancerName"`
	Listeners        []listenerHealthOutput `json:"Listeners"`
}

type describeTargetHealthResponse struct {
	LoadBalancers []loadBalancerHealthOutput `json:"LoadBalancers"`
	RequestId     string                     `json:"RequestId"`
}

// describeTargetHealth answers the health of every binding of the load
// balancers named, in the SDK's nesting: a layer-7 listener's rules, and a
// layer-4 listener's targets under one rule whose LocationId is the
// listener's id (the API nests every target in a rule).
func (s *Server) describeTargetHealth(c *call, _ faultPlan) (any, *apiError) {
	var req describeTargetHealthRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	if len(req.LoadBalancerIds) == 0 {
		return nil, missing("LoadBalancerIds")
	}
	if len(req.LoadBalancerIds) > maxLoadBalancerIDs {
		return nil, fail(codeLength, "The length of parameter `LoadBalancerIds` is %d; at most %d are allowed.", len(req.LoadBalancerIds), maxLoadBalancerIDs)
	}
	for i, id := range req.LoadBalancerIds {
		if e := checkID("LoadBalancerIds."+strconv.Itoa(i), str(id), prefixLB); e != nil {
			return nil, e
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.advance(now)
	resp := describeTargetHealthResponse{LoadBalancers: []loadBalancerHealthOutput{}, RequestId: c.id}
	for _, id := range req.LoadBalancerIds {
		lb := s.fleet.lbByID[*id]
		if lb == nil {
			return nil, s.dialect.lbNotFound(*id)
		}
		resp.LoadBalancers = append(resp.LoadBalancers, s.lbHealth(lb, now))
	}
	return resp, nil
}

// lbHealth is one load balancer's answer. Callers hold s.mu.
func (s *Server) lbHealth(lb *lbState, now time.Time) loadBalancerHealthOutput {
	out := loadBalancerHealthOutput{LoadBalancerId: lb.id, LoadBalancerName: nonEmpty(lb.name), Listeners: []listenerHealthOutput{}}
	for _, l := range lb.listeners {
		lo := listenerHealthOutput{ListenerId: l.id, ListenerName: nonEmpty(l.attrs.ListenerName), Protocol: l.protocol, Port: l.port,
			Rules: []ruleHealthOutput{}}
		if !l.layer7() {
			lo.Rules = append(lo.Rules, ruleHealthOutput{LocationId: l.id, Targets: s.targetsHealth(lb.id, l.id, "", l.targets, now)})
		}
		for _, r := range l.rules {
			lo.Rules = append(lo.Rules, ruleHealthOutput{LocationId: r.id, Domain: nonEmpty(r.domain), Url: nonEmpty(r.url),
				Targets: s.targetsHealth(lb.id, l.id, r.id, r.targets, now)})
		}
		out.Listeners = append(out.Listeners, lo)
	}
	return out
}

// targetsHealth is the health of the bindings of one set: IP is the
// target's first private address, TargetId a CVM's InstanceId or an ENI
// target's EniId. Callers hold s.mu.
func (s *Server) targetsHealth(lbID, listenerID, locationID string, set *targetSet, now time.Time) []targetHealthOutput {
	out := make([]targetHealthOutput, 0, len(set.list))
	for _, e := range set.list {
		detail := s.healthOf(lbID, listenerID, locationID, e, now)
		t := targetHealthOutput{Port: e.Port, HealthStatus: detail == HealthAlive, TargetId: e.InstanceId,
			HealthStatusDetail: detail, HealthStatusDetial: detail}
		if len(e.PrivateIpAddresses) > 0 {
			t.IP = e.PrivateIpAddresses[0]
		}
		if e.Type == TypeENI && t.IP != "" {
			t.TargetId = eniID(t.IP)
		}
		out = append(out, t)
	}
	return out
}

// nonEmpty is nil for "", as the API answers null for what it does not
// have.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
