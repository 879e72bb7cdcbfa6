package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/turns"
)

// LoadBalancerTurns grants the turns of one load balancer (turns.Input) to
// the activities that change it: at most one holder at a time, the others
// served first come first served. It answers the turns.UpdateAcquire update
// once the request holds the turn, takes turns.SignalRelease and
// turns.SignalRenew, answers turns.QueryTurns with a turns.State, and tells
// a requesting workflow whose request has to wait (turns.SignalWaiting). A
// turn neither released nor renewed within its lease is taken back. Idle,
// it continues as new once its history is long and completes after its idle
// timeout. Register it as turns.WorkflowName; start it with update-with-start
// (turns.Client) under turns.WorkflowID.
func LoadBalancerTurns(ctx workflow.Context, in turns.Input) error {
	t := &lbTurns{in: in, log: workflow.GetLogger(ctx), lease: in.LeaseOrDefault(), granted: in.Granted}
	if h := in.Holder; h != nil {
		t.holder = &turnRequest{req: h.Request, since: h.Since, token: h.Token, leaseUntil: h.LeaseUntil}
	}
	if err := t.register(ctx); err != nil {
		return err
	}
	return t.run(ctx)
}

// lbTurns is the state of one run of LoadBalancerTurns.
type lbTurns struct {
	in    turns.Input
	log   log.Logger
	lease time.Duration
	// holder holds the turn; nil when none.
	holder *turnRequest
	// queue are the requests waiting, first served first.
	queue []*turnRequest
	// granted counts the turns granted, earlier runs included.
	granted int64
	// expired counts the turns taken back at the end of their lease.
	expired           int
	release, renewals workflow.ReceiveChannel
	// moving is set once a busy run decided to continue as new: requests
	// are sent to the next run.
	moving bool
}

// turnRequest is one request, waiting or holding the turn.
type turnRequest struct {
	req turns.Request
	// since is when the request came, then when it was granted.
	since time.Time
	// token is set when the turn is granted, leaseUntil with it.
	token      string
	leaseUntil time.Time
	// err ends a request that will never hold the turn.
	err error
}

// register installs the update, signal and query handlers.
func (t *lbTurns) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, turns.QueryTurns, t.state); err != nil {
		return err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, turns.UpdateAcquire, t.acquire,
		workflow.UpdateHandlerOptions{Validator: t.validate})
	if err != nil {
		return err
	}
	t.release = workflow.GetSignalChannel(ctx, turns.SignalRelease)
	t.renewals = workflow.GetSignalChannel(ctx, turns.SignalRenew)
	workflow.Go(ctx, func(ctx workflow.Context) {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(t.release, func(c workflow.ReceiveChannel, _ bool) {
			var rel turns.Release
			c.Receive(ctx, &rel)
			t.onRelease(ctx, rel)
		})
		sel.AddReceive(t.renewals, func(c workflow.ReceiveChannel, _ bool) {
			var turn turns.Turn
			c.Receive(ctx, &turn)
			t.onRenew(ctx, turn)
		})
		for {
			sel.Select(ctx)
		}
	})
	return nil
}

// run takes back turns whose lease ran out, and ends the run when idle.
func (t *lbTurns) run(ctx workflow.Context) error {
	idle := t.in.IdleTimeoutOrDefault()
	for {
		if t.holder != nil {
			if workflow.GetInfo(ctx).GetCurrentHistoryLength() >= t.in.BusyHistoryOrDefault() {
				return t.moveBusy(ctx)
			}
			if err := t.awaitHolder(ctx); err != nil {
				return err
			}
			continue
		}
		if t.quiet(ctx) && (workflow.GetInfo(ctx).GetCurrentHistoryLength() >= t.in.IdleHistoryOrDefault() ||
			workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			next := t.in
			next.Granted, next.Holder = t.granted, nil
			t.log.Info("idle with a long history, continuing as new", "loadBalancer", t.in.LoadBalancerId, "granted", t.granted)
			return workflow.NewContinueAsNewError(ctx, turns.WorkflowName, next)
		}
		busy, err := awaitWithin(ctx, idle, func() bool { return t.holder != nil || len(t.queue) > 0 })
		if err != nil {
			return err
		}
		if !busy && t.quiet(ctx) {
			t.log.Info("idle, completing", "loadBalancer", t.in.LoadBalancerId, "granted", t.granted, "expired", t.expired)
			return nil
		}
	}
}

