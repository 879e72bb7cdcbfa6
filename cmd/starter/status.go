package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/workflows"
)

// watchCmd holds the flags of status and cancel.
type watchCmd struct {
	wait, json bool
}

// statusCommand is "starter status".
func (a *app) statusCommand() *cobra.Command {
	var c watchCmd
	cmd := &cobra.Command{
		Use: "status [--json] [--wait] WORKFLOW_ID",
		Long: `Shows a drain: its workflow status (running, completed, failed, cancelled,
terminated, timed out), its progress while it runs (the progress query,
answered by a worker), and its result once it has ended. Exits 0 when the
drain runs or completed, 1 when it failed or was cancelled.`,
		Args: oneArg("WORKFLOW_ID"),
		RunE: func(cmd *cobra.Command, args []string) error { return exit(a.status(cmd.Context(), &c, args[0])) },
	}
	cmd.Flags().BoolVar(&c.wait, "wait", false, "follow the drain until it ends, showing its progress, and exit with its outcome")
	cmd.Flags().BoolVar(&c.json, "json", false, "print the status as JSON on stdout; progress and messages go to stderr")
	return cmd
}

// statusReport is what status prints, as text or as JSON.
type statusReport struct {
	WorkflowID string    `json:"WorkflowId"`
	RunID      string    `json:"RunId"`
	Status     string    `json:"Status"`
	Started    time.Time `json:"Started"`
	Closed     time.Time `json:"Closed,omitzero"`
	URL        string    `json:"URL"`
	// Progress is the progress query's answer while the drain runs;
	// ProgressError says why there is none.
	Progress      *workflows.Progress `json:"Progress,omitempty"`
	ProgressError string              `json:"ProgressError,omitempty"`
	// Result is the DrainResult of a completed drain; Failure explains
	// one that failed, was cancelled, terminated or timed out.
	Result  *workflows.DrainResult `json:"Result,omitempty"`
	Failure *failure               `json:"Failure,omitempty"`
}

// statusNames are the workflow statuses as status prints them.
var statusNames = map[enumspb.WorkflowExecutionStatus]string{
	enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:          "running",
	enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED:           "paused",
	enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:        "completed",
	enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:           "failed",
	enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:         "cancelled",
	enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:       "terminated",
	enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "continued-as-new",
	enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:        "timed-out",
}

func isOpen(s enumspb.WorkflowExecutionStatus) bool {
	return s == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || s == enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED
}

// describeWorkflow describes the latest run of the workflow id. On failure
// (no such workflow in namespace, or the server's error) it prints why for
// cmd and returns exitFailed; else the description and -1.
func (a *app) describeWorkflow(ctx context.Context, tc client.Client, cmd, namespace, id string) (*client.WorkflowExecutionDescription, int) {
	desc, err := tc.DescribeWorkflow(ctx, id, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		a.errorf(cmd, "no workflow with ID %q in namespace %s", id, namespace)
		return nil, exitFailed
	case err != nil:
		a.errorf(cmd, "describing workflow %s: %v", id, err)
		return nil, exitFailed
	}
	return desc, -1
}

// describeDrain describes the latest run of the drain with this workflow
// ID. An ID a running drain holds for its rule (a DrainClaim: the rule
// named the other way) stands for that drain: its description and ID are
// returned instead, and said so on stderr. A restore (RestoreTargets) is
// returned with the code isRestore. On failure it prints why and returns
// the exit code; else -1.
func (a *app) describeDrain(ctx context.Context, tc client.Client, cmd, namespace, id string) (*client.WorkflowExecutionDescription, string, int) {
	desc, code := a.describeWorkflow(ctx, tc, cmd, namespace, id)
	if code >= 0 {
		return nil, id, code
	}
	if parent := desc.ParentWorkflowExecution; desc.WorkflowType.Name == workflows.ClaimWorkflowName && parent != nil {
		fmt.Fprintf(a.stderr, "%s %s: %s is held by the drain %s of the same rule; following that drain.\n", a.prog, cmd, id, parent.ID)
		return a.describeDrain(ctx, tc, cmd, namespace, parent.ID)
	}
	if desc.WorkflowType.Name == workflows.RestoreWorkflowName {
		return desc, id, isRestore
	}
	if name := desc.WorkflowType.Name; name != workflows.WorkflowName {
		a.errorf(cmd, "workflow %s is a %s, not a clbdrain drain (%s)", id, name, workflows.WorkflowName)
		return nil, id, exitUsage
	}
	return desc, id, -1
}

