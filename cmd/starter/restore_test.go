package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

func drained() workflows.DrainResult {
	return workflows.DrainResult{
		Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Reason:   "release 42",
		Deregistered: clb.WeightedList{
			{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10},
			{Target: clb.Target{InstanceId: "ins-abc12346", Port: 80}, Weight: 55},
		},
	}
}

// ended is a run that has ended with v.
func ended(v any) *fakeRun {
	r := newRun("run-0", workflows.DrainResult{}, nil)
	r.value = v
	r.release()
	return r
}

// withDrain makes fc's drain testID a completed one with result v.
func withDrain(fc *fakeClient, v any) *fakeClient {
	fc.desc = description(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	fc.runByID = map[string]*fakeRun{testID: ended(v)}
	return fc
}

func startedRestore(t *testing.T, fc *fakeClient) workflows.RestoreInput {
	t.Helper()
	require.Len(t, fc.starts, 1)
	in, ok := fc.starts[0].args[0].(workflows.RestoreInput)
	require.True(t, ok)
	return in
}

func TestRestoreFromACompletedDrain(t *testing.T) {
	fc := withDrain(&fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}, drained())
	res := runWith(t, fc, "", "restore", testID, "--wait-healthy", "2m", "--on-unhealthy", "deregister",
		"--ramp-steps", "4", "--ramp-interval", "30s")
	require.Equal(t, exitOK, res.code, res.stderr)
	in := startedRestore(t, fc)
	assert.Equal(t, drained().Manifest(testID), in.Manifest)
	assert.Equal(t, 2*time.Minute, in.WaitHealthy)
	assert.Equal(t, workflows.OnUnhealthyDeregister, in.OnUnhealthy)
	assert.Equal(t, 4, in.RampSteps)
	assert.Equal(t, 30*time.Second, in.RampInterval)
	assert.Equal(t, "tester", in.Requester)
	opts := fc.starts[0].opts
	assert.Equal(t, "clb-restore/"+testID, opts.ID)
	assert.Equal(t, workflows.RestoreWorkflowName, fc.starts[0].workflow)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, opts.WorkflowIDConflictPolicy)
	assert.True(t, opts.WorkflowExecutionErrorWhenAlreadyStarted)
	assert.Contains(t, res.stdout, "started restore of 2 targets on 1 listeners or rules")
}

func TestRestoreAcceptsAServerDrainsManifest(t *testing.T) {
	m := drained().Manifest("")
	d := description(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	d.WorkflowType.Name = "DrainServers"
	fc := &fakeClient{desc: d, runByID: map[string]*fakeRun{"clb-servers/x": ended(m)}}
	res := runWith(t, fc, "", "restore", "clb-servers/x", "--print-manifest")
	require.Equal(t, exitOK, res.code, res.stderr)
	var got workflows.RestoreManifest
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &got))
	assert.Equal(t, "clb-servers/x", got.Source, "the drain's ID becomes the source")
	assert.Equal(t, m.Bindings, got.Bindings)
	assert.Empty(t, fc.starts, "--print-manifest starts nothing")
}

func TestRestoreRefusesARunningDrain(t *testing.T) {
	fc := &fakeClient{run: newRun("run-1", drained(), nil), desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)}
	res := runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitAlreadyRunning, res.code)
	assert.Contains(t, res.stderr, "is still running")
	assert.Empty(t, fc.starts)
}

func TestRestoreRefusesAFailedDrainAndANonDrain(t *testing.T) {
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_FAILED),
		runByID: map[string]*fakeRun{testID: ended(nil)}}
	fc.runByID[testID].err = workflowError(roundTrip(temporal.NewNonRetryableApplicationError("denied", "AuthFailure", nil)))
	res := runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, "did not complete (failed)")

	fc = withDrain(&fakeClient{}, map[string]int{"Something": 1})
	res = runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "neither a drain's nor a restore manifest")

	fc = &fakeClient{descErr: serviceerror.NewNotFound("nope")}
	res = runWith(t, fc, "", "restore", "clb-drain/none")
	require.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, `no workflow with ID "clb-drain/none"`)
	assert.Empty(t, fc.starts)
}

// A restore's ID is no drain's: its result (or an Unhealthy failure's
// details) has Bindings too, but no manifest.
func TestRestoreRefusesARestore(t *testing.T) {
	done := workflows.RestoreResult{Source: testID, Bindings: []workflows.RestoredBinding{{Selector: drained().Selector,
		Registered: drained().Deregistered}}}
	fc := withDrain(&fakeClient{}, done)
	fc.desc.WorkflowType.Name = workflows.RestoreWorkflowName
	res := runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "is a RestoreTargets, not a drain")
	assert.NotContains(t, res.stderr, "invalid input")
	assert.Empty(t, fc.starts)
}

