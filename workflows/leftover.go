package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// ErrDrainFailed is the ApplicationError type of a drain that failed, with
// targets left at weight 0, on an error that has no type of its own (a
// timeout).
const ErrDrainFailed = "DrainFailed"

// FailureDetails is the first detail of the error a drain fails with when
// it leaves targets at weight 0: the error keeps the type of what failed
// (the Tencent code, or one of ours), wraps it, and carries what an
// operator, or a restore, needs to put the weights back. LeftAtZeroOf reads
// it from an error.
type FailureDetails struct {
	// Selector is the listener or rule, with the rule's LocationId.
	Selector clb.Selector `json:"Selector"`
	// LeftAtZero are the targets this drain set to weight 0 (or may have:
	// a call cut short may have been applied) and did not deregister,
	// each with its weight from before the drain.
	LeftAtZero clb.WeightedList `json:"LeftAtZero"`
	// Deregistered are the targets this drain (its earlier runs included)
	// had deregistered before it failed, each with its weight from before
	// the drain: what a restore puts back (Manifest).
	Deregistered clb.WeightedList `json:"Deregistered,omitempty"`
}

// Manifest is the restore manifest of what the failed drain workflowID
// deregistered; it has no bindings when the drain deregistered nothing.
func (fd FailureDetails) Manifest(workflowID string) RestoreManifest {
	return DrainResult{Selector: fd.Selector, Deregistered: fd.Deregistered}.Manifest(workflowID)
}

// FailureDetailsOf returns the FailureDetails of a failed drain's error (as
// the client returns it, or the error of a child), and whether it had any
// naming targets left at weight 0 or deregistered.
func FailureDetailsOf(err error) (FailureDetails, bool) {
	for err != nil {
		var fd FailureDetails
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			return fd, false
		}
		if appErr.HasDetails() && appErr.Details(&fd) == nil && len(fd.LeftAtZero)+len(fd.Deregistered) > 0 {
			return fd, true
		}
		err = appErr.Unwrap()
	}
	return FailureDetails{}, false
}

// LeftAtZeroOf returns the FailureDetails of a failed drain's error (as
// the client returns it: a WorkflowExecutionError, or the error of a
// child), and whether it had any.
func LeftAtZeroOf(err error) (FailureDetails, bool) {
	var fd FailureDetails
	for err != nil {
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			return fd, false
		}
		if appErr.HasDetails() && appErr.Details(&fd) == nil && len(fd.LeftAtZero) > 0 {
			return fd, true
		}
		err = appErr.Unwrap()
	}
	return fd, false
}

// leftAtZero are the targets still to go that this drain set to weight 0,
// with their weights from before the drain.
func (d *drain) leftAtZero() []clb.WeightedTarget {
	var out []clb.WeightedTarget
	for _, t := range d.toGo {
		if d.drained[t.Key()] {
			out = append(out, t)
		}
	}
	return out
}

// withLeftAtZero wraps the error a drain fails with when it leaves targets
// at weight 0, or has deregistered some, so that its details name them
// with their weights.
func (d *drain) withLeftAtZero(err error) error {
	left := d.leftAtZero()
	gone := d.result.Deregistered
	if len(left) == 0 && len(gone) == 0 {
		return err
	}
	typ := ErrDrainFailed
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		typ = appErr.Type()
	}
	var msg string
	switch {
	case len(gone) == 0:
		msg = fmt.Sprintf("drain of %s failed leaving %d targets at weight 0 (their weights from before: details LeftAtZero)",
			d.sel, len(left))
	case len(left) == 0:
		msg = fmt.Sprintf("drain of %s failed after deregistering %d targets (their weights from before: details Deregistered)",
			d.sel, len(gone))
	default:
		msg = fmt.Sprintf("drain of %s failed leaving %d targets at weight 0 (their weights from before: details LeftAtZero), after deregistering %d (details Deregistered)",
			d.sel, len(left), len(gone))
	}
	return temporal.NewNonRetryableApplicationError(msg, typ, err, FailureDetails{Selector: d.sel, LeftAtZero: left, Deregistered: gone})
}

// goneDuringDrain takes targets found unbound while their weight was set
// (removed by someone else) out of the drain: there is nothing left to
// deregister or restore; the result lists them in GoneDuringDrain.
func (d *drain) goneDuringDrain(gone []clb.WeightedTarget) {
	if len(gone) == 0 {
		return
	}
	listed := make(map[string]bool, len(d.result.GoneDuringDrain))
	for _, t := range d.result.GoneDuringDrain {
		listed[t.Key()] = true
	}
	isGone := make(map[string]bool, len(gone))
	for _, t := range gone {
		isGone[t.Key()] = true
		delete(d.drained, t.Key())
		// A weight change sent again reports a target it skipped again.
		if !listed[t.Key()] {
			listed[t.Key()] = true
			d.result.GoneDuringDrain = append(d.result.GoneDuringDrain, t.Target)
		}
	}
	kept := d.toGo[:0:0]
	for _, t := range d.toGo {
		if !isGone[t.Key()] {
			kept = append(kept, t)
		}
	}
	d.toGo = kept
	d.log.Warn("targets unbound by someone else during the drain phase", "selector", d.sel.String(), "gone", len(gone))
}

// resumed sets, in a continued run, the targets to go and those drained
// from the resume state, before the snapshot: a run cancelled or failed
// before its snapshot completes still restores, or reports, the weights
// the earlier runs set to 0.
func (d *drain) resumed() {
	r := d.in.Resume
	if r == nil {
		return
	}
	weights := r.weights()
	for _, t := range d.targets {
		w, known := weights[t.Key()]
		if !known {
			continue
		}
		d.toGo = append(d.toGo, clb.WeightedTarget{Target: t, Weight: w})
		if r.Drained && w > 0 {
			d.drained[t.Key()] = true
		}
	}
}
