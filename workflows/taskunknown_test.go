package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// taskUnknown is WaitForTask's error for a task id DescribeTaskStatus no
// longer knows.
func taskUnknown(taskID string) error {
	return temporal.NewApplicationErrorWithOptions("CLB task "+taskID+" is unknown to DescribeTaskStatus (expired?)",
		workflows.ErrTaskUnknown, temporal.ApplicationErrorOptions{NonRetryable: true,
			Details: []any{activities.TaskFailure{TaskID: taskID, Message: "ResourceNotFound: task not found", Polls: 1}}})
}

// The chunk's task id expired before its end was seen: the chunk is sent
// again with a re-check, which finds what is gone (done) and sends what is
// still bound.
func TestUnknownTaskChunkIsRechecked(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskUnknown("task-1")).Once()
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			res, err := f.deregister(ctx, in)
			if in.Recheck {
				// The first task removed all but the last five.
				res.AlreadyGone, res.Sent = in.Targets[:15], in.Targets[15:]
			}
			return res, err
		})
	f.healthy(time.Second)
	f.run(layer4(20))
	res := f.result()

	require.Len(t, f.deregs, 2)
	require.True(t, f.deregs[1].Recheck, "the chunk is re-checked, not failed")
	c := res.Chunks[0]
	require.Equal(t, 1, c.TaskRetries)
	require.Equal(t, "task-2", c.RequestID)
	require.Equal(t, 15, c.Gone)
	require.Equal(t, workflows.OutcomeDeregistered, c.Outcome)
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered))
	require.Contains(t, f.progress().LastError, workflows.ErrTaskUnknown)
}

// A re-check that finds the whole chunk gone completes it without another
// call or task.
func TestUnknownTaskOfAChunkAllGoneIsDone(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskUnknown("task-1")).Once()
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			if in.Recheck {
				f.mu.Lock()
				f.deregs = append(f.deregs, in)
				f.mu.Unlock()
				return activities.DeregisterResult{AlreadyGone: in.Targets, Attempt: 1}, nil
			}
			return f.deregister(ctx, in)
		})
	f.healthy(time.Second)
	f.run(layer4(20))
	res := f.result()
	require.Len(t, f.deregs, 2)
	f.env.AssertActivityNumberOfCalls(t, "WaitForTask", 1)
	require.Equal(t, workflows.OutcomeDeregistered, res.Chunks[0].Outcome)
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered))
}

// A weight change whose task id expired is sent again (setting a weight is
// idempotent), re-checking what is bound.
func TestUnknownWeightTaskIsSentAgain(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskUnknown("task-1")).Once()
	f.healthy(time.Second)
	in := layer4(20)
	in.DrainDelay = time.Minute
	f.run(in)
	res := f.result()
	require.Len(t, f.batches, 2)
	require.Equal(t, f.batches[0].Entries, f.batches[1].Entries, "the same weights again")
	require.True(t, f.batches[1].Recheck)
	require.Equal(t, 20, res.Drained)
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered))
}

// Bounded like task failures: an id that is never known fails the drain
// with ErrTaskUnknown after MaxTaskRetries re-checks.
func TestTaskUnknownEveryTimeFailsTheDrain(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
			return activities.WaitResult{}, taskUnknown(in.TaskID)
		})
	f.healthy(time.Second)
	f.run(layer4(20))
	ae := applicationError(t, f.env.GetWorkflowError())
	require.Equal(t, workflows.ErrTaskUnknown, ae.Type())
	require.Contains(t, ae.Error(), "(after 3 task retries)")
	f.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 1+workflows.MaxTaskRetries)
}

// WaitForTask is told the load balancer and the action of each task, which
// pick the estimate of how long it takes.
func TestWaitNamesTheLoadBalancerAndAction(t *testing.T) {
	f := newFleet(t)
	var waits []activities.WaitInput
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
			waits = append(waits, in)
			return f.wait(ctx, in)
		})
	f.healthy(time.Second)
	in := layer4(20)
	in.DrainDelay = time.Minute
	f.run(in)
	f.result()
	require.Equal(t, []activities.WaitInput{
		{TaskID: "task-1", LoadBalancerID: lbID, Action: clb.ActionBatchModifyTargetWeight},
		{TaskID: "task-2", LoadBalancerID: lbID, Action: clb.ActionDeregisterTargets, TaskCreated: taskCreated(1)},
	}, waits)
}
