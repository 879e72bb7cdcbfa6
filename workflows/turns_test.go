package workflows_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// acquireCall is one acquire update as its caller sees it.
type acquireCall struct {
	env      *testsuite.TestWorkflowEnvironment
	rejected error
	done     bool
	err      error
	turn     turns.Turn
	// at is when the update completed, from the workflow's start.
	at time.Duration
}

func (c *acquireCall) Accept()          {}
func (c *acquireCall) Reject(err error) { c.rejected = err }
func (c *acquireCall) Complete(v any, err error) {
	c.done, c.err, c.at = true, err, c.env.Now().Sub(start)
	switch v := v.(type) {
	case turns.Turn:
		c.turn = v
	case *commonpb.Payloads:
		if err := converter.GetDefaultDataConverter().FromPayloads(v, &c.turn); err != nil {
			panic(err)
		}
	}
}

// granted reports whether the call got a turn.
func (c *acquireCall) granted() bool { return c.done && c.err == nil && c.rejected == nil }

// lbTurns runs a LoadBalancerTurns workflow and plays its callers on the
// workflow clock.
type lbTurns struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	calls map[string]*acquireCall
	// told are the waiting notices sent, by workflow ID.
	told map[string][]turns.Waiting
}

func newLBTurns(t *testing.T) *lbTurns {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(workflows.LoadBalancerTurns, workflow.RegisterOptions{Name: turns.WorkflowName})
	l := &lbTurns{t: t, env: env, calls: map[string]*acquireCall{}, told: map[string][]turns.Waiting{}}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, turns.SignalWaiting, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			l.told[workflowID] = append(l.told[workflowID], arg.(turns.Waiting))
			return nil
		}).Maybe()
	return l
}

// request is a request of workflow wf's activity 5, at attempt.
func request(wf string, attempt int) turns.Request {
	return turns.Request{LoadBalancerId: lbID, Requester: turns.RequesterOf(wf, "run-"+wf, "5"), Attempt: attempt,
		WorkflowID: wf, RunID: "run-" + wf, What: "DeregisterTargets of " + wf}
}

// acquire sends r at `at`; the call is recorded under r.ID().
func (l *lbTurns) acquire(at time.Duration, r turns.Request) {
	c := &acquireCall{env: l.env}
	l.calls[r.ID()] = c
	l.env.RegisterDelayedCallback(func() { l.env.UpdateWorkflow(turns.UpdateAcquire, r.ID(), c, r) }, at)
}

// release hands back, at `at`, the turn r was granted.
func (l *lbTurns) release(at time.Duration, r turns.Request) {
	l.env.RegisterDelayedCallback(func() {
		c := l.calls[r.ID()]
		require.True(l.t, c.granted(), "%s releases a turn it holds", r.ID())
		l.env.SignalWorkflow(turns.SignalRelease, turns.Release{Token: c.turn.Token})
	}, at)
}

func (l *lbTurns) signal(at time.Duration, name string, arg any) {
	l.env.RegisterDelayedCallback(func() { l.env.SignalWorkflow(name, arg) }, at)
}

// query records the turns query's answer at `at` into s.
func (l *lbTurns) query(at time.Duration, s *turns.State) {
	l.env.RegisterDelayedCallback(func() {
		v, err := l.env.QueryWorkflow(turns.QueryTurns)
		require.NoError(l.t, err)
		require.NoError(l.t, v.Get(s))
	}, at)
}

func (l *lbTurns) run(in turns.Input) {
	if in.LoadBalancerId == "" {
		in.LoadBalancerId = lbID
	}
	l.env.ExecuteWorkflow(turns.WorkflowName, in)
	require.True(l.t, l.env.IsWorkflowCompleted())
}

// grantedAt is when r's call was granted.
func (l *lbTurns) grantedAt(r turns.Request) time.Duration {
	c := l.calls[r.ID()]
	require.True(l.t, c.granted(), "%s was granted: %+v", r.ID(), c)
	return c.at
}

func TestTurnsFirstComeFirstServed(t *testing.T) {
	l := newLBTurns(t)
	a, b, c := request("wf-a", 1), request("wf-b", 1), request("wf-c", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	l.acquire(3*time.Second, c)
	l.release(5*time.Second, a)
	l.release(7*time.Second, b)
	l.release(9*time.Second, c)
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, time.Second, l.grantedAt(a))
	assert.Equal(t, 5*time.Second, l.grantedAt(b))
	assert.Equal(t, 7*time.Second, l.grantedAt(c))
	assert.Equal(t, turns.Turn{LoadBalancerId: lbID, WorkflowID: "default-test-workflow-id", Token: turns.Token(1, a),
		Lease: turns.DefaultLease}, l.calls[a.ID()].turn)
	assert.Equal(t, turns.Token(3, c), l.calls[c.ID()].turn.Token, "tokens count the turns granted")
	// Idle from 9 s, it completes a minute later.
	assert.Equal(t, 9*time.Second+time.Minute, l.env.Now().Sub(start))
}