func TestRestoreOfADrainThatRemovedNothing(t *testing.T) {
	fc := withDrain(&fakeClient{}, workflows.DrainResult{Deregistered: clb.WeightedList{}})
	res := runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "nothing to restore")
	assert.Empty(t, fc.starts)
}

const manifestJSON = `{"Bindings": [{"Selector": {"LoadBalancerId": "lb-abc12345", "ListenerId": "lbl-abc12345"},
  "Targets": [{"InstanceId": "ins-abc12345", "Port": 80, "Weight": 10}, {"EniIp": "10.0.0.5", "Port": 8080, "Weight": 0}]}]}`

func TestRestoreFromAManifestFile(t *testing.T) {
	file := writeFile(t, "m.json", manifestJSON)
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "", "restore", "--manifest", file)
	require.Equal(t, exitOK, res.code, res.stderr)
	in := startedRestore(t, fc)
	require.Len(t, in.Manifest.Bindings, 1)
	assert.Equal(t, clb.WeightedList{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10},
		{Target: clb.Target{EniIp: "10.0.0.5", Port: 8080}}}, in.Manifest.Bindings[0].Targets)
	assert.Equal(t, workflows.RestoreWorkflowID(in.Manifest), fc.starts[0].opts.ID)
	assert.Contains(t, fc.starts[0].opts.ID, "clb-restore/manifest-")

	fc = &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res = runWith(t, fc, manifestJSON, "restore", "--manifest", "-", "--workflow-id", "mine")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "mine", fc.starts[0].opts.ID)
}

func TestRestoreBadInputStartsNothing(t *testing.T) {
	bad := writeFile(t, "bad.json", `{"Bindings": [{"Selector": {"LoadBalancerId": "lb-x", "ListenerId": "lbl-abc12345"},
  "Targets": [{"InstanceId": "ins-abc12345", "Port": 80, "Weight": 500}]}]}`)
	notJSON := writeFile(t, "nope.json", `ins-abc12345:80`)
	cases := map[string]struct {
		args []string
		want string
	}{
		"no source":        {[]string{"restore"}, "DRAIN_WORKFLOW_ID: is required"},
		"both":             {[]string{"restore", testID, "--manifest", bad}, "cannot be given with a DRAIN_WORKFLOW_ID"},
		"two ids":          {[]string{"restore", "a", "b"}, "accepts at most 1 arg"},
		"bad manifest":     {[]string{"restore", "--manifest", bad}, "Manifest.Bindings[0].Selector.LoadBalancerId"},
		"weight":           {[]string{"restore", "--manifest", bad}, "Manifest.Bindings[0].Targets[0].Weight"},
		"not json":         {[]string{"restore", "--manifest", notJSON}, "is not a restore manifest"},
		"missing file":     {[]string{"restore", "--manifest", "/nonexistent/m.json"}, "cannot be read"},
		"wait":             {[]string{"restore", testID, "--wait-healthy", "48h"}, "WaitHealthy"},
		"on-unhealthy":     {[]string{"restore", testID, "--on-unhealthy", "drop"}, "must be leave or deregister (--on-unhealthy)"},
		"deregister":       {[]string{"restore", testID, "--on-unhealthy", "deregister"}, "needs WaitHealthy above 0"},
		"ramp no interval": {[]string{"restore", testID, "--ramp-steps", "3"}, "RampInterval"},
		"ramp too many":    {[]string{"restore", testID, "--ramp-steps", "101", "--ramp-interval", "1s"}, "RampSteps"},
		"poll":             {[]string{"restore", testID, "--health-poll", "1ms"}, "HealthPoll"},
		"task queue":       {[]string{"restore", testID, "--task-queue", " "}, "--task-queue"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res := runWith(t, nil, "", tc.args...)
			require.Equal(t, exitUsage, res.code, res.stderr)
			assert.Contains(t, res.stderr, tc.want)
			assert.False(t, res.dialed)
		})
	}
}

