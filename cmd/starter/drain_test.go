package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

const testID = "clb-drain/lb-abc12345/lbl-abc12345"

func drainArgs(targets string, more ...string) []string {
	return append([]string{"drain", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", targets}, more...)
}

func startedInput(t *testing.T, fc *fakeClient) workflows.DrainInput {
	t.Helper()
	require.Len(t, fc.starts, 1)
	require.Len(t, fc.starts[0].args, 1)
	in, ok := fc.starts[0].args[0].(workflows.DrainInput)
	require.True(t, ok)
	return in
}

func TestDrainStartsFromATargetsFile(t *testing.T) {
	t.Setenv("TEMPORAL_UI_ADDRESS", "https://temporal.example/")
	file := writeFile(t, "targets.txt", "# web\nins-abc12345:80\n10.0.0.5:8080\n[fd00::5]:443\n")
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "", drainArgs(file, "--drain-delay", "30s", "--chunk-size", "10", "--reason", "release 42", "--timeout", "2h")...)
	require.Equal(t, exitOK, res.code, res.stderr)

	assert.Equal(t, workflows.DrainInput{
		Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Targets: []clb.Target{
			{InstanceId: "ins-abc12345", Port: 80},
			{EniIp: "10.0.0.5", Port: 8080},
			{EniIp: "fd00::5", Port: 443},
		},
		DrainDelay: 30 * time.Second, ChunkSize: 10, Reason: "release 42", Requester: "tester",
	}, startedInput(t, fc))
	opts := fc.starts[0].opts
	assert.Equal(t, testID, opts.ID)
	assert.Equal(t, workflows.TaskQueue, opts.TaskQueue)
	assert.Equal(t, 2*time.Hour, opts.WorkflowExecutionTimeout)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, opts.WorkflowIDConflictPolicy)
	assert.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, opts.WorkflowIDReusePolicy)
	assert.True(t, opts.WorkflowExecutionErrorWhenAlreadyStarted, "a running drain must be an error, not returned")
	assert.Equal(t, workflows.WorkflowName, fc.starts[0].workflow)
	assert.True(t, fc.closed)

	assert.Contains(t, res.stdout, "started drain of lb-abc12345/lbl-abc12345: 3 targets")
	assert.Contains(t, res.stdout, "workflow ID: "+testID)
	assert.Contains(t, res.stdout, "run ID:      run-1")
	assert.Contains(t, res.stdout, "UI:          https://temporal.example/namespaces/ops/workflows/clb-drain%2Flb-abc12345%2Flbl-abc12345/run-1")
	assert.Contains(t, res.stdout, "watch it:    starter status --wait "+testID)
	assert.Zero(t, fc.queries, "without --wait nothing is watched")
}

func TestDrainReadsTargetsFromStdin(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	stdin := `[{"InstanceId":"ins-abc12345","Port":80},{"EniIp":"10.0.0.5","Port":8080}]`
	res := runWith(t, fc, stdin, "drain", "--lb", "lb-abc12345", "--listener", "lbl-abc12345",
		"--domain", "example.com", "--url", "/api/", "--task-queue", "drains", "--targets", "-")
	require.Equal(t, exitOK, res.code, res.stderr)
	in := startedInput(t, fc)
	assert.Equal(t, []clb.Target{{InstanceId: "ins-abc12345", Port: 80}, {EniIp: "10.0.0.5", Port: 8080}}, in.Targets)
	assert.Equal(t, "example.com", in.Domain)
	assert.Equal(t, testID+"/example.com/api", fc.starts[0].opts.ID)
	assert.Equal(t, "drains", fc.starts[0].opts.TaskQueue)
}

func TestDrainWorkflowIDFlag(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--workflow-id", "release-42/web")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "release-42/web", fc.starts[0].opts.ID)
}

func TestDrainAlreadyRunning(t *testing.T) {
	t.Setenv("TEMPORAL_UI_ADDRESS", "http://ui:8233")
	fc := &fakeClient{startErr: serviceerror.NewWorkflowExecutionAlreadyStarted("Workflow execution is already running", "req-1", "run-0")}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--location", "loc-abc12345", "--wait")...)
	assert.Equal(t, exitAlreadyRunning, res.code)
	id := testID + "/loc-abc12345"
	assert.Equal(t, "starter drain: a drain of lb-abc12345/lbl-abc12345/loc-abc12345 is already running; nothing was started.\n"+
		"  workflow ID: "+id+"\n"+
		"  run ID:      run-0\n"+
		"  UI:          http://ui:8233/namespaces/ops/workflows/clb-drain%2Flb-abc12345%2Flbl-abc12345%2Floc-abc12345/run-0\n"+
		"  watch it:    starter status --wait "+id+"\n"+
		"  cancel it:   starter cancel "+id+"\n", res.stderr)
	assert.Empty(t, res.stdout)
}

func TestAlreadyRunningQuotesTheID(t *testing.T) {
	a := &app{prog: "starter"}
	sel := clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", Domain: "a.com", Url: "/x?y&z"}
	msg := a.alreadyRunning(sel, "clb-drain/lb-abc12345/lbl-abc12345/a.com/x?y&z", "", "http://ui")
	assert.Contains(t, msg, "a drain of lb-abc12345/lbl-abc12345/a.com/x?y&z is already running")
	assert.Contains(t, msg, "starter cancel 'clb-drain/lb-abc12345/lbl-abc12345/a.com/x?y&z'\n")
	assert.NotContains(t, msg, "run ID", "no run ID is shown when Temporal gave none")
}

