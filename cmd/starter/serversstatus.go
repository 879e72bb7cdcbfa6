package main

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// isServersID reports whether id is a server drain's or a plan's
// conventional workflow ID, which status and cancel hand to serversStatus
// and serversCancel.
func isServersID(id string) bool {
	return strings.HasPrefix(id, workflows.ServersIDPrefix) || strings.HasPrefix(id, workflows.PlanIDPrefix) ||
		strings.HasPrefix(id, workflows.ServerClaimID(clb.Server{}))
}

// describeServers describes the server drain id; a server's claim
// (ServerClaimID) stands for the drain that holds it. On failure it prints
// why and returns the exit code; else -1, and the drain's ID.
func (a *app) describeServers(ctx context.Context, tc client.Client, cmd, namespace, id string) (*client.WorkflowExecutionDescription, string, int) {
	desc, code := a.describeWorkflow(ctx, tc, cmd, namespace, id)
	if code >= 0 {
		return nil, id, code
	}
	if parent := desc.ParentWorkflowExecution; desc.WorkflowType.Name == workflows.ClaimWorkflowName && parent != nil {
		fmt.Fprintf(a.stderr, "%s %s: %s is held by the server drain %s; following that drain.\n", a.prog, cmd, id, parent.ID)
		return a.describeServers(ctx, tc, cmd, namespace, parent.ID)
	}
	if desc.WorkflowType.Name != workflows.ServersWorkflowName {
		a.errorf(cmd, "workflow %s is a %s, not a server drain (%s)", id, desc.WorkflowType.Name, workflows.ServersWorkflowName)
		return nil, id, exitUsage
	}
	return desc, id, -1
}

// serversStatus is "starter status" of a server drain: its progress while
// it runs (its plan too while it waits for approval), followed to its end
// with --wait, else its outcome.
func (a *app) serversStatus(ctx context.Context, c *watchCmd, id string) int {
	tc, namespace, ok := a.connect(ctx, "status")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	desc, id, code := a.describeServers(ctx, tc, "status", namespace, id)
	if code >= 0 {
		return code
	}
	out := a.output(c.json)
	if isOpen(desc.Status) && !c.wait {
		p, err := a.queryServersProgress(ctx, tc, id)
		if err != nil {
			a.errorf("status", "server drain %s runs; its progress is unknown: %s", id, queryErrorText(err))
			return exitOK
		}
		if p.Plan != nil && p.Phase == workflows.PhaseAwaiting {
			a.printPlan(out, *p.Plan, nil)
		}
		fmt.Fprintf(out, "server drain %s: %s\n", id, serversLine(p))
		if c.json {
			return a.printJSON("status", p)
		}
		return exitOK
	}
	run := tc.GetWorkflow(ctx, id, "")
	if isOpen(desc.Status) {
		res, err := a.watchServers(ctx, tc, run, out, false)
		if a.interrupted(ctx, "status", id) {
			return exitFailed
		}
		return a.reportServers("status", id, res, err, c.json)
	}
	var res workflows.ServersResult
	err := run.Get(ctx, &res)
	return a.reportServers("status", id, res, err, c.json)
}

// serversCancel is "starter cancel" of a server drain: the children in
// flight finish their chunk, and every weight it set to 0 on a target it
// did not remove is given back.
func (a *app) serversCancel(ctx context.Context, c *watchCmd, id string) int {
	tc, namespace, ok := a.connect(ctx, "cancel")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	desc, id, code := a.describeServers(ctx, tc, "cancel", namespace, id)
	if code >= 0 {
		return code
	}
	if code := a.requestCancel(ctx, tc, "server drain", id, desc.Status); code >= 0 {
		return code
	}
	out := a.output(c.json)
	fmt.Fprintf(out, "cancellation requested for server drain %s: the drains in flight finish their chunk,\n"+
		"and every weight it set to 0 on a target it did not remove is given back.\n", id)
	if !c.wait {
		return exitOK
	}
	res, err := a.watchServers(ctx, tc, tc.GetWorkflow(ctx, id, ""), out, false)
	if a.interrupted(ctx, "cancel", id) {
		return exitFailed
	}
	code = a.reportServers("cancel", id, res, err, c.json)
	if res.Cancelled {
		return exitOK
	}
	return code
}
