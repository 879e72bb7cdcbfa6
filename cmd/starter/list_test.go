package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clbdrain/clbdrain/workflows"
)

// listNow is the starter's clock in these tests.
var listNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// execution is a workflow as visibility lists it, with its audit search
// attributes.
func execution(t *testing.T, id string, started time.Duration, status enumspb.WorkflowExecutionStatus, attrs map[string]any) *workflowpb.WorkflowExecutionInfo {
	t.Helper()
	fields := map[string]*commonpb.Payload{}
	for name, v := range attrs {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		require.NoError(t, err)
		fields[name] = p
	}
	info := &workflowpb.WorkflowExecutionInfo{
		Execution:        &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id[len(id)-1:]},
		StartTime:        timestamppb.New(listNow.Add(-started)),
		Status:           status,
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields},
	}
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		info.CloseTime = timestamppb.New(listNow.Add(-started + time.Minute))
	}
	return info
}

func drainAttrs(requester, reason, phase string) map[string]any {
	return map[string]any{
		"ClbKind": workflows.KindDrain, "ClbRequester": requester, "ClbReason": reason, "ClbPhase": phase,
		"ClbLoadBalancers": []string{"lb-abc12345"}, "ClbListeners": []string{"lbl-abc12345", "lbl-abc12345/loc-abc12345"},
		"ClbServers": []string{"ins-abc12345"},
	}
}

func TestListQueryFromTheFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "ClbKind IS NOT NULL AND ExecutionStatus != 'ContinuedAsNew' AND StartTime >= '2030-05-25T12:00:00Z'"},
		{[]string{"--lb", "lb-abc12345", "--server", "10.0.0.5", "--since", "1h", "--running"},
			"ClbKind IS NOT NULL AND ExecutionStatus != 'ContinuedAsNew' AND ClbLoadBalancers = 'lb-abc12345'" +
				" AND ClbServers = '10.0.0.5' AND StartTime >= '2030-06-01T11:00:00Z' AND ExecutionStatus = 'Running'"},
		{[]string{"--since", "0"}, "ClbKind IS NOT NULL AND ExecutionStatus != 'ContinuedAsNew'"},
	} {
		fc := &fakeClient{}
		res := runWith(t, fc, "", append([]string{"list", "--json"}, tc.args...)...)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Len(t, fc.lists, 1)
		assert.Equal(t, tc.want, fc.lists[0].Query, "%q", tc.args)
		assert.Equal(t, "ops", fc.lists[0].Namespace)
		assert.Equal(t, int32(100), fc.lists[0].PageSize)
		var out listOutput
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &out), res.stdout)
		assert.Equal(t, tc.want, out.Query, "the JSON says which query answered")
		assert.True(t, fc.closed)
	}
}

func TestListTableNewestFirstWithWhoWhatWhyAndOutcome(t *testing.T) {
	fc := &fakeClient{pages: []*workflowservice.ListWorkflowExecutionsResponse{{Executions: []*workflowpb.WorkflowExecutionInfo{
		execution(t, "clb-drain/lb-abc12345/lbl-abc12345/1", 3*time.Hour, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
			drainAttrs("alice", "CHG-42\nkernel upgrade", "done")),
		execution(t, "clb-drain/lb-abc12345/lbl-abc12345/2", time.Hour, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			drainAttrs("bob", "", "drain-wait")),
		execution(t, "clb-drain/lb-abc12345/lbl-abc12345/3", 2*time.Hour, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
			drainAttrs("carol", "rollback", "cancelled")),
	}}}}
	res := runWith(t, fc, "", "list", "--lb", "lb-abc12345", "--verbose")
	require.Equal(t, exitOK, res.code, res.stderr)

	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 4, res.stdout)
	assert.Regexp(t, `^STARTED\s+KIND\s+REQUESTER\s+OUTCOME\s+LOAD BALANCER\s+LISTENERS\s+REASON\s+WORKFLOW ID$`, lines[0])
	assert.Regexp(t, `^2030-06-01 11:00:00Z\s+drain\s+bob\s+running: drain-wait\s+lb-abc12345\s+lbl-abc12345,lbl-abc12345/loc-abc12345\s+-\s+\S+/2$`, lines[1])
	assert.Regexp(t, `^2030-06-01 10:00:00Z\s+drain\s+carol\s+cancelled\s+.*rollback\s+\S+/3$`, lines[2])
	assert.Regexp(t, `^2030-06-01 09:00:00Z\s+drain\s+alice\s+done\s+.*CHG-42 kernel upgrade\s+\S+/1$`, lines[3])
	assert.Contains(t, res.stderr, "query: ClbKind IS NOT NULL AND", "--verbose prints the query")
}

