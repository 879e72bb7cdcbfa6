package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// a refers to the activities for mocking, as the workflow does.
var a *activities.Activities

const (
	lbID   = "lb-abc12345"
	lisID  = "lbl-abc12345"
	locID  = "loc-abc12345"
	locID2 = "loc-zzz99999"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func cvm(i int) clb.Target { return clb.Target{InstanceId: fmt.Sprintf("ins-%08d", i), Port: 80} }

func cvms(n int) []clb.Target {
	out := make([]clb.Target, n)
	for i := range out {
		out[i] = cvm(i)
	}
	return out
}

func weighted(t clb.Target, w int64) clb.WeightedTarget {
	return clb.WeightedTarget{Target: t, Weight: w}
}

// weightOf is each target's snapshot weight in these tests: distinct, so
// that a restore with the wrong weight shows.
func weightOf(t clb.Target) int64 {
	var i int64
	if _, err := fmt.Sscanf(t.InstanceId, "ins-%08d", &i); err != nil {
		panic(err)
	}
	return 10 + i%90
}

func layer4(n int) workflows.DrainInput {
	return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: lisID}, Targets: cvms(n), Reason: "test"}
}

// fleet plays the activities: it records every call and answers as a
// healthy CLB would, unless a test overrides a mock.
type fleet struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	queues  map[string][]string // activity name -> task queues it ran on
	deregs  []activities.DeregisterInput
	weights []activities.SetWeightInput
	batches []activities.SetWeightsInput
	waits   []string
	// created are the WaitInput.TaskCreated of the waits.
	created  []time.Time
	tasks    int
	protocol string
	// absent holds the keys of the targets Snapshot finds unbound; every
	// other target is bound with weightOf.
	absent map[string]bool
	// listener, when set, are the listener's attributes Snapshot reads.
	listener *clb.ListenerAttributes
}

// testWriter sends the SDK's log lines to the test's log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newFleet(t *testing.T) *fleet {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: workflows.TaskQueue})
	env.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	f := &fleet{t: t, env: env, queues: map[string][]string{}, absent: map[string]bool{}, protocol: clb.ProtocolTCP}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.queues[info.ActivityType.Name] = append(f.queues[info.ActivityType.Name], info.TaskQueue)
	})
	return f
}

func (f *fleet) taskID() string {
	f.tasks++
	return fmt.Sprintf("task-%d", f.tasks)
}

// snapshot answers Snapshot from the fleet: every target bound with
// weightOf, except the absent ones.
func (f *fleet) snapshot(ctx context.Context, in activities.SnapshotInput) (activities.SnapshotResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := activities.SnapshotResult{Protocol: f.protocol, Selector: in.Selector, Listener: f.listener}
	for _, t := range in.Targets {
		if f.absent[t.Key()] {
			res.Absent = append(res.Absent, t)
		} else {
			res.Bound = append(res.Bound, weighted(t, weightOf(t)))
		}
	}
	return res, nil
}

func (f *fleet) deregister(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deregs = append(f.deregs, in)
	return activities.DeregisterResult{TaskID: f.taskID(), Sent: in.Targets, Attempt: int(activity.GetInfo(ctx).Attempt),
		TaskCreated: taskCreated(len(f.deregs))}, nil
}

// taskCreated is when the fake made the task of the nth DeregisterTargets.
func taskCreated(n int) time.Time { return time.Date(2030, 1, 1, 0, 0, n, 0, time.UTC) }

// recheck answers Recheck from the fleet: every target bound except the
// absent ones.
func (f *fleet) recheck(ctx context.Context, in activities.RecheckInput) (activities.RecheckResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res activities.RecheckResult
	for _, t := range in.Targets {
		if f.absent[t.Key()] {
			res.Gone = append(res.Gone, t)
		} else {
			res.Bound = append(res.Bound, t)
		}
	}
	return res, nil
}

func (f *fleet) setWeight(ctx context.Context, in activities.SetWeightInput) (activities.SetWeightResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.weights = append(f.weights, in)
	return activities.SetWeightResult{TaskID: f.taskID(), Sent: in.Targets}, nil
}

func (f *fleet) setWeights(ctx context.Context, in activities.SetWeightsInput) (activities.SetWeightsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, in)
	return activities.SetWeightsResult{TaskID: f.taskID(), Sent: in.Entries}, nil
}

// batchTargets are the targets of each SetWeights call, each call on the
// drain's one listener or rule.
func (f *fleet) batchTargets() [][]clb.WeightedTarget {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]clb.WeightedTarget, len(f.batches))
	for i, in := range f.batches {
		require.Len(f.t, in.Entries, 1)
		require.Equal(f.t, lbID, in.LoadBalancerId)
		out[i] = in.Entries[0].Targets
	}
	return out
}

// beforeBatches runs the drain as before batchWeightsVersion: weights set
// with SetWeight, MaxChunkSize targets a task.
func (f *fleet) beforeBatches() {
	f.env.OnGetVersion("batch-weights", workflow.DefaultVersion, workflow.Version(1)).Return(workflow.DefaultVersion)
}

func (f *fleet) wait(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, in.TaskID)
	f.created = append(f.created, in.TaskCreated)
	return activities.WaitResult{Polls: 2, Elapsed: 2 * time.Second}, nil
}

// healthy mocks every activity with the fleet; tasks take taskTime on the
// workflow clock. Mocks a test sets up before calling it win.
func (f *fleet) healthy(taskTime time.Duration) {
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(f.snapshot).Maybe()
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(f.deregister).Maybe()
	f.env.OnActivity(a.SetWeight, mock.Anything, mock.Anything).Return(f.setWeight).Maybe()
	f.env.OnActivity(a.SetWeights, mock.Anything, mock.Anything).Return(f.setWeights).Maybe()
	f.env.OnActivity(a.Recheck, mock.Anything, mock.Anything).Return(f.recheck).Maybe()
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).After(taskTime).Return(f.wait).Maybe()
}

