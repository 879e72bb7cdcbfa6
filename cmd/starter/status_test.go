package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/workflows"
)

func description(status enumspb.WorkflowExecutionStatus) *client.WorkflowExecutionDescription {
	d := &client.WorkflowExecutionDescription{}
	d.WorkflowExecution = workflow.Execution{ID: testID, RunID: "run-2"}
	d.WorkflowType = workflow.Type{Name: workflows.WorkflowName}
	d.Status = status
	d.WorkflowStartTime = t0
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		closed := t0.Add(2 * time.Minute)
		d.WorkflowCloseTime = &closed
	}
	return d
}

func TestStatusOfARunningDrain(t *testing.T) {
	t.Setenv("TEMPORAL_UI_ADDRESS", "http://ui")
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: progressSteps[3:4]}
	res := runWith(t, fc, "", "status", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "drain "+testID+"\n  status:   running since ")
	assert.Contains(t, res.stdout, "  run ID:   run-2\n  UI:       http://ui/namespaces/ops/workflows/clb-drain%2Flb-abc12345%2Flbl-abc12345/run-2\n")
	assert.Regexp(t, `progress: \[\S+\] deregistering, chunks 1/2, targets 1/2, 1 already absent\n`, res.stdout)
	assert.Contains(t, res.stdout, "cancel it: starter cancel "+testID)

	res = runWith(t, fc, "", "status", "--json", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	assert.Equal(t, "running", rep.Status)
	assert.Equal(t, &progressSteps[3], rep.Progress)
	assert.True(t, rep.Closed.IsZero())
}

func TestStatusWithoutAWorker(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), queryErr: serviceerror.NewDeadlineExceeded("query timed out")}
	res := runWith(t, fc, "", "status", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "progress: unknown: query timed out")
}

func TestStatusOfAFinishedDrain(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED), run: newRun("run-2", doneResult, nil)}
	fc.run.release()
	res := runWith(t, fc, "", "status", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "status:   completed at ")
	assert.Contains(t, res.stdout, ", after 2m0s\n")
	assert.Contains(t, res.stdout, "drain of lb-abc12345/lbl-abc12345 done in 1m35s\n  deregistered:      2 targets in 2 chunks\n")
	assert.Zero(t, fc.queries, "a closed drain's result says it all")

	res = runWith(t, fc, "", "status", "--json", testID)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	assert.Equal(t, "completed", rep.Status)
	assert.Equal(t, &doneResult, rep.Result)
	assert.Equal(t, t0.Add(2*time.Minute), rep.Closed)
}

func TestStatusOfAFailedDrain(t *testing.T) {
	err := workflowError(activityError("DescribeTargets", "InvalidParameter.LBIdNotFound", "lb-abc12345 not found"))
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_FAILED), run: newRun("run-2", workflows.DrainResult{}, err)}
	fc.run.release()
	res := runWith(t, fc, "", "status", testID)
	assert.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stdout, "status:   failed at ")
	assert.Contains(t, res.stdout, "  failure:  lb-abc12345 not found\n  error type: InvalidParameter.LBIdNotFound\n  in activity: DescribeTargets\n")
}

func TestStatusWaitsForTheEnd(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: progressSteps,
		run: newRun("run-2", workflows.DrainResult{}, workflowError(temporal.NewCanceledError()))}
	done := description(enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED)
	// The second description, after the wait, finds the drain cancelled.
	fc.describeAfterWait = done
	res := runWith(t, fc, "", "status", "--wait", testID)
	assert.Equal(t, exitFailed, res.code, "a cancelled drain did not finish")
	assert.Contains(t, res.stdout, "] done, chunks 2/2")
	assert.Contains(t, res.stdout, "status:   cancelled at ")
	assert.Contains(t, res.stdout, "failure:  the drain was cancelled")
}

func TestStatusOfSomethingElse(t *testing.T) {
	d := description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	d.WorkflowType.Name = "OrderWorkflow"
	res := runWith(t, &fakeClient{desc: d}, "", "status", "order-1")
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "workflow order-1 is a OrderWorkflow, not a clbdrain drain")

	res = runWith(t, &fakeClient{descErr: serviceerror.NewNotFound("workflow not found")}, "", "status", "nope")
	assert.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, `no workflow with ID "nope" in namespace ops`)
}

func TestCancel(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)}
	res := runWith(t, fc, "", "cancel", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{testID}, fc.cancelled)
	assert.Contains(t, res.stdout, "cancellation requested for drain "+testID)
	assert.Contains(t, res.stdout, "The chunk in flight finishes")
	assert.Contains(t, res.stdout, "get their original weights back")
	assert.Contains(t, res.stdout, "watch it: starter status --wait "+testID)
}

// The other ID of a rule, held by a running drain (a DrainClaim), stands
// for that drain: cancel and status follow it.
func TestCancelAndStatusFollowAClaim(t *testing.T) {
	const claimID = "clb-drain/lb-abc12345/lbl-abc12345/api.example.com/v1"
	claim := &client.WorkflowExecutionDescription{}
	claim.WorkflowExecution = workflow.Execution{ID: claimID, RunID: "run-c"}
	claim.WorkflowType = workflow.Type{Name: workflows.ClaimWorkflowName}
	claim.Status = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	claim.ParentWorkflowExecution = &workflow.Execution{ID: testID, RunID: "run-2"}

	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING),
		descByID: map[string]*client.WorkflowExecutionDescription{claimID: claim}}
	res := runWith(t, fc, "", "cancel", claimID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{testID}, fc.cancelled, "the drain is cancelled, not the claim")
	assert.Contains(t, res.stderr, claimID+" is held by the drain "+testID+" of the same rule")
	assert.Contains(t, res.stdout, "cancellation requested for drain "+testID)

	fc = &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: progressSteps[3:4],
		descByID: map[string]*client.WorkflowExecutionDescription{claimID: claim}}
	res = runWith(t, fc, "", "status", claimID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, testID)
}

func TestCancelWait(t *testing.T) {
	cancelled := doneResult
	cancelled.Cancelled = true
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: progressSteps[3:],
		run: newRun("run-2", cancelled, nil)}
	res := runWith(t, fc, "", "cancel", "--wait", "--json", testID)
	require.Equal(t, exitOK, res.code, "the cancellation asked for happened: %s", res.stderr)
	var got workflows.DrainResult
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &got))
	assert.True(t, got.Cancelled)
	assert.Contains(t, res.stderr, "cancelled after 1m35s")
}

func TestCancelWhatIsNotRunning(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)}
	res := runWith(t, fc, "", "cancel", testID)
	assert.Equal(t, exitFailed, res.code)
	assert.Empty(t, fc.cancelled)
	assert.Contains(t, res.stderr, "drain "+testID+" is not running (completed); nothing to cancel.\n  see it: starter status "+testID)
}

func TestFlagsMayFollowTheID(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: progressSteps[3:],
		run: newRun("run-2", doneResult, nil)}
	res := runWith(t, fc, "", "cancel", testID, "--wait")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "done in 1m35s", "--wait after the ID waits")

	fc = &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)}
	res = runWith(t, fc, "", "cancel", "--", "--wait")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{"--wait"}, fc.cancelled, "after -- everything is the ID")
}
