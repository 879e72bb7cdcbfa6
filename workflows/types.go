// Package workflows holds the DrainAndDeregister workflow, its input and
// result types, and the names a caller needs to start, watch or embed it.
// Everything here is deterministic workflow code.
package workflows

import (
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// Names shared by the worker, the starter and calling workflows.
const (
	// WorkflowName is the registered name of DrainAndDeregister.
	WorkflowName = "DrainAndDeregister"
	// TaskQueue is the default task queue of the workflow and its
	// read-only activities.
	TaskQueue = "clb-drain"
	// MutationsQueueSuffix is appended to the workflow's task queue to
	// name the queue of the mutating activities (DeregisterTargets,
	// SetWeight, SetWeights), which the worker rate-limits for the whole
	// fleet.
	MutationsQueueSuffix = "-mutations"
	// QueryProgress is the query that returns a Progress.
	QueryProgress = "progress"
	// ErrInvalidInput is the ApplicationError type of a rejected input.
	ErrInvalidInput = activities.ErrInvalidInput
	// ErrTaskFailed is the ApplicationError type of a CLB task that kept
	// ending with Status 1.
	ErrTaskFailed = activities.ErrTaskFailed
	// ErrTaskUnknown is the ApplicationError type of a CLB task that
	// DescribeTaskStatus kept not knowing (its id expired) although the
	// change was re-checked and sent again MaxTaskRetries times.
	ErrTaskUnknown = activities.ErrTaskUnknown
	// ErrNoRule is the ApplicationError type of a layer-7 listener given
	// without a rule, or of a rule that does not exist.
	ErrNoRule = activities.ErrNoRule
	// ErrNoListener is the ApplicationError type of a listener the load
	// balancer does not have.
	ErrNoListener = activities.ErrNoListener
	// WorkflowIDPrefix starts every conventional workflow ID.
	WorkflowIDPrefix = "clb-drain"
)

// Input bounds.
const (
	// MaxChunkSize is the most targets in one DeregisterTargets call.
	MaxChunkSize = clb.MaxTargetsPerCall
	// MaxTargets is the most targets one drain accepts.
	MaxTargets = 10000
	// MaxDrainDelay is the longest drain phase accepted.
	MaxDrainDelay = 24 * time.Hour
	// MaxReasonLen bounds the audit reason.
	MaxReasonLen = 1024
	// DefaultChunksPerRun keeps a run's history near 1,200 events.
	DefaultChunksPerRun = 100
	// MaxTaskRetries bounds how many times a chunk (or a weight change) is
	// sent again after its CLB task ended with Status 1 or was unknown to
	// DescribeTaskStatus, before the drain fails with ErrTaskFailed or
	// ErrTaskUnknown.
	MaxTaskRetries = 3
)

// DrainInput is the input of DrainAndDeregister. Add fields, never change
// or remove them: running workflows and their callers depend on them.
type DrainInput struct {
	// Selector names the listener and, on a layer-7 listener, the rule:
	// LoadBalancerId, ListenerId, and LocationId or Domain+Url (LocationId
	// wins). Its fields sit at the top level of the JSON.
	clb.Selector
	// Targets are the real servers to remove. Exact duplicates are merged.
	Targets []clb.Target `json:"Targets"`
	// DrainDelay, when above zero, sets weight 0 on the targets first and
	// waits this long (a durable timer) before deregistering them.
	DrainDelay time.Duration `json:"DrainDelay,omitempty"`
	// ChunkSize is the most targets per DeregisterTargets call; 0 means
	// MaxChunkSize, which is also its upper bound.
	ChunkSize int `json:"ChunkSize,omitempty"`
	// Reason is recorded in the result for audit (a ticket, a release).
	Reason string `json:"Reason,omitempty"`
	// ChunksPerRun bounds the chunks one workflow run handles before it
	// continues as new (sooner if Temporal suggests it); 0 means
	// DefaultChunksPerRun.
	ChunksPerRun int `json:"ChunksPerRun,omitempty"`
	// Requester is who asked for the drain (a user name), recorded in the
	// ClbRequester search attribute for audit; at most MaxRequesterLen
	// characters. A parent passes its own requester on.
	Requester string `json:"Requester,omitempty"`
	// Resume carries the work already done across continue-as-new.
	// Callers leave it nil.
	Resume *ResumeState `json:"Resume,omitempty"`
}

// ResumeState is what a run hands to the next one on continue-as-new.
type ResumeState struct {
	// Result is the result accumulated so far.
	Result DrainResult `json:"Result"`
	// Remaining are the targets still to go, each with its weight before
	// the drain (for the result, and for restoring it on cancellation).
	// The next run takes its targets from here, not from Targets.
	Remaining clb.WeightedList `json:"Remaining,omitempty"`
	// OriginalWeights, by Target.Key, is how earlier versions carried the
	// weights of the targets still to go (in Targets); read, never written.
	OriginalWeights map[string]int64 `json:"OriginalWeights,omitempty"`
	// Drained is true once the drain phase (weights and delay) is done.
	Drained bool `json:"Drained"`
}

// weights are the weights before the drain of the targets still to go, by
// Target.Key; nil for a first run.
func (r *ResumeState) weights() map[string]int64 {
	if r == nil {
		return nil
	}
	if len(r.Remaining) == 0 {
		return r.OriginalWeights
	}
	out := make(map[string]int64, len(r.Remaining))
	for _, t := range r.Remaining {
		out[t.Key()] = t.Weight
	}
	return out
}

// Chunk outcomes.
const (
	OutcomeDeregistered  = "deregistered"
	OutcomeAlreadyAbsent = "already-absent"
	OutcomeFailed        = "failed"
	OutcomeAbandoned     = "abandoned"
)

// ChunkResult reports one chunk of at most ChunkSize targets.
type ChunkResult struct {
	// Index is the chunk's number, from 0, over the whole drain.
	Index int `json:"Index"`
	// Size is the number of the chunk's targets; DrainResult lists them.
	Size int `json:"Size"`
	// RequestID is the DeregisterTargets RequestId (the task id) of the
	// attempt that removed them; empty when nothing was left to send.
	RequestID string `json:"RequestId,omitempty"`
	// Attempts counts DeregisterTargets activity attempts, retries included.
	Attempts int `json:"Attempts"`
	// TaskRetries counts re-deregistrations after a task ended with Status 1.
	TaskRetries int `json:"TaskRetries,omitempty"`
	// Polls counts DescribeTaskStatus calls spent waiting on its tasks.
	Polls int `json:"Polls"`
	// Started and Finished bound the chunk (workflow time).
	Started  time.Time `json:"Started"`
	Finished time.Time `json:"Finished"`
	// DeregisterDuration is the time in DeregisterTargets, WaitDuration
	// the time waiting for its task.
	DeregisterDuration time.Duration `json:"DeregisterDuration"`
	WaitDuration       time.Duration `json:"WaitDuration"`
	// Outcome is one of the Outcome* constants.
	Outcome string `json:"Outcome"`
	// Gone counts targets of the chunk found unbound when re-checked
	// (removed by an attempt whose answer was lost, or by someone else);
	// they count as deregistered.
	Gone int `json:"Gone,omitempty"`
	// Error is the last error, for a failed or abandoned chunk.
	Error string `json:"Error,omitempty"`
}

// DrainResult is the result of DrainAndDeregister.
type DrainResult struct {
	// Selector is the listener or rule, with the rule's LocationId
	// resolved when it was named by Domain+Url.
	Selector clb.Selector `json:"Selector"`
	// Protocol is the listener's protocol.
	Protocol string `json:"Protocol,omitempty"`
	// Reason is the input's Reason.
	Reason string `json:"Reason,omitempty"`
	// Requested counts the distinct targets asked for; DuplicatesMerged
	// the exact duplicates dropped from the input.
	Requested        int `json:"Requested"`
	DuplicatesMerged int `json:"DuplicatesMerged,omitempty"`
	// Chunks are the chunks in order.
	Chunks []ChunkResult `json:"Chunks"`
	// Deregistered are the targets this drain removed, each with its weight
	// before the drain: what a restore puts back. Each target is listed once
	// in the whole result (compact JSON, see clb.WeightedList).
	Deregistered clb.WeightedList `json:"Deregistered"`
	// AlreadyAbsent are targets asked for that were not bound.
	AlreadyAbsent clb.TargetList `json:"AlreadyAbsent,omitempty"`
	// Renamed pairs each target asked for in another spelling than its
	// binding's (an EniIp naming a CVM binding's private IP, an address
	// written another way) with the binding's own: every call sent, and
	// every other list of the result, names the target as it is bound.
	// Spellings of one binding beyond the first count in DuplicatesMerged.
	// Only the first activities.MaxRenamedListed pairs are listed, so that
	// the result stays small; RenamedCount counts them all.
	Renamed []clb.Renamed `json:"Renamed,omitempty"`
	// RenamedCount counts the targets asked for in another spelling than
	// their binding's, listed in Renamed or not.
	RenamedCount int `json:"RenamedCount,omitempty"`
	// Drained are the targets whose weight was set to 0.
	Drained int `json:"Drained,omitempty"`
	// GoneDuringDrain are targets bound at the snapshot that were found
	// unbound when their weight was to be set to 0: removed by someone else
	// during the drain phase. This drain neither deregistered nor
	// restored them.
	GoneDuringDrain clb.TargetList `json:"GoneDuringDrain,omitempty"`
	// Restored are targets whose weights were put back after cancellation,
	// with those weights.
	Restored clb.WeightedList `json:"Restored,omitempty"`
	// RestoreError is the last error met while restoring weights after
	// cancellation; drained targets missing from Restored kept weight 0.
	RestoreError string `json:"RestoreError,omitempty"`
	// Cancelled is true when the drain was cancelled before the end.
	Cancelled bool `json:"Cancelled,omitempty"`
	// Runs counts workflow runs (continue-as-new adds one).
	Runs int `json:"Runs"`
	// Listener are the listener's attributes at the latest snapshot
	// (DeregisterTargetRst, IdleConnectTimeout, SessionExpireTime; no
	// rules); nil when they could not be read, or from earlier versions.
	Listener *clb.ListenerAttributes `json:"Listener,omitempty"`
	// Warnings say what the drain does to live connections given those
	// attributes and the drain delay (clb.DrainWarnings).
	Warnings []string `json:"Warnings,omitempty"`
	// Started and Finished bound the whole drain (workflow time).
	Started  time.Time `json:"Started"`
	Finished time.Time `json:"Finished"`
}

// Phase is where a drain is.
type Phase string

// Phases, in order.
const (
	PhaseValidating    Phase = "validating"
	PhaseSnapshot      Phase = "snapshot"
	PhaseDraining      Phase = "draining"
	PhaseDrainWait     Phase = "drain-wait"
	PhaseDeregistering Phase = "deregistering"
	PhaseRestoring     Phase = "restoring"
	PhaseDone          Phase = "done"
	PhaseCancelled     Phase = "cancelled"
	PhaseFailed        Phase = "failed"
)

// Progress is the answer of the progress query.
type Progress struct {
	Phase        Phase `json:"Phase"`
	ChunksDone   int   `json:"ChunksDone"`
	ChunksTotal  int   `json:"ChunksTotal"`
	TargetsDone  int   `json:"TargetsDone"`
	TargetsTotal int   `json:"TargetsTotal"`
	// AlreadyAbsent counts requested targets that were not bound.
	AlreadyAbsent int `json:"AlreadyAbsent"`
	// CurrentChunk is the index of the chunk in flight, -1 when none.
	CurrentChunk int `json:"CurrentChunk"`
	// CurrentTaskID is the CLB task being waited on, if any.
	CurrentTaskID string `json:"CurrentTaskId,omitempty"`
	// DrainUntil is when the drain timer fires, in the drain-wait phase.
	DrainUntil time.Time `json:"DrainUntil,omitempty"`
	// LastError is the last error seen, retried or not.
	LastError string `json:"LastError,omitempty"`
	// WaitingFor says, while a change waits for its turn on the load
	// balancer, for whom: "waiting for lb-… held by <workflow ID>".
	WaitingFor string `json:"WaitingFor,omitempty"`
	// Run is the run number (1 for the first, +1 per continue-as-new).
	Run int `json:"Run"`
	// Warnings are DrainResult.Warnings, known once the snapshot is taken.
	Warnings []string `json:"Warnings,omitempty"`
}

// WorkflowID is the conventional workflow ID of a drain:
// clb-drain/<lb>/<listener>[/<rule>], where rule is a LocationId or
// Domain+Url. Two drains of the same listener or rule share it, so Temporal
// refuses to run them at once.
func WorkflowID(loadBalancerID, listenerID, rule string) string {
	id := WorkflowIDPrefix + "/" + loadBalancerID + "/" + listenerID
	if rule != "" {
		id += "/" + rule
	}
	return id
}

// WorkflowIDFor is WorkflowID for an input: the rule part is the
// LocationId, else Domain+Url with the domain in lower case (host names
// ignore case, so one rule gets one ID however its domain is written).
func WorkflowIDFor(in DrainInput) string {
	rule := in.LocationId
	if rule == "" && (in.Domain != "" || in.Url != "") {
		rule = strings.TrimSuffix(strings.ToLower(in.Domain)+in.Url, "/")
	}
	return WorkflowID(in.LoadBalancerId, in.ListenerId, rule)
}

// ChildOptions are the options for starting a drain as a child workflow
// (pass them to workflow.WithChildOptions; the README shows a caller): the
// conventional ID, the clb-drain task queue, and a parent close that asks
// the drain to cancel (it finishes its chunk and restores drained weights)
// rather than terminating it, which a cancelling parent waits for.
func ChildOptions(in DrainInput) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID:          WorkflowIDFor(in),
		TaskQueue:           TaskQueue,
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       Summary(in),
		StaticDetails:       Details(in),
	}
}
