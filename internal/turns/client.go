package turns

import (
	"context"
	"errors"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Temporal is the part of client.Client that Client uses.
type Temporal interface {
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

var _ Temporal = client.Client(nil)

// Retry delays of an acquire that failed for want of the Temporal service:
// the first is short, as the usual cause is a turns workflow that was
// completing or continuing as new as the request came.
const (
	firstRetryDelay = 50 * time.Millisecond
	maxRetryDelay   = 2 * time.Second
)

// Client asks for, renews and releases turns through Temporal, starting the
// turns workflow of a load balancer when it is not running.
type Client struct {
	// Temporal is the Temporal client (the worker's). Required.
	Temporal Temporal
	// TaskQueue is the task queue the turns workflow runs on. Required.
	TaskQueue string
	// Log receives a line per retried acquire; nil for none.
	Log *slog.Logger
	// Sleep waits d or until ctx is done, and returns ctx.Err(); nil means
	// a real timer. Tests pass a fake.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Acquire blocks until req holds the turn of its load balancer and returns
// the turn, or until ctx is done. The request is the update ID, so sending
// it again is harmless. An error of the Temporal service (the workflow was
// completing or continuing as new, the service was unavailable) is retried,
// on the workflow's next run if it changed; an error of the workflow (a
// refused, superseded or withdrawn request: ErrInvalidRequest,
// ErrSuperseded, ErrWithdrawn) is returned as it is.
func (c *Client) Acquire(ctx context.Context, req Request) (Turn, error) {
	if err := req.Check(); err != nil {
		return Turn{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidRequest, nil)
	}
	delay := firstRetryDelay
	for {
		turn, err := c.acquireOnce(ctx, req)
		if err == nil || ctx.Err() != nil || IsFinal(err) {
			if ctx.Err() != nil {
				return Turn{}, ctx.Err()
			}
			return turn, err
		}
		if c.Log != nil {
			c.Log.Warn("asking for a turn failed, asking again", "loadBalancer", req.LoadBalancerId,
				"request", req.ID(), "delay", delay, "error", err)
		}
		if err := c.sleep(ctx, delay); err != nil {
			return Turn{}, err
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// acquireOnce sends the acquire update, starting the workflow if needed,
// and waits for its outcome.
func (c *Client) acquireOnce(ctx context.Context, req Request) (Turn, error) {
	start := c.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       WorkflowID(c.TaskQueue, req.LoadBalancerId),
		TaskQueue:                c.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, WorkflowName, Input{LoadBalancerId: req.LoadBalancerId})
	h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     req.ID(),
			UpdateName:   UpdateAcquire,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageAccepted,
		},
	})
	if err != nil {
		return Turn{}, err
	}
	var turn Turn
	err = h.Get(ctx, &turn)
	return turn, err
}

// IsFinal reports whether err is the turns workflow's own answer to an
// acquire (ErrInvalidRequest, ErrSuperseded, ErrWithdrawn), which asking
// again would not change.
func IsFinal(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	switch appErr.Type() {
	case ErrInvalidRequest, ErrSuperseded, ErrWithdrawn:
		return true
	}
	return false
}

// Release hands turn back. A turns workflow that is not running has
// nothing to release: that is not an error.
func (c *Client) Release(ctx context.Context, turn Turn) error {
	return c.signal(ctx, c.workflowOf(turn), SignalRelease, Release{Token: turn.Token})
}

// Withdraw takes req out of the queue, or ends its turn if it was granted
// meanwhile. A turns workflow that is not running has nothing to withdraw:
// that is not an error.
func (c *Client) Withdraw(ctx context.Context, req Request) error {
	return c.signal(ctx, WorkflowID(c.TaskQueue, req.LoadBalancerId), SignalRelease, Release{Request: req.ID()})
}

// Renew extends the lease of turn. A turns workflow that is not running
// has taken the turn back already: that is not an error.
func (c *Client) Renew(ctx context.Context, turn Turn) error {
	return c.signal(ctx, c.workflowOf(turn), SignalRenew, turn)
}

// workflowOf is the turns workflow that granted turn.
func (c *Client) workflowOf(turn Turn) string {
	if turn.WorkflowID != "" {
		return turn.WorkflowID
	}
	return WorkflowID(c.TaskQueue, turn.LoadBalancerId)
}

func (c *Client) signal(ctx context.Context, workflowID, name string, arg any) error {
	err := c.Temporal.SignalWorkflow(ctx, workflowID, "", name, arg)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil
	}
	return err
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return ctx.Err()
}