func (f *fleet) run(in workflows.DrainInput) {
	f.env.ExecuteWorkflow(workflows.WorkflowName, in)
	require.True(f.t, f.env.IsWorkflowCompleted())
}

func (f *fleet) result() workflows.DrainResult {
	require.NoError(f.t, f.env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(f.t, f.env.GetWorkflowResult(&res))
	return res
}

func (f *fleet) progress() workflows.Progress {
	v, err := f.env.QueryWorkflow(workflows.QueryProgress)
	require.NoError(f.t, err)
	var p workflows.Progress
	require.NoError(f.t, v.Get(&p))
	return p
}

func (f *fleet) deregistered() [][]clb.Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]clb.Target, len(f.deregs))
	for i, in := range f.deregs {
		out[i] = in.Targets
	}
	return out
}

// appErr is an error as the activities return it.
func appErr(msg, typ string, nonRetryable bool) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
		NonRetryable: nonRetryable, NextRetryDelay: time.Second})
}

func taskFailed(taskID, message string) error {
	return temporal.NewApplicationErrorWithOptions("CLB task "+taskID+" failed: "+message, workflows.ErrTaskFailed,
		temporal.ApplicationErrorOptions{NonRetryable: true,
			Details: []any{activities.TaskFailure{TaskID: taskID, Message: message, Polls: 3}}})
}

func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "not an ApplicationError: %v", err)
	return ae
}

func TestChunksOf20InOrderOnTheirQueues(t *testing.T) {
	f := newFleet(t)
	f.healthy(2 * time.Second)
	f.run(layer4(45))
	res := f.result()

	chunks := f.deregistered()
	require.Len(t, chunks, 3)
	require.Equal(t, cvms(45)[:20], chunks[0])
	require.Equal(t, cvms(45)[20:40], chunks[1])
	require.Equal(t, cvms(45)[40:], chunks[2])
	require.Equal(t, []string{"task-1", "task-2", "task-3"}, f.waits)
	require.Equal(t, []time.Time{taskCreated(1), taskCreated(2), taskCreated(3)}, f.created,
		"each wait times its task from when DeregisterTargets had it made")

	require.Equal(t, 45, res.Requested)
	require.Equal(t, keysOf(cvms(45)), keysOf(res.Deregistered))
	require.Len(t, res.Chunks, 3)
	for i, c := range res.Chunks {
		require.Equal(t, i, c.Index)
		require.Equal(t, workflows.OutcomeDeregistered, c.Outcome)
		require.Equal(t, fmt.Sprintf("task-%d", i+1), c.RequestID)
		require.Equal(t, 1, c.Attempts)
		require.Equal(t, 2, c.Polls)
		require.Equal(t, 2*time.Second, c.WaitDuration)
	}
	require.Equal(t, 1, res.Runs)
	require.Equal(t, "test", res.Reason)
	require.Equal(t, clb.ProtocolTCP, res.Protocol)
	require.Equal(t, start, res.Started)
	require.Equal(t, start.Add(6*time.Second), res.Finished)
	require.False(t, res.Cancelled)
	require.Zero(t, res.Drained)

	// Mutations go through the fleet-wide rate-limited queue; reads do not.
	mutations := workflows.TaskQueue + workflows.MutationsQueueSuffix
	require.Equal(t, []string{mutations, mutations, mutations}, f.queues["DeregisterTargets"])
	require.Equal(t, []string{workflows.TaskQueue, workflows.TaskQueue, workflows.TaskQueue}, f.queues["WaitForTask"])
	require.Equal(t, []string{workflows.TaskQueue}, f.queues["Snapshot"])

	p := f.progress()
	require.Equal(t, workflows.Progress{Phase: workflows.PhaseDone, ChunksDone: 3, ChunksTotal: 3,
		TargetsDone: 45, TargetsTotal: 45, CurrentChunk: -1, Run: 1}, p)
}

func TestChunkSize(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	in := layer4(12)
	in.ChunkSize = 5
	f.run(in)
	res := f.result()
	require.Len(t, res.Chunks, 3)
	var sizes []int
	for _, c := range f.deregistered() {
		sizes = append(sizes, len(c))
	}
	require.Equal(t, []int{5, 5, 2}, sizes)
}

// oneListener is a CLB with one listener, enough for the real Snapshot.
type oneListener struct {
	clb.API
	l clb.Listener
}

func (o oneListener) DescribeTargets(context.Context, string, string) (clb.Listener, error) {
	return o.l, nil
}

func (o oneListener) DescribeListeners(context.Context, string, ...string) ([]clb.ListenerAttributes, error) {
	return []clb.ListenerAttributes{{ListenerId: o.l.ListenerId, Protocol: o.l.Protocol, Port: o.l.Port}}, nil
}

func httpListener() clb.Listener {
	bound := func(ids ...int) []clb.BoundTarget {
		var out []clb.BoundTarget
		for _, i := range ids {
			t := cvm(i)
			out = append(out, clb.BoundTarget{Type: "CVM", InstanceId: t.InstanceId, Port: t.Port, Weight: weightOf(t)})
		}
		return out
	}
	return clb.Listener{ListenerId: lisID, Protocol: clb.ProtocolHTTP, Port: 80, Rules: []clb.Rule{
		{LocationId: locID, Domain: "api.example.com", Url: "/v1", Targets: bound(0, 1, 2)},
		{LocationId: locID2, Domain: "www.example.com", Url: "/", Targets: bound(3, 4)},
	}}
}

