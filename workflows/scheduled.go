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

// ScheduledDrain is what a Temporal Schedule starts. A schedule names its
// workflows after itself, so ScheduledDrain runs in.Drain as a child under
// the conventional ID: it never runs beside another drain of the same
// listener or rule. When one is running, it fails with ErrAlreadyRunning,
// naming that drain, and touches nothing.
func ScheduledDrain(ctx workflow.Context, in ScheduledDrainInput) (DrainResult, error) {
	opts := ChildOptions(in.Drain)
	if in.DrainWorkflowID != "" {
		opts.WorkflowID = in.DrainWorkflowID
	}
	// The drain runs where the schedule's workflow runs.
	opts.TaskQueue = workflow.GetInfo(ctx).TaskQueueName
	// ctx itself stays the workflow's: the current details live on it.
	audit := startAudit(ctx, scheduledAudit(in.Drain))

	var res DrainResult
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), WorkflowName, in.Drain).Get(ctx, &res)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		msg := fmt.Sprintf("skipped: a drain of %s is already running as workflow %s; nothing was touched",
			in.Drain.Selector, opts.WorkflowID)
		workflow.GetLogger(ctx).Warn("scheduled drain skipped", "drain_workflow_id", opts.WorkflowID)
		audit.setPhase(ctx, PhaseSkipped)
		return DrainResult{}, temporal.NewNonRetryableApplicationError(msg, ErrAlreadyRunning, err)
	}
	audit.setPhase(ctx, scheduledOutcome(res, err))
	return res, err
}