// moveBusy continues as new while a turn is held: the holder's turn goes to
// the next run as it is; the waiting requests are answered ErrMoved, and
// new ones refused with it, so that their clients send them again to the
// next run. They then queue in the order they come back.
func (t *lbTurns) moveBusy(ctx workflow.Context) error {
	t.moving = true
	t.log.Info("busy with a long history, continuing as new", "loadBalancer", t.in.LoadBalancerId,
		"holder", t.holder.req.ID(), "waiting", len(t.queue))
	for _, q := range t.queue {
		q.err = moved(q.req)
	}
	t.queue = nil
	err := workflow.Await(ctx, func() bool {
		return workflow.AllHandlersFinished(ctx) && t.release.Len() == 0 && t.renewals.Len() == 0
	})
	if err != nil {
		return err
	}
	next := t.in
	next.Granted = t.granted
	next.Holder = nil
	if h := t.holder; h != nil {
		next.Holder = &turns.Held{Request: h.req, Token: h.token, Since: h.since, LeaseUntil: h.leaseUntil}
	}
	return workflow.NewContinueAsNewError(ctx, turns.WorkflowName, next)
}

// awaitHolder waits until the holder's turn ends or its lease runs out,
// and then takes the turn back.
func (t *lbTurns) awaitHolder(ctx workflow.Context) error {
	h := t.holder
	if left := h.leaseUntil.Sub(workflow.Now(ctx)); left > 0 {
		if _, err := awaitWithin(ctx, left, func() bool { return t.holder != h }); err != nil {
			return err
		}
	}
	if t.holder != h || workflow.Now(ctx).Before(h.leaseUntil) {
		// Released, or renewed meanwhile.
		return nil
	}
	t.expired++
	t.log.Warn("turn neither released nor renewed within its lease, taking it back", "loadBalancer", t.in.LoadBalancerId,
		"holder", h.req.WorkflowID, "request", h.req.ID(), "what", h.req.What, "lease", t.lease)
	t.holder = nil
	t.advance(ctx)
	return nil
}

// awaitWithin waits until cond holds, and reports it, or until d has
// passed. Unlike workflow.AwaitWithTimeout, it cancels its timer when cond
// holds first, so that a turn's lease timer does not fire, a workflow task
// later, for a turn long released.
func awaitWithin(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, d)
	if err := workflow.Await(ctx, func() bool { return cond() || timer.IsReady() }); err != nil {
		return false, err
	}
	return cond(), nil
}

// quiet is true when nothing holds, waits or is about to be handled.
func (t *lbTurns) quiet(ctx workflow.Context) bool {
	return t.holder == nil && len(t.queue) == 0 && workflow.AllHandlersFinished(ctx) &&
		t.release.Len() == 0 && t.renewals.Len() == 0
}

// validate refuses a request with bad fields, for another load balancer, or
// from an attempt older than one already asking for the same activity.
func (t *lbTurns) validate(_ workflow.Context, req turns.Request) error {
	if err := req.Check(); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), turns.ErrInvalidRequest, nil)
	}
	if req.LoadBalancerId != t.in.LoadBalancerId {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("turn request: LoadBalancerId %q: this workflow grants the turns of %q",
			req.LoadBalancerId, t.in.LoadBalancerId), turns.ErrInvalidRequest, nil)
	}
	if r := t.find(req.Requester); r != nil && r.req.Attempt >= req.Attempt {
		return superseded(req, r.req.Attempt)
	}
	if t.moving {
		return moved(req)
	}
	return nil
}

// acquire is the update handler: it returns once req holds the turn.
func (t *lbTurns) acquire(ctx workflow.Context, req turns.Request) (turns.Turn, error) {
	r := &turnRequest{req: req, since: workflow.Now(ctx)}
	t.admit(ctx, r)
	if err := workflow.Await(ctx, func() bool { return r.token != "" || r.err != nil }); err != nil {
		return turns.Turn{}, err
	}
	if r.err != nil {
		return turns.Turn{}, r.err
	}
	return turns.Turn{LoadBalancerId: t.in.LoadBalancerId, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Token: r.token, Lease: t.lease}, nil
}

// admit places a new request: a later attempt of the holder's activity
// takes the turn over; a later attempt of a waiting activity takes its
// place in the queue; a new request of the holder's workflow ends the
// holder's turn (its release was lost: a workflow changes one thing at a
// time); any other request joins the end of the queue.
func (t *lbTurns) admit(ctx workflow.Context, r *turnRequest) {
	if t.moving {
		// Accepted as the run decided to continue as new.
		r.err = moved(r.req)
		return
	}
	if h := t.holder; h != nil && h.req.Requester == r.req.Requester {
		t.log.Info("a later attempt takes the turn over", "loadBalancer", t.in.LoadBalancerId, "request", r.req.ID(), "was", h.req.ID())
		t.holder = nil
		t.grant(ctx, r)
		return
	}
	if h := t.holder; h != nil && h.req.WorkflowID == r.req.WorkflowID {
		t.log.Warn("the holder's workflow asks again: its turn is over", "loadBalancer", t.in.LoadBalancerId,
			"holder", h.req.ID(), "request", r.req.ID())
		t.holder = nil
	}
	for i, q := range t.queue {
		if q.req.Requester == r.req.Requester {
			q.err = superseded(q.req, r.req.Attempt)
			t.queue[i] = r
			t.advance(ctx)
			return
		}
	}
	t.queue = append(t.queue, r)
	t.advance(ctx)
	if r.token == "" {
		t.tellWaiting(ctx, r)
	}
}