func TestListJSONHasEveryField(t *testing.T) {
	t.Setenv("TEMPORAL_UI_ADDRESS", "http://ui")
	fc := &fakeClient{pages: []*workflowservice.ListWorkflowExecutionsResponse{{Executions: []*workflowpb.WorkflowExecutionInfo{
		execution(t, "clb-drain-schedule/nightly-1", time.Hour, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
			map[string]any{"ClbKind": workflows.KindScheduled, "ClbPhase": "skipped", "ClbRequester": "cron"}),
	}}}}
	res := runWith(t, fc, "", "list", "--json")
	require.Equal(t, exitOK, res.code, res.stderr)
	var out listOutput
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &out))
	require.Len(t, out.Workflows, 1)
	assert.Equal(t, listed{
		WorkflowID: "clb-drain-schedule/nightly-1", RunID: "run-1", Kind: "scheduled",
		Started: listNow.Add(-time.Hour), Closed: listNow.Add(-time.Hour + time.Minute),
		Status: "failed", Phase: "skipped", Outcome: "skipped", Requester: "cron",
		URL: "http://ui/namespaces/ops/workflows/clb-drain-schedule%2Fnightly-1/run-1",
	}, out.Workflows[0])
}

func TestListOutcomes(t *testing.T) {
	for _, tc := range []struct {
		status enumspb.WorkflowExecutionStatus
		phase  workflows.Phase
		want   string
	}{
		{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseDeregistering, "running: deregistering"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "", "running"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseDone, "done"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseCancelled, "cancelled"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed, "failed"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseSkipped, "skipped"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, workflows.PhaseRestoring, "cancelled"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, workflows.PhaseDrainWait, "terminated in drain-wait"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, workflows.PhaseDeregistering, "timed out in deregistering"},
	} {
		assert.Equal(t, tc.want, listOutcome(tc.status, tc.phase), "%s %s", tc.status, tc.phase)
	}
}

func TestListPagesUpToTheLimit(t *testing.T) {
	page := func(token string, ids ...string) *workflowservice.ListWorkflowExecutionsResponse {
		r := &workflowservice.ListWorkflowExecutionsResponse{NextPageToken: []byte(token)}
		for _, id := range ids {
			r.Executions = append(r.Executions, execution(t, id, time.Hour, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, drainAttrs("a", "", "done")))
		}
		return r
	}
	fc := &fakeClient{pages: []*workflowservice.ListWorkflowExecutionsResponse{page("p2", "w1", "w2"), page("p3", "w3", "w4"), page("", "w5")}}
	res := runWith(t, fc, "", "list", "--json", "--limit", "3")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Len(t, fc.lists, 2, "stops once the limit is reached")
	assert.Equal(t, []byte("p2"), fc.lists[1].NextPageToken)
	var out listOutput
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &out))
	assert.Len(t, out.Workflows, 3)

	fc = &fakeClient{}
	res = runWith(t, fc, "", "list")
	assert.Equal(t, "no clbdrain workflow matches\n", res.stdout)
}

func TestListBadFlagsExitTwoWithoutDialing(t *testing.T) {
	res := runWith(t, nil, "", "list", "--lb", "lb-x' OR 1=1", "--server", "", "--since", "soon", "--limit", "0")
	assert.Equal(t, exitUsage, res.code)
	assert.False(t, res.dialed)
	for _, want := range []string{`--lb "lb-x' OR 1=1": must be a load balancer ID`, `--since "soon": must be a duration such as 1h, 36h or 7d`,
		`--limit "0": must be 1 to 1000`, "nothing was listed"} {
		assert.Contains(t, res.stderr, want)
	}
	res = runWith(t, nil, "", "list", "--since", "-2d")
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "must be 0 (any time) or more")
	for _, since := range []string{"3651d", "99999999999d", "87649h"} {
		res = runWith(t, nil, "", "list", "--since", since)
		assert.Equal(t, exitUsage, res.code, since)
		assert.False(t, res.dialed)
		assert.Contains(t, res.stderr, `--since "`+since+`": must be at most 3650d (ten years)`)
	}
	fc := &fakeClient{}
	res = runWith(t, fc, "", "list", "--since", "3650d")
	assert.Equal(t, exitOK, res.code, res.stderr)
}

func TestListRejectedQueryPointsAtTheSearchAttributes(t *testing.T) {
	fc := &fakeClient{listErr: serviceerror.NewInvalidArgument("invalid query: unable to convert filter expression: ClbKind is not defined")}
	res := runWith(t, fc, "", "list")
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "starter list: listing workflows: invalid query")
	assert.Contains(t, res.stderr, "query: ClbKind IS NOT NULL")
	assert.Contains(t, res.stderr, "audit search attributes")
}

func TestDrainRequesterDefaultsToTheOSUserAndTheUIGetsASummary(t *testing.T) {
	file := writeFile(t, "targets.txt", "ins-abc12345:80\n")
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "", drainArgs(file, "--reason", "CHG-7")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "tester", startedInput(t, fc).Requester)
	assert.Equal(t, "drain 1 targets from lb-abc12345/lbl-abc12345 by tester: CHG-7", fc.starts[0].opts.StaticSummary)
	assert.Contains(t, fc.starts[0].opts.StaticDetails, "**Servers:** ins-abc12345")

	fc = &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res = runWith(t, fc, "", drainArgs(file, "--requester", "alice@example.com")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "alice@example.com", startedInput(t, fc).Requester)

	res = runWith(t, nil, "", drainArgs(file, "--requester", strings.Repeat("x", 300))...)
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, `Requester = "300 characters": must be at most 255 characters: SQL visibility keeps a Keyword in a VARCHAR(255) (--requester)`)
}
