package activities

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// SnapshotInput is the input of Snapshot.
type SnapshotInput struct {
	// Selector names the listener and, on a layer-7 listener, the rule (by
	// LocationId, or by Domain and Url).
	Selector clb.Selector `json:"Selector"`
	// Targets are the targets asked for.
	Targets []clb.Target `json:"Targets"`
}

// MaxRenamedListed bounds the renamed targets a SnapshotResult (and a
// drain's result) lists: 10,000 pairs of IPv6 spellings would pass
// Temporal's payload limit. RenamedCount counts them all.
const MaxRenamedListed = 100

// SnapshotResult is what Snapshot found bound now.
type SnapshotResult struct {
	// Protocol is the listener's protocol (TCP, HTTP, ...).
	Protocol string `json:"Protocol"`
	// Selector is the input's, with the rule resolved on a layer-7
	// listener: its LocationId, Domain and Url as the listener has them.
	Selector clb.Selector `json:"Selector"`
	// Bound are the targets asked for that are bound now, in input order,
	// each with its current weight, named as they are bound (see
	// clb.BoundTarget.Identity): the spelling every mutating call sends.
	Bound []clb.WeightedTarget `json:"Bound"`
	// Absent are the targets asked for that are not bound, in input order.
	Absent []clb.Target `json:"Absent,omitempty"`
	// Renamed pairs each target asked for in another spelling than its
	// binding's (an EniIp naming a CVM binding, an address written another
	// way) with the target in Bound: the first MaxRenamedListed of them,
	// so that the result stays small.
	Renamed []clb.Renamed `json:"Renamed,omitempty"`
	// RenamedCount counts all such targets, listed or not.
	RenamedCount int `json:"RenamedCount,omitempty"`
	// Merged counts targets asked for that name a binding an earlier one
	// already named (two spellings of one binding); they are left out.
	Merged int `json:"Merged,omitempty"`
	// Listener are the listener's attributes (DeregisterTargetRst,
	// IdleConnectTimeout, SessionExpireTime), as DescribeListeners reports
	// them, without its rules; nil when they could not be read (see
	// ListenerError) or in results of earlier versions.
	Listener *clb.ListenerAttributes `json:"Listener,omitempty"`
	// ListenerError says why the attributes could not be read (a caller
	// error, such as a policy that denies DescribeListeners): the snapshot
	// goes on without them.
	ListenerError string `json:"ListenerError,omitempty"`
}

// Snapshot reads what is bound to the listener or rule now
// (DescribeTargets) and splits the targets asked for into bound ones, with
// their current weights and named as bound, and absent ones. It resolves a rule named by
// Domain+Url to its LocationId. A layer-7 listener without a rule, or a rule
// the listener does not have, fails with ErrNoRule; a rule named on a
// layer-4 listener, or a LocationId and a Domain+Url that name two rules,
// fail with ErrInvalidInput (the API would ignore Domain+Url); none is
// retried. It also reads the listener's attributes (DescribeListeners, one
// call, none when DescribeTargets left the listener out and it was read
// already); a caller error reading them is reported in ListenerError, not
// failed on.
func (a *Activities) Snapshot(ctx context.Context, in SnapshotInput) (SnapshotResult, error) {
	l, attrs, err := a.listener(ctx, in.Selector)
	if err != nil {
		return SnapshotResult{}, err
	}
	sel, bound, err := bindings(l, in.Selector)
	if err != nil {
		return SnapshotResult{}, err
	}
	res := SnapshotResult{Protocol: l.Protocol, Selector: sel, Listener: attrs}
	if attrs == nil {
		if res.Listener, res.ListenerError, err = a.listenerAttributes(ctx, in.Selector); err != nil {
			return SnapshotResult{}, err
		}
	}
	idx := indexBound(bound)
	seen := make(map[string]bool, len(in.Targets))
	for _, t := range in.Targets {
		b, ok := idx.find(t)
		if !ok {
			res.Absent = append(res.Absent, t)
			continue
		}
		id := b.Identity(t)
		if seen[id.Key()] {
			res.Merged++
			continue
		}
		seen[id.Key()] = true
		if id != t {
			res.RenamedCount++
			if len(res.Renamed) < MaxRenamedListed {
				res.Renamed = append(res.Renamed, clb.Renamed{Requested: t, Bound: id})
			}
		}
		res.Bound = append(res.Bound, clb.WeightedTarget{Target: id, Weight: b.Weight})
	}
	return res, nil
}

// listenerAttributes reads the attributes of the listener sel names with
// DescribeListeners. A caller error (denied, or the listener not listed)
// comes back as a message, the snapshot going on without them; any other
// error is the activity's, retried.
func (a *Activities) listenerAttributes(ctx context.Context, sel clb.Selector) (*clb.ListenerAttributes, string, error) {
	ls, err := a.CLB.DescribeListeners(ctx, sel.LoadBalancerId, sel.ListenerId)
	if err != nil {
		ce := clb.Classify(clb.ActionDescribeListeners, err)
		if ctx.Err() == nil && (ce.Class == clb.ClassCallerError || ce.Class == clb.ClassDenied) {
			return nil, ce.Code + ": " + ce.Message, nil
		}
		return nil, "", apiError(ctx, clb.ActionDescribeListeners, err)
	}
	for _, info := range ls {
		if info.ListenerId == sel.ListenerId {
			return attributesOnly(info), "", nil
		}
	}
	return nil, "DescribeListeners answered without listener " + sel.ListenerId, nil
}

