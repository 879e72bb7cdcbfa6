package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// cancelCommand is "starter cancel".
func (a *app) cancelCommand() *cobra.Command {
	var c watchCmd
	cmd := &cobra.Command{
		Use: "cancel [--json] [--wait] WORKFLOW_ID",
		Long: `Asks a running drain to stop. The chunk in flight finishes (or is abandoned
cleanly), the targets drained to weight 0 but not yet deregistered get their
original weights back, and the drain reports what it did. Targets already
deregistered stay deregistered. A restore (clb-restore/...) stops after its change in
flight, leaving what it registered at its current weight.`,
		Args: oneArg("WORKFLOW_ID"),
		RunE: func(cmd *cobra.Command, args []string) error { return exit(a.cancel(cmd.Context(), &c, args[0])) },
	}
	cmd.Flags().BoolVar(&c.wait, "wait", false, "wait for the drain to stop, showing its progress, and print its final result")
	cmd.Flags().BoolVar(&c.json, "json", false, "print the final DrainResult (with --wait) as JSON on stdout; progress and messages go to stderr")
	return cmd
}

func (a *app) cancel(ctx context.Context, c *watchCmd, id string) int {
	if isServersID(id) {
		return a.serversCancel(ctx, c, id)
	}
	tc, namespace, ok := a.connect(ctx, "cancel")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	info, id, code := a.describeDrain(ctx, tc, "cancel", namespace, id)
	if code == isRestore {
		return a.restoreCancel(ctx, tc, c, info)
	}
	if code >= 0 {
		return code
	}
	if code := a.requestCancel(ctx, tc, "drain", id, info.Status); code >= 0 {
		return code
	}
	out := a.output(c.json)
	fmt.Fprintf(out, "cancellation requested for drain %s.\n"+
		"The chunk in flight finishes (or is abandoned cleanly), targets drained to weight 0 but\n"+
		"not yet deregistered get their original weights back, and the drain reports what it did.\n", id)
	if !c.wait {
		fmt.Fprintf(out, "  watch it: %s\n", a.command("status", "--wait", id))
		if c.json {
			return a.printJSON("cancel", map[string]any{"WorkflowId": id, "CancelRequested": true})
		}
		return exitOK
	}
	res, err := a.watch(ctx, tc, "cancel", tc.GetWorkflow(ctx, id, ""), out, info.WorkflowStartTime)
	if a.interrupted(ctx, "cancel", id) {
		return exitFailed
	}
	return a.report("cancel", id, res, err, true, c.json)
}

// requestCancel asks the server to cancel the workflow id, a kind ("drain",
// "server drain", "restore") whose status is status. One that is not
// running, or a request the server refuses, is said on stderr with
// exitFailed; else it returns -1.
func (a *app) requestCancel(ctx context.Context, tc client.Client, kind, id string, status enumspb.WorkflowExecutionStatus) int {
	if !isOpen(status) {
		a.errorf("cancel", "%s %s is not running (%s); nothing to cancel.\n  see it: %s", kind, id, statusNames[status], a.command("status", id))
		return exitFailed
	}
	if err := tc.CancelWorkflow(ctx, id, ""); err != nil {
		a.errorf("cancel", "cancelling workflow %s: %v", id, err)
		return exitFailed
	}
	return -1
}
