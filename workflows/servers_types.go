package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// Names of DrainServers, for the worker, the starter and calling workflows.
const (
	// ServersWorkflowName is the registered name of DrainServers.
	ServersWorkflowName = "DrainServers"
	// ServersIDPrefix starts the conventional workflow ID of a DrainServers
	// (ServersWorkflowID).
	ServersIDPrefix = WorkflowIDPrefix + "-servers/"
	// PlanIDPrefix starts the workflow ID of a PlanOnly DrainServers, which
	// the starter makes unique: a plan never waits for a running drain.
	PlanIDPrefix = WorkflowIDPrefix + "-plan/"
	// UpdateApprove is the Update that approves a plan (ApprovalInput).
	UpdateApprove = "approve"
	// UpdateReject is the Update that rejects a plan (ApprovalInput).
	UpdateReject = "reject"
	// ErrCapacityGuard is the ApplicationError type of a plan that would
	// leave a listener or rule with too little capacity; its details are
	// the []GuardViolation.
	ErrCapacityGuard = "CapacityGuard"
	// ErrRejected is the ApplicationError type of a plan rejected by its
	// reviewer.
	ErrRejected = "Rejected"
	// ErrApprovalTimeout is the ApplicationError type of a server drain
	// whose plan got no decision within its ApprovalTimeout: nothing was
	// changed, and its claims on the servers are released.
	ErrApprovalTimeout = "ApprovalTimeout"
	// ErrPlanChanged is the ApplicationError type of bindings that changed
	// between the approved plan and the re-read before acting; its message
	// says how.
	ErrPlanChanged = "PlanChanged"
	// ErrBindingsFailed is the ApplicationError type of a server drain that
	// could not remove every binding; its details are the ServersResult,
	// which says per binding what was done.
	ErrBindingsFailed = "BindingsFailed"
	// ErrPlanTooLarge is the ApplicationError type of a plan with more
	// than MaxPlanBindings listeners or rules: one workflow's result and
	// history cannot hold it.
	ErrPlanTooLarge = "PlanTooLarge"
	// KindServers is the ClbKind search attribute of DrainServers, and
	// KindPlan of a PlanOnly one.
	KindServers = "servers"
	KindPlan    = "plan"
)

// DrainServers bounds and defaults.
const (
	// DefaultMaxParallel is how many load balancers are worked on at once
	// when ServersInput.MaxParallel is 0; MaxMaxParallel is its bound.
	DefaultMaxParallel = 10
	MaxMaxParallel     = 50
	// DefaultApprovalTimeout is how long a server drain waits for a
	// decision on its plan when ServersInput.ApprovalTimeout is 0;
	// MaxApprovalTimeout is the longest it may be given.
	DefaultApprovalTimeout = 24 * time.Hour
	MaxApprovalTimeout     = 30 * 24 * time.Hour
	// MaxServers is the most servers one DrainServers takes.
	MaxServers = 200
	// MaxScope is the most load balancer IDs a scope lists.
	MaxScope = 1000
	// MaxPlanBindings is the most listeners and rules one DrainServers
	// drains: each is a child drain in its history, and the plan is in its
	// result, which Temporal bounds (2 MB).
	MaxPlanBindings = 1000
	// maxIDServers is the longest list of servers spelled out in a
	// workflow ID; a longer one is hashed.
	maxIDServers = 200
	// lbsPerFind is how many load balancers one FindBindings searches: a
	// failed read makes it read them all again, so few.
	lbsPerFind = 2
	// childrenPerLB is how many child drains of one load balancer run at
	// once: one changing it, the next one starting and reading meanwhile.
	childrenPerLB = 2
	// childWaitFirst is how long a child drain whose start was refused,
	// a drain running under its conventional ID, waits before starting
	// again; each wait doubles, up to childWaitEvery, so that a long wait
	// adds few events to the history. childWaitLimit bounds the whole
	// wait of one binding: past it, the binding fails and its weights
	// are given back.
	childWaitFirst = 5 * time.Second
	childWaitEvery = time.Minute
	childWaitLimit = time.Hour
)

// Phases of DrainServers beyond DrainAndDeregister's.
const (
	PhaseDiscovering Phase = "discovering"
	PhaseAwaiting    Phase = "awaiting-approval"
	PhaseRechecking  Phase = "rechecking"
	PhaseRejected    Phase = "rejected"
)

// Guards bound what a server drain may leave of each listener or rule. They
// are checked on the plan before any change.
type Guards struct {
	// MinRemaining is how many targets with weight > 0 each listener or
	// rule must keep; 0 means 1.
	MinRemaining int `json:"MinRemaining,omitempty"`
	// MinRemainingPercent is the share of its weight (0-100) each must keep.
	MinRemainingPercent float64 `json:"MinRemainingPercent,omitempty"`
	// AllowEmpty lifts both guards: a listener or rule may be left empty.
	AllowEmpty bool `json:"AllowEmpty,omitempty"`
}