func TestLayer7(t *testing.T) {
	for _, tc := range []struct {
		name              string
		loc, domain, url  string
		wantLoc           string
		wantDeregistered  []clb.Target
		wantAlreadyAbsent []clb.Target
	}{
		{name: "by LocationId", loc: locID, wantLoc: locID,
			wantDeregistered: cvms(3), wantAlreadyAbsent: []clb.Target{cvm(3), cvm(4)}},
		{name: "by Domain and Url", domain: "API.example.com", url: "/v1", wantLoc: locID,
			wantDeregistered: cvms(3), wantAlreadyAbsent: []clb.Target{cvm(3), cvm(4)}},
		{name: "LocationId and the same rule's Domain and Url", loc: locID2, domain: "www.example.com", url: "/", wantLoc: locID2,
			wantDeregistered: []clb.Target{cvm(3), cvm(4)}, wantAlreadyAbsent: cvms(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			snap := &activities.Activities{CLB: oneListener{l: httpListener()}}
			f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
			f.healthy(time.Second)
			in := layer4(5)
			in.LocationId, in.Domain, in.Url = tc.loc, tc.domain, tc.url
			f.run(in)
			res := f.result()

			require.Equal(t, tc.wantLoc, res.Selector.LocationId)
			require.Equal(t, clb.ProtocolHTTP, res.Protocol)
			require.Equal(t, keysOf(tc.wantDeregistered), keysOf(res.Deregistered))
			require.Equal(t, keysOf(tc.wantAlreadyAbsent), keysOf(res.AlreadyAbsent))
			require.Len(t, f.deregs, 1)
			require.Equal(t, tc.wantLoc, f.deregs[0].Selector.LocationId, "later calls name the rule by its LocationId")
		})
	}
}

func TestLayer7WithoutRuleFails(t *testing.T) {
	f := newFleet(t)
	snap := &activities.Activities{CLB: oneListener{l: httpListener()}}
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	f.healthy(time.Second)
	f.run(layer4(3))
	err := f.env.GetWorkflowError()
	ae := applicationError(t, err)
	require.Equal(t, workflows.ErrNoRule, ae.Type())
	require.Contains(t, ae.Error(), "listener "+lisID+" of "+lbID+" is HTTP (layer 7)")
	require.Contains(t, ae.Error(), locID+" (api.example.com/v1)")
	require.Empty(t, f.deregs)
}

func TestDuplicatesMerged(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	in := layer4(3)
	in.Targets = append(in.Targets, cvm(0), cvm(2), cvm(1))
	f.run(in)
	res := f.result()
	require.Equal(t, 3, res.Requested)
	require.Equal(t, 3, res.DuplicatesMerged)
	require.Equal(t, [][]clb.Target{cvms(3)}, f.deregistered())
}

func TestAlreadyAbsent(t *testing.T) {
	f := newFleet(t)
	f.absent[cvm(1).Key()] = true
	f.absent[cvm(3).Key()] = true
	f.healthy(time.Second)
	f.run(layer4(5))
	res := f.result()
	require.Equal(t, keysOf([]clb.Target{cvm(1), cvm(3)}), keysOf(res.AlreadyAbsent))
	require.Equal(t, keysOf([]clb.Target{cvm(0), cvm(2), cvm(4)}), keysOf(res.Deregistered))
	require.Equal(t, [][]clb.Target{{cvm(0), cvm(2), cvm(4)}}, f.deregistered())
	p := f.progress()
	require.Equal(t, 2, p.AlreadyAbsent)
	require.Equal(t, 3, p.TargetsTotal)
}

func TestAllAbsentCallsNothing(t *testing.T) {
	f := newFleet(t)
	for _, t := range cvms(4) {
		f.absent[t.Key()] = true
	}
	f.healthy(time.Second)
	in := layer4(4)
	in.DrainDelay = time.Minute
	f.run(in)
	res := f.result()
	require.Equal(t, keysOf(cvms(4)), keysOf(res.AlreadyAbsent))
	require.Empty(t, res.Deregistered)
	require.Empty(t, res.Chunks)
	require.Empty(t, f.deregs)
	require.Empty(t, f.weights)
}

func TestInvalidInputCallsNoActivity(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	in := workflows.DrainInput{
		Selector:     clb.Selector{LoadBalancerId: "lb-1", ListenerId: lisID, Domain: "example.com"},
		Targets:      []clb.Target{{InstanceId: "ins-abc12345", Port: 0}, {EniIp: "10.0.0.1", InstanceId: "ins-abc12345", Port: 80}},
		DrainDelay:   -time.Second,
		ChunkSize:    21,
		ChunksPerRun: -1,
	}
	f.run(in)
	ae := applicationError(t, f.env.GetWorkflowError())
	require.Equal(t, workflows.ErrInvalidInput, ae.Type())
	var problems []clb.Problem
	require.NoError(t, ae.Details(&problems))
	var fields []string
	for _, p := range problems {
		fields = append(fields, p.Field)
	}
	require.Equal(t, []string{"LoadBalancerId", "Url", "Targets[0].Port", "Targets[1]", "DrainDelay", "ChunkSize", "ChunksPerRun"}, fields)
	for _, name := range []string{"Snapshot", "SetWeight", "DeregisterTargets", "WaitForTask"} {
		f.env.AssertActivityNumberOfCalls(t, name, 0)
	}
	require.Equal(t, workflows.PhaseFailed, f.progress().Phase)
}

