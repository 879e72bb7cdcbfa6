package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
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

const scheduleAbout = `Creates a Temporal Schedule that starts the same drain at every time given by
--cron or --every (both may be given: the drain runs at each time either
names), for recurring maintenance. The input is checked first, as for drain.
A time that comes while the previous scheduled drain still runs is skipped
(overlap policy SKIP). Each run is a ScheduledDrain workflow that runs the
drain as a child under the drain's workflow ID, so a scheduled drain is also
skipped (failing with DrainAlreadyRunning) while a drain of the same listener
started by hand runs: one listener is never drained twice at once. The
targets file is read now and kept in the schedule.`

// scheduleCommand is "starter schedule".
func (a *app) scheduleCommand() *cobra.Command {
	var c scheduleCmd
	cmd := &cobra.Command{
		Use:  "schedule --schedule-id ID (--cron EXPR... | --every DURATION) [--pause] [drain flags]",
		Long: scheduleAbout,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return exit(a.schedule(cmd.Context(), &c)) },
	}
	fs := cmd.Flags()
	c.register(fs)
	fs.StringVar(&c.id, "schedule-id", "", "the schedule's `ID` (required)")
	fs.StringArrayVar(&c.crons, "cron", nil,
		"a cron `EXPR`ession, such as \"0 3 * * SUN\" (UTC unless it starts with CRON_TZ=); repeat the flag for more")
	fs.DurationVar(&c.every, "every", 0, "run every `DURATION`, such as 24h")
	fs.BoolVar(&c.pause, "pause", false, "create the schedule paused: no drain runs until it is unpaused")
	return cmd
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

func (a *app) schedule(ctx context.Context, c *scheduleCmd) int {
	problems := c.problems()
	c.defaultRequester(a.user)
	in, inputProblems := c.input(a.stdin)
	if problems = append(problems, inputProblems...); len(problems) > 0 {
		a.printProblems("schedule", problems)
		return exitUsage
	}
	workflowID := c.workflowIDOf(in)
	tc, namespace, ok := a.connect(ctx, "schedule")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	handle, err := tc.ScheduleClient().Create(ctx, c.options(in, workflowID))
	switch {
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		a.errorf("schedule", "a schedule with ID %q already exists; nothing was changed.\n  delete it first: %s",
			c.id, a.command("unschedule", c.id))
		return exitAlreadyRunning
	case err != nil:
		a.errorf("schedule", "creating schedule %s: %v", c.id, err)
		return exitCodeOfServiceError(err)
	}
	a.printSchedule(ctx, c, handle, in, workflowID, namespace)
	return exitOK
}

// options is the schedule to create: it starts ScheduledDrain, which runs
// the drain as a child under workflowID.
func (c *scheduleCmd) options(in workflows.DrainInput, workflowID string) client.ScheduleOptions {
	spec := client.ScheduleSpec{CronExpressions: c.crons}
	if c.every > 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: c.every}}
	}
	note := "clbdrain: drain of " + in.Selector.String()
	if in.Reason != "" {
		note += ": " + in.Reason
	}
	return client.ScheduleOptions{
		ID:   c.id,
		Spec: spec,
		// A schedule's own workflow IDs carry the start time, so only the
		// child's fixed ID keeps a scheduled drain from running beside a
		// drain of the same listener started by hand.
		Action: &client.ScheduleWorkflowAction{
			ID:                       scheduledWorkflowIDPrefix + c.id,
			Workflow:                 workflows.ScheduledWorkflowName,
			Args:                     []any{workflows.ScheduledDrainInput{Drain: in, DrainWorkflowID: workflowID}},
			TaskQueue:                c.taskQueue,
			WorkflowExecutionTimeout: c.timeout,
			StaticSummary:            "scheduled " + workflows.Summary(in),
			StaticDetails:            workflows.Details(in),
		},
		// A time that comes while the previous scheduled drain still runs
		// is skipped.
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Paused:  c.pause,
		Note:    note,
	}
}

// printSchedule describes a created schedule and its next drains.
func (a *app) printSchedule(ctx context.Context, c *scheduleCmd, handle client.ScheduleHandle, in workflows.DrainInput, workflowID, namespace string) {
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
}

// scheduleURL is the Temporal UI page of a schedule.
func scheduleURL(uiAddress, namespace, scheduleID string) string {
	return strings.TrimRight(uiAddress, "/") + "/namespaces/" + url.PathEscape(namespace) +
		"/schedules/" + url.PathEscape(scheduleID)
}
