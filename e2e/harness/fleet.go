package harness

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// Listener returns the first listener of lb that is layer 7 (layer7 true)
// or layer 4, and whether there is one.
func Listener(lb clbsim.LoadBalancer, layer7 bool) (clb.Listener, bool) {
	for _, l := range lb.Listeners {
		if clb.IsLayer7(l.Protocol) == layer7 {
			return l, true
		}
	}
	return clb.Listener{}, false
}

// TargetsOf turns bound targets into request targets, as
// clbsim.RequestTargets does: ENI ones (in any case of Type) by address.
func TargetsOf(bound []clb.BoundTarget) []clb.Target {
	return clbsim.RequestTargets(bound)
}

// KeyOf is the key of a bound target, as clb.Target.Key spells the request
// target that names it and as clbsim's audit records it.
func KeyOf(b clb.BoundTarget) string {
	return TargetsOf([]clb.BoundTarget{b})[0].Key()
}

// Bound lists what state binds to a listener (layer 4) or to one of its
// rules (locationID), by target key.
func Bound(state clbsim.State, lbID, listenerID, locationID string) map[string]clb.BoundTarget {
	out := map[string]clb.BoundTarget{}
	for _, lb := range state.LoadBalancers {
		if lb.LoadBalancerId != lbID {
			continue
		}
		for _, l := range lb.Listeners {
			if l.ListenerId != listenerID {
				continue
			}
			bound := l.Targets
			for _, r := range l.Rules {
				if r.LocationId == locationID {
					bound = r.Targets
				}
			}
			for _, b := range bound {
				out[KeyOf(b)] = b
			}
		}
	}
	return out
}

// AuditFor returns the changes made on one load balancer.
func AuditFor(changes []clbsim.Change, lbID string) []clbsim.Change {
	var out []clbsim.Change
	for _, c := range changes {
		if c.LoadBalancerId == lbID {
			out = append(out, c)
		}
	}
	return out
}

// WriteTargets writes targets to path one per line, as an operator would.
func WriteTargets(path string, targets []clb.Target) error {
	var b strings.Builder
	for _, t := range targets {
		b.WriteString(t.String() + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// Lines returns the non-empty lines of s.
func Lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TurnsScenario is several drains started at once on the listeners of one
// load balancer: the scenario of e2e/turns_test.go and of the benchmark's
// same-load-balancer phase.
type TurnsScenario struct {
	// Fleet is the emulator's state: one load balancer.
	Fleet clbsim.State
	// Inputs drain everything bound to each listener, one drain each.
	Inputs []workflows.DrainInput
	// Requested are the bindings the drains remove, for TallyAudit.
	Requested []Binding
}

// turnsSeed generates a load balancer whose listeners are all layer 4.
const turnsSeed = 11

// NewTurnsScenario generates one load balancer with listeners layer-4
// listeners of targets targets each, and one drain of each listener,
// reason recorded. It fails when the generated listeners do not bind
// targets targets each.
func NewTurnsScenario(listeners, targets int, reason string) (TurnsScenario, error) {
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: listeners, Targets: targets}, turnsSeed)
	if err != nil {
		return TurnsScenario{}, err
	}
	sc := TurnsScenario{Fleet: fleet}
	lb := fleet.LoadBalancers[0]
	if len(lb.Listeners) != listeners {
		return sc, fmt.Errorf("generated %d listeners, want %d", len(lb.Listeners), listeners)
	}
	for _, l := range lb.Listeners {
		sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
		ts := TargetsOf(l.Targets)
		if len(ts) != targets {
			return sc, fmt.Errorf("listener %s binds %d targets, want %d", l.ListenerId, len(ts), targets)
		}
		sc.Inputs = append(sc.Inputs, workflows.DrainInput{Selector: sel, Targets: ts, Reason: reason})
		sc.Requested = append(sc.Requested, BindingsOf(sel, ts)...)
	}
	return sc, nil
}

// LockAnswers counts the answers, to any action, that say the load
// balancer is locked by a task (clb.ClassBusy: FailedOperation.
// ResourceInOperating, ResourceInUse and the like). Without injected
// faults, every one of them met a task of the caller's own.
func LockAnswers(st clbsim.Stats) int {
	n := 0
	for action, as := range st.Actions {
		for code, count := range as.Errors {
			if clb.ClassOf(action, code) == clb.ClassBusy {
				n += count
			}
		}
	}
	return n
}
