package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/workflows"
)

// scheduledWorkflowIDPrefix starts the IDs of the ScheduledDrain workflows a
// schedule starts (Temporal appends the start time).
const scheduledWorkflowIDPrefix = "clb-drain-schedule/"

// scheduleCmd holds the flags of the schedule subcommand.
type scheduleCmd struct {
	drainFlags
	id    string
	crons []string
	every time.Duration
	pause bool
}

func (c *scheduleCmd) flagSet(prog string) *flag.FlagSet {
	fs := newFlagSet(prog, "schedule")
	c.register(fs)
	fs.StringVar(&c.id, "schedule-id", "", "the schedule's `ID` (required)")
	fs.Func("cron", "a cron `EXPR`ession, such as \"0 3 * * SUN\" (UTC unless it starts with CRON_TZ=);\nrepeat the flag for more", func(s string) error {
		c.crons = append(c.crons, s)
		return nil
	})
	fs.DurationVar(&c.every, "every", 0, "run every `DURATION`, such as 24h")
	fs.BoolVar(&c.pause, "pause", false, "create the schedule paused: no drain runs until it is unpaused")
	return fs
}

// problems checks the schedule's own flags.
func (c *scheduleCmd) problems() []clb.Problem {
	var out []clb.Problem
	if strings.TrimSpace(c.id) == "" {
		out = append(out, clb.Problem{Field: "--schedule-id", Value: c.id, Reason: "is required"})
	}
	if len(c.crons) == 0 && c.every == 0 {
		out = append(out, clb.Problem{Field: "--cron or --every", Reason: "is required: when the drain runs"})
	}
	for _, cron := range c.crons {
		if strings.TrimSpace(cron) == "" {
			out = append(out, clb.Problem{Field: "--cron", Reason: "must not be empty"})
		}
	}
	if c.every < 0 || c.every > 0 && c.every < time.Second {
		out = append(out, clb.Problem{Field: "--every", Value: c.every.String(), Reason: "must be 1s or more"})
	}
	return out
}

func (a *app) schedule(ctx context.Context, args []string) int {
	var c scheduleCmd
	fs := c.flagSet(a.prog)
	if code, _ := a.parse(fs, "schedule", args, ""); code >= 0 {
		return code
	}
	problems := c.problems()
	in, inputProblems := c.input(a.stdin)
	if problems = append(problems, inputProblems...); len(problems) > 0 {
		a.printProblems("schedule", problems)
		return exitUsage
	}
	workflowID := c.workflowID
	if workflowID == "" {
		workflowID = workflows.WorkflowIDFor(in)
	}
	spec := client.ScheduleSpec{CronExpressions: c.crons}
	if c.every > 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: c.every}}
	}

	tc, namespace, ok := a.connect(ctx, "schedule")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	note := "clbdrain: drain of " + in.Selector.String()
	if in.Reason != "" {
		note += ": " + in.Reason
	}
	handle, err := tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   c.id,
		Spec: spec,
		// The schedule starts ScheduledDrain, which runs the drain under
		// workflowID: a schedule's own workflow IDs carry the start time, so
		// only the child's fixed ID keeps a scheduled drain from running
		// beside a drain of the same listener started by hand.
		Action: &client.ScheduleWorkflowAction{
			ID:                       scheduledWorkflowIDPrefix + c.id,
			Workflow:                 workflows.ScheduledWorkflowName,
			Args:                     []any{workflows.ScheduledDrainInput{Drain: in, DrainWorkflowID: workflowID}},
			TaskQueue:                c.taskQueue,
			WorkflowExecutionTimeout: c.timeout,
		},
		// A time that comes while the previous scheduled drain still runs
		// is skipped.
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Paused:  c.pause,
		Note:    note,
	})
	switch {
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		a.errorf("schedule", "a schedule with ID %q already exists; nothing was changed.\n  delete it first: %s",
			c.id, a.command("unschedule", c.id))
		return exitAlreadyRunning
	case err != nil:
		a.errorf("schedule", "creating schedule %s: %v", c.id, err)
		return exitCodeOfServiceError(err)
	}

	fmt.Fprintf(a.stdout, "created schedule %s: drain of %s, %d targets\n", c.id, in.Selector, len(in.Targets))
	for _, cron := range c.crons {
		fmt.Fprintf(a.stdout, "  cron:          %s\n", cron)
	}
	if c.every > 0 {
		fmt.Fprintf(a.stdout, "  every:         %s\n", c.every)
	}
	fmt.Fprintf(a.stdout, "  each run:      %s%s-<start time>, which runs the drain as %s\n", scheduledWorkflowIDPrefix, c.id, workflowID)
	fmt.Fprintf(a.stdout, "                 (skipped while a drain of that listener is running)\n")
	if c.pause {
		fmt.Fprintf(a.stdout, "  paused:        no drain runs until it is unpaused\n")
	} else if desc, err := handle.Describe(ctx); err != nil {
		a.errorf("schedule", "the schedule was created, but describing it failed: %v", err)
	} else {
		for i, t := range desc.Info.NextActionTimes {
			if i == 3 {
				break
			}
			fmt.Fprintf(a.stdout, "  next drain:    %s\n", t.Local().Format("2006-01-02 15:04:05 MST"))
		}
	}
	fmt.Fprintf(a.stdout, "  UI:            %s\n  delete it:     %s\n",
		scheduleURL(connect.UIAddress(), namespace, c.id), a.command("unschedule", c.id))
	return exitOK
}

// scheduleURL is the Temporal UI page of a schedule.
func scheduleURL(uiAddress, namespace, scheduleID string) string {
	return strings.TrimRight(uiAddress, "/") + "/namespaces/" + url.PathEscape(namespace) +
		"/schedules/" + url.PathEscape(scheduleID)
}

func (a *app) unschedule(ctx context.Context, args []string) int {
	fs := newFlagSet(a.prog, "unschedule")
	code, positional := a.parse(fs, "unschedule", args, "SCHEDULE_ID")
	if code >= 0 {
		return code
	}
	id := positional[0]
	tc, namespace, ok := a.connect(ctx, "unschedule")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	err := tc.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		a.errorf("unschedule", "no schedule with ID %q in namespace %s", id, namespace)
		return exitFailed
	case err != nil:
		a.errorf("unschedule", "deleting schedule %s: %v", id, err)
		return exitFailed
	}
	fmt.Fprintf(a.stdout, "deleted schedule %s; drains it already started keep running (stop one with %s)\n",
		id, a.command("cancel", "WORKFLOW_ID"))
	return exitOK
}