func TestRestoreWaitReportsUnhealthy(t *testing.T) {
	res := workflows.RestoreResult{Bindings: []workflows.RestoredBinding{{
		Selector:   clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Registered: clb.WeightedList{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10}},
		Unhealthy:  clb.TargetList{{InstanceId: "ins-abc12346", Port: 80}},
		Removed:    clb.TargetList{{InstanceId: "ins-abc12346", Port: 80}},
	}}}
	failed := temporal.NewNonRetryableApplicationError("1 targets not healthy within 2m0s: lb-abc12345/lbl-abc12345 ins-abc12346:80",
		workflows.ErrUnhealthy, nil, res)
	fc := withDrain(&fakeClient{run: newRun("run-1", workflows.DrainResult{}, workflowError(roundTrip(failed))),
		anyAnswers: []any{workflows.RestoreProgress{Phase: workflows.PhaseRegistering, TargetsTotal: 2, Registered: 1},
			workflows.RestoreProgress{Phase: workflows.PhaseHealthWait, TargetsTotal: 2, Registered: 2, Healthy: 1}}}, drained())
	out := runWith(t, fc, "", "restore", testID, "--wait", "--wait-healthy", "2m", "--on-unhealthy", "deregister", "--json")
	require.Equal(t, exitFailed, out.code, out.stderr)
	assert.Contains(t, out.stderr, "registering, registered 1/2, at weight 0/2")
	assert.Contains(t, out.stderr, "error type: Unhealthy")
	assert.Contains(t, out.stderr, "ins-abc12346:80")
	assert.Contains(t, out.stderr, "unhealthy:      1 targets (1 unbound again)")
	var got workflows.RestoreResult
	require.NoError(t, json.Unmarshal([]byte(out.stdout), &got))
	assert.Equal(t, res.Bindings, got.Bindings)
}

func TestRestoreWaitDone(t *testing.T) {
	run := newRun("run-1", workflows.DrainResult{}, nil)
	run.value = workflows.RestoreResult{Bindings: []workflows.RestoredBinding{{Registered: drained().Deregistered}}}
	fc := withDrain(&fakeClient{run: run,
		anyAnswers: []any{workflows.RestoreProgress{Phase: workflows.PhaseDone, TargetsTotal: 2, Registered: 2, AtWeight: 2}}}, drained())
	out := runWith(t, fc, "", "restore", testID, "--wait")
	require.Equal(t, exitOK, out.code, out.stderr)
	assert.Contains(t, out.stdout, "done, registered 2/2, at weight 2/2")
	assert.Contains(t, out.stdout, "restore of")
}

func restoreDescription(status enumspb.WorkflowExecutionStatus) *client.WorkflowExecutionDescription {
	d := description(status)
	d.WorkflowExecution.ID = "clb-restore/" + testID
	d.WorkflowType.Name = workflows.RestoreWorkflowName
	return d
}

func TestStatusOfARestore(t *testing.T) {
	fc := &fakeClient{desc: restoreDescription(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING),
		anyAnswers: []any{workflows.RestoreProgress{Phase: workflows.PhaseRamping, TargetsTotal: 60, Registered: 60, AtWeight: 10, RampStep: 2, RampSteps: 4}}}
	res := runWith(t, fc, "", "status", "clb-restore/"+testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "restore clb-restore/"+testID+" (running)")
	assert.Contains(t, res.stdout, "ramping, registered 60/60, at weight 10/60, ramp step 2/4")

	run := newRun("run-1", workflows.DrainResult{}, nil)
	run.value = workflows.RestoreResult{Cancelled: true, RampStep: 2, Bindings: []workflows.RestoredBinding{{Registered: drained().Deregistered}}}
	run.release()
	fc = &fakeClient{desc: restoreDescription(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED), run: run}
	res = runWith(t, fc, "", "status", "clb-restore/"+testID)
	require.Equal(t, exitFailed, res.code, "a cancelled restore did not put everything back")
	assert.Contains(t, res.stderr, "cancelled: what is registered stays at its current weight")
}

func TestCancelOfARestore(t *testing.T) {
	run := newRun("run-1", workflows.DrainResult{}, nil)
	run.value = workflows.RestoreResult{Cancelled: true, Bindings: []workflows.RestoredBinding{{Registered: drained().Deregistered}}}
	fc := &fakeClient{desc: restoreDescription(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), run: run}
	res := runWith(t, fc, "", "cancel", "--wait", "clb-restore/"+testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{"clb-restore/" + testID}, fc.cancelled)
	assert.Contains(t, res.stdout, "cancellation requested for restore")

	fc = &fakeClient{desc: restoreDescription(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)}
	res = runWith(t, fc, "", "cancel", "clb-restore/"+testID)
	require.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, "restore clb-restore/"+testID+" is not running (completed); nothing to cancel.\n  see it: starter status clb-restore/"+testID)
	assert.Empty(t, fc.cancelled)
}

