package clbsim

import (
	"strconv"
	"strings"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// actionSpec is how the emulator handles one action.
type actionSpec struct {
	// mutating actions run as async tasks (and can be made to fail).
	mutating bool
	handle   func(s *Server, c *call, plan faultPlan) (any, *apiError)
}

// actions are the actions served, by name.
var actions = map[string]*actionSpec{
	clb.ActionDeregisterTargets:   {mutating: true, handle: (*Server).mutate},
	clb.ActionRegisterTargets:     {mutating: true, handle: (*Server).mutate},
	clb.ActionModifyTargetWeight:  {mutating: true, handle: (*Server).mutate},
	actionBatchModifyTargetWeight: {mutating: true, handle: (*Server).batchModifyTargetWeight},
	actionDescribeTargetHealth:    {handle: (*Server).describeTargetHealth},
	clb.ActionDescribeTargets:     {handle: (*Server).describeTargets},
	clb.ActionDescribeTaskStatus:  {handle: (*Server).describeTaskStatus},
	actionDescribeListeners:       {handle: (*Server).describeListeners},
	actionDescribeLoadBalancers:   {handle: (*Server).describeLoadBalancers},
}

// Actions served beyond those of clb.API.
const (
	actionDescribeListeners       = "DescribeListeners"
	actionDescribeLoadBalancers   = "DescribeLoadBalancers"
	actionDescribeTargetHealth    = "DescribeTargetHealth"
	actionBatchModifyTargetWeight = "BatchModifyTargetWeight"
)

type filter struct {
	Name   *string   `json:"Name"`
	Values []*string `json:"Values"`
}

type describeTargetsRequest struct {
	LoadBalancerId *string   `json:"LoadBalancerId"`
	ListenerIds    []*string `json:"ListenerIds"`
	Protocol       *string   `json:"Protocol"`
	Port           *int64    `json:"Port"`
	Filters        []*filter `json:"Filters"`
}

// backendOutput, ruleTargetsOutput and listenerBackendOutput are
// DescribeTargets' Backend, RuleTargets and ListenerBackend.
type backendOutput struct {
	Type               string   `json:"Type,omitempty"`
	InstanceId         string   `json:"InstanceId,omitempty"`
	PrivateIpAddresses []string `json:"PrivateIpAddresses,omitempty"`
	Port               int64    `json:"Port"`
	Weight             int64    `json:"Weight"`
	EniId              string   `json:"EniId,omitempty"`
}

type ruleTargetsOutput struct {
	LocationId string          `json:"LocationId"`
	Domain     string          `json:"Domain"`
	Url        string          `json:"Url"`
	Targets    []backendOutput `json:"Targets,omitempty"`
}

type listenerBackendOutput struct {
	ListenerId string              `json:"ListenerId"`
	Protocol   string              `json:"Protocol"`
	Port       int64               `json:"Port"`
	Targets    []backendOutput     `json:"Targets,omitempty"`
	Rules      []ruleTargetsOutput `json:"Rules,omitempty"`
}

type describeTargetsResponse struct {
	Listeners []listenerBackendOutput `json:"Listeners"`
	RequestId string                  `json:"RequestId"`
}

// backends are bound targets as the dialect answers them.
func (d Dialect) backends(in []clb.BoundTarget) []backendOutput {
	if len(in) == 0 {
		return nil
	}
	out := make([]backendOutput, len(in))
	for i, b := range in {
		out[i] = backendOutput{Type: d.backendType(b.Type), InstanceId: b.InstanceId, PrivateIpAddresses: b.PrivateIpAddresses,
			Port: b.Port, Weight: b.Weight}
		if d.LowerCaseTypes && b.Type == TypeENI && len(b.PrivateIpAddresses) > 0 {
			out[i].EniId = eniID(b.PrivateIpAddresses[0])
		}
	}
	return out
}

// listenerBackend is a listener snapshot as DescribeTargets answers it,
// and whether the dialect lists it (OmitEmptyListeners leaves out one with
// no targets).
func (d Dialect) listenerBackend(l clb.Listener) (listenerBackendOutput, bool) {
	out := listenerBackendOutput{ListenerId: l.ListenerId, Protocol: l.Protocol, Port: l.Port, Targets: d.backends(l.Targets)}
	empty := len(l.Targets) == 0
	for _, r := range l.Rules {
		out.Rules = append(out.Rules, ruleTargetsOutput{LocationId: r.LocationId, Domain: r.Domain, Url: r.Url, Targets: d.backends(r.Targets)})
		empty = empty && len(r.Targets) == 0
	}
	return out, !empty || !d.OmitEmptyListeners
}

// listenerQuery is the listener selection DescribeTargets and
// DescribeListeners share.
type listenerQuery struct {
	lbID        string
	listenerIDs map[string]bool
	protocol    string
	port        *int64
}

// checkListenerQuery validates the listener selection of a request that
// accepts at most maxIDs ListenerIds.
func checkListenerQuery(lbID *string, listenerIDs []*string, protocol *string, port *int64, maxIDs int) (listenerQuery, *apiError) {
	q := listenerQuery{lbID: str(lbID), protocol: strings.ToUpper(str(protocol)), port: port}
	if q.lbID == "" {
		return q, missing("LoadBalancerId")
	}
	if e := checkID("LoadBalancerId", q.lbID, prefixLB); e != nil {
		return q, e
	}
	if q.protocol != "" && !knownProtocol(q.protocol) {
		return q, fail(codeInvalidValue, "The value of parameter `Protocol` is %q; use TCP, UDP, TCP_SSL, QUIC, HTTP or HTTPS.", *protocol)
	}
	if port != nil && (*port < minPort || *port > maxPort) {
		return q, fail(codeRange, "The value of parameter `Port` is %d; it must be %d-%d.", *port, minPort, maxPort)
	}
	if len(listenerIDs) > maxIDs {
		return q, fail(codeLength, "The length of parameter `ListenerIds` is %d; at most %d are allowed.", len(listenerIDs), maxIDs)
	}
	if len(listenerIDs) > 0 {
		q.listenerIDs = map[string]bool{}
	}
	for i, id := range listenerIDs {
		if e := checkID("ListenerIds."+strconv.Itoa(i), str(id), prefixListener); e != nil {
			return q, e
		}
		q.listenerIDs[*id] = true
	}
	return q, nil
}

// listeners returns the listeners of the query's load balancer that it
// selects. Callers hold s.mu.
func (s *Server) listeners(q listenerQuery) ([]*listenerState, *apiError) {
	lb := s.fleet.lbByID[q.lbID]
	if lb == nil {
		return nil, s.dialect.lbNotFound(q.lbID)
	}
	var out []*listenerState
	for _, l := range lb.listeners {
		if q.listenerIDs != nil && !q.listenerIDs[l.id] || q.protocol != "" && l.protocol != q.protocol || q.port != nil && l.port != *q.port {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// describeTargets lists what is bound now to the selected listeners, with
// the location-id and private-ip-address filters.
func (s *Server) describeTargets(c *call, _ faultPlan) (any, *apiError) {
	var req describeTargetsRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	q, e := checkListenerQuery(req.LoadBalancerId, req.ListenerIds, req.Protocol, req.Port, maxListenerIDs)
	if e != nil {
		return nil, e
	}
	keep, e := checkFilters(req.Filters)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	ls, e := s.listeners(q)
	if e != nil {
		return nil, e
	}
	resp := describeTargetsResponse{Listeners: make([]listenerBackendOutput, 0, len(ls)), RequestId: c.id}
	for _, l := range ls {
		snap := l.snapshot(keep)
		if keep != nil {
			var ok bool
			if snap, ok = keep.prune(snap); !ok {
				continue
			}
		}
		if out, listed := s.dialect.listenerBackend(snap); listed {
			resp.Listeners = append(resp.Listeners, out)
		}
	}
	return resp, nil
}

func checkFilters(filters []*filter) (*targetFilter, *apiError) {
	if len(filters) == 0 {
		return nil, nil
	}
	f := &targetFilter{}
	for i, fl := range filters {
		field := "Filters." + strconv.Itoa(i)
		if fl == nil || str(fl.Name) == "" {
			return nil, missing(field + ".Name")
		}
		var into *map[string]bool
		switch *fl.Name {
		case "location-id":
			into = &f.locationIDs
		case "private-ip-address":
			into = &f.privateIPs
		case "tag":
			return nil, fail(codeUnsupportedOp, "clbsim keeps no target tags; the tag filter is not supported.")
		default:
			return nil, fail(codeInvalidValue, "The value of parameter `%s.Name` is %q; use location-id, private-ip-address or tag.", field, *fl.Name)
		}
		if *into == nil {
			*into = map[string]bool{}
		}
		for _, v := range fl.Values {
			if v != nil {
				(*into)[canonicalIP(*v)] = true
			}
		}
	}
	return f, nil
}

// prune drops what a filter leaves empty from a filtered listener snapshot,
// and reports whether anything is left: a location-id filter keeps only
// layer-7 rules it names, an address filter only listeners and rules with
// a target at that address.
func (f *targetFilter) prune(l clb.Listener) (clb.Listener, bool) {
	if len(f.privateIPs) > 0 {
		rules := l.Rules[:0]
		for _, r := range l.Rules {
			if len(r.Targets) > 0 {
				rules = append(rules, r)
			}
		}
		l.Rules = rules
	}
	switch {
	case len(f.locationIDs) > 0:
		return l, len(l.Rules) > 0
	case len(f.privateIPs) > 0:
		return l, len(l.Targets) > 0 || len(l.Rules) > 0
	}
	return l, true
}

type describeTaskStatusRequest struct {
	TaskId   *string `json:"TaskId"`
	DealName *string `json:"DealName"`
}

type describeTaskStatusResponse struct {
	Status          int64    `json:"Status"`
	Message         string   `json:"Message,omitempty"`
	LoadBalancerIds []string `json:"LoadBalancerIds"`
	RequestId       string   `json:"RequestId"`
}

// describeTaskStatus reports a task: 2 while it runs, then 0, or 1 with a
// Message; an unknown task, or one expired in the dialect, is an error.
func (s *Server) describeTaskStatus(c *call, _ faultPlan) (any, *apiError) {
	var req describeTaskStatusRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	id := str(req.TaskId)
	if id == "" {
		if str(req.DealName) != "" {
			return nil, fail(codeInvalidParameter, "clbsim runs no orders; DealName %s is not found.", *req.DealName)
		}
		return nil, missing("TaskId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.advance(now)
	t := s.tasks[id]
	if t == nil || t.status != clb.TaskRunning && s.dialect.expired(t.due, now) {
		return nil, s.dialect.taskGone(id)
	}
	return describeTaskStatusResponse{Status: int64(t.status), Message: t.message, LoadBalancerIds: []string{t.lbID}, RequestId: c.id}, nil
}

type describeListenersRequest struct {
	LoadBalancerId *string   `json:"LoadBalancerId"`
	ListenerIds    []*string `json:"ListenerIds"`
	Protocol       *string   `json:"Protocol"`
	Port           *int64    `json:"Port"`
}

type ruleOutput struct {
	LocationId string `json:"LocationId"`
	Domain     string `json:"Domain"`
	Url        string `json:"Url"`
	ListenerId string `json:"ListenerId"`
}

// listenerOutput is DescribeListeners' Listener: the attributes the
// listener has, nil ones left out as the API leaves out null fields.
type listenerOutput struct {
	ListenerId          string       `json:"ListenerId"`
	ListenerName        string       `json:"ListenerName,omitempty"`
	Protocol            string       `json:"Protocol"`
	Port                int64        `json:"Port"`
	DeregisterTargetRst *bool        `json:"DeregisterTargetRst,omitempty"`
	IdleConnectTimeout  *int64       `json:"IdleConnectTimeout,omitempty"`
	SessionExpireTime   *int64       `json:"SessionExpireTime,omitempty"`
	Rules               []ruleOutput `json:"Rules,omitempty"`
}

type describeListenersResponse struct {
	Listeners  []listenerOutput `json:"Listeners"`
	TotalCount int              `json:"TotalCount"`
	RequestId  string           `json:"RequestId"`
}

// describeListeners lists a load balancer's listeners with their
// attributes and rules, selected by ListenerIds (at most 100), Protocol and
// Port.
func (s *Server) describeListeners(c *call, _ faultPlan) (any, *apiError) {
	var req describeListenersRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	q, e := checkListenerQuery(req.LoadBalancerId, req.ListenerIds, req.Protocol, req.Port, maxListenerIDsToList)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, e := s.listeners(q)
	if e != nil {
		return nil, e
	}
	resp := describeListenersResponse{Listeners: make([]listenerOutput, 0, len(ls)), TotalCount: len(ls), RequestId: c.id}
	for _, l := range ls {
		a := l.attrs.clone()
		out := listenerOutput{ListenerId: l.id, ListenerName: a.ListenerName, Protocol: l.protocol, Port: l.port,
			DeregisterTargetRst: a.DeregisterTargetRst, IdleConnectTimeout: a.IdleConnectTimeout, SessionExpireTime: a.SessionExpireTime}
		for _, r := range l.rules {
			out.Rules = append(out.Rules, ruleOutput{LocationId: r.id, Domain: r.domain, Url: r.url, ListenerId: l.id})
		}
		resp.Listeners = append(resp.Listeners, out)
	}
	return resp, nil
}
