package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ScheduledWorkflowName is the registered name of ScheduledDrain.
const ScheduledWorkflowName = "ScheduledDrain"

// ErrAlreadyRunning is the ApplicationError type of a scheduled drain that
// was skipped because a drain of the same listener or rule was running.
const ErrAlreadyRunning = "DrainAlreadyRunning"

// ScheduledDrainInput is the input of ScheduledDrain.
type ScheduledDrainInput struct {
	// Drain is the drain to run.
	Drain DrainInput `json:"Drain"`
	// DrainWorkflowID is the workflow ID the drain runs under; empty means
	// WorkflowIDFor(Drain).
	DrainWorkflowID string `json:"DrainWorkflowID,omitempty"`
}

// ScheduledDrain is what a Temporal Schedule starts. A schedule gives each
// workflow it starts an ID of its own (the schedule's ID plus the start
// time), which would let a scheduled drain run beside a drain of the same
// listener started by hand. So ScheduledDrain runs the drain as a child
// under the conventional ID, and Temporal's one-running-workflow-per-ID rule
// holds for scheduled drains too: when a drain of that listener is already
// running, this one is skipped with an ErrAlreadyRunning error that names
// it, and nothing is touched.
func ScheduledDrain(ctx workflow.Context, in ScheduledDrainInput) (DrainResult, error) {
	opts := ChildOptions(in.Drain)
	if in.DrainWorkflowID != "" {
		opts.WorkflowID = in.DrainWorkflowID
	}
	// The drain runs where the schedule's workflow runs.
	opts.TaskQueue = workflow.GetInfo(ctx).TaskQueueName
	ctx = workflow.WithChildOptions(ctx, opts)
	audit := startAudit(ctx, scheduledAudit(in.Drain))

	var res DrainResult
	err := workflow.ExecuteChildWorkflow(ctx, WorkflowName, in.Drain).Get(ctx, &res)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		msg := fmt.Sprintf("skipped: a drain of %s is already running as workflow %s; nothing was touched",
			in.Drain.Selector(), opts.WorkflowID)
		workflow.GetLogger(ctx).Warn("scheduled drain skipped", "drain_workflow_id", opts.WorkflowID)
		audit.setPhase(ctx, PhaseSkipped)
		return DrainResult{}, temporal.NewNonRetryableApplicationError(msg, ErrAlreadyRunning, err)
	}
	audit.setPhase(ctx, scheduledOutcome(res, err))
	return res, err
}
