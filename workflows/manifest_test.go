package workflows_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestDrainResultManifest: a drain's manifest lists what it removed with
// the weights it read, under the resolved selector, and what went missing
// as skipped; it survives a JSON round trip.
func TestDrainResultManifest(t *testing.T) {
	sel := clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", LocationId: "loc-abc12345"}
	res := workflows.DrainResult{
		Selector: sel,
		Reason:   "release 42",
		Deregistered: clb.WeightedList{
			{Target: clb.Target{InstanceId: "ins-a1", Port: 80}, Weight: 10},
			{Target: clb.Target{EniIp: "10.0.0.7", Port: 8080}, Weight: 100},
		},
		GoneDuringDrain: clb.TargetList{{InstanceId: "ins-b2", Port: 80}},
	}
	m := res.Manifest("clb-drain/lb-abc12345/lbl-abc12345/loc-abc12345")
	if m.Source != "clb-drain/lb-abc12345/lbl-abc12345/loc-abc12345" || m.Reason != "release 42" {
		t.Fatalf("source/reason = %q/%q", m.Source, m.Reason)
	}
	if len(m.Bindings) != 1 || m.Bindings[0].Selector != sel || !reflect.DeepEqual(m.Bindings[0].Targets, res.Deregistered) {
		t.Fatalf("bindings = %+v", m.Bindings)
	}
	if len(m.Skipped) != 1 || m.Skipped[0].Why != "gone during drain" || len(m.Skipped[0].Targets) != 1 {
		t.Fatalf("skipped = %+v", m.Skipped)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back workflows.RestoreManifest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, m)
	}
	if empty := (workflows.DrainResult{}).Manifest(""); empty.Bindings == nil || len(empty.Bindings) != 0 || empty.Skipped != nil {
		t.Fatalf("empty manifest = %+v", empty)
	}
}
