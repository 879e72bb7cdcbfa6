package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/workflows"
)

// approveCmd holds the flags of approve and reject.
type approveCmd struct {
	by, comment, planID string
}

// approveCommand is "starter approve" (approve true) or "starter reject".
func (a *app) approveCommand(approve bool) *cobra.Command {
	var c approveCmd
	name, update, verb := "reject", workflows.UpdateReject, "Rejects"
	if approve {
		name, update, verb = "approve", workflows.UpdateApprove, "Approves"
	}
	cmd := &cobra.Command{
		Use: name + " WORKFLOW_ID --by NAME [--comment TEXT] [--plan ID]",
		Long: verb + ` the plan of a server drain started with --approval, which waits for it.
The plan is the one the drain shows now (or --plan ID): a decision on a plan
that is no longer current is refused, as is one without --by. Approved, the
drain reads the bindings again before changing anything and fails if they
moved since the plan. Exits 2 when the drain refuses the decision.`,
		Args: oneArg("WORKFLOW_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exit(a.decide(cmd.Context(), name, update, args[0], &c))
		},
	}
	cmd.Flags().StringVar(&c.by, "by", "", "who decides, as a `NAME` recorded in the result (required)")
	cmd.Flags().StringVar(&c.comment, "comment", "", "a `TEXT` recorded with the decision")
	cmd.Flags().StringVar(&c.planID, "plan", "", "the plan `ID` reviewed (default: the drain's current plan)")
	return cmd
}

func (a *app) decide(ctx context.Context, name, update, id string, c *approveCmd) int {
	if c.by == "" {
		a.errorf(name, "--by is required: who decides; nothing was sent")
		return exitUsage
	}
	tc, _, ok := a.connect(ctx, name)
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	if c.planID == "" {
		p, err := a.queryServersProgress(ctx, tc, id)
		if err != nil || p.Plan == nil {
			a.errorf(name, "reading the plan of %s: %v (is it a server drain waiting for approval?)", id, errOr(err, "no plan yet"))
			return exitFailed
		}
		c.planID = p.Plan.ID
	}
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: update, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.ApprovalInput{PlanID: c.planID, By: c.by, Comment: c.comment}}})
	var decision workflows.Approval
	if err == nil {
		err = h.Get(ctx, &decision)
	}
	if err != nil {
		var nf *serviceerror.NotFound
		code := exitUsage
		if errors.As(err, &nf) || ctx.Err() != nil {
			code = exitFailed
		}
		a.errorf(name, "%s refused: %v", id, err)
		return code
	}
	past := "rejected"
	if decision.Approved {
		past = "approved"
	}
	fmt.Fprintf(a.stdout, "%s: plan %s %s by %s\n", id, decision.PlanID, past, decision.By)
	return exitOK
}

// errOr is err's text, or text when err is nil.
func errOr(err error, text string) string {
	if err != nil {
		return err.Error()
	}
	return text
}
