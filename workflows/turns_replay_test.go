package workflows_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// turnsHistories are recorded histories of LoadBalancerTurns: four drains
// of one load balancer taking turns on a dev server (e2e/turns_test.go),
// written with `temporal workflow show --output json`.
func turnsHistories(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "turns", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded history of %s", turns.WorkflowName)
	return files
}

// TestReplayTurns replays the recorded turns histories against the
// workflow as it is now: a change to its commands for the same events
// needs workflow.GetVersion, or the turns workflows running at an upgrade
// would break.
func TestReplayTurns(t *testing.T) {
	for _, f := range turnsHistories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.LoadBalancerTurns, workflow.RegisterOptions{Name: turns.WorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(quietLogger(t), f))
		})
	}
}

// TestReplayTurnsDetectsChanges shows that TestReplayTurns has teeth.
func TestReplayTurnsDetectsChanges(t *testing.T) {
	changed := func(ctx workflow.Context, in turns.Input) error {
		if err := workflow.Sleep(ctx, 1); err != nil {
			return err
		}
		return workflows.LoadBalancerTurns(ctx, in)
	}
	for _, f := range turnsHistories(t) {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: turns.WorkflowName})
		silent := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.ErrorContains(t, r.ReplayWorkflowHistoryFromJSONFile(silent, f), "[TMPRL1100]", "%s: want a nondeterminism error", f)
	}
}
