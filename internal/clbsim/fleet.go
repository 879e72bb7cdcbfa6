package clbsim

import (
	"slices"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// fleet is the live state, indexed for the lookups requests make. It is
// guarded by the Server's mutex.
type fleet struct {
	lbs    []*lbState
	lbByID map[string]*lbState
}

type lbState struct {
	id, name string
	// info holds the fields DescribeLoadBalancers answers beside the id
	// and name, as the fixture gives them.
	info         lbInfo
	listeners    []*listenerState
	listenerByID map[string]*listenerState
	// task is the async task that holds the lock, nil when none runs.
	task *task
	// heldUntil is when a competing writer's hold (POST /_sim/lock) ends.
	heldUntil time.Time
	// lingerUntil is when the lock left by the last task ends (a
	// lingering-lock dialect), lingerTask that task.
	lingerUntil time.Time
	lingerTask  string
}

// holder says what locks the load balancer at now, "" when nothing does
// and mutating calls go through.
func (lb *lbState) holder(now time.Time) string {
	switch {
	case lb.task != nil:
		return "task " + lb.task.id
	case now.Before(lb.heldUntil):
		return "another writer"
	case now.Before(lb.lingerUntil):
		return "settling after task " + lb.lingerTask
	}
	return ""
}

type listenerState struct {
	id, protocol string
	port         int64
	// targets are a layer-4 listener's; a layer-7 listener's are in rules.
	targets *targetSet
	rules   []*ruleState
	// attrs are the listener's attributes, defaults filled in.
	attrs ListenerAttributes
}

func (l *listenerState) layer7() bool { return clb.IsLayer7(l.protocol) }

// rule finds a rule by LocationId or, when that is empty, by Domain and Url.
func (l *listenerState) rule(locationID, domain, url string) *ruleState {
	for _, r := range l.rules {
		if locationID != "" && r.id == locationID || locationID == "" && r.domain == domain && r.url == url {
			return r
		}
	}
	return nil
}

type ruleState struct {
	id, domain, url string
	targets         *targetSet
}

// targetSet is the targets bound to a listener or rule, in binding order,
// indexed by key.
type targetSet struct {
	list  []boundEntry
	index map[string]int
}

type boundEntry struct {
	key string
	clb.BoundTarget
	// healthyAt is when the binding's health check first passes: zero for
	// the initial fleet's bindings, the task's end plus the health model's
	// delay for those RegisterTargets made.
	healthyAt time.Time
	// health, when set, is the health an admin set (PUT /_sim/health); it
	// wins over the health model.
	health *bool
}

func newTargetSet(bound []clb.BoundTarget) *targetSet {
	ts := &targetSet{list: make([]boundEntry, 0, len(bound)), index: make(map[string]int, len(bound))}
	for _, b := range bound {
		ts.add(normalizeBound(b))
	}
	return ts
}

func (ts *targetSet) get(key string) (clb.BoundTarget, bool) {
	i, ok := ts.index[key]
	if !ok {
		return clb.BoundTarget{}, false
	}
	return ts.list[i].BoundTarget, true
}

func (ts *targetSet) add(b clb.BoundTarget) { ts.addAt(b, time.Time{}) }

// addAt binds b, healthy from healthyAt on.
func (ts *targetSet) addAt(b clb.BoundTarget, healthyAt time.Time) {
	k := boundKey(b)
	ts.index[k] = len(ts.list)
	ts.list = append(ts.list, boundEntry{key: k, BoundTarget: b, healthyAt: healthyAt})
}

func (ts *targetSet) setWeight(key string, w int64) {
	if i, ok := ts.index[key]; ok {
		ts.list[i].Weight = w
	}
}

// remove unbinds the targets with the given keys, keeping the others' order.
func (ts *targetSet) remove(keys map[string]bool) {
	first := len(ts.list)
	for k := range keys {
		if i, ok := ts.index[k]; ok {
			first = min(first, i)
			delete(ts.index, k)
		}
	}
	kept := ts.list[:first]
	for _, e := range ts.list[first:] {
		if !keys[e.key] {
			ts.index[e.key] = len(kept)
			kept = append(kept, e)
		}
	}
	clear(ts.list[len(kept):])
	ts.list = kept
}

func (ts *targetSet) snapshot() []clb.BoundTarget {
	out := make([]clb.BoundTarget, len(ts.list))
	for i, e := range ts.list {
		b := e.BoundTarget
		b.PrivateIpAddresses = slices.Clone(b.PrivateIpAddresses)
		out[i] = b
	}
	return out
}

// newFleet builds the live state from a checked State.
func newFleet(s State) *fleet {
	f := &fleet{lbByID: make(map[string]*lbState, len(s.LoadBalancers))}
	for _, lb := range s.LoadBalancers {
		ls := &lbState{id: lb.LoadBalancerId, name: lb.LoadBalancerName, listenerByID: map[string]*listenerState{},
			info: lbInfo{lbType: lb.LoadBalancerType, vpcID: lb.VpcId, vips: slices.Clone(lb.LoadBalancerVips)}}
		for _, l := range lb.Listeners {
			st := &listenerState{id: l.ListenerId, protocol: l.Protocol, port: l.Port,
				attrs: lb.ListenerAttributes[l.ListenerId].clone().withDefaults(l.Protocol)}
			if st.layer7() {
				for _, r := range l.Rules {
					st.rules = append(st.rules, &ruleState{id: r.LocationId, domain: r.Domain, url: r.Url, targets: newTargetSet(r.Targets)})
				}
			} else {
				st.targets = newTargetSet(l.Targets)
			}
			ls.listeners = append(ls.listeners, st)
			ls.listenerByID[st.id] = st
		}
		f.lbs = append(f.lbs, ls)
		f.lbByID[ls.id] = ls
	}
	return f
}

// clone copies the attributes, so that no pointer is shared.
func (a ListenerAttributes) clone() ListenerAttributes {
	if a.DeregisterTargetRst != nil {
		a.DeregisterTargetRst = ptr(*a.DeregisterTargetRst)
	}
	if a.IdleConnectTimeout != nil {
		a.IdleConnectTimeout = ptr(*a.IdleConnectTimeout)
	}
	if a.SessionExpireTime != nil {
		a.SessionExpireTime = ptr(*a.SessionExpireTime)
	}
	return a
}

// state is a deep copy of the live state.
func (f *fleet) state() State {
	s := State{LoadBalancers: make([]LoadBalancer, 0, len(f.lbs))}
	for _, lb := range f.lbs {
		out := LoadBalancer{LoadBalancerId: lb.id, LoadBalancerName: lb.name, LoadBalancerType: lb.info.lbType, VpcId: lb.info.vpcID,
			LoadBalancerVips: slices.Clone(lb.info.vips), Listeners: make([]clb.Listener, 0, len(lb.listeners))}
		for _, l := range lb.listeners {
			out.Listeners = append(out.Listeners, l.snapshot(nil))
			if l.attrs != (ListenerAttributes{}) {
				if out.ListenerAttributes == nil {
					out.ListenerAttributes = map[string]ListenerAttributes{}
				}
				out.ListenerAttributes[l.id] = l.attrs.clone()
			}
		}
		s.LoadBalancers = append(s.LoadBalancers, out)
	}
	return s
}

// snapshot copies a listener; keep, when set, selects rules and targets
// (DescribeTargets filters).
func (l *listenerState) snapshot(keep *targetFilter) clb.Listener {
	out := clb.Listener{ListenerId: l.id, Protocol: l.protocol, Port: l.port}
	if !l.layer7() {
		out.Targets = keep.targets(l.targets.snapshot())
		return out
	}
	for _, r := range l.rules {
		if !keep.rule(r.id) {
			continue
		}
		out.Rules = append(out.Rules, clb.Rule{LocationId: r.id, Domain: r.domain, Url: r.url, Targets: keep.targets(r.targets.snapshot())})
	}
	return out
}

// targetFilter is what DescribeTargets' Filters select; a nil filter keeps
// everything.
type targetFilter struct {
	locationIDs map[string]bool
	privateIPs  map[string]bool
}

func (f *targetFilter) rule(locationID string) bool {
	return f == nil || len(f.locationIDs) == 0 || f.locationIDs[locationID]
}

func (f *targetFilter) targets(in []clb.BoundTarget) []clb.BoundTarget {
	if f == nil || len(f.privateIPs) == 0 {
		return in
	}
	out := in[:0]
	for _, b := range in {
		if slices.ContainsFunc(b.PrivateIpAddresses, func(ip string) bool { return f.privateIPs[canonicalIP(ip)] }) {
			out = append(out, b)
		}
	}
	return out
}
