package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
)

// unscheduleCommand is "starter unschedule".
func (a *app) unscheduleCommand() *cobra.Command {
	return &cobra.Command{
		Use: "unschedule SCHEDULE_ID",
		Long: `Deletes a schedule made by "schedule". Drains it already started keep
running; cancel them with "cancel".`,
		Args: oneArg("SCHEDULE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error { return exit(a.unschedule(cmd.Context(), args[0])) },
	}
}

func (a *app) unschedule(ctx context.Context, id string) int {
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