func TestRestoreOfAServerDrainThatFailed(t *testing.T) {
	// A server drain that could not remove every binding fails with its
	// result, a restore manifest and more, as its error's details.
	details := struct {
		workflows.RestoreManifest
		Outcomes []string `json:"Outcomes"`
	}{RestoreManifest: drained().Manifest("clb-servers/x"), Outcomes: []string{"removed", "failed"}}
	failed := workflowError(roundTrip(temporal.NewNonRetryableApplicationError("1 binding failed", "BindingsFailed", nil, details)))
	d := description(enumspb.WORKFLOW_EXECUTION_STATUS_FAILED)
	d.WorkflowExecution.ID, d.WorkflowType.Name = "clb-servers/x", "DrainServers"
	run := newRun("run-0", workflows.DrainResult{}, failed)
	run.release()
	fc := &fakeClient{desc: d, runByID: map[string]*fakeRun{"clb-servers/x": run}, run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWith(t, fc, "", "restore", "clb-servers/x")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "failed (BindingsFailed); restoring what it removed")
	in := startedRestore(t, fc)
	assert.Equal(t, details.RestoreManifest, in.Manifest)
	assert.Equal(t, "clb-restore/clb-servers/x", fc.starts[0].opts.ID)

	// A failed listener drain's details name what it left at weight 0,
	// not what it removed: nothing to restore from.
	left := workflowError(roundTrip(temporal.NewNonRetryableApplicationError("denied", "AuthFailure", nil,
		workflows.FailureDetails{LeftAtZero: leftAtZero})))
	run = newRun("run-0", workflows.DrainResult{}, left)
	run.release()
	fc = &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_FAILED), runByID: map[string]*fakeRun{testID: run}}
	res = runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, "did not complete (failed)")
	assert.Empty(t, fc.starts)

	// A listener drain that failed part way names what it had
	// deregistered: that is restored.
	gone := drained().Deregistered
	partWay := workflowError(roundTrip(temporal.NewNonRetryableApplicationError("denied", "AuthFailure", nil,
		workflows.FailureDetails{Selector: drained().Selector, LeftAtZero: leftAtZero, Deregistered: gone})))
	run = newRun("run-0", workflows.DrainResult{}, partWay)
	run.release()
	fc = &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_FAILED), runByID: map[string]*fakeRun{testID: run},
		run: newRun("run-1", workflows.DrainResult{}, nil)}
	res = runWith(t, fc, "", "restore", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "failed part way; restoring the")
	in = startedRestore(t, fc)
	assert.Equal(t, gone, in.Manifest.Bindings[0].Targets)
	assert.Equal(t, drained().Selector, in.Manifest.Bindings[0].Selector)
	assert.Equal(t, testID, in.Manifest.Source)
}

func TestRestoreLine(t *testing.T) {
	since := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := workflows.RestoreProgress{Phase: workflows.PhaseHealthWait, TargetsTotal: 60, Registered: 60, AtWeight: 20, Healthy: 20,
		HealthUntil: since.Add(time.Minute), WaitingFor: "waiting for lb-abc12345 held by clb-drain/x"}
	log := restoreLine(p, nil, since, since.Add(10*time.Second), false, 0)
	assert.Equal(t, "[10s] health-wait, registered 60/60, at weight 20/60, healthy 20, waiting until 03:05:05 UTC, waiting for lb-abc12345 held by clb-drain/x", log)
	assert.Equal(t, log[5:], restoreLine(p, nil, since, since.Add(11*time.Second), false, 0)[5:], "a log line does not change with the clock")
	bar := restoreLine(p, nil, since, since.Add(10*time.Second), true, 80)
	assert.True(t, strings.HasPrefix(bar, "[================        ]  66%  10s  health-wait"), bar)
	assert.LessOrEqual(t, len([]rune(bar)), 79, "cut to the terminal's width")
	assert.Contains(t, restoreLine(p, nil, since, since.Add(10*time.Second), true, 200), "healthy 20, 50s left")
}

// The start of a restore is announced as a drain's is; with --json the
// start is the JSON on stdout and the announcement goes to stderr.
func TestRestoreStartIsAnnounced(t *testing.T) {
	t.Setenv("TEMPORAL_UI_ADDRESS", "http://ui:8233")
	fc := withDrain(&fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}, drained())
	res := runWith(t, fc, "", "restore", "--json", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	id := fc.starts[0].opts.ID
	url := "http://ui:8233/namespaces/ops/workflows/" + strings.ReplaceAll(id, "/", "%2F") + "/run-1"
	assert.Equal(t, "started restore of 2 targets on 1 listeners or rules\n"+
		"  workflow ID: "+id+"\n"+
		"  run ID:      run-1\n"+
		"  UI:          "+url+"\n"+
		"  watch it:    starter status --wait "+id+"\n"+
		"  cancel it:   starter cancel "+id+"\n", res.stderr)
	var got started
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &got))
	assert.Equal(t, started{WorkflowID: id, RunID: "run-1", Namespace: "ops", URL: url}, got)
}