// attributesOnly is info without its rules.
func attributesOnly(info clb.ListenerAttributes) *clb.ListenerAttributes {
	info.Rules = nil
	return &info
}

// listener reads the listener sel names with what is bound to it now. An
// answer of DescribeTargets without the listener (ListenerIdNotFound) is
// checked with DescribeListeners: the API may leave out a listener with no
// targets left, which then comes back with nothing bound (and, on layer 7,
// DescribeListeners' rules), along with its attributes (nil otherwise); a
// listener DescribeListeners does not list either fails with ErrNoListener.
func (a *Activities) listener(ctx context.Context, sel clb.Selector) (clb.Listener, *clb.ListenerAttributes, error) {
	l, err := a.CLB.DescribeTargets(ctx, sel.LoadBalancerId, sel.ListenerId)
	if err == nil {
		return l, nil, nil
	}
	if ce := clb.Classify(clb.ActionDescribeTargets, err); ce.Code != codeListenerNotFound {
		return l, nil, apiError(ctx, clb.ActionDescribeTargets, err)
	}
	ls, err := a.CLB.DescribeListeners(ctx, sel.LoadBalancerId, sel.ListenerId)
	if ce := clb.Classify(clb.ActionDescribeListeners, err); ce != nil && ce.Code == codeListenerNotFound {
		return l, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"listener %s of %s not found: neither DescribeTargets nor DescribeListeners lists it", sel.ListenerId, sel.LoadBalancerId),
			ErrNoListener, err)
	}
	if err != nil {
		return l, nil, apiError(ctx, clb.ActionDescribeListeners, err)
	}
	for _, info := range ls {
		if info.ListenerId == sel.ListenerId {
			return clb.Listener{ListenerId: info.ListenerId, Protocol: info.Protocol, Port: info.Port, Rules: info.Rules}, attributesOnly(info), nil
		}
	}
	return l, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"listener %s of %s not found: DescribeListeners answered without it", sel.ListenerId, sel.LoadBalancerId), ErrNoListener, nil)
}

// codeListenerNotFound is the code of a listener missing from an answer.
const codeListenerNotFound = "InvalidParameter.ListenerIdNotFound"

// bindings returns what sel names on the listener l: the selector with the
// rule resolved, and the targets bound to the rule (layer 7) or to the
// listener itself (layer 4).
func bindings(l clb.Listener, sel clb.Selector) (clb.Selector, []clb.BoundTarget, error) {
	where := "listener " + sel.ListenerId + " of " + sel.LoadBalancerId
	if l.ListenerId != sel.ListenerId {
		return sel, nil, temporal.NewNonRetryableApplicationError(
			where+" not found (DescribeTargets answered no such listener)", ErrNoListener, nil)
	}
	if !clb.IsLayer7(l.Protocol) {
		if sel.HasRule() {
			return sel, nil, invalidInput(fmt.Sprintf(
				"%s is %s (layer 4): its targets are bound to the listener itself, so leave LocationId, Domain and Url empty (got rule %q)",
				where, l.Protocol, ruleName(sel)))
		}
		return sel, l.Targets, nil
	}
	if !sel.HasRule() {
		return sel, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"%s is %s (layer 7): name the rule by LocationId, or by Domain and Url; its rules: %s",
			where, l.Protocol, ruleList(l.Rules)), ErrNoRule, nil)
	}
	for _, r := range l.Rules {
		if sel.LocationId != "" && r.LocationId != sel.LocationId {
			continue
		}
		// Host names are case-insensitive; paths are not.
		if sel.LocationId == "" && (!strings.EqualFold(r.Domain, sel.Domain) || r.Url != sel.Url) {
			continue
		}
		if sel.LocationId != "" && (sel.Domain != "" || sel.Url != "") && (!strings.EqualFold(r.Domain, sel.Domain) || r.Url != sel.Url) {
			return sel, nil, invalidInput(fmt.Sprintf(
				"%s: LocationId %s is the rule %s%s, not Domain+Url %s%s: name one rule, by LocationId or by Domain and Url",
				where, sel.LocationId, r.Domain, r.Url, sel.Domain, sel.Url))
		}
		sel.LocationId, sel.Domain, sel.Url = r.LocationId, r.Domain, r.Url
		return sel, r.Targets, nil
	}
	return sel, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s has no rule %q; its rules: %s", where, ruleName(sel), ruleList(l.Rules)), ErrNoRule, nil)
}