// advance grants the turn to the first request waiting, if no one holds it.
func (t *lbTurns) advance(ctx workflow.Context) {
	if t.holder != nil || len(t.queue) == 0 {
		return
	}
	r := t.queue[0]
	t.queue = t.queue[1:]
	t.grant(ctx, r)
}

// grant makes r the holder, with a new token and a full lease.
func (t *lbTurns) grant(ctx workflow.Context, r *turnRequest) {
	t.granted++
	r.token = turns.Token(t.granted, r.req)
	r.since = workflow.Now(ctx)
	r.leaseUntil = r.since.Add(t.lease)
	t.holder = r
}

// onRelease ends the holder's turn when the release names it, or withdraws
// a waiting request; anything else is stale and ignored.
func (t *lbTurns) onRelease(ctx workflow.Context, rel turns.Release) {
	h := t.holder
	switch {
	case h != nil && ((rel.Token != "" && rel.Token == h.token) || (rel.Request != "" && rel.Request == h.req.ID())):
		t.holder = nil
	case rel.Request != "" && t.withdraw(rel.Request):
	default:
		t.log.Info("stale release ignored", "loadBalancer", t.in.LoadBalancerId, "token", rel.Token, "request", rel.Request)
	}
	t.advance(ctx)
}

// withdraw removes the waiting request of ID id, and reports whether there
// was one.
func (t *lbTurns) withdraw(id string) bool {
	for i, q := range t.queue {
		if q.req.ID() == id {
			q.err = temporal.NewNonRetryableApplicationError("turn request "+id+" withdrawn", turns.ErrWithdrawn, nil)
			t.queue = append(t.queue[:i:i], t.queue[i+1:]...)
			return true
		}
	}
	return false
}

// onRenew extends the holder's lease when the turn is the holder's.
func (t *lbTurns) onRenew(ctx workflow.Context, turn turns.Turn) {
	if t.holder == nil || t.holder.token != turn.Token {
		t.log.Info("stale renewal ignored", "loadBalancer", t.in.LoadBalancerId, "token", turn.Token)
		return
	}
	t.holder.leaseUntil = workflow.Now(ctx).Add(t.lease)
}

// tellWaiting signals r's workflow that r waits, and for whom. The signal
// is not awaited: a workflow that is gone does not need to know.
func (t *lbTurns) tellWaiting(ctx workflow.Context, r *turnRequest) {
	w := turns.Waiting{LoadBalancerId: t.in.LoadBalancerId, Ahead: len(t.queue) - 1, Request: r.req.ID()}
	if t.holder != nil {
		w.Holder, w.HolderWhat = t.holder.req.WorkflowID, t.holder.req.What
	}
	workflow.SignalExternalWorkflow(ctx, r.req.WorkflowID, r.req.RunID, turns.SignalWaiting, w)
}

// find is the holder or the waiting request of requester, or nil.
func (t *lbTurns) find(requester string) *turnRequest {
	if t.holder != nil && t.holder.req.Requester == requester {
		return t.holder
	}
	for _, q := range t.queue {
		if q.req.Requester == requester {
			return q
		}
	}
	return nil
}

// state answers the turns query.
func (t *lbTurns) state() (turns.State, error) {
	s := turns.State{LoadBalancerId: t.in.LoadBalancerId, Granted: t.granted, Expired: t.expired}
	if h := t.holder; h != nil {
		s.Holder = &turns.Entry{Request: h.req.ID(), WorkflowID: h.req.WorkflowID, What: h.req.What,
			Since: h.since, LeaseUntil: h.leaseUntil}
	}
	for _, q := range t.queue {
		s.Queue = append(s.Queue, turns.Entry{Request: q.req.ID(), WorkflowID: q.req.WorkflowID, What: q.req.What, Since: q.since})
	}
	return s, nil
}

// moved is the error of a request sent to a run that is continuing as new.
func moved(req turns.Request) error {
	return temporal.NewApplicationError("turn request "+req.ID()+": the turns workflow is continuing as new; ask the next run",
		turns.ErrMoved)
}

// superseded is the error of a request whose activity asked again in a
// later attempt.
func superseded(req turns.Request, later int) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("turn request %s: attempt %d of the same activity asked since", req.ID(), later), turns.ErrSuperseded, nil)
}