func TestDrainStartRejectedByTemporal(t *testing.T) {
	fc := &fakeClient{startErr: serviceerror.NewInvalidArgument("task queue name too long")}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-")...)
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "task queue name too long")

	fc = &fakeClient{startErr: serviceerror.NewUnavailable("connection reset")}
	res = runWith(t, fc, "ins-abc12345:80", drainArgs("-")...)
	assert.Equal(t, exitFailed, res.code)
}

func TestDrainJSONWithoutWait(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--json")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	var got started
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &got))
	assert.Equal(t, testID, got.WorkflowID)
	assert.Equal(t, "run-1", got.RunID)
	assert.Equal(t, "ops", got.Namespace)
	assert.Contains(t, res.stderr, "started drain of")
}

var (
	t0         = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	doneResult = workflows.DrainResult{
		Selector:  clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Requested: 3,
		Chunks: []workflows.ChunkResult{
			{Index: 0, Outcome: workflows.OutcomeDeregistered},
			{Index: 1, Outcome: workflows.OutcomeDeregistered},
		},
		Deregistered:  clb.WeightedList{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10}, {Target: clb.Target{InstanceId: "ins-def67890", Port: 80}, Weight: 10}},
		AlreadyAbsent: clb.TargetList{{EniIp: "10.0.0.5", Port: 80}},
		Runs:          1,
		Started:       t0,
		Finished:      t0.Add(95 * time.Second),
	}
	progressSteps = []workflows.Progress{
		{Phase: workflows.PhaseSnapshot, CurrentChunk: -1, Run: 1},
		{Phase: workflows.PhaseDeregistering, ChunksTotal: 2, TargetsTotal: 2, AlreadyAbsent: 1, CurrentChunk: 0, CurrentTaskID: "task-1", Run: 1},
		{Phase: workflows.PhaseDeregistering, ChunksTotal: 2, TargetsTotal: 2, AlreadyAbsent: 1, CurrentChunk: 0, CurrentTaskID: "task-1", Run: 1},
		{Phase: workflows.PhaseDeregistering, ChunksDone: 1, ChunksTotal: 2, TargetsDone: 1, TargetsTotal: 2, AlreadyAbsent: 1, CurrentChunk: 1, Run: 1},
		{Phase: workflows.PhaseDone, ChunksDone: 2, ChunksTotal: 2, TargetsDone: 2, TargetsTotal: 2, AlreadyAbsent: 1, CurrentChunk: -1, Run: 1},
	}
)

func TestDrainWaitCompletes(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", doneResult, nil), answers: progressSteps}
	res := runWith(t, fc, "ins-abc12345:80\nins-def67890:80\n10.0.0.5:80", drainArgs("-", "--wait")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	lines := strings.Split(res.stdout, "\n")
	var progress []string
	for _, l := range lines {
		if _, line, ok := strings.Cut(l, "s] "); ok && strings.HasPrefix(l, "[") {
			progress = append(progress, line)
		}
	}
	assert.Equal(t, []string{
		"snapshot",
		"deregistering, chunks 0/2, targets 0/2, 1 already absent, task task-1",
		"deregistering, chunks 1/2, targets 1/2, 1 already absent",
		"done, chunks 2/2, targets 2/2, 1 already absent",
	}, progress, "one line per phase change and finished chunk:\n%s", res.stdout)
	assert.Contains(t, res.stdout, "drain of lb-abc12345/lbl-abc12345 done in 1m35s\n"+
		"  deregistered:      2 targets in 2 chunks\n"+
		"  already absent:    1 targets\n")
	assert.Empty(t, res.stderr)
}

func TestDrainWaitJSON(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", doneResult, nil), answers: progressSteps}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--wait", "--json")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	var got workflows.DrainResult
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &got), "stdout holds only the result: %s", res.stdout)
	assert.Equal(t, doneResult, got)
	assert.Contains(t, res.stderr, "started drain of")
	assert.Contains(t, res.stderr, "deregistering, chunks 1/2")
	assert.Contains(t, res.stderr, "done in 1m35s")
}

func TestDrainWaitFails(t *testing.T) {
	cause := temporal.NewNonRetryableApplicationError("task 9f2c ended with Status 1: backend busy", workflows.ErrTaskFailed, nil)
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, workflowError(cause)), answers: progressSteps[:2]}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--wait", "--json")...)
	assert.Equal(t, exitFailed, res.code)
	assert.Empty(t, res.stdout, "no result to print")
	assert.Contains(t, res.stderr, "drain "+testID+" failed: task 9f2c ended with Status 1: backend busy\n  error type: TaskFailed\n")
}

func TestDrainWaitCancelledExits1(t *testing.T) {
	cancelled := doneResult
	cancelled.Cancelled = true
	cancelled.Deregistered = cancelled.Deregistered[:1]
	cancelled.Restored = []clb.WeightedTarget{{Target: clb.Target{InstanceId: "ins-def67890", Port: 80}, Weight: 10}}
	fc := &fakeClient{run: newRun("run-1", cancelled, nil)}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--wait")...)
	assert.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, "drain of lb-abc12345/lbl-abc12345 cancelled after 1m35s")
	assert.Contains(t, res.stderr, "left bound:        1 targets")
	assert.Contains(t, res.stderr, "weights restored:  1 targets")
}

func TestDrainWaitQueryErrorsAreShownOnce(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", doneResult, nil), answers: make([]workflows.Progress, 3),
		queryErr: errors.New("query failed: workflow task not completed\n(retry later)")}
	res := runWith(t, fc, "ins-abc12345:80", drainArgs("-", "--wait")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, 1, strings.Count(res.stdout, "waiting for the drain's progress: query failed: workflow task not completed (retry later)\n"), res.stdout)
}
