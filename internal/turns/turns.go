// Package turns holds the names and payloads of clbdrain's turn-taking on a
// load balancer: the LoadBalancerTurns workflow (package workflows) grants
// one turn at a time per load balancer, first come first served, to the
// activities that change it; Client asks for, renews and hands back turns
// through a Temporal client. The README's "Turn-taking on a load balancer"
// tells the design; this package is shared by the workflow, the activities,
// the worker and the starter, and imports neither workflows nor activities.
package turns

import (
	"fmt"
	"strconv"
	"time"
)

// Names of the turns workflow and its messages.
const (
	// WorkflowName is the registered name of the LoadBalancerTurns workflow.
	WorkflowName = "LoadBalancerTurns"
	// WorkflowIDPrefix starts the ID of every turns workflow.
	WorkflowIDPrefix = "clb-turns"
	// UpdateAcquire is the update that asks for a turn: its argument is a
	// Request, its result the Turn once granted.
	UpdateAcquire = "acquire"
	// SignalRelease hands a turn back, or withdraws a request: a Release.
	SignalRelease = "release"
	// SignalRenew extends the lease of the turn it names: a Turn.
	SignalRenew = "renew"
	// QueryTurns answers a State.
	QueryTurns = "turns"
	// SignalWaiting is sent by the turns workflow to a requesting workflow
	// whose request has to wait: a Waiting.
	SignalWaiting = "turn-waiting"
)

// Error types of the acquire update; any other error of an acquire is the
// Temporal service's, and Client retries it.
const (
	// ErrInvalidRequest is the type of a request the workflow refuses for
	// its fields.
	ErrInvalidRequest = "InvalidTurnRequest"
	// ErrSuperseded is the type of a request whose activity asked again in
	// a later attempt: the later one takes its place.
	ErrSuperseded = "TurnSuperseded"
	// ErrWithdrawn is the type of a request withdrawn by its activity (it
	// was cancelled while it waited).
	ErrWithdrawn = "TurnWithdrawn"
	// ErrMoved is the type of a request that was waiting when a busy turns
	// workflow continued as new: Client sends it again, to the next run.
	ErrMoved = "TurnsContinuedAsNew"
)

// Defaults of Input's durations.
const (
	// DefaultLease is how long a turn is held without being renewed or
	// released before it is taken back.
	DefaultLease = 60 * time.Second
	// DefaultIdleTimeout is how long a turns workflow with no holder and
	// no request waits before it completes.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultIdleHistory is the history length past which an idle turns
	// workflow continues as new.
	DefaultIdleHistory = 2000
	// DefaultBusyHistory is the history length past which a turns
	// workflow continues as new even while busy.
	DefaultBusyHistory = 10000
)

// WorkflowID is the ID of the turns workflow of a load balancer for the
// workers of a task queue: clb-turns/<task queue>/<lb>. The workflow runs on
// that queue, so only the workers that ask for its turns run it: a
// deployment on another queue never waits on a workflow no worker of its
// own can run (its changes meet this one's as an outside writer's would).
func WorkflowID(taskQueue, loadBalancerID string) string {
	return WorkflowIDPrefix + "/" + taskQueue + "/" + loadBalancerID
}

// Input is the input of LoadBalancerTurns. Zero durations take the
// defaults. Add fields, never change them.
type Input struct {
	// LoadBalancerId is the load balancer whose turns the workflow grants.
	LoadBalancerId string `json:"LoadBalancerId"`
	// Lease is how long a turn lasts unless renewed; 0 means DefaultLease.
	Lease time.Duration `json:"Lease,omitempty"`
	// IdleTimeout is how long the workflow waits idle before it completes;
	// 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration `json:"IdleTimeout,omitempty"`
	// IdleHistory is the history length past which the workflow continues
	// as new when idle; 0 means DefaultIdleHistory.
	IdleHistory int `json:"IdleHistory,omitempty"`
	// BusyHistory is the history length past which the workflow continues
	// as new even while busy; 0 means DefaultBusyHistory.
	BusyHistory int `json:"BusyHistory,omitempty"`
	// Granted counts the turns granted by earlier runs, so that tokens
	// stay unique across continue-as-new. Callers leave it 0.
	Granted int64 `json:"Granted,omitempty"`
	// Holder is the turn held when a busy run continued as new. Callers
	// leave it nil.
	Holder *Held `json:"Holder,omitempty"`
}

// Held is a turn carried across continue-as-new.
type Held struct {
	Request    Request   `json:"Request"`
	Token      string    `json:"Token"`
	Since      time.Time `json:"Since"`
	LeaseUntil time.Time `json:"LeaseUntil"`
}

// LeaseOrDefault is the lease in force.
func (in Input) LeaseOrDefault() time.Duration {
	if in.Lease > 0 {
		return in.Lease
	}
	return DefaultLease
}

// IdleTimeoutOrDefault is the idle timeout in force.
func (in Input) IdleTimeoutOrDefault() time.Duration {
	if in.IdleTimeout > 0 {
		return in.IdleTimeout
	}
	return DefaultIdleTimeout
}

// IdleHistoryOrDefault is the idle history length in force.
func (in Input) IdleHistoryOrDefault() int {
	if in.IdleHistory > 0 {
		return in.IdleHistory
	}
	return DefaultIdleHistory
}