func TestCallerErrorsFailFastWithTheCode(t *testing.T) {
	for _, code := range []string{"InvalidParameterValue", "UnauthorizedOperation", "AuthFailure.SignatureFailure"} {
		t.Run(code, func(t *testing.T) {
			f := newFleet(t)
			msg := "DeregisterTargets: " + code + ": refused (RequestId req-1)"
			// The activity marks the error non-retryable (activities/retry.go).
			f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(activities.DeregisterResult{}, appErr(msg, code, true))
			f.healthy(time.Second)
			f.run(layer4(45))
			ae := applicationError(t, f.env.GetWorkflowError())
			require.Equal(t, code, ae.Type())
			require.Contains(t, ae.Error(), "chunk 0 of "+lbID+"/"+lisID+": "+msg)
			var cause *temporal.ApplicationError
			require.True(t, errors.As(ae.Unwrap(), &cause), "the activity's error is kept as the cause")
			require.Equal(t, code, cause.Type())
			f.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 1)
			f.env.AssertActivityNumberOfCalls(t, "WaitForTask", 0)
			f.env.AssertExpectations(t)
			p := f.progress()
			require.Equal(t, workflows.PhaseFailed, p.Phase)
			require.Contains(t, p.LastError, code)
		})
	}
}

func TestThrottledAndBusyAreRetried(t *testing.T) {
	for _, code := range []string{"RequestLimitExceeded", "FailedOperation.ResourceInOperating", "InternalError"} {
		t.Run(code, func(t *testing.T) {
			f := newFleet(t)
			f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).
				Return(activities.DeregisterResult{}, appErr("DeregisterTargets: "+code+": try later", code, false)).Once()
			f.healthy(time.Second)
			f.run(layer4(25))
			res := f.result()
			require.Equal(t, keysOf(cvms(25)), keysOf(res.Deregistered))
			require.Equal(t, 2, res.Chunks[0].Attempts, "the retry is the activity's second attempt")
			require.Equal(t, 1, res.Chunks[1].Attempts)
			f.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 3)
			f.env.AssertExpectations(t)
		})
	}
}

func TestNotBoundCountsAsDone(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			return activities.DeregisterResult{AlreadyGone: in.Targets, Attempt: 1}, nil
		}).Once()
	f.healthy(time.Second)
	f.run(layer4(25))
	res := f.result()
	require.Equal(t, keysOf(cvms(25)), keysOf(res.Deregistered))
	require.Equal(t, workflows.OutcomeAlreadyAbsent, res.Chunks[0].Outcome)
	require.Equal(t, 20, res.Chunks[0].Gone)
	require.Empty(t, res.Chunks[0].RequestID)
	require.Equal(t, workflows.OutcomeDeregistered, res.Chunks[1].Outcome)
	require.Equal(t, []string{"task-1"}, f.waits, "no task to wait for when nothing was sent")
	f.env.AssertExpectations(t)
}

func TestFailedTaskIsSentAgain(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskFailed("task-1", "backend error")).Once()
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			res, err := f.deregister(ctx, in)
			if in.Recheck {
				// Half of the chunk went before the task failed.
				res.AlreadyGone, res.Sent = in.Targets[:10], in.Targets[10:]
			}
			return res, err
		})
	f.healthy(time.Second)
	f.run(layer4(20))
	res := f.result()

	require.Len(t, f.deregs, 2)
	require.False(t, f.deregs[0].Recheck)
	require.True(t, f.deregs[1].Recheck, "the chunk is sent again re-checking what is still bound")
	c := res.Chunks[0]
	require.Equal(t, 1, c.TaskRetries)
	require.Equal(t, "task-2", c.RequestID)
	require.Equal(t, 10, c.Gone)
	require.Equal(t, 3+2, c.Polls)
	require.Equal(t, workflows.OutcomeDeregistered, c.Outcome)
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered))
	require.Contains(t, f.progress().LastError, "backend error")
	f.env.AssertExpectations(t)
}

func TestTaskFailingEveryTimeFailsTheDrain(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
			return activities.WaitResult{}, taskFailed(in.TaskID, "rs not healthy")
		})
	f.healthy(time.Second)
	f.run(layer4(30))
	ae := applicationError(t, f.env.GetWorkflowError())
	require.Equal(t, workflows.ErrTaskFailed, ae.Type())
	require.Contains(t, ae.Error(), "CLB task task-4 failed: rs not healthy (after 3 task retries)")
	var tf activities.TaskFailure
	require.NoError(t, ae.Details(&tf))
	require.Equal(t, "rs not healthy", tf.Message)
	f.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 1+workflows.MaxTaskRetries)
	for i, in := range f.deregs {
		require.Equal(t, i > 0, in.Recheck)
	}
}

// Before batchWeightsVersion: SetWeight, MaxChunkSize targets a task.
func TestDrainPhaseBeforeBatchWeights(t *testing.T) {
	f := newFleet(t)
	f.beforeBatches()
	f.healthy(time.Second)
	in := layer4(45)
	in.DrainDelay = 10 * time.Minute
	var during workflows.Progress
	var deregsDuring int
	f.env.RegisterDelayedCallback(func() {
		during = f.progress()
		f.mu.Lock()
		deregsDuring = len(f.deregs)
		f.mu.Unlock()
	}, 5*time.Minute)
	f.run(in)
	res := f.result()

	require.Equal(t, workflows.PhaseDrainWait, during.Phase)
	require.Equal(t, start.Add(3*time.Second+10*time.Minute), during.DrainUntil, "three weight tasks of 1 s, then the timer")
	require.Equal(t, 45, during.TargetsTotal)
	require.Zero(t, deregsDuring, "nothing is deregistered before the drain delay")

	require.Len(t, f.weights, 3)
	var drained []clb.Target
	for _, w := range f.weights {
		require.LessOrEqual(t, len(w.Targets), clb.MaxTargetsPerCall)
		require.False(t, w.Recheck)
		for _, tg := range w.Targets {
			require.EqualValues(t, 0, tg.Weight)
			drained = append(drained, tg.Target)
		}
	}
	require.Equal(t, cvms(45), drained)
	require.Equal(t, 45, res.Drained)
	require.Equal(t, keysOf(cvms(45)), keysOf(res.Deregistered))
	require.Equal(t, start.Add(3*time.Second+10*time.Minute+3*time.Second), res.Finished)
	require.Equal(t, time.Time{}, f.progress().DrainUntil)
	require.Empty(t, f.batches)
}