// ServersInput is the input of DrainServers. Add fields, never change or
// remove them.
type ServersInput struct {
	// Servers are the servers to take out, by InstanceId or private IP,
	// each on one port or on every port.
	Servers []clb.Server `json:"Servers"`
	// LoadBalancerIds is the scope; empty means every load balancer of the
	// worker's region.
	LoadBalancerIds []string `json:"LoadBalancerIds,omitempty"`
	// CVMOnly says the servers named by IP are bound as CVMs only, never as
	// ENI targets: a region-wide search of servers all named by IP then
	// narrows with DescribeLoadBalancers' backend filter, which sees CVM
	// targets only.
	CVMOnly bool `json:"CVMOnly,omitempty"`
	// DrainDelay, above zero, sets weight 0 on every binding first and
	// waits this long once before deregistering.
	DrainDelay time.Duration `json:"DrainDelay,omitempty"`
	// Reason and Requester are recorded for audit and passed to each child.
	Reason    string `json:"Reason,omitempty"`
	Requester string `json:"Requester,omitempty"`
	// Guards bound what each listener or rule keeps.
	Guards Guards `json:"Guards"`
	// MaxParallel is how many load balancers are worked on at once; 0
	// means DefaultMaxParallel.
	MaxParallel int `json:"MaxParallel,omitempty"`
	// Approval makes the workflow wait, after the plan, for an approve or
	// reject Update.
	Approval bool `json:"Approval,omitempty"`
	// ApprovalTimeout bounds that wait: with no decision by then the
	// workflow fails with ErrApprovalTimeout, having changed nothing. 0
	// means DefaultApprovalTimeout; at most MaxApprovalTimeout, and only
	// with Approval.
	ApprovalTimeout time.Duration `json:"ApprovalTimeout,omitempty"`
	// PlanOnly ends the workflow once the plan is made, changing nothing:
	// its result has the plan and the guards' Violations, and no bindings.
	PlanOnly bool `json:"PlanOnly,omitempty"`
}

// PlanBinding is one listener or rule of a plan: the servers' targets to
// remove there with their weights, what stays, the listener's attributes,
// and the warnings they call for given the drain delay.
type PlanBinding struct {
	activities.Found
	// Warnings are clb.DrainWarnings of the listener.
	Warnings []string `json:"Warnings,omitempty"`
}

// PlanLoadBalancer is the plan of one load balancer.
type PlanLoadBalancer struct {
	// LoadBalancerId is the load balancer.
	LoadBalancerId string `json:"LoadBalancerId"`
	// Bindings are its listeners and rules where the servers are bound,
	// in the API's order.
	Bindings []PlanBinding `json:"Bindings"`
}

// Plan is what a server drain will do: per load balancer, per listener or
// rule, the targets to remove. ID names its removals and their weights: a
// plan read again with the same ID removes the same targets.
type Plan struct {
	// ID is "plan-" and a hash of the removals with their weights.
	ID string `json:"Id"`
	// Servers are the input's servers.
	Servers []clb.Server `json:"Servers"`
	// LoadBalancers are those where the servers are bound, in the order
	// they were listed.
	LoadBalancers []PlanLoadBalancer `json:"LoadBalancers"`
	// Bindings and Targets count the listeners or rules and the targets.
	Bindings int `json:"Bindings"`
	Targets  int `json:"Targets"`
	// Searched counts the load balancers searched; Classic are classic load
	// balancers in scope, left out.
	Searched int      `json:"Searched"`
	Classic  []string `json:"Classic,omitempty"`
}

// GuardViolation is a listener or rule a plan would leave below a guard.
type GuardViolation struct {
	// Selector names the listener or rule.
	Selector clb.Selector `json:"Selector"`
	// Why says which guard and by how much.
	Why string `json:"Why"`
}

// ApprovalInput is the argument of the approve and reject Updates.
type ApprovalInput struct {
	// PlanID is the ID of the plan reviewed: an approval of another plan
	// than the current one is refused.
	PlanID string `json:"PlanId"`
	// By is who decides; required.
	By string `json:"By"`
	// Comment is optional.
	Comment string `json:"Comment,omitempty"`
}

// Approval is the decision taken on a plan.
type Approval struct {
	// Approved is true for an approval, false for a rejection.
	Approved bool `json:"Approved"`
	// PlanID is the plan decided on; By and Comment the Update's.
	PlanID  string `json:"PlanId"`
	By      string `json:"By"`
	Comment string `json:"Comment,omitempty"`
	// At is when the decision came (workflow time).
	At time.Time `json:"At"`
}

// Outcomes of a binding in a server drain.
const (
	BindingRemoved    = "removed"
	BindingFailed     = "failed"
	BindingCancelled  = "cancelled"
	BindingNotStarted = "not-started"
)

