package workflows_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// turnsHistories are recorded histories of LoadBalancerTurns: drains of one
// load balancer taking turns on a dev server, written by
// TestRecordTurnsHistory (e2e/turns_record_test.go).
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

// TestRecordedTurnsPayloadsKeepTheirShape decodes every payload of the
// recorded turns histories (input, requests, turns, releases, renewals,
// waiting notices) into today's types and encodes it again, byte for byte.
func TestRecordedTurnsPayloadsKeepTheirShape(t *testing.T) {
	signals := map[string]payloadCheck{
		turns.SignalRelease: sameJSON[turns.Release],
		turns.SignalRenew:   sameJSON[turns.Turn],
		turns.SignalWaiting: sameJSON[turns.Waiting],
	}
	for _, f := range turnsHistories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var hist historypb.History
			require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, &hist))
			seen := map[string]int{}
			for _, e := range hist.GetEvents() {
				switch e.GetEventType() {
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
					sameJSON[turns.Input](t, "input", e.GetWorkflowExecutionStartedEventAttributes().GetInput())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
					sameJSON[turns.Request](t, "request", e.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetArgs())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
					sameJSON[turns.Turn](t, "turn", e.GetWorkflowExecutionUpdateCompletedEventAttributes().GetOutcome().GetSuccess())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
					attrs := e.GetWorkflowExecutionSignaledEventAttributes()
					require.Contains(t, signals, attrs.GetSignalName())
					signals[attrs.GetSignalName()](t, attrs.GetSignalName(), attrs.GetInput())
				case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
					attrs := e.GetSignalExternalWorkflowExecutionInitiatedEventAttributes()
					require.Equal(t, turns.SignalWaiting, attrs.GetSignalName())
					sameJSON[turns.Waiting](t, "waiting", attrs.GetInput())
				default:
					continue
				}
				seen[e.GetEventType().String()]++
			}
			require.Len(t, seen, 5, "every kind of payload was checked: %v", seen)
		})
	}
}
