package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Names and bounds of RestoreTargets.
const (
	// RestoreWorkflowName is the registered name of RestoreTargets.
	RestoreWorkflowName = "RestoreTargets"
	// RestoreIDPrefix starts every conventional restore workflow ID.
	RestoreIDPrefix = "clb-restore"
	// ErrUnhealthy is the ApplicationError type of a restore whose targets
	// were not all healthy within WaitHealthy; its message names them and
	// its details are the RestoreResult.
	ErrUnhealthy = "Unhealthy"
	// OnUnhealthyLeave leaves a target still unhealthy at the deadline
	// bound at weight 0 (the default).
	OnUnhealthyLeave = "leave"
	// OnUnhealthyDeregister unbinds a target still unhealthy at the
	// deadline again.
	OnUnhealthyDeregister = "deregister"
	// DefaultHealthPoll is how often the health gate reads health.
	DefaultHealthPoll = 5 * time.Second
	// MaxHealthReads bounds the health reads of a restore, all load
	// balancers together, over WaitHealthy: a longer gate, or more load
	// balancers, read less often than HealthPoll, so that the history
	// stays well within Temporal's limits.
	MaxHealthReads = 2000
	// MaxHealthReadTargets bounds the targets the health reads of a
	// restore name in all over WaitHealthy, each read naming those it
	// still waits for: a read that names many waits longer before the
	// next, so that a restore of MaxTargets keeps its history well within
	// Temporal's size limit.
	MaxHealthReadTargets = 120000
	// MinHealthPoll and MaxHealthPoll bound RestoreInput.HealthPoll.
	MinHealthPoll = time.Second
	MaxHealthPoll = 10 * time.Minute
	// MaxWaitHealthy bounds RestoreInput.WaitHealthy.
	MaxWaitHealthy = 24 * time.Hour
	// MaxRampSteps bounds RestoreInput.RampSteps.
	MaxRampSteps = 100
	// MaxRampChanges bounds RampSteps × the manifest's targets: every
	// step's weight changes are recorded in the history, so a restore of
	// 10,000 targets ramps in at most 10 steps, one of 1,000 in 100.
	MaxRampChanges = 100000
	// MaxRampInterval bounds RestoreInput.RampInterval.
	MaxRampInterval = 24 * time.Hour
	// MaxWeight is the highest forwarding weight.
	MaxWeight = 100
	// KindRestore is the SearchAttrKind of RestoreTargets.
	KindRestore = "restore"
)

// Phases of RestoreTargets, besides validating, done, cancelled and failed.
const (
	PhaseRegistering       Phase = "registering"
	PhaseHealthWait        Phase = "health-wait"
	PhaseRamping           Phase = "ramping"
	PhaseRemovingUnhealthy Phase = "removing-unhealthy"
)

// RestoreInput is the input of RestoreTargets. Add fields, never change or
// remove them.
type RestoreInput struct {
	// Manifest is what to put back: the bindings, each target with its
	// weight.
	Manifest RestoreManifest `json:"Manifest"`
	// WaitHealthy, when above zero, turns the health gate on: targets are
	// bound at weight 0, and each gets its weight once DescribeTargetHealth
	// reports it healthy; those still unhealthy WaitHealthy after their
	// load balancer's registration fail the restore with ErrUnhealthy. A
	// target whose original weight is 0 is not waited for: bound at 0, it
	// is back as it was.
	WaitHealthy time.Duration `json:"WaitHealthy,omitempty"`
	// OnUnhealthy is what becomes of a target still unhealthy at the
	// deadline: OnUnhealthyLeave (the default, "") or OnUnhealthyDeregister.
	OnUnhealthy string `json:"OnUnhealthy,omitempty"`
	// HealthPoll is how often health is read; 0 means DefaultHealthPoll.
	// It is at least WaitHealthy × load balancers / MaxHealthReads, and
	// WaitHealthy × load balancers × targets waited for /
	// MaxHealthReadTargets.
	HealthPoll time.Duration `json:"HealthPoll,omitempty"`
	// RampSteps, above 1, raises weights from 0 to the original in that
	// many steps, RampInterval apart (a durable timer); 0 or 1 sets the
	// original weight at once.
	RampSteps int `json:"RampSteps,omitempty"`
	// RampInterval is the time between two ramp steps.
	RampInterval time.Duration `json:"RampInterval,omitempty"`
	// Reason is recorded for audit; empty means the manifest's.
	Reason string `json:"Reason,omitempty"`
	// Requester is who asked for the restore, for audit.
	Requester string `json:"Requester,omitempty"`
}

// ramped reports whether the input ramps weights up.
func (in RestoreInput) ramped() bool { return in.RampSteps > 1 }

// gated reports whether the input waits for health.
func (in RestoreInput) gated() bool { return in.WaitHealthy > 0 }

