package workflows_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/workflows"
)

// sameJSON decodes data into a T and encodes it again: the bytes must not
// change, so that what the recorded histories hold and what the types write
// now are one shape.
func sameJSON[T any](t *testing.T, what string, p *commonpb.Payloads) {
	t.Helper()
	require.NotEmpty(t, p.GetPayloads(), what)
	data := p.GetPayloads()[0].GetData()
	var v T
	require.NoError(t, json.Unmarshal(data, &v), what)
	again, err := json.Marshal(v)
	require.NoError(t, err, what)
	require.Equal(t, string(data), string(again), what)
}

// TestRecordedPayloadsKeepTheirShape decodes every workflow input and
// result, activity input and activity result of the recorded histories into
// today's types and encodes them again, byte for byte.
func TestRecordedPayloadsKeepTheirShape(t *testing.T) {
	for _, f := range historyFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var hist historypb.History
			require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, &hist))
			types := map[int64]string{}
			checked := 0
			for _, e := range hist.GetEvents() {
				switch e.GetEventType() {
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
					sameJSON[workflows.DrainInput](t, "input", e.GetWorkflowExecutionStartedEventAttributes().GetInput())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
					sameJSON[workflows.DrainInput](t, "next input", e.GetWorkflowExecutionContinuedAsNewEventAttributes().GetInput())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
					sameJSON[workflows.DrainResult](t, "result", e.GetWorkflowExecutionCompletedEventAttributes().GetResult())
				case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
					attrs := e.GetActivityTaskScheduledEventAttributes()
					types[e.GetEventId()] = attrs.GetActivityType().GetName()
					activityInput(t, attrs.GetActivityType().GetName(), attrs.GetInput())
				case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
					attrs := e.GetActivityTaskCompletedEventAttributes()
					activityResult(t, types[attrs.GetScheduledEventId()], attrs.GetResult())
				default:
					continue
				}
				checked++
			}
			require.Greater(t, checked, 2)
		})
	}
}

func activityInput(t *testing.T, name string, p *commonpb.Payloads) {
	t.Helper()
	switch name {
	case "Snapshot":
		sameJSON[activities.SnapshotInput](t, name, p)
	case "DeregisterTargets":
		sameJSON[activities.DeregisterInput](t, name, p)
	case "SetWeight":
		sameJSON[activities.SetWeightInput](t, name, p)
	case "WaitForTask":
		sameJSON[activities.WaitInput](t, name, p)
	default:
		t.Fatalf("unknown activity %q", name)
	}
}

func activityResult(t *testing.T, name string, p *commonpb.Payloads) {
	t.Helper()
	switch name {
	case "Snapshot":
		sameJSON[activities.SnapshotResult](t, name, p)
	case "DeregisterTargets":
		sameJSON[activities.DeregisterResult](t, name, p)
	case "SetWeight":
		sameJSON[activities.SetWeightResult](t, name, p)
	case "WaitForTask":
		sameJSON[activities.WaitResult](t, name, p)
	default:
		t.Fatalf("unknown activity %q", name)
	}
}
