package clbsim

import (
	"strings"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// requestIDResponse is the answer of an async call: its RequestId is the
// task id.
type requestIDResponse struct {
	RequestId string `json:"RequestId"`
}

// mutate handles DeregisterTargets, RegisterTargets and ModifyTargetWeight:
// synchronous validation, then an async task that holds the load
// balancer's lock and applies the change when it completes.
func (s *Server) mutate(c *call, plan faultPlan) (any, *apiError) {
	var req targetsRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	checked, e := checkTargetsRequest(&req, c.action == clb.ActionModifyTargetWeight)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.advance(now)
	lb, l, rule, e := s.resolve(checked)
	if e != nil {
		return nil, e
	}
	if holder := lb.holder(now); holder != "" {
		return nil, s.dialect.lockError(lb.id, holder)
	}
	set := l.targets
	where := lb.id + "/" + l.id
	if rule != nil {
		set, where = rule.targets, where+"/"+rule.id
	}
	if e := checkBound(c.action, set, checked.targets, where); e != nil {
		return nil, e
	}
	s.startTask(&task{id: c.id, action: c.action, lbID: lb.id, lb: lb, fail: plan.taskFail,
		parts: []taskPart{{listener: l, rule: rule, targets: checked.targets, weight: checked.weight}}}, now)
	return requestIDResponse{RequestId: c.id}, nil
}

// resolve finds the load balancer, listener and (layer-7) rule a call
// names. Callers hold s.mu.
func (s *Server) resolve(c checkedTargets) (*lbState, *listenerState, *ruleState, *apiError) {
	lb := s.fleet.lbByID[c.lbID]
	if lb == nil {
		return nil, nil, nil, s.dialect.lbNotFound(c.lbID)
	}
	l := lb.listenerByID[c.listenerID]
	if l == nil {
		return nil, nil, nil, s.dialect.listenerNotFound(c.lbID, c.listenerID)
	}
	named := c.locationID != "" || c.domain != ""
	if !l.layer7() {
		if named {
			return nil, nil, nil, fail(codeInvalidParameter, "Listener %s is a layer-4 (%s) listener and has no rules; leave out LocationId, Domain and Url.", l.id, l.protocol)
		}
		return lb, l, nil, nil
	}
	if !named {
		return nil, nil, nil, fail(codeInvalidParameter, "Listener %s is a layer-7 (%s) listener; name the rule by LocationId or by Domain and Url.", l.id, l.protocol)
	}
	rule := l.rule(c.locationID, c.domain, c.url)
	if rule == nil {
		name := c.locationID
		if name == "" {
			name = c.domain + c.url
		}
		return nil, nil, nil, fail(codeLocationNotFound, "Rule %s is not found in listener %s.", name, l.id)
	}
	return lb, l, rule, nil
}

// checkBound refuses the whole call when a target to unbind or reweigh is
// not bound, or a target to bind already is.
func checkBound(action string, set *targetSet, targets []checkedTarget, where string) *apiError {
	register := action == clb.ActionRegisterTargets
	var wrong []string
	for _, t := range targets {
		if _, bound := set.get(t.key); bound == register {
			wrong = append(wrong, t.key)
		}
	}
	switch {
	case len(wrong) == 0:
		return nil
	case register:
		return fail(codeInvalidParameter, "These targets are already bound to %s: %s.", where, strings.Join(wrong, ", "))
	}
	return fail(codeInvalidParameter, "These targets are not bound to %s: %s.", where, strings.Join(wrong, ", "))
}