// RestoreResult is the result of RestoreTargets (and the details of its
// ErrUnhealthy failure).
type RestoreResult struct {
	// Source is the manifest's Source.
	Source string `json:"Source,omitempty"`
	// Reason is the restore's reason.
	Reason string `json:"Reason,omitempty"`
	// Bindings are the manifest's bindings, in order, with what became of
	// each.
	Bindings []RestoredBinding `json:"Bindings"`
	// Skipped are the manifest's skipped bindings, untouched.
	Skipped []SkippedBinding `json:"Skipped,omitempty"`
	// Cancelled is true when the restore was cancelled before the end:
	// what was registered stays at the weight Registered lists.
	Cancelled bool `json:"Cancelled,omitempty"`
	// RampStep is the last ramp step applied (RampSteps once done).
	RampStep int `json:"RampStep,omitempty"`
	// Started and Finished bound the restore (workflow time).
	Started  time.Time `json:"Started"`
	Finished time.Time `json:"Finished"`
}

// RestoredBinding is what a restore did on one listener or rule.
type RestoredBinding struct {
	// Selector names the listener or rule, as the manifest does.
	Selector clb.Selector `json:"Selector"`
	// Registered are the targets this restore bound, each with the weight
	// it has now: its original weight once done; less (down to 0) when
	// unhealthy, or cut short by a cancel.
	Registered clb.WeightedList `json:"Registered,omitempty"`
	// AlreadyBound are targets found bound already (re-added by someone
	// else meanwhile), with the weight they had: left untouched.
	AlreadyBound clb.WeightedList `json:"AlreadyBound,omitempty"`
	// Unhealthy are targets registered and still not healthy at the
	// health gate's deadline.
	Unhealthy clb.TargetList `json:"Unhealthy,omitempty"`
	// Removed are unhealthy targets unbound again (OnUnhealthyDeregister).
	Removed clb.TargetList `json:"Removed,omitempty"`
}

// RestoreProgress is the answer of QueryProgress on RestoreTargets.
type RestoreProgress struct {
	Phase Phase `json:"Phase"`
	// TargetsTotal counts the manifest's targets; Registered those bound
	// by this restore, AlreadyBound those found bound; Healthy those
	// found healthy; AtWeight those at their original weight.
	TargetsTotal int `json:"TargetsTotal"`
	Registered   int `json:"Registered"`
	AlreadyBound int `json:"AlreadyBound"`
	Healthy      int `json:"Healthy"`
	AtWeight     int `json:"AtWeight"`
	// RampStep of RampSteps is where the ramp is.
	RampStep  int `json:"RampStep,omitempty"`
	RampSteps int `json:"RampSteps,omitempty"`
	// HealthUntil is the latest health deadline of a load balancer
	// waiting for health.
	HealthUntil time.Time `json:"HealthUntil,omitempty"`
	// WaitingFor says for whom a change waits on a load balancer.
	WaitingFor string `json:"WaitingFor,omitempty"`
	// LastError is the last error seen, retried or not.
	LastError string `json:"LastError,omitempty"`
}

// RestoreWorkflowID is the conventional workflow ID of a restore:
// clb-restore/<source> for a drain's manifest, so that two restores of
// one drain never run at once, and clb-restore/manifest-<hash> for a
// hand-written one, the hash being that of its bindings.
func RestoreWorkflowID(m RestoreManifest) string {
	if m.Source != "" {
		return RestoreIDPrefix + "/" + m.Source
	}
	var text strings.Builder
	for _, b := range m.Bindings {
		text.WriteString(b.Selector.String() + "\n")
		for _, t := range b.Targets {
			text.WriteString(t.String() + "\n")
		}
	}
	sum := sha256.Sum256([]byte(text.String()))
	return RestoreIDPrefix + "/manifest-" + hex.EncodeToString(sum[:8])
}

// RestoreChildOptions are the options for starting a restore as a child
// workflow: the conventional ID, the clb-drain task queue, and a parent
// close that asks the restore to cancel (it stops where it is) rather
// than terminating it.
func RestoreChildOptions(in RestoreInput) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID:          RestoreWorkflowID(in.Manifest),
		TaskQueue:           TaskQueue,
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       truncate(fmt.Sprintf("restore %d targets on %d bindings", in.Manifest.count(), len(in.Manifest.Bindings)), maxSummaryLen),
	}
}

// count is the number of targets of the manifest's bindings.
func (m RestoreManifest) count() int {
	n := 0
	for _, b := range m.Bindings {
		n += len(b.Targets)
	}
	return n
}

// ValidateRestore checks a RestoreInput as RestoreTargets does before any
// API call: at least one binding, each a valid selector named once, with
// 1 or more valid targets, each once, weights 0-MaxWeight, MaxTargets in
// all; WaitHealthy (0 to MaxWaitHealthy), OnUnhealthy (leave or
// deregister, the latter only with WaitHealthy), HealthPoll (0 or
// MinHealthPoll to MaxHealthPoll), RampSteps (0 to MaxRampSteps, and at
// most MaxRampChanges over the targets) and
// RampInterval (above 0 exactly when RampSteps is above 1, at most
// MaxRampInterval), Reason and Requester as DrainInput's. It returns nil
// or a *clb.ValidationError listing every problem.
func ValidateRestore(in RestoreInput) error {
	problems := validateManifest(in.Manifest)
	problems = append(problems, validateHealth(in)...)
	problems = append(problems, validateRamp(in)...)
	problems = append(problems, validateAudit(in.Reason, in.Requester)...)
	return clb.Err(problems)
}