// The drain phase sets weights with SetWeights, up to clb.MaxBatchTargets
// targets a task: ceil(n/500) tasks.
func TestDrainPhase(t *testing.T) {
	for _, n := range []int{45, 500, 501, 1234} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFleet(t)
			f.healthy(time.Second)
			in := layer4(n)
			in.DrainDelay = 10 * time.Minute
			tasks := (n + clb.MaxBatchTargets - 1) / clb.MaxBatchTargets
			var during workflows.Progress
			var deregsDuring int
			f.env.RegisterDelayedCallback(func() {
				during = f.progress()
				f.mu.Lock()
				deregsDuring = len(f.deregs)
				f.mu.Unlock()
			}, 5*time.Minute)
			f.run(in)
			res := f.result()

			require.Equal(t, workflows.PhaseDrainWait, during.Phase)
			require.Equal(t, start.Add(time.Duration(tasks)*time.Second+10*time.Minute), during.DrainUntil, "the weight tasks of 1 s, then the timer")
			require.Equal(t, n, during.TargetsTotal)
			require.Zero(t, deregsDuring, "nothing is deregistered before the drain delay")

			require.Len(t, f.batches, tasks, "ceil(%d/500) weight tasks", n)
			require.Equal(t, f.waits[:tasks], []string{"task-1", "task-2", "task-3"}[:tasks], "each waited for")
			var drained []clb.Target
			for _, b := range f.batchTargets() {
				require.LessOrEqual(t, len(b), clb.MaxBatchTargets)
				for _, tg := range b {
					require.EqualValues(t, 0, tg.Weight)
					drained = append(drained, tg.Target)
				}
			}
			for _, b := range f.batches {
				require.False(t, b.Recheck)
				require.Equal(t, clb.Selector{LoadBalancerId: lbID, ListenerId: lisID}, b.Entries[0].Selector)
			}
			require.Equal(t, cvms(n), drained)
			require.Equal(t, n, res.Drained)
			require.Empty(t, f.weights, "no ModifyTargetWeight")
			require.Len(t, res.Deregistered, n)
			require.Equal(t, time.Time{}, f.progress().DrainUntil)
		})
	}
}

// restoredWeights checks that every restore call asked for the targets'
// snapshot weights, re-checking what is bound, and returns the targets.
func restoredWeights(t *testing.T, calls []activities.SetWeightInput) []clb.Target {
	var out []clb.Target
	for _, w := range calls {
		require.True(t, w.Recheck)
		require.LessOrEqual(t, len(w.Targets), clb.MaxTargetsPerCall)
		out = append(out, snapshotWeights(t, w.Targets)...)
	}
	return out
}

// restoredBatches checks that every restore call asked for the targets'
// snapshot weights on the drain's listener, re-checking what is bound, and
// returns the targets.
func restoredBatches(t *testing.T, calls []activities.SetWeightsInput) []clb.Target {
	var out []clb.Target
	for _, w := range calls {
		require.True(t, w.Recheck)
		require.Equal(t, lbID, w.LoadBalancerId)
		require.Len(t, w.Entries, 1)
		require.LessOrEqual(t, len(w.Entries[0].Targets), clb.MaxBatchTargets)
		out = append(out, snapshotWeights(t, w.Entries[0].Targets)...)
	}
	return out
}

// snapshotWeights checks that each target carries its snapshot weight and
// returns the targets without it.
func snapshotWeights(t *testing.T, targets []clb.WeightedTarget) []clb.Target {
	out := make([]clb.Target, len(targets))
	for i, tg := range targets {
		require.Equal(t, weightOf(tg.Target), tg.Weight, tg.Key())
		out[i] = tg.Target
	}
	return out
}

func TestCancelMidRunRestoresWeights(t *testing.T) {
	f := newFleet(t)
	f.healthy(2 * time.Second)
	in := layer4(45)
	in.DrainDelay = time.Minute
	// Drain: 1 weight task (2 s), then 60 s; chunk 0 waits 62-64 s and
	// chunk 1 64-66 s: cancel while chunk 1's task runs.
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 65*time.Second)
	var during workflows.Progress
	f.env.RegisterDelayedCallback(func() { during = f.progress() }, 65500*time.Millisecond)
	f.run(in)
	res := f.result()

	require.Equal(t, workflows.PhaseDeregistering, during.Phase)
	require.Equal(t, 1, during.CurrentChunk)
	require.Equal(t, "task-3", during.CurrentTaskID)

	require.True(t, res.Cancelled)
	require.Len(t, res.Chunks, 2, "the chunk in flight ends cleanly; the next is not started")
	require.Equal(t, keysOf(cvms(40)), keysOf(res.Deregistered))
	require.Len(t, f.deregs, 2)
	require.Equal(t, []string{"task-1", "task-2", "task-3", "task-4"}, f.waits, "the restore's task is waited for too")
	require.Len(t, f.batches, 1+1)
	require.Equal(t, cvms(45)[40:], restoredBatches(t, f.batches[1:]))
	require.Equal(t, keysOf(cvms(45)[40:]), keysOf(snapshotWeights(t, res.Restored)))
	require.Empty(t, res.RestoreError)
	require.Equal(t, workflows.PhaseCancelled, f.progress().Phase)
}

