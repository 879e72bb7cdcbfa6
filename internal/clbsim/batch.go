package clbsim

import (
	"strconv"
	"strings"
)

// batchModifyRequest is the body of BatchModifyTargetWeight: a ModifyList
// of RsWeightRule entries on one load balancer.
type batchModifyRequest struct {
	LoadBalancerId *string        `json:"LoadBalancerId"`
	ModifyList     []*targetsPart `json:"ModifyList"`
}

// batchModifyTargetWeight handles BatchModifyTargetWeight: every entry of
// ModifyList is validated as ModifyTargetWeight validates its call (a
// target's own Weight wins over its entry's; with neither, the API's
// default, 10), at most maxBatchTargets targets in all, then one async
// task holds the load balancer's lock and sets every weight when it
// completes.
func (s *Server) batchModifyTargetWeight(c *call, plan faultPlan) (any, *apiError) {
	var req batchModifyRequest
	if e := decode(c, &req); e != nil {
		return nil, e
	}
	lbID, parts, e := checkBatchRequest(&req)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.advance(now)
	t := &task{id: c.id, action: c.action, lbID: lbID, fail: plan.taskFail}
	for i, checked := range parts {
		checked.lbID = lbID
		lb, l, rule, e := s.resolve(checked)
		if e != nil {
			return nil, prefixed(e, i)
		}
		t.lb = lb
		t.parts = append(t.parts, taskPart{listener: l, rule: rule, targets: checked.targets, weight: checked.weight})
	}
	if e := checkBatchDuplicates(t.parts); e != nil {
		return nil, e
	}
	if holder := t.lb.holder(now); holder != "" {
		return nil, s.dialect.lockError(lbID, holder)
	}
	var wrong []string
	for _, p := range t.parts {
		for _, ct := range p.targets {
			if _, ok := p.set().get(ct.key); !ok {
				wrong = append(wrong, partName(p)+" "+ct.key)
			}
		}
	}
	if len(wrong) > 0 {
		return nil, fail(codeInvalidParameter, "These targets are not bound to %s: %s.", lbID, strings.Join(wrong, ", "))
	}
	s.startTask(t, now)
	return requestIDResponse{RequestId: c.id}, nil
}

// checkBatchRequest validates what the API validates before looking at the
// fleet, and returns the load balancer and each entry checked.
func checkBatchRequest(req *batchModifyRequest) (string, []checkedTargets, *apiError) {
	lbID := str(req.LoadBalancerId)
	switch {
	case lbID == "":
		return "", nil, missing("LoadBalancerId")
	case len(req.ModifyList) == 0:
		return "", nil, missing("ModifyList")
	}
	if e := checkID("LoadBalancerId", lbID, prefixLB); e != nil {
		return "", nil, e
	}
	total := 0
	for _, p := range req.ModifyList {
		if p != nil {
			total += len(p.Targets)
		}
	}
	if total > maxBatchTargets {
		return "", nil, fail(codeLength, "The parameter `ModifyList` holds %d targets in all; at most %d are allowed.", total, maxBatchTargets)
	}
	parts := make([]checkedTargets, 0, len(req.ModifyList))
	for i, p := range req.ModifyList {
		field := "ModifyList." + strconv.Itoa(i) + "."
		if p == nil {
			return "", nil, missing(strings.TrimSuffix(field, "."))
		}
		checked, e := checkPart(field, *p)
		if e != nil {
			return "", nil, e
		}
		parts = append(parts, checked)
	}
	return lbID, parts, nil
}

// checkBatchDuplicates refuses a target named twice on one listener or
// rule by two entries (a rule named once by LocationId and once by Domain
// and Url is one rule).
func checkBatchDuplicates(parts []taskPart) *apiError {
	seen := map[string]int{}
	for i, p := range parts {
		for _, ct := range p.targets {
			k := partName(p) + " " + ct.key
			if first, dup := seen[k]; dup && first != i {
				return fail(codeDuplicate, "The target %s of `ModifyList.%d` duplicates one of `ModifyList.%d` (%s).", ct.key, i, first, partName(p))
			}
			seen[k] = i
		}
	}
	return nil
}

// partName is "listener" or "listener/rule".
func partName(p taskPart) string {
	if p.rule != nil {
		return p.listener.id + "/" + p.rule.id
	}
	return p.listener.id
}

// prefixed is an entry's error, its message saying which entry.
func prefixed(e *apiError, i int) *apiError {
	return &apiError{Code: e.Code, Message: "`ModifyList." + strconv.Itoa(i) + "`: " + e.Message}
}
