package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// BuildPlan makes the plan of a server drain from what discovery found:
// the load balancers in the order of lbs, each with its listeners and
// rules in the order found, and the warnings each listener's attributes
// call for given drainDelay. It is pure: the workflow and tests call it.
func BuildPlan(servers []clb.Server, lbs []string, classic []string, found []activities.Found, drainDelay time.Duration) Plan {
	byLB := map[string][]PlanBinding{}
	p := Plan{Servers: servers, LoadBalancers: []PlanLoadBalancer{}, Searched: len(lbs), Classic: classic}
	for _, f := range found {
		b := PlanBinding{Found: f}
		if f.Listener != nil {
			b.Warnings = clb.DrainWarnings(*f.Listener, drainDelay)
		}
		byLB[f.Selector.LoadBalancerId] = append(byLB[f.Selector.LoadBalancerId], b)
		p.Bindings++
		p.Targets += len(f.Remove)
	}
	for _, lb := range lbs {
		if bs := byLB[lb]; len(bs) > 0 {
			p.LoadBalancers = append(p.LoadBalancers, PlanLoadBalancer{LoadBalancerId: lb, Bindings: bs})
			delete(byLB, lb)
		}
	}
	p.ID = planID(p)
	return p
}

// planLines are the plan's removals, one line per target:
// "selector target@weight", sorted.
func planLines(p Plan) []string {
	var lines []string
	for _, lb := range p.LoadBalancers {
		for _, b := range lb.Bindings {
			for _, t := range b.Remove {
				lines = append(lines, b.Selector.String()+" "+t.String())
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// planID hashes the plan's removals: the same targets at the same weights
// give the same ID.
func planID(p Plan) string {
	sum := sha256.Sum256([]byte(strings.Join(planLines(p), "\n")))
	return "plan-" + hex.EncodeToString(sum[:8])
}

// PlanDiff says how plan now differs from plan was, one line per target
// ("+ lb/lbl ins-a:80@10" found now, "- ..." not any more), nil when the
// two remove the same targets at the same weights.
func PlanDiff(was, now Plan) []string {
	before, after := planLines(was), planLines(now)
	var out []string
	for _, l := range before {
		if _, ok := slices.BinarySearch(after, l); !ok {
			out = append(out, "- "+l)
		}
	}
	for _, l := range after {
		if _, ok := slices.BinarySearch(before, l); !ok {
			out = append(out, "+ "+l)
		}
	}
	return out
}

// CheckGuards returns every listener or rule of the plan that would keep
// fewer targets with weight > 0 than g.MinRemaining (0: 1), or less of its
// weight than g.MinRemainingPercent; nil with g.AllowEmpty.
func CheckGuards(p Plan, g Guards) []GuardViolation {
	if g.AllowEmpty {
		return nil
	}
	minimum := max(g.MinRemaining, 1)
	var out []GuardViolation
	for _, lb := range p.LoadBalancers {
		for _, b := range lb.Bindings {
			k := b.Keep
			if k.Weighted < minimum {
				out = append(out, GuardViolation{Selector: b.Selector, Why: fmt.Sprintf(
					"would keep %d target(s) with weight > 0 (of %d left), below --min-remaining %d", k.Weighted, k.Targets, minimum)})
			}
			if g.MinRemainingPercent > 0 && k.TotalWeight > 0 && float64(k.Weight)*100 < g.MinRemainingPercent*float64(k.TotalWeight) {
				out = append(out, GuardViolation{Selector: b.Selector, Why: fmt.Sprintf(
					"would keep %.1f%% of its weight (%d of %d), below --min-remaining-percent %g",
					float64(k.Weight)*100/float64(k.TotalWeight), k.Weight, k.TotalWeight, g.MinRemainingPercent)})
			}
		}
	}
	return out
}