// A cancel during the drain wait restores every weight with batch calls:
// ceil(n/500) of them, as the drain phase took.
func TestCancelDuringDrainTimerRestoresAll(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	in := layer4(1234)
	in.DrainDelay = time.Hour
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Minute)
	var during workflows.Progress
	f.env.RegisterDelayedCallback(func() { during = f.progress() }, 10*time.Minute+500*time.Millisecond)
	f.run(in)
	res := f.result()
	require.True(t, res.Cancelled)
	require.Equal(t, workflows.PhaseRestoring, during.Phase)
	require.Equal(t, "task-4", during.CurrentTaskID, "the first restore task")
	require.Empty(t, res.Deregistered)
	require.Empty(t, f.deregs)
	require.Len(t, f.batches, 3+3)
	require.Equal(t, []int{500, 500, 234}, []int{len(f.batchTargets()[3]), len(f.batchTargets()[4]), len(f.batchTargets()[5])})
	require.Equal(t, cvms(1234), restoredBatches(t, f.batches[3:]))
	require.Equal(t, keysOf(cvms(1234)), keysOf(snapshotWeights(t, res.Restored)))
	require.Empty(t, f.weights, "no ModifyTargetWeight")
	require.Equal(t, start.Add(10*time.Minute+3*time.Second), res.Finished, "three restore tasks of 1 s after the cancel")
}

// A cancel while the first weight batch's task runs lets that task end,
// sends no further batch and restores only what the first one set.
func TestCancelDuringFirstWeightBatchRestoresOnlyIt(t *testing.T) {
	f := newFleet(t)
	f.healthy(10 * time.Second)
	in := layer4(1234)
	in.DrainDelay = time.Hour
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 5*time.Second)
	f.run(in)
	res := f.result()
	require.True(t, res.Cancelled)
	require.Empty(t, f.deregs)
	require.Len(t, f.batches, 1+1, "the first batch, then its restore")
	require.Equal(t, cvms(1234)[:500], restoredBatches(t, f.batches[1:]))
	require.Equal(t, keysOf(cvms(1234)[:500]), keysOf(snapshotWeights(t, res.Restored)))
}

// Before batchWeightsVersion: the restore sets weights with SetWeight,
// MaxChunkSize targets a task.
func TestCancelDuringDrainTimerRestoresAllBeforeBatchWeights(t *testing.T) {
	f := newFleet(t)
	f.beforeBatches()
	f.healthy(time.Second)
	in := layer4(45)
	in.DrainDelay = time.Hour
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Minute)
	f.run(in)
	res := f.result()
	require.True(t, res.Cancelled)
	require.Empty(t, res.Deregistered)
	require.Empty(t, f.deregs)
	require.Empty(t, f.batches)
	require.Len(t, f.weights, 3+3)
	require.Equal(t, cvms(45), restoredWeights(t, f.weights[3:]))
	require.Equal(t, keysOf(cvms(45)), keysOf(snapshotWeights(t, res.Restored)))
	require.Equal(t, start.Add(10*time.Minute+3*time.Second), res.Finished, "three restore tasks of 1 s after the cancel")
}

func TestCancelWithoutDrainRestoresNothing(t *testing.T) {
	f := newFleet(t)
	f.healthy(2 * time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 3*time.Second)
	f.run(layer4(45))
	res := f.result()
	require.True(t, res.Cancelled)
	require.Equal(t, keysOf(cvms(40)), keysOf(res.Deregistered))
	require.Empty(t, f.weights)
	require.Empty(t, res.Restored)
}

func TestRestoreFailureIsReported(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.SetWeights, mock.Anything, mock.MatchedBy(func(in activities.SetWeightsInput) bool { return in.Recheck })).
		Return(activities.SetWeightsResult{}, appErr("BatchModifyTargetWeight: UnauthorizedOperation: no (RequestId r)", "UnauthorizedOperation", true))
	f.healthy(time.Second)
	in := layer4(5)
	in.DrainDelay = time.Hour
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, time.Minute)
	f.run(in)
	res := f.result()
	require.True(t, res.Cancelled)
	require.Empty(t, res.Restored)
	require.Contains(t, res.RestoreError, "UnauthorizedOperation")
}

func decodeContinueAsNew(t *testing.T, err error) workflows.DrainInput {
	t.Helper()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "want continue-as-new, got %v", err)
	require.Equal(t, workflows.WorkflowName, can.WorkflowType.Name)
	var next workflows.DrainInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

func TestContinueAsNew(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	in := layer4(45)
	in.ChunksPerRun = 2
	in.DrainDelay = time.Minute
	f.run(in)
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())

	require.Empty(t, next.Targets, "the remaining targets travel once, in Resume.Remaining")
	require.Equal(t, 2, next.ChunksPerRun)
	require.NotNil(t, next.Resume)
	require.True(t, next.Resume.Drained)
	require.Empty(t, next.Resume.OriginalWeights)
	require.Equal(t, keysOf(cvms(45)[40:]), keysOf(next.Resume.Remaining))
	for _, tg := range next.Resume.Remaining {
		require.Equal(t, weightOf(tg.Target), tg.Weight, "the weight from before the drain")
	}
	require.Equal(t, keysOf(cvms(40)), keysOf(next.Resume.Result.Deregistered))
	require.Len(t, next.Resume.Result.Chunks, 2)
	require.Equal(t, 1, next.Resume.Result.Runs)
	require.Equal(t, 45, next.Resume.Result.Drained)

	// The second run skips the drain and finishes the whole drain's result.
	g := newFleet(t)
	g.env.SetStartTime(start.Add(time.Hour))
	g.healthy(time.Second)
	g.run(next)
	res := g.result()
	require.Empty(t, g.weights)
	require.Empty(t, g.batches)
	require.Equal(t, 2, res.Runs)
	require.Equal(t, 45, res.Requested)
	require.Equal(t, 45, res.Drained)
	require.Equal(t, keysOf(cvms(45)), keysOf(res.Deregistered))
	require.Len(t, res.Chunks, 3)
	require.Equal(t, 2, res.Chunks[2].Index)
	require.Equal(t, start, res.Started, "the result spans the whole drain")
	require.Equal(t, start.Add(time.Hour+time.Second), res.Finished)
	p := g.progress()
	require.Equal(t, 2, p.Run)
	require.Equal(t, 3, p.ChunksDone)
	require.Equal(t, 45, p.TargetsDone)
}