// BusyHistoryOrDefault is the busy history length in force.
func (in Input) BusyHistoryOrDefault() int {
	if in.BusyHistory > 0 {
		return in.BusyHistory
	}
	return DefaultBusyHistory
}

// Request asks for a turn on behalf of one attempt of one activity.
type Request struct {
	// LoadBalancerId is the load balancer to change.
	LoadBalancerId string `json:"LoadBalancerId"`
	// Requester names the activity asking: RequesterOf its workflow ID,
	// run ID and activity ID. A later attempt of the same activity takes
	// the place of the earlier one, in the queue or as the holder.
	Requester string `json:"Requester"`
	// Attempt is the activity's attempt, from 1.
	Attempt int `json:"Attempt"`
	// WorkflowID and RunID name the workflow the activity works for: it
	// is told (SignalWaiting) when the request has to wait, and holds at
	// most one turn per load balancer (its next request ends its earlier
	// turn, whose release was then lost).
	WorkflowID string `json:"WorkflowId"`
	RunID      string `json:"RunId,omitempty"`
	// What the turn is for, for people: "DeregisterTargets lbl-1 (20 targets)".
	What string `json:"What,omitempty"`
}

// RequesterOf is the Requester of an activity.
func RequesterOf(workflowID, runID, activityID string) string {
	return workflowID + "/" + runID + "/" + activityID
}

// ID identifies the request: Requester#Attempt. It is the acquire update's
// ID, so a request sent again (a retried RPC) is the same request.
func (r Request) ID() string {
	return r.Requester + "#" + strconv.Itoa(r.Attempt)
}

// Check returns an error naming the first field that is missing or bad.
func (r Request) Check() error {
	switch {
	case r.LoadBalancerId == "":
		return fmt.Errorf("turn request: LoadBalancerId is required")
	case r.Requester == "":
		return fmt.Errorf("turn request: Requester is required")
	case r.Attempt < 1:
		return fmt.Errorf("turn request: Attempt %d: must be 1 or more", r.Attempt)
	case r.WorkflowID == "":
		return fmt.Errorf("turn request: WorkflowId is required")
	}
	return nil
}

// Turn is a granted turn: the holder changes the load balancer, then
// releases the turn once the CLB task of the change has ended.
type Turn struct {
	// LoadBalancerId is the load balancer.
	LoadBalancerId string `json:"LoadBalancerId"`
	// WorkflowID is the turns workflow that granted it, where the release
	// and the renewals go.
	WorkflowID string `json:"WorkflowId"`
	// Token names this grant; a release or renewal with another token is
	// ignored.
	Token string `json:"Token"`
	// Lease is how long the turn lasts unless renewed: renew well within.
	Lease time.Duration `json:"Lease"`
}

// Token is the token of the seq-th turn granted, to request r.
func Token(seq int64, r Request) string {
	return strconv.FormatInt(seq, 10) + "/" + r.ID()
}

// Release hands a turn back (Token) or withdraws a request that may still
// be waiting or may just have been granted (Request, a Request.ID). A
// release that names neither the holder nor a waiting request is ignored.
type Release struct {
	Token   string `json:"Token,omitempty"`
	Request string `json:"Request,omitempty"`
}

// Waiting tells a requesting workflow that its request waits.
type Waiting struct {
	// LoadBalancerId is the load balancer waited for.
	LoadBalancerId string `json:"LoadBalancerId"`
	// Holder is the workflow ID of the turn's holder, HolderWhat what it
	// holds the turn for.
	Holder     string `json:"Holder"`
	HolderWhat string `json:"HolderWhat,omitempty"`
	// Ahead counts the requests queued before this one.
	Ahead int `json:"Ahead"`
	// Request is the waiting request's ID.
	Request string `json:"Request"`
}

// String is the waiting line a drain's progress shows:
// "waiting for lb-1 held by clb-drain/lb-1/lbl-2 (1 more ahead)".
func (w Waiting) String() string {
	s := "waiting for " + w.LoadBalancerId + " held by " + w.Holder
	if w.Ahead > 0 {
		s += " (" + strconv.Itoa(w.Ahead) + " more ahead)"
	}
	return s
}

// Entry is a holder or a waiting request, as the turns query shows it.
type Entry struct {
	// Request is the request's ID; WorkflowID the workflow it works for.
	Request    string `json:"Request"`
	WorkflowID string `json:"WorkflowId"`
	What       string `json:"What,omitempty"`
	// Since is when the request came, or when the turn was granted.
	Since time.Time `json:"Since"`
	// LeaseUntil is when the holder's turn is taken back unless renewed.
	LeaseUntil time.Time `json:"LeaseUntil,omitzero"`
}

// State answers QueryTurns.
type State struct {
	LoadBalancerId string `json:"LoadBalancerId"`
	// Holder holds the turn; nil when none.
	Holder *Entry `json:"Holder,omitempty"`
	// Queue are the waiting requests, first served first.
	Queue []Entry `json:"Queue,omitempty"`
	// Granted counts the turns granted since the workflow began.
	Granted int64 `json:"Granted"`
	// Expired counts the turns taken back at the end of their lease, in
	// this run.
	Expired int `json:"Expired,omitempty"`
}
