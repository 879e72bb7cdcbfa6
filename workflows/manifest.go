package workflows

import "github.com/clbdrain/clbdrain/internal/clb"

// RestoreManifest is what a restore puts back: every binding a drain
// removed, each target with its weight before the drain. It is the result
// of DrainServers, what DrainResult.Manifest makes of a DrainAndDeregister
// result, or a hand-written file; RestoreTargets takes it as input.
type RestoreManifest struct {
	// Source is the workflow ID of the drain it came from; empty for a
	// hand-written manifest.
	Source string `json:"Source,omitempty"`
	// Reason is the drain's reason.
	Reason string `json:"Reason,omitempty"`
	// Bindings are the listeners and rules, each with the targets removed
	// from it and their original weights. A selector appears once.
	Bindings []ManifestBinding `json:"Bindings"`
	// Skipped are bindings the drain found and did not remove, and why;
	// a restore leaves them alone.
	Skipped []SkippedBinding `json:"Skipped,omitempty"`
}

// ManifestBinding is one listener or rule of a manifest and the targets to
// put back on it, each with its weight.
type ManifestBinding struct {
	// Selector names the listener or rule, its rule by LocationId where
	// the drain resolved it.
	Selector clb.Selector `json:"Selector"`
	// Targets are the targets with their original weights (compact JSON).
	Targets clb.WeightedList `json:"Targets"`
}

// SkippedBinding is a binding a drain left alone, with the reason.
type SkippedBinding struct {
	// Selector names the listener or rule.
	Selector clb.Selector `json:"Selector"`
	// Targets are the targets left bound there.
	Targets clb.TargetList `json:"Targets"`
	// Why says why they were left, such as "gone during drain".
	Why string `json:"Why"`
}

// Manifest is the restore manifest of a drain's result: what it removed,
// with the weights it read before draining, under its resolved selector;
// targets found gone while draining are listed as skipped. workflowID is
// the drain's, recorded as the manifest's Source.
func (r DrainResult) Manifest(workflowID string) RestoreManifest {
	m := RestoreManifest{Source: workflowID, Reason: r.Reason, Bindings: []ManifestBinding{}}
	if len(r.Deregistered) > 0 {
		m.Bindings = append(m.Bindings, ManifestBinding{Selector: r.Selector, Targets: r.Deregistered})
	}
	if len(r.GoneDuringDrain) > 0 {
		m.Skipped = append(m.Skipped, SkippedBinding{Selector: r.Selector, Targets: r.GoneDuringDrain, Why: "gone during drain"})
	}
	return m
}