func TestContinueAsNewCancelRestoresOriginalWeights(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	in := layer4(45)
	in.ChunksPerRun = 1
	in.DrainDelay = time.Minute
	f.run(in)
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())

	// In the next run the targets are at weight 0: the restore must use
	// the weights from before the drain.
	g := newFleet(t)
	g.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SnapshotInput) (activities.SnapshotResult, error) {
			res := activities.SnapshotResult{Protocol: clb.ProtocolTCP, Selector: in.Selector}
			for _, tg := range in.Targets {
				res.Bound = append(res.Bound, weighted(tg, 0))
			}
			return res, nil
		})
	g.healthy(time.Second)
	g.env.RegisterDelayedCallback(g.env.CancelWorkflow, 500*time.Millisecond)
	g.run(next)
	res := g.result()
	require.True(t, res.Cancelled)
	require.Equal(t, 2, res.Runs)
	require.Equal(t, keysOf(cvms(40)), keysOf(res.Deregistered))
	require.Equal(t, cvms(45)[40:], restoredBatches(t, g.batches))
	require.Equal(t, keysOf(cvms(45)[40:]), keysOf(snapshotWeights(t, res.Restored)))
}

func TestContinueAsNewWhenSuggested(t *testing.T) {
	f := newFleet(t)
	f.healthy(time.Second)
	f.env.SetContinueAsNewSuggested(true)
	f.run(layer4(45))
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())
	require.Len(t, next.Resume.Result.Chunks, 1, "one chunk per run at least, then as suggested")
	require.Equal(t, keysOf(cvms(45)[20:]), keysOf(next.Resume.Remaining))
	require.False(t, next.Resume.Drained)
}

func TestContinueAsNewCarriesTheResolvedRule(t *testing.T) {
	f := newFleet(t)
	snap := &activities.Activities{CLB: oneListener{l: httpListener()}}
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	f.healthy(time.Second)
	in := layer4(3)
	in.Domain, in.Url = "api.example.com", "/v1"
	in.ChunkSize, in.ChunksPerRun = 1, 1
	f.run(in)
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())
	require.Equal(t, locID, next.LocationId)
	require.Equal(t, keysOf(cvms(3)[1:]), keysOf(next.Resume.Remaining))
}

func TestProgressQuery(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).After(time.Second).Return(f.snapshot)
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).After(time.Second).Return(f.deregister)
	f.absent[cvm(44).Key()] = true
	f.healthy(2 * time.Second)
	seen := map[time.Duration]workflows.Progress{}
	for _, at := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 2500 * time.Millisecond, 4500 * time.Millisecond} {
		f.env.RegisterDelayedCallback(func() { seen[at] = f.progress() }, at)
	}
	f.run(layer4(45))
	f.result()

	// 0-1 s snapshot; chunk 0: deregister 1-2 s, wait 2-4 s; chunk 1 from 4 s.
	require.Equal(t, workflows.Progress{Phase: workflows.PhaseSnapshot, CurrentChunk: -1, Run: 1}, seen[500*time.Millisecond])
	require.Equal(t, workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksTotal: 3, TargetsTotal: 44,
		AlreadyAbsent: 1, CurrentChunk: 0, Run: 1}, seen[1500*time.Millisecond])
	require.Equal(t, workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksTotal: 3, TargetsTotal: 44,
		AlreadyAbsent: 1, CurrentChunk: 0, CurrentTaskID: "task-1", Run: 1}, seen[2500*time.Millisecond])
	require.Equal(t, workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksDone: 1, ChunksTotal: 3,
		TargetsDone: 20, TargetsTotal: 44, AlreadyAbsent: 1, CurrentChunk: 1, Run: 1}, seen[4500*time.Millisecond])
	require.Equal(t, workflows.Progress{Phase: workflows.PhaseDone, ChunksDone: 3, ChunksTotal: 3,
		TargetsDone: 44, TargetsTotal: 44, AlreadyAbsent: 1, CurrentChunk: -1, Run: 1}, f.progress())
}

// parent starts a drain as a child workflow, as the doc of
// DrainAndDeregister shows, and reports the child's ID with its result.
func parent(ctx workflow.Context, in workflows.DrainInput) (string, error) {
	opts := workflows.ChildOptions(in)
	opts.WaitForCancellation = true
	opts.ParentClosePolicy = enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), workflows.WorkflowName, in)
	var exec workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		return "", err
	}
	var res workflows.DrainResult
	if err := child.Get(ctx, &res); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %d deregistered, %d restored, cancelled %v", exec.ID, len(res.Deregistered), len(res.Restored), res.Cancelled), nil
}

func TestAsChildWorkflow(t *testing.T) {
	f := newFleet(t)
	f.env.RegisterWorkflow(parent)
	f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: "release-orchestration"})
	f.healthy(time.Second)
	f.env.ExecuteWorkflow(parent, layer4(25))
	require.True(t, f.env.IsWorkflowCompleted())
	require.NoError(t, f.env.GetWorkflowError())
	var out string
	require.NoError(t, f.env.GetWorkflowResult(&out))
	require.Equal(t, "clb-drain/"+lbID+"/"+lisID+": 25 deregistered, 0 restored, cancelled false", out)
	require.Equal(t, []string{workflows.TaskQueue}, f.queues["Snapshot"], "the child runs on the clb-drain queue")
}