// validateManifest checks the manifest's bindings.
func validateManifest(m RestoreManifest) []clb.Problem {
	if len(m.Bindings) == 0 {
		return []clb.Problem{{Field: "Manifest.Bindings", Value: "[]", Reason: "must list at least one listener or rule"}}
	}
	var out []clb.Problem
	seen := map[string]int{}
	for i, b := range m.Bindings {
		field := "Manifest.Bindings[" + strconv.Itoa(i) + "]"
		for _, p := range clb.ValidateSelector(b.Selector) {
			p.Field = field + ".Selector." + p.Field
			out = append(out, p)
		}
		key := b.Selector.String()
		if j, ok := seen[key]; ok {
			out = append(out, clb.Problem{Field: field + ".Selector", Value: key,
				Reason: "names the same listener or rule as Manifest.Bindings[" + strconv.Itoa(j) + "]"})
		}
		seen[key] = i
		out = append(out, validateWeighted(field+".Targets", b.Targets)...)
	}
	if n := m.count(); n > MaxTargets {
		out = append(out, clb.Problem{Field: "Manifest.Bindings", Value: strconv.Itoa(n) + " targets",
			Reason: "must hold at most " + strconv.Itoa(MaxTargets) + " targets in all"})
	}
	return out
}

// validateWeighted checks a binding's targets: valid, each once, weights
// 0-MaxWeight.
func validateWeighted(field string, targets clb.WeightedList) []clb.Problem {
	out := clb.ValidateTargets(field, clb.Unweighted(targets), 0)
	seen := map[string]bool{}
	for i, t := range targets {
		f := field + "[" + strconv.Itoa(i) + "]"
		if t.Weight < 0 || t.Weight > MaxWeight {
			out = append(out, clb.Problem{Field: f + ".Weight", Value: strconv.FormatInt(t.Weight, 10), Reason: "must be 0-100"})
		}
		if seen[t.Key()] {
			out = append(out, clb.Problem{Field: f, Value: t.Key(), Reason: "is listed twice for this listener or rule"})
		}
		seen[t.Key()] = true
	}
	return out
}

// validateHealth checks the health gate's settings.
func validateHealth(in RestoreInput) []clb.Problem {
	var out []clb.Problem
	if in.WaitHealthy < 0 || in.WaitHealthy > MaxWaitHealthy {
		out = append(out, clb.Problem{Field: "WaitHealthy", Value: in.WaitHealthy.String(),
			Reason: "must be 0 (no health gate) to " + MaxWaitHealthy.String()})
	}
	switch in.OnUnhealthy {
	case "", OnUnhealthyLeave:
	case OnUnhealthyDeregister:
		if in.WaitHealthy == 0 {
			out = append(out, clb.Problem{Field: "OnUnhealthy", Value: in.OnUnhealthy, Reason: "needs WaitHealthy above 0 (the health gate)"})
		}
	default:
		out = append(out, clb.Problem{Field: "OnUnhealthy", Value: in.OnUnhealthy, Reason: "must be leave or deregister"})
	}
	if in.HealthPoll != 0 && (in.HealthPoll < MinHealthPoll || in.HealthPoll > MaxHealthPoll) {
		out = append(out, clb.Problem{Field: "HealthPoll", Value: in.HealthPoll.String(),
			Reason: "must be 0 (the default, " + DefaultHealthPoll.String() + ") or " + MinHealthPoll.String() + " to " + MaxHealthPoll.String()})
	}
	return out
}

// validateRamp checks the ramp's settings.
func validateRamp(in RestoreInput) []clb.Problem {
	var out []clb.Problem
	n := in.Manifest.count()
	switch {
	case in.RampSteps < 0 || in.RampSteps > MaxRampSteps:
		out = append(out, clb.Problem{Field: "RampSteps", Value: strconv.Itoa(in.RampSteps),
			Reason: "must be 0 (no ramp) to " + strconv.Itoa(MaxRampSteps)})
	case in.RampSteps > 1 && in.RampSteps*n > MaxRampChanges:
		out = append(out, clb.Problem{Field: "RampSteps", Value: strconv.Itoa(in.RampSteps),
			Reason: fmt.Sprintf("must be at most %d for %d targets (steps × targets at most %d, each step's changes being recorded)",
				MaxRampChanges/n, n, MaxRampChanges)})
	}
	switch {
	case in.RampInterval < 0 || in.RampInterval > MaxRampInterval:
		out = append(out, clb.Problem{Field: "RampInterval", Value: in.RampInterval.String(),
			Reason: "must be 0 to " + MaxRampInterval.String()})
	case in.RampSteps > 1 && in.RampInterval == 0:
		out = append(out, clb.Problem{Field: "RampInterval", Value: "0s", Reason: "must be above 0 when RampSteps is above 1"})
	case in.RampSteps <= 1 && in.RampInterval > 0:
		out = append(out, clb.Problem{Field: "RampInterval", Value: in.RampInterval.String(), Reason: "needs RampSteps above 1"})
	}
	return out
}