func TestTurnsAlternateBetweenALongAndAShortDrain(t *testing.T) {
	l := newLBTurns(t)
	// The long drain asks for its next turn as soon as each one ends; the
	// short one asks once, while the long one holds the turn.
	long := []turns.Request{request("wf-long", 1), request("wf-long", 1), request("wf-long", 1)}
	for i := range long {
		long[i].Requester = turns.RequesterOf("wf-long", "run", string(rune('1'+i)))
	}
	short := request("wf-short", 1)
	l.acquire(time.Second, long[0])
	l.acquire(2*time.Second, short)
	l.release(3*time.Second, long[0])
	l.acquire(3*time.Second+time.Millisecond, long[1])
	l.release(5*time.Second, short)
	l.release(7*time.Second, long[1])
	l.acquire(7*time.Second+time.Millisecond, long[2])
	l.release(9*time.Second, long[2])
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, 3*time.Second, l.grantedAt(short), "the short drain goes before the long one's second turn")
	assert.Equal(t, 5*time.Second, l.grantedAt(long[1]))
	assert.Equal(t, 7*time.Second+time.Millisecond, l.grantedAt(long[2]))
}

func TestTurnsLeaseRunsOutUnlessRenewed(t *testing.T) {
	l := newLBTurns(t)
	a, b, c := request("wf-a", 1), request("wf-b", 1), request("wf-c", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	// a renews at 8 s: its turn lasts until 18 s, and is then taken back.
	l.env.RegisterDelayedCallback(func() { l.env.SignalWorkflow(turns.SignalRenew, l.calls[a.ID()].turn) }, 8*time.Second)
	l.acquire(19*time.Second, c)
	var mid turns.State
	l.query(17*time.Second, &mid)
	l.release(20*time.Second, b)
	l.release(21*time.Second, c)
	l.run(turns.Input{Lease: 10 * time.Second, IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, 18*time.Second, l.grantedAt(b), "a's lease ran out 10 s after its renewal")
	assert.Equal(t, 20*time.Second, l.grantedAt(c))
	require.NotNil(t, mid.Holder)
	assert.Equal(t, a.ID(), mid.Holder.Request)
	assert.Equal(t, start.Add(18*time.Second), mid.Holder.LeaseUntil)
	assert.Equal(t, []turns.Entry{{Request: b.ID(), WorkflowID: "wf-b", What: b.What, Since: start.Add(2 * time.Second)}}, mid.Queue)
}

func TestTurnsStaleReleaseAndRenewalAreIgnored(t *testing.T) {
	l := newLBTurns(t)
	a, b := request("wf-a", 1), request("wf-b", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	l.signal(3*time.Second, turns.SignalRelease, turns.Release{Token: turns.Token(7, a)})
	l.signal(3*time.Second, turns.SignalRelease, turns.Release{Request: "someone#1"})
	l.signal(3*time.Second, turns.SignalRenew, turns.Turn{LoadBalancerId: lbID, Token: "1/other#1"})
	// Its lease taken back at 11 s, a's late release does not end b's turn.
	l.release(12*time.Second, a)
	var after turns.State
	l.query(13*time.Second, &after)
	l.release(14*time.Second, b)
	l.run(turns.Input{Lease: 10 * time.Second, IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, 11*time.Second, l.grantedAt(b), "neither the stale release nor the stale renewal changed a's lease")
	require.NotNil(t, after.Holder)
	assert.Equal(t, b.ID(), after.Holder.Request, "a stale release leaves the holder alone")
	assert.Equal(t, 1, after.Expired)
}

func TestTurnsTellTheWaitingWorkflow(t *testing.T) {
	l := newLBTurns(t)
	a, b, c := request("wf-a", 1), request("wf-b", 1), request("wf-c", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	l.acquire(3*time.Second, c)
	l.release(4*time.Second, a)
	l.release(5*time.Second, b)
	l.release(6*time.Second, c)
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Empty(t, l.told["wf-a"], "a request granted at once waits for no one")
	assert.Equal(t, []turns.Waiting{{LoadBalancerId: lbID, Holder: "wf-a", HolderWhat: a.What, Ahead: 0, Request: b.ID()}}, l.told["wf-b"])
	assert.Equal(t, []turns.Waiting{{LoadBalancerId: lbID, Holder: "wf-a", HolderWhat: a.What, Ahead: 1, Request: c.ID()}}, l.told["wf-c"])
	assert.Equal(t, "waiting for "+lbID+" held by wf-a (1 more ahead)", l.told["wf-c"][0].String())
}

func TestTurnsLaterAttemptTakesThePlaceOfTheEarlier(t *testing.T) {
	l := newLBTurns(t)
	holder1, holder2 := request("wf-h", 1), request("wf-h", 2)
	waiter1, waiter2 := request("wf-w", 1), request("wf-w", 2)
	other := request("wf-o", 1)
	l.acquire(time.Second, holder1)
	l.acquire(2*time.Second, waiter1)
	l.acquire(3*time.Second, other)
	// The holder's activity is retried: its next attempt takes the turn over.
	l.acquire(4*time.Second, holder2)
	// The waiter's activity is retried: it keeps its place, before other.
	l.acquire(5*time.Second, waiter2)
	// A late copy of the waiter's first attempt is refused.
	l.env.RegisterDelayedCallback(func() {
		l.env.UpdateWorkflow(turns.UpdateAcquire, "late-copy", l.calls[waiter1.ID()], waiter1)
	}, 5500*time.Millisecond)
	l.release(6*time.Second, holder2)
	l.release(7*time.Second, waiter2)
	l.release(8*time.Second, other)
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, 4*time.Second, l.grantedAt(holder2))
	assert.Equal(t, turns.Token(2, holder2), l.calls[holder2.ID()].turn.Token)
	assert.Equal(t, 6*time.Second, l.grantedAt(waiter2))
	assert.Equal(t, 7*time.Second, l.grantedAt(other))
	assert.Equal(t, turns.ErrSuperseded, applicationError(t, l.calls[waiter1.ID()].err).Type())
	assert.Equal(t, turns.ErrSuperseded, applicationError(t, l.calls[waiter1.ID()].rejected).Type(), "the late copy is refused")
}

func TestTurnsWithdrawnRequestLeavesTheQueue(t *testing.T) {
	l := newLBTurns(t)
	a, b, c := request("wf-a", 1), request("wf-b", 1), request("wf-c", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	l.acquire(3*time.Second, c)
	l.signal(4*time.Second, turns.SignalRelease, turns.Release{Request: b.ID()})
	l.release(5*time.Second, a)
	// A request withdrawn just as it was granted ends its turn.
	l.signal(6*time.Second, turns.SignalRelease, turns.Release{Request: c.ID()})
	var after turns.State
	l.query(7*time.Second, &after)
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, turns.ErrWithdrawn, applicationError(t, l.calls[b.ID()].err).Type())
	assert.Equal(t, 5*time.Second, l.grantedAt(c))
	assert.Nil(t, after.Holder)
	assert.Empty(t, after.Queue)
}

func TestTurnsNextRequestOfTheHolderWorkflowEndsItsTurn(t *testing.T) {
	l := newLBTurns(t)
	first, b := request("wf-a", 1), request("wf-b", 1)
	next := request("wf-a", 1)
	next.Requester = turns.RequesterOf("wf-a", "run-wf-a", "9")
	l.acquire(time.Second, first)
	l.acquire(2*time.Second, b)
	// wf-a's release was lost; its next change asks for a turn.
	l.acquire(3*time.Second, next)
	l.release(4*time.Second, b)
	l.release(5*time.Second, next)
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, 3*time.Second, l.grantedAt(b), "the waiting drain goes first")
	assert.Equal(t, 4*time.Second, l.grantedAt(next))
}

func TestTurnsRefuseBadRequests(t *testing.T) {
	l := newLBTurns(t)
	other := request("wf-a", 1)
	other.LoadBalancerId = "lb-other123"
	noAttempt := request("wf-b", 0)
	l.acquire(time.Second, other)
	l.acquire(time.Second, noAttempt)
	l.run(turns.Input{IdleTimeout: time.Minute})

	require.NoError(t, l.env.GetWorkflowError())
	for _, r := range []turns.Request{other, noAttempt} {
		rejected := l.calls[r.ID()].rejected
		require.Error(t, rejected, r.ID())
		assert.Equal(t, turns.ErrInvalidRequest, applicationError(t, rejected).Type())
	}
	assert.Contains(t, l.calls[other.ID()].rejected.Error(), `LoadBalancerId "lb-other123"`)
	assert.Contains(t, l.calls[noAttempt.ID()].rejected.Error(), "Attempt 0")
}

func TestTurnsContinueAsNewWhenIdleWithALongHistory(t *testing.T) {
	l := newLBTurns(t)
	a, b := request("wf-a", 1), request("wf-b", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	l.env.RegisterDelayedCallback(func() { l.env.SetCurrentHistoryLength(5000) }, 3*time.Second)
	l.release(4*time.Second, a)
	l.release(6*time.Second, b)
	l.run(turns.Input{IdleTimeout: time.Minute, IdleHistory: 3000})

	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(l.env.GetWorkflowError(), &can), "want continue-as-new, got %v", l.env.GetWorkflowError())
	assert.Equal(t, turns.WorkflowName, can.WorkflowType.Name)
	var next turns.Input
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	assert.Equal(t, turns.Input{LoadBalancerId: lbID, IdleTimeout: time.Minute, IdleHistory: 3000, Granted: 2}, next)
	assert.Equal(t, 6*time.Second, l.env.Now().Sub(start), "busy with a long history, it went on until idle")
	assert.Equal(t, 4*time.Second, l.grantedAt(b))
}

func TestTurnsTokensGoOnAfterContinueAsNew(t *testing.T) {
	l := newLBTurns(t)
	a := request("wf-a", 1)
	l.acquire(time.Second, a)
	l.release(2*time.Second, a)
	l.run(turns.Input{IdleTimeout: time.Minute, Granted: 41})

	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, turns.Token(42, a), l.calls[a.ID()].turn.Token)
}

func TestTurnsIdleWorkflowCompletes(t *testing.T) {
	l := newLBTurns(t)
	l.run(turns.Input{})
	require.NoError(t, l.env.GetWorkflowError())
	assert.Equal(t, turns.DefaultIdleTimeout, l.env.Now().Sub(start))
}

// continuedAsNew returns the next run's input of a run that continued as new.
func (l *lbTurns) continuedAsNew() turns.Input {
	var can *workflow.ContinueAsNewError
	require.True(l.t, errors.As(l.env.GetWorkflowError(), &can), "want continue-as-new, got %v", l.env.GetWorkflowError())
	require.Equal(l.t, turns.WorkflowName, can.WorkflowType.Name)
	var next turns.Input
	require.NoError(l.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

func TestTurnsContinueAsNewWhileBusyCarryTheHolder(t *testing.T) {
	l := newLBTurns(t)
	a, b, c := request("wf-a", 1), request("wf-b", 1), request("wf-c", 1)
	l.acquire(time.Second, a)
	l.acquire(2*time.Second, b)
	l.acquire(3*time.Second, c)
	l.env.RegisterDelayedCallback(func() { l.env.SetCurrentHistoryLength(20000) }, 3500*time.Millisecond)
	l.release(4*time.Second, a)
	l.run(turns.Input{IdleTimeout: time.Minute})

	next := l.continuedAsNew()
	assert.Equal(t, 4*time.Second, l.grantedAt(b))
	assert.Equal(t, turns.ErrMoved, applicationError(t, l.calls[c.ID()].err).Type(), "the waiting request asks the next run")
	assert.False(t, turns.IsFinal(l.calls[c.ID()].err))
	assert.Equal(t, turns.Input{LoadBalancerId: lbID, IdleTimeout: time.Minute, Granted: 2, Holder: &turns.Held{
		Request: b, Token: turns.Token(2, b), Since: start.Add(4 * time.Second), LeaseUntil: start.Add(4*time.Second + turns.DefaultLease),
	}}, next)
}

func TestTurnsNextRunGoesOnWithTheCarriedHolder(t *testing.T) {
	l := newLBTurns(t)
	a, b := request("wf-a", 1), request("wf-b", 1)
	held := &turns.Held{Request: a, Token: turns.Token(5, a), Since: start, LeaseUntil: start.Add(30 * time.Second)}
	l.acquire(time.Second, b)
	l.signal(2*time.Second, turns.SignalRelease, turns.Release{Token: held.Token})
	l.env.RegisterDelayedCallback(func() { l.env.SetCurrentHistoryLength(5000) }, 2500*time.Millisecond)
	l.release(3*time.Second, b)
	l.run(turns.Input{IdleTimeout: time.Minute, IdleHistory: 3000, Granted: 5, Holder: held})

	assert.Equal(t, 2*time.Second, l.grantedAt(b), "b waited for the carried holder's release")
	assert.Equal(t, turns.Token(6, b), l.calls[b.ID()].turn.Token)
	assert.Equal(t, turns.Input{IdleTimeout: time.Minute, IdleHistory: 3000, LoadBalancerId: lbID, Granted: 6}, l.continuedAsNew(),
		"idle, it carries no holder")
}