func TestChildCancelledWithItsParentRestores(t *testing.T) {
	f := newFleet(t)
	f.env.RegisterWorkflow(parent)
	f.healthy(time.Second)
	in := layer4(25)
	in.DrainDelay = time.Hour
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, time.Minute)
	f.env.ExecuteWorkflow(parent, in)
	require.True(t, f.env.IsWorkflowCompleted())
	require.NoError(t, f.env.GetWorkflowError())
	var out string
	require.NoError(t, f.env.GetWorkflowResult(&out))
	require.Equal(t, "clb-drain/"+lbID+"/"+lisID+": 0 deregistered, 25 restored, cancelled true", out)
}

func TestValidate(t *testing.T) {
	ok := layer4(1)
	require.NoError(t, workflows.Validate(ok))

	long := ok
	long.Reason = strings.Repeat("x", workflows.MaxReasonLen+1)
	tooMany := ok
	tooMany.Targets = cvms(workflows.MaxTargets + 1)
	slow := ok
	slow.DrainDelay = workflows.MaxDrainDelay + time.Second
	dup := ok
	dup.Targets = append(cvms(2), cvm(1))
	for _, tc := range []struct {
		name   string
		in     workflows.DrainInput
		fields []string
	}{
		{"reason too long", long, []string{"Reason"}},
		{"too many targets", tooMany, []string{"Targets"}},
		{"drain too long", slow, []string{"DrainDelay"}},
		{"no targets", workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: lisID}}, []string{"Targets"}},
		{"nothing", workflows.DrainInput{}, []string{"LoadBalancerId", "ListenerId", "Targets"}},
		{"duplicates are fine", dup, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := workflows.Validate(tc.in)
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			var ve *clb.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			var fields []string
			for _, p := range ve.Problems {
				fields = append(fields, p.Field)
			}
			require.Equal(t, tc.fields, fields)
		})
	}
}

// weightedAll gives every target of ts the weight w.
func weightedAll(ts []clb.Target, w int64) clb.WeightedList {
	out := make(clb.WeightedList, len(ts))
	for i, t := range ts {
		out[i] = weighted(t, w)
	}
	return out
}

// keysOf is the sorted keys of a list of targets, weighted or not: drain
// results list each target once, grouped (clb.WeightedList), not in the
// order of removal.
func keysOf[T interface{ Key() string }](ts []T) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key()
	}
	sort.Strings(out)
	return out
}

// A continued run follows the rule by the LocationId run 1 resolved: the
// rule's Url changed by another writer mid-drain does not fail it.
func TestContinuedRunFollowsTheRuleByLocationID(t *testing.T) {
	f := newFleet(t)
	snap := &activities.Activities{CLB: oneListener{l: httpListener()}}
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	f.healthy(time.Second)
	in := layer4(3)
	in.Domain, in.Url = "API.example.com", "/v1"
	in.ChunkSize, in.ChunksPerRun = 1, 1
	f.run(in)
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())
	require.Equal(t, locID, next.LocationId)

	moved := httpListener()
	moved.Rules[0].Url = "/v2"
	g := newFleet(t)
	snap = &activities.Activities{CLB: oneListener{l: moved}}
	g.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	g.healthy(time.Second)
	g.run(next)
	next = decodeContinueAsNew(t, g.env.GetWorkflowError())
	require.Equal(t, "/v2", next.Resume.Result.Selector.Url, "the rule as it is now")
	require.Len(t, next.Resume.Result.Deregistered, 2)
}

// A batch weight task that fails is sent again, re-checking; one that
// fails every time fails the drain after MaxTaskRetries, naming what it
// may have left at weight 0.
func TestBatchWeightTaskFailing(t *testing.T) {
	t.Run("once: sent again", func(t *testing.T) {
		f := newFleet(t)
		f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskFailed("task-1", "rs not healthy")).Once()
		f.healthy(time.Second)
		in := layer4(600)
		in.DrainDelay = time.Minute
		f.run(in)
		res := f.result()
		require.Len(t, f.batches, 3, "the first batch twice, then the second")
		require.Equal(t, f.batches[0].Entries, f.batches[1].Entries, "the same weights again")
		require.Equal(t, []bool{false, true, false}, []bool{f.batches[0].Recheck, f.batches[1].Recheck, f.batches[2].Recheck})
		require.Equal(t, 600, res.Drained)
		require.Len(t, res.Deregistered, 600)
		require.Contains(t, f.progress().LastError, "rs not healthy")
	})
	t.Run("every time: the drain fails", func(t *testing.T) {
		f := newFleet(t)
		f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
				return activities.WaitResult{}, taskFailed(in.TaskID, "rs not healthy")
			})
		f.healthy(time.Second)
		in := layer4(30)
		in.DrainDelay = time.Minute
		f.run(in)
		ae := applicationError(t, f.env.GetWorkflowError())
		require.Equal(t, workflows.ErrTaskFailed, ae.Type())
		require.Contains(t, ae.Error(), "setting weights on "+lbID+"/"+lisID)
		require.Len(t, f.batches, 1+workflows.MaxTaskRetries)
		require.Empty(t, f.deregs)
		fd, ok := workflows.LeftAtZeroOf(f.env.GetWorkflowError())
		require.True(t, ok)
		require.Equal(t, cvms(30), snapshotWeights(t, fd.LeftAtZero))
	})
}
