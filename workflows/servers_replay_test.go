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

	"github.com/clbdrain/clbdrain/workflows"
)

// serversHistories are recorded histories of DrainServers, written by
// TestRecordServersHistory (e2e/servers_record_test.go).
func serversHistories(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "servers", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded history of %s", workflows.ServersWorkflowName)
	return files
}

// TestReplayServers replays the recorded DrainServers histories against
// the workflow as it is now: a change to its commands for the same events
// needs workflow.GetVersion.
func TestReplayServers(t *testing.T) {
	for _, f := range serversHistories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.DrainServers, workflow.RegisterOptions{Name: workflows.ServersWorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(quietLogger(t), f))
		})
	}
}

// TestReplayServersDetectsChanges shows that TestReplayServers has teeth.
func TestReplayServersDetectsChanges(t *testing.T) {
	changed := func(ctx workflow.Context, in workflows.ServersInput) (workflows.ServersResult, error) {
		if err := workflow.Sleep(ctx, 1); err != nil {
			return workflows.ServersResult{}, err
		}
		return workflows.DrainServers(ctx, in)
	}
	for _, f := range serversHistories(t) {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.ServersWorkflowName})
		silent := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.ErrorContains(t, r.ReplayWorkflowHistoryFromJSONFile(silent, f), "[TMPRL1100]", "%s: want a nondeterminism error", f)
	}
}
