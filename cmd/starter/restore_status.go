package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/workflows"
)

// isRestore is what describeDrain returns, as its exit code, for a
// RestoreTargets workflow: status and cancel hand it to restoreStatus and
// restoreCancel.
const isRestore = -2

// restoreStatus is "starter status" of a restore: its progress while it
// runs (followed to its end with --wait), else how it ended, with the
// exit code of reportRestore.
func (a *app) restoreStatus(ctx context.Context, tc client.Client, c *watchCmd, namespace string, info *client.WorkflowExecutionDescription) int {
	id, runID := info.WorkflowExecution.ID, info.WorkflowExecution.RunID
	out := a.output(c.json)
	fmt.Fprintf(out, "restore %s (%s)\n  UI: %s\n", id, statusNames[info.Status], connect.WorkflowURL(connect.UIAddress(), namespace, id, runID))
	if isOpen(info.Status) && !c.wait {
		p, err := queryProgressAs[workflows.RestoreProgress](ctx, tc, a.queryTimeout, id)
		fmt.Fprintln(out, restoreLine(p, err, info.WorkflowStartTime, time.Now(), false, 0))
		return exitOK
	}
	return a.endOfRestore(ctx, tc, id, info.WorkflowStartTime, c.json, false)
}

// restoreCancel is "starter cancel" of a restore: it stops where it is,
// leaving what is registered at its current weight.
func (a *app) restoreCancel(ctx context.Context, tc client.Client, c *watchCmd, info *client.WorkflowExecutionDescription) int {
	id := info.WorkflowExecution.ID
	if code := a.requestCancel(ctx, tc, "restore", id, info.Status); code >= 0 {
		return code
	}
	out := a.output(c.json)
	fmt.Fprintf(out, "cancellation requested for restore %s.\n"+
		"It stops after the change in flight; what is registered stays at its current weight, and it reports each.\n", id)
	if !c.wait {
		fmt.Fprintf(out, "  watch it: %s\n", a.command("status", "--wait", id))
		return exitOK
	}
	return a.endOfRestore(ctx, tc, id, info.WorkflowStartTime, c.json, true)
}

// endOfRestore follows the restore id to its end and reports it; a
// cancelled restore is success when cancelling.
func (a *app) endOfRestore(ctx context.Context, tc client.Client, id string, since time.Time, asJSON, cancelling bool) int {
	out := a.output(asJSON)
	res, err := a.watchRestore(ctx, tc, tc.GetWorkflow(ctx, id, ""), out, since)
	if a.interrupted(ctx, "status", id) {
		return exitFailed
	}
	code := a.reportRestore(id, res, err, asJSON)
	if cancelling && err == nil && res.Cancelled {
		return exitOK
	}
	return code
}