func (a *app) status(ctx context.Context, c *watchCmd, id string) int {
	if isServersID(id) {
		return a.serversStatus(ctx, c, id)
	}
	tc, namespace, ok := a.connect(ctx, "status")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	info, id, code := a.describeDrain(ctx, tc, "status", namespace, id)
	if code == isRestore {
		return a.restoreStatus(ctx, tc, c, namespace, info)
	}
	if code >= 0 {
		return code
	}
	if c.wait && isOpen(info.Status) {
		if info, code = a.waitForEnd(ctx, tc, c.json, namespace, id, info.WorkflowStartTime); code >= 0 {
			return code
		}
	}
	rep, code := a.statusReport(ctx, tc, namespace, id, info)
	switch {
	case rep.Progress != nil:
		a.warn("status", rep.Progress.Warnings)
	case rep.Result != nil:
		a.warn("status", rep.Result.Warnings)
	}
	if c.json {
		if jsonCode := a.printJSON("status", rep); jsonCode != exitOK {
			return jsonCode
		}
		return code
	}
	a.printStatus(a.stdout, rep, time.Now())
	return code
}

// waitForEnd follows a running drain until it ends and describes it
// again. On failure it prints why and returns the exit code; else -1.
func (a *app) waitForEnd(ctx context.Context, tc client.Client, asJSON bool, namespace, id string, since time.Time) (*client.WorkflowExecutionDescription, int) {
	out := a.output(asJSON)
	_, err := a.watch(ctx, tc, "status", tc.GetWorkflow(ctx, id, ""), out, since)
	if a.interrupted(ctx, "status", id) {
		return nil, exitFailed
	}
	// The run's end is reported from a fresh description.
	info, _, code := a.describeDrain(ctx, tc, "status", namespace, id)
	if code >= 0 {
		return nil, code
	}
	if err != nil && isOpen(info.Status) {
		a.errorf("status", "watching drain %s: %v", id, err)
		return nil, exitFailed
	}
	return info, -1
}

// statusReport is what status says of a drain described by info, and the
// exit code that goes with it.
func (a *app) statusReport(ctx context.Context, tc client.Client, namespace, id string, info *client.WorkflowExecutionDescription) (statusReport, int) {
	rep := statusReport{
		WorkflowID: id,
		RunID:      info.WorkflowExecution.RunID,
		Status:     statusNames[info.Status],
		Started:    info.WorkflowStartTime,
		URL:        connect.WorkflowURL(connect.UIAddress(), namespace, id, info.WorkflowExecution.RunID),
	}
	if rep.Status == "" {
		rep.Status = strings.ToLower(strings.TrimPrefix(info.Status.String(), "WORKFLOW_EXECUTION_STATUS_"))
	}
	if isOpen(info.Status) {
		p, err := a.queryProgress(ctx, tc, id)
		if err != nil {
			rep.ProgressError = queryErrorText(err)
		} else {
			rep.Progress = &p
		}
		return rep, exitOK
	}
	if info.WorkflowCloseTime != nil {
		rep.Closed = *info.WorkflowCloseTime
	}
	var res workflows.DrainResult
	if err := tc.GetWorkflow(ctx, id, rep.RunID).Get(ctx, &res); err != nil {
		f := explain(err)
		rep.Failure = &f
		return rep, exitFailed
	}
	rep.Result = &res
	if res.Cancelled {
		return rep, exitFailed
	}
	return rep, exitOK
}

// printStatus writes a status report as text.
func (a *app) printStatus(w io.Writer, rep statusReport, now time.Time) {
	const timeFormat = "2006-01-02 15:04:05 MST"
	fmt.Fprintf(w, "drain %s\n", rep.WorkflowID)
	if rep.Closed.IsZero() {
		fmt.Fprintf(w, "  status:   %s since %s (%s)\n", rep.Status, rep.Started.Local().Format(timeFormat), formatDuration(now.Sub(rep.Started)))
	} else {
		fmt.Fprintf(w, "  status:   %s at %s, after %s\n", rep.Status, rep.Closed.Local().Format(timeFormat), formatDuration(rep.Closed.Sub(rep.Started)))
	}
	fmt.Fprintf(w, "  run ID:   %s\n  UI:       %s\n", rep.RunID, rep.URL)
	switch {
	case rep.Progress != nil:
		fmt.Fprintf(w, "  progress: %s\n", progressLine(*rep.Progress, rep.Started, now, false, 0))
		fmt.Fprintf(w, "  watch it: %s\n  cancel it: %s\n", a.command("status", "--wait", rep.WorkflowID), a.command("cancel", rep.WorkflowID))
	case rep.ProgressError != "":
		fmt.Fprintf(w, "  progress: unknown: %s\n", rep.ProgressError)
	case rep.Result != nil:
		_, text := outcome(rep.WorkflowID, *rep.Result, nil, false)
		fmt.Fprintln(w, text)
	case rep.Failure != nil:
		fmt.Fprintf(w, "  failure:  %s\n", rep.Failure.Message)
		if rep.Failure.Type != "" {
			fmt.Fprintf(w, "  error type: %s\n", rep.Failure.Type)
		}
		if rep.Failure.Activity != "" {
			fmt.Fprintf(w, "  in activity: %s\n", rep.Failure.Activity)
		}
	}
}
