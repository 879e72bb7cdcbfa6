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

// decodes decodes data into a T, encodes it and decodes it again: for the
// payloads whose JSON changed shape (the compact target lists of results
// and of continue-as-new inputs), what the recorded histories hold must
// still be read, and what is written now must read back the same.
func decodes[T any](t *testing.T, what string, p *commonpb.Payloads) {
	t.Helper()
	require.NotEmpty(t, p.GetPayloads(), what)
	var v, back T
	require.NoError(t, json.Unmarshal(p.GetPayloads()[0].GetData(), &v), what)
	again, err := json.Marshal(v)
	require.NoError(t, err, what)
	require.NoError(t, json.Unmarshal(again, &back), what)
	twice, err := json.Marshal(back)
	require.NoError(t, err, what)
	require.Equal(t, string(again), string(twice), what)
}

// drainInput checks a workflow input: byte for byte, unless it carries a
// ResumeState, whose result lists are compact now.
func drainInput(t *testing.T, what string, p *commonpb.Payloads) {
	t.Helper()
	var in workflows.DrainInput
	require.NoError(t, json.Unmarshal(p.GetPayloads()[0].GetData(), &in), what)
	if in.Resume != nil {
		decodes[workflows.DrainInput](t, what, p)
		return
	}
	sameJSON[workflows.DrainInput](t, what, p)
}

// TestRecordedPayloadsKeepTheirShape decodes every workflow input and
// result, activity input and activity result of the recorded histories into
// today's types and encodes them again: byte for byte, but for the results
// and continue-as-new states, whose target lists are compact now.
func TestRecordedPayloadsKeepTheirShape(t *testing.T) {
	for _, f := range historyFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var hist historypb.History
			require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, &hist))
			types := map[int64]string{}
			checked := 0
			restore := false
			for _, e := range hist.GetEvents() {
				switch e.GetEventType() {
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
					attrs := e.GetWorkflowExecutionStartedEventAttributes()
					if restore = attrs.GetWorkflowType().GetName() == workflows.RestoreWorkflowName; restore {
						decodes[workflows.RestoreInput](t, "input", attrs.GetInput())
						break
					}
					if attrs.GetWorkflowType().GetName() == workflows.ScheduledWorkflowName {
						sameJSON[workflows.ScheduledDrainInput](t, "input", attrs.GetInput())
						break
					}
					drainInput(t, "input", attrs.GetInput())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
					drainInput(t, "next input", e.GetWorkflowExecutionContinuedAsNewEventAttributes().GetInput())
				case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
					if restore {
						decodes[workflows.RestoreResult](t, "result", e.GetWorkflowExecutionCompletedEventAttributes().GetResult())
						break
					}
					decodes[workflows.DrainResult](t, "result", e.GetWorkflowExecutionCompletedEventAttributes().GetResult())
				case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
					attrs := e.GetActivityTaskScheduledEventAttributes()
					types[e.GetEventId()] = attrs.GetActivityType().GetName()
					activityPayload(t, attrs.GetActivityType().GetName(), 0, attrs.GetInput())
				case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
					attrs := e.GetActivityTaskCompletedEventAttributes()
					activityPayload(t, types[attrs.GetScheduledEventId()], 1, attrs.GetResult())
				default:
					continue
				}
				checked++
			}
			require.GreaterOrEqual(t, checked, 2, "an input and a result at least")
		})
	}
}

type payloadCheck func(t *testing.T, what string, p *commonpb.Payloads)

// activityShapes are the input and result types of each activity.
var activityShapes = map[string][2]payloadCheck{
	"Snapshot":          {sameJSON[activities.SnapshotInput], sameJSON[activities.SnapshotResult]},
	"DeregisterTargets": {sameJSON[activities.DeregisterInput], sameJSON[activities.DeregisterResult]},
	"SetWeight":         {sameJSON[activities.SetWeightInput], sameJSON[activities.SetWeightResult]},
	"SetWeights":        {sameJSON[activities.SetWeightsInput], sameJSON[activities.SetWeightsResult]},
	"WaitForTask":       {sameJSON[activities.WaitInput], sameJSON[activities.WaitResult]},
	"RegisterTargets":   {sameJSON[activities.RegisterInput], sameJSON[activities.RegisterResult]},
	"TargetHealth":      {sameJSON[activities.HealthInput], sameJSON[activities.HealthResult]},
}

// activityPayload checks an activity's input (which 0) or result (1).
func activityPayload(t *testing.T, name string, which int, p *commonpb.Payloads) {
	t.Helper()
	shapes, ok := activityShapes[name]
	require.True(t, ok, "unknown activity %q", name)
	shapes[which](t, name, p)
}
