package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestTallyAuditCountsRemovalsPerBindingAndOtherChanges(t *testing.T) {
	sel := clb.Selector{LoadBalancerId: "lb-1", ListenerId: "lbl-1"}
	a, b, c := clb.Target{InstanceId: "ins-a", Port: 80}, clb.Target{InstanceId: "ins-b", Port: 80}, clb.Target{InstanceId: "ins-c", Port: 80}
	change := func(action string, tg clb.Target, location string) clbsim.Change {
		return clbsim.Change{Action: action, LoadBalancerId: "lb-1", ListenerId: "lbl-1", LocationId: location, Target: tg.Key()}
	}
	audit := []clbsim.Change{
		change(clb.ActionModifyTargetWeight, a, ""),
		change(clb.ActionDeregisterTargets, a, ""),
		change(clb.ActionDeregisterTargets, b, ""),
		change(clb.ActionDeregisterTargets, b, ""),
		// The same target on a rule is another binding, not requested.
		change(clb.ActionDeregisterTargets, a, "loc-1"),
	}
	got := TallyAudit(audit, BindingsOf(sel, []clb.Target{a, b, c}))
	assert.Equal(t, Tally{Requested: 3, RemovedOnce: 1, RemovedTwice: 1, NeverRemoved: 1, OtherTouched: 1}, got)
	assert.False(t, got.Exact())
	assert.True(t, TallyAudit(audit[:2], BindingsOf(sel, []clb.Target{a})).Exact())
}

func TestStateDiffListsAllButTheRemovals(t *testing.T) {
	bound := func(id string, w int64) clb.BoundTarget { return clb.BoundTarget{InstanceId: id, Port: 80, Weight: w} }
	state := func(targets ...clb.BoundTarget) clbsim.State {
		return clbsim.State{LoadBalancers: []clbsim.LoadBalancer{{LoadBalancerId: "lb-1",
			Listeners: []clb.Listener{{ListenerId: "lbl-1", Protocol: "TCP", Targets: targets}}}}}
	}
	sel := clb.Selector{LoadBalancerId: "lb-1", ListenerId: "lbl-1"}
	initial := state(bound("ins-a", 10), bound("ins-b", 10), bound("ins-c", 10))
	removedA := BindingsOf(sel, []clb.Target{{InstanceId: "ins-a", Port: 80}})

	assert.Empty(t, StateDiff(initial, state(bound("ins-b", 10), bound("ins-c", 10)), removedA))
	assert.Equal(t, []string{"{lb-1 lbl-1  ins-a:80}: requested, still bound"},
		StateDiff(initial, initial, removedA))
	assert.Equal(t, []string{
		"{lb-1 lbl-1  ins-b:80}: not requested, weight 10 became 0",
		"{lb-1 lbl-1  ins-c:80}: not requested, gone",
		"{lb-1 lbl-1  ins-d:80}: bound, was not",
	}, StateDiff(initial, state(bound("ins-b", 0), bound("ins-d", 10)), removedA))
	assert.Empty(t, StateDiff(initial, initial, nil), "nothing removed, nothing changed")
}