// byLocation is sel naming its rule by LocationId alone when it has one:
// a resolved selector carries the rule's Domain and Url as they were when
// resolved, and another writer may have changed them since. Only the
// user's own input is held to LocationId and Domain+Url naming one rule
// (Snapshot); re-checks follow the rule by its LocationId.
func byLocation(sel clb.Selector) clb.Selector {
	if sel.LocationId != "" {
		sel.Domain, sel.Url = "", ""
	}
	return sel
}

// ruleName names the rule of sel as the user gave it.
func ruleName(sel clb.Selector) string {
	if sel.LocationId != "" {
		return sel.LocationId
	}
	return sel.Domain + sel.Url
}

// maxRulesListed bounds the rules an error message lists.
const maxRulesListed = 10

// ruleList lists rules as "loc-abc12345 (example.com/api), ...".
func ruleList(rules []clb.Rule) string {
	if len(rules) == 0 {
		return "none"
	}
	parts := make([]string, 0, min(len(rules), maxRulesListed)+1)
	for i, r := range rules {
		if i == maxRulesListed {
			parts = append(parts, "and "+strconv.Itoa(len(rules)-i)+" more")
			break
		}
		parts = append(parts, r.LocationId+" ("+r.Domain+r.Url+")")
	}
	return strings.Join(parts, ", ")
}

// boundIndex finds the bound target a requested target names, in constant
// time: a listener can hold thousands of targets and a drain ask for as many.
type boundIndex map[string]clb.BoundTarget

func indexBound(bound []clb.BoundTarget) boundIndex {
	idx := make(boundIndex, len(bound))
	for _, b := range bound {
		if b.InstanceId != "" {
			idx[clb.Target{InstanceId: b.InstanceId, Port: b.Port}.Key()] = b
		}
		for _, ip := range b.PrivateIpAddresses {
			idx[clb.Target{EniIp: ip, Port: b.Port}.Key()] = b
		}
	}
	return idx
}

func (idx boundIndex) find(t clb.Target) (clb.BoundTarget, bool) {
	b, ok := idx[t.Key()]
	return b, ok && b.Matches(t)
}

// stillBound reads what is bound to sel now and reports, for each of
// targets, whether it is still bound.
func (a *Activities) stillBound(ctx context.Context, sel clb.Selector, targets []clb.Target) ([]bool, error) {
	weights, err := a.weightsNow(ctx, sel, targets)
	if err != nil {
		return nil, err
	}
	bound := make([]bool, len(targets))
	for i, w := range weights {
		bound[i] = w >= 0
	}
	return bound, nil
}

// weightsNow reads what is bound to sel now: each target's current weight,
// or -1 when it is not bound.
func (a *Activities) weightsNow(ctx context.Context, sel clb.Selector, targets []clb.Target) ([]int64, error) {
	l, _, err := a.listener(ctx, sel)
	if err != nil {
		return nil, err
	}
	_, now, err := bindings(l, byLocation(sel))
	if err != nil {
		return nil, err
	}
	idx := indexBound(now)
	weights := make([]int64, len(targets))
	for i, t := range targets {
		weights[i] = -1
		if b, ok := idx.find(t); ok {
			weights[i] = b.Weight
		}
	}
	return weights, nil
}

// recheck splits targets into those still bound to sel and those gone.
func (a *Activities) recheck(ctx context.Context, sel clb.Selector, targets []clb.Target) (bound, gone []clb.Target, err error) {
	still, err := a.stillBound(ctx, sel, targets)
	if err != nil {
		return nil, nil, err
	}
	bound, gone = split(targets, still)
	return bound, gone, nil
}

// split splits items by keep, in order: the kept ones, and the others.
func split[T any](items []T, keep []bool) (kept, others []T) {
	for i, it := range items {
		if keep[i] {
			kept = append(kept, it)
		} else {
			others = append(others, it)
		}
	}
	return kept, others
}

// RecheckInput is the input of Recheck.
type RecheckInput struct {
	// Selector names the listener or rule, with its LocationId resolved
	// (SnapshotResult.Selector).
	Selector clb.Selector `json:"Selector"`
	// Targets are the targets to look for, named as bound.
	Targets []clb.Target `json:"Targets"`
}

// RecheckResult is what Recheck found.
type RecheckResult struct {
	// Bound are the targets still bound, in input order.
	Bound []clb.Target `json:"Bound,omitempty"`
	// Gone are the targets not bound any more, in input order.
	Gone []clb.Target `json:"Gone,omitempty"`
}

// Recheck reads what is bound to the listener or rule now
// (DescribeTargets) and splits the targets into those still bound and
// those gone. It changes nothing: a cancelled drain uses it to learn how
// a chunk whose call or task it could not follow to the end ended.
func (a *Activities) Recheck(ctx context.Context, in RecheckInput) (RecheckResult, error) {
	bound, gone, err := a.recheck(ctx, in.Selector, in.Targets)
	if err != nil {
		return RecheckResult{}, err
	}
	return RecheckResult{Bound: bound, Gone: gone}, nil
}
