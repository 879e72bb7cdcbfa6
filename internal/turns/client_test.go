package turns_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/turns"
)

// fakeTemporal answers the acquire updates from a script and records what
// it was asked.
type fakeTemporal struct {
	starts  []client.StartWorkflowOptions
	inputs  []any
	updates []client.UpdateWorkflowOptions
	// answers are the outcomes of the acquires, in order: an error from
	// UpdateWithStartWorkflow (sendErr) or from the handle's Get.
	answers []answer
	signals []string
	args    []any
	signal  error
}

type answer struct {
	sendErr error
	turn    turns.Turn
	err     error
}

func (f *fakeTemporal) NewWithStartWorkflowOperation(o client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation {
	f.starts = append(f.starts, o)
	f.inputs = append(f.inputs, args...)
	if workflow != turns.WorkflowName {
		panic("workflow " + workflow.(string))
	}
	return nil
}

func (f *fakeTemporal) UpdateWithStartWorkflow(_ context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.updates = append(f.updates, o.UpdateOptions)
	a := f.answers[0]
	f.answers = f.answers[1:]
	if a.sendErr != nil {
		return nil, a.sendErr
	}
	return handle{a}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, workflowID, runID, name string, arg any) error {
	f.signals = append(f.signals, workflowID+" "+runID+" "+name)
	f.args = append(f.args, arg)
	return f.signal
}

type handle struct{ a answer }

func (handle) WorkflowID() string { return "" }
func (handle) RunID() string      { return "" }
func (handle) UpdateID() string   { return "" }
func (h handle) Get(_ context.Context, v any) error {
	if h.a.err != nil {
		return h.a.err
	}
	*(v.(*turns.Turn)) = h.a.turn
	return nil
}

func request() turns.Request {
	return turns.Request{LoadBalancerId: "lb-1", Requester: turns.RequesterOf("wf", "run", "7"), Attempt: 2, WorkflowID: "wf"}
}

func newClient(f *fakeTemporal) (*turns.Client, *[]time.Duration) {
	var sleeps []time.Duration
	return &turns.Client{Temporal: f, TaskQueue: "clb-drain", Sleep: func(ctx context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return ctx.Err()
	}}, &sleeps
}

func TestAcquireStartsOrJoinsTheWorkflowOfTheLoadBalancer(t *testing.T) {
	want := turns.Turn{LoadBalancerId: "lb-1", Token: "1/x", Lease: time.Minute}
	f := &fakeTemporal{answers: []answer{{turn: want}}}
	c, sleeps := newClient(f)
	got, err := c.Acquire(context.Background(), request())
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Empty(t, *sleeps)
	require.Equal(t, []client.StartWorkflowOptions{{ID: "clb-turns/clb-drain/lb-1", TaskQueue: "clb-drain",
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}}, f.starts)
	require.Equal(t, []any{turns.Input{LoadBalancerId: "lb-1"}}, f.inputs)
	require.Equal(t, []client.UpdateWorkflowOptions{{UpdateID: "wf/run/7#2", UpdateName: turns.UpdateAcquire,
		Args: []any{request()}, WaitForStage: client.WorkflowUpdateStageAccepted}}, f.updates)
}

func TestAcquireAsksAgainAfterAnErrorOfTheService(t *testing.T) {
	want := turns.Turn{LoadBalancerId: "lb-1", Token: "3/x"}
	completed := temporal.NewNonRetryableApplicationError("workflow completed before the update", "AcceptedUpdateCompletedWorkflow", nil)
	f := &fakeTemporal{answers: []answer{
		{sendErr: serviceerror.NewUnavailable("down")},
		{err: completed},
		{sendErr: serviceerror.NewUnavailable("down")},
		{err: temporal.NewApplicationError("continuing as new", turns.ErrMoved)},
		{turn: want},
	}}
	c, sleeps := newClient(f)
	got, err := c.Acquire(context.Background(), request())
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, *sleeps)
	for _, u := range f.updates {
		require.Equal(t, "wf/run/7#2", u.UpdateID, "the same request every time")
	}
}

func TestAcquireReturnsTheWorkflowsOwnAnswer(t *testing.T) {
	for _, typ := range []string{turns.ErrSuperseded, turns.ErrWithdrawn, turns.ErrInvalidRequest} {
		f := &fakeTemporal{answers: []answer{{err: temporal.NewNonRetryableApplicationError("no", typ, nil)}}}
		c, sleeps := newClient(f)
		_, err := c.Acquire(context.Background(), request())
		require.True(t, turns.IsFinal(err), typ)
		require.Empty(t, *sleeps, typ)
	}
}

func TestAcquireStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeTemporal{answers: []answer{{sendErr: serviceerror.NewUnavailable("down")}}}
	c, _ := newClient(f)
	c.Sleep = func(context.Context, time.Duration) error {
		cancel()
		return context.Canceled
	}
	_, err := c.Acquire(ctx, request())
	require.ErrorIs(t, err, context.Canceled)
}

func TestAcquireRefusesABadRequest(t *testing.T) {
	f := &fakeTemporal{}
	c, _ := newClient(f)
	r := request()
	r.Attempt = 0
	_, err := c.Acquire(context.Background(), r)
	require.ErrorContains(t, err, "Attempt 0")
	require.True(t, turns.IsFinal(err))
	require.Empty(t, f.updates)
}

func TestReleaseWithdrawAndRenewSignalTheWorkflow(t *testing.T) {
	f := &fakeTemporal{}
	c, _ := newClient(f)
	granted := turns.Turn{LoadBalancerId: "lb-1", WorkflowID: "clb-turns/other-queue/lb-1", Token: "1/x"}
	require.NoError(t, c.Release(context.Background(), granted))
	require.NoError(t, c.Renew(context.Background(), turns.Turn{LoadBalancerId: "lb-2", Token: "1/y"}))
	require.NoError(t, c.Withdraw(context.Background(), request()))
	require.Equal(t, []string{
		"clb-turns/other-queue/lb-1  " + turns.SignalRelease, // where the turn came from
		"clb-turns/clb-drain/lb-2  " + turns.SignalRenew,
		"clb-turns/clb-drain/lb-1  " + turns.SignalRelease,
	}, f.signals)
	require.Equal(t, []any{turns.Release{Token: "1/x"}, turns.Turn{LoadBalancerId: "lb-2", Token: "1/y"},
		turns.Release{Request: request().ID()}}, f.args)

	f.signal = serviceerror.NewNotFound("workflow not found")
	require.NoError(t, c.Release(context.Background(), granted), "no workflow, no turn to release")
	f.signal = serviceerror.NewUnavailable("down")
	require.Error(t, c.Release(context.Background(), granted))
}

func TestRequestCheckNamesTheField(t *testing.T) {
	for field, r := range map[string]turns.Request{
		"LoadBalancerId": {Requester: "r", Attempt: 1, WorkflowID: "wf"},
		"Requester":      {LoadBalancerId: "lb", Attempt: 1, WorkflowID: "wf"},
		"Attempt -1":     {LoadBalancerId: "lb", Requester: "r", Attempt: -1, WorkflowID: "wf"},
		"WorkflowId":     {LoadBalancerId: "lb", Requester: "r", Attempt: 1},
	} {
		require.ErrorContains(t, r.Check(), field)
	}
	require.NoError(t, request().Check())
	require.False(t, turns.IsFinal(errors.New("plain")))
}
