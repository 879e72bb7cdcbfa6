package harness

import (
	"fmt"
	"slices"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// Binding names a target where it is bound: load balancer, listener, rule
// (empty on layer 4) and target key, as clbsim's audit records it.
type Binding struct {
	LB, Listener, Location, Target string
}

// BindingsOf names targets on the listener or rule of sel, whose rule must
// be given by LocationId.
func BindingsOf(sel clb.Selector, targets []clb.Target) []Binding {
	out := make([]Binding, len(targets))
	for i, t := range targets {
		out[i] = Binding{sel.LoadBalancerId, sel.ListenerId, sel.LocationId, t.Key()}
	}
	return out
}

// Tally is what clbsim's audit shows of requested bindings: how many were
// removed exactly once, more than once, never, and how many bindings not
// requested were changed in any way.
type Tally struct {
	Requested, RemovedOnce, RemovedTwice, NeverRemoved, OtherTouched int
}

// Exact reports whether the tally is a drain done exactly: every requested
// binding removed once, nothing else touched.
func (t Tally) Exact() bool {
	return t.RemovedOnce == t.Requested && t.RemovedTwice == 0 && t.OtherTouched == 0
}

// TallyAudit counts, from an emulator's whole audit, how many times each
// requested binding was removed, and how many bindings not requested were
// changed in any way.
func TallyAudit(audit []clbsim.Change, requested []Binding) Tally {
	want := make(map[Binding]bool, len(requested))
	for _, b := range requested {
		want[b] = true
	}
	removed := map[Binding]int{}
	other := map[Binding]bool{}
	for _, c := range audit {
		b := Binding{c.LoadBalancerId, c.ListenerId, c.LocationId, c.Target}
		switch {
		case !want[b]:
			other[b] = true
		case c.Action == clb.ActionDeregisterTargets:
			removed[b]++
		}
	}
	out := Tally{Requested: len(want), OtherTouched: len(other)}
	for b := range want {
		switch n := removed[b]; {
		case n == 0:
			out.NeverRemoved++
		case n == 1:
			out.RemovedOnce++
		default:
			out.RemovedTwice++
		}
	}
	return out
}

// StateDiff lists, sorted, how final differs from initial other than by
// the removal of the removed bindings: a removed binding still bound, a
// binding not removed that is gone or has another weight, or one that
// appeared. With removed empty it lists every difference.
func StateDiff(initial, final clbsim.State, removed []Binding) []string {
	want := make(map[Binding]bool, len(removed))
	for _, b := range removed {
		want[b] = true
	}
	before, after := Weights(initial), Weights(final)
	var diff []string
	for b, w := range before {
		now, bound := after[b]
		switch {
		case want[b] && bound:
			diff = append(diff, fmt.Sprintf("%v: requested, still bound", b))
		case !want[b] && !bound:
			diff = append(diff, fmt.Sprintf("%v: not requested, gone", b))
		case !want[b] && now != w:
			diff = append(diff, fmt.Sprintf("%v: not requested, weight %d became %d", b, w, now))
		}
	}
	for b := range after {
		if _, ok := before[b]; !ok {
			diff = append(diff, fmt.Sprintf("%v: bound, was not", b))
		}
	}
	slices.Sort(diff)
	return diff
}

// Weights maps every binding of a state to its weight.
func Weights(s clbsim.State) map[Binding]int64 {
	out := map[Binding]int64{}
	for _, lb := range s.LoadBalancers {
		for _, l := range lb.Listeners {
			for _, t := range l.Targets {
				out[Binding{lb.LoadBalancerId, l.ListenerId, "", KeyOf(t)}] = t.Weight
			}
			for _, r := range l.Rules {
				for _, t := range r.Targets {
					out[Binding{lb.LoadBalancerId, l.ListenerId, r.LocationId, KeyOf(t)}] = t.Weight
				}
			}
		}
	}
	return out
}