// BindingOutcome says what a server drain did on one listener or rule.
type BindingOutcome struct {
	// Selector names the listener or rule.
	Selector clb.Selector `json:"Selector"`
	// WorkflowID is the child drain's conventional ID.
	WorkflowID string `json:"WorkflowId"`
	// Outcome is one of the Binding* constants.
	Outcome string `json:"Outcome"`
	// Removed counts targets removed; LeftAtZero those left bound at weight
	// 0 (a failure); Restored those given their weight back (a cancel).
	Removed    int `json:"Removed"`
	LeftAtZero int `json:"LeftAtZero,omitempty"`
	Restored   int `json:"Restored,omitempty"`
	// Error is why it failed.
	Error string `json:"Error,omitempty"`
}

// ServersResult is the result of DrainServers. Its RestoreManifest (JSON
// fields at the top level) is what a restore takes: every binding removed
// with its weight from the plan, and what was skipped and why.
type ServersResult struct {
	RestoreManifest
	// Plan is the plan acted on.
	Plan Plan `json:"Plan"`
	// Violations are the guards the plan breaks (PlanOnly; otherwise a
	// violation fails the workflow with ErrCapacityGuard).
	Violations []GuardViolation `json:"Violations,omitempty"`
	// Outcomes are per binding, in plan order.
	Outcomes []BindingOutcome `json:"Outcomes"`
	// Approval is the decision, when one was asked for.
	Approval *Approval `json:"Approval,omitempty"`
	// Cancelled is true when the drain was cancelled; RestoreError is the
	// last error met giving weights back then.
	Cancelled    bool   `json:"Cancelled,omitempty"`
	RestoreError string `json:"RestoreError,omitempty"`
	// Started and Finished bound it (workflow time).
	Started  time.Time `json:"Started"`
	Finished time.Time `json:"Finished"`
}

// ServersProgress is the answer of DrainServers' progress query.
type ServersProgress struct {
	// Phase is where the drain is.
	Phase Phase `json:"Phase"`
	// Plan is known once discovery is done.
	Plan *Plan `json:"Plan,omitempty"`
	// Approval is the decision, once taken.
	Approval *Approval `json:"Approval,omitempty"`
	// BindingsDone counts bindings finished (removed or failed) of
	// BindingsTotal; LoadBalancersDone likewise.
	BindingsDone       int `json:"BindingsDone"`
	BindingsTotal      int `json:"BindingsTotal"`
	LoadBalancersDone  int `json:"LoadBalancersDone"`
	LoadBalancersTotal int `json:"LoadBalancersTotal"`
	// TargetsDone counts targets removed so far.
	TargetsDone  int `json:"TargetsDone"`
	TargetsTotal int `json:"TargetsTotal"`
	// DrainUntil is when the drain delay ends, in the drain-wait phase.
	DrainUntil time.Time `json:"DrainUntil,omitempty"`
	// LastError is the last error seen.
	LastError string `json:"LastError,omitempty"`
	// WaitingFor, while a binding's child drain waits for a drain already
	// running under its conventional ID, says "waiting for" and that
	// workflow ID (several, comma-separated).
	WaitingFor string `json:"WaitingFor,omitempty"`
}

// ServersWorkflowID is the conventional workflow ID of a DrainServers of
// servers: ServersIDPrefix and the servers, sorted, joined by commas (a
// SHA-256 of them when long), each its host (instance ID or IP) with
// ":port" when it has one, an IPv6 host then in brackets. Two drains of the same servers
// share it, so Temporal refuses to run them at once; drains of overlapping
// sets meet on their children's conventional IDs instead.
func ServersWorkflowID(servers []clb.Server) string {
	keys := make([]string, len(servers))
	for i, s := range servers {
		keys[i] = s.Host()
		switch {
		case s.Port != 0 && strings.Contains(keys[i], ":"):
			keys[i] = "[" + keys[i] + "]:" + strconv.FormatInt(s.Port, 10)
		case s.Port != 0:
			keys[i] += ":" + strconv.FormatInt(s.Port, 10)
		}
	}
	slices.Sort(keys)
	joined := strings.Join(keys, ",")
	if len(joined) > maxIDServers {
		sum := sha256.Sum256([]byte(joined))
		joined = "sha256-" + hex.EncodeToString(sum[:12])
	}
	return ServersIDPrefix + joined
}

// ServersChildOptions are the options for starting DrainServers as a child
// workflow (pass them to workflow.WithChildOptions, and start it by
// ServersWorkflowName): its conventional ID, so that it never runs beside
// another drain of the same servers, the clb-drain task queue, and a parent
// close that asks it to cancel (it gives back the weights it set) rather
// than terminating it, which a cancelling parent waits for.
func ServersChildOptions(in ServersInput) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID:          ServersWorkflowID(in.Servers),
		TaskQueue:           TaskQueue,
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("take %d server(s) out", len(in.Servers)),
	}
}
