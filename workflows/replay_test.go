package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
	"github.com/clbdrain/clbdrain/workflows"
)

// Recording histories: CLBDRAIN_RECORD_HISTORY=1 go test -run TestRecordHistories ./workflows/
// runs each scenario below on a Temporal dev server (the temporal CLI at
// CLBDRAIN_TEMPORAL_CLI, default ../bin/temporal) with the real worker
// setup against the emulator, and rewrites testdata/*.json.
const (
	envRecord      = "CLBDRAIN_RECORD_HISTORY"
	envTemporalCLI = "CLBDRAIN_TEMPORAL_CLI"
)

func historyFiles(t *testing.T) []string {
	all, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	files := slices.DeleteFunc(all, func(f string) bool { return f == idsFile })
	require.NotEmpty(t, files, "no recorded history: run with %s=1", envRecord)
	return files
}

// idsFile maps each recorded history to the workflow ID it ran under: a
// drain's commands depend on its own ID (it claims the conventional IDs it
// does not run under), so it is replayed under that ID.
var idsFile = filepath.Join("testdata", "workflow-ids.json")

// replay replays the history in file with r, under the workflow ID it was
// recorded with when idsFile names it.
func replay(t *testing.T, r worker.WorkflowReplayer, logger log.Logger, file string) error {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	var opts worker.ReplayWorkflowHistoryOptions
	opts.OriginalExecution.ID = recordedIDs(t)[filepath.Base(file)]
	return r.ReplayWorkflowHistoryWithOptions(logger, hist, opts)
}

// recordedIDs reads idsFile; histories recorded before it have no entry.
func recordedIDs(t *testing.T) map[string]string {
	ids := map[string]string{}
	b, err := os.ReadFile(idsFile)
	if errors.Is(err, os.ErrNotExist) {
		return ids
	}
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &ids))
	return ids
}

func quietLogger(t *testing.T) log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// TestReplay replays every recorded history against the workflow as it is
// now. A change to the commands the workflow issues for the same events
// fails it with a nondeterminism error: such a change needs
// workflow.GetVersion, or running drains would break on the next worker.
func TestReplay(t *testing.T) {
	for _, f := range historyFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := newReplayer()
			r.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
			r.RegisterWorkflowWithOptions(workflows.ScheduledDrain, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.RestoreTargets, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
			require.NoError(t, replay(t, r, quietLogger(t), f))
		})
	}
}

// TestReplayDetectsChanges shows that TestReplay has teeth: a workflow
// that issues one command more than the recorded one fails to replay.
func TestReplayDetectsChanges(t *testing.T) {
	changed := func(ctx workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return workflows.DrainResult{}, err
		}
		return workflows.DrainAndDeregister(ctx, in)
	}
	changedScheduled := func(ctx workflow.Context, in workflows.ScheduledDrainInput) (workflows.DrainResult, error) {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return workflows.DrainResult{}, err
		}
		return workflows.ScheduledDrain(ctx, in)
	}
	changedRestore := func(ctx workflow.Context, in workflows.RestoreInput) (workflows.RestoreResult, error) {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return workflows.RestoreResult{}, err
		}
		return workflows.RestoreTargets(ctx, in)
	}
	for _, f := range historyFiles(t) {
		r := newReplayer()
		r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.WorkflowName})
		r.RegisterWorkflowWithOptions(changedScheduled, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
		r.RegisterWorkflowWithOptions(changedRestore, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
		// The replayer logs the expected failure as a workflow panic.
		silent := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
		err := replay(t, r, silent, f)
		require.ErrorContains(t, err, "[TMPRL1100]", "%s: want a nondeterminism error", f)
	}
}

// recorder runs drains on a dev server and writes their histories.
type recorder struct {
	t        *testing.T
	ctx      context.Context
	client   client.Client
	sim      *clbsim.Server
	scripted *scriptedCLB
	state    clbsim.State
}

func TestRecordHistories(t *testing.T) {
	if os.Getenv(envRecord) != "1" {
		t.Skipf("set %s=1 to record histories on a dev server", envRecord)
	}
	r := startRecorder(t, nil, nil)
	c, ctx := r.client, r.ctx
	tcp := r.state.LoadBalancers[0].Listeners[0]

	// A layer-4 drain of 45 targets (and 2 absent) with a drain phase.
	in := r.input(tcp.ListenerId, tcp.Targets)
	in.DrainDelay = 2 * time.Second
	in.Reason = "replay fixture"
	res := r.run("drain-layer4-45", in, nil)
	require.Len(t, res.Deregistered, 45)
	require.Len(t, res.AlreadyAbsent, 2)

	// A layer-7 rule named by Domain+Url; its second call's task fails.
	r.reset(map[int]clbsim.Faults{2: {{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultTaskFail, Probability: 1}}})
	l7 := r.state.LoadBalancers[0].Listeners[1]
	rule := l7.Rules[0]
	in = r.input(l7.ListenerId, rule.Targets)
	in.Domain, in.Url = rule.Domain, rule.Url
	res = r.run("drain-layer7-domain-url-taskfail", in, nil)
	require.Equal(t, rule.LocationId, res.Selector.LocationId)
	require.Equal(t, 1, res.Chunks[1].TaskRetries)

	// Continue-as-new after two chunks: both runs are recorded.
	r.reset(nil)
	in = r.input(tcp.ListenerId, tcp.Targets)
	in.ChunksPerRun = 2
	res = r.run("continue-as-new", in, nil)
	require.Equal(t, 2, res.Runs)
	require.Len(t, res.Deregistered, 45)

	// Cancelled during the drain delay: the weights come back.
	r.reset(nil)
	in = r.input(tcp.ListenerId, tcp.Targets)
	in.DrainDelay = time.Hour
	res = r.run("cancel-restores-weights", in, func(wid string) {
		require.Eventually(t, func() bool {
			v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryProgress)
			var p workflows.Progress
			return err == nil && v.Get(&p) == nil && p.Phase == workflows.PhaseDrainWait
		}, time.Minute, 100*time.Millisecond)
		require.NoError(t, c.CancelWorkflow(ctx, wid, ""))
	})
	require.True(t, res.Cancelled)
	require.Len(t, res.Restored, 45)
}

// startRecorder starts, for the rest of the test, a dev server (the
// Temporal CLI of envTemporalCLI, given devArgs), an emulator of the
// recorded fleet behind a scriptedCLB, and the worker's setup: the
// workflow and the read-only activities on the task queue, the mutating
// ones on the rate-limited mutations queue; extra, when set, registers
// more on the task queue. Its context ends after 5 minutes.
func startRecorder(t *testing.T, devArgs []string, extra func(worker.Worker)) *recorder {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 45, ENI: 0.2}
	return startRecorderWith(t, spec, clbsim.Config{TaskLatency: 300 * time.Millisecond, TaskJitter: 200 * time.Millisecond, Seed: 5}, devArgs, extra)
}

// startRecorderWith is startRecorder with the fleet generated from spec
// (seed 5) and the emulator's settings in cfg.
func startRecorderWith(t *testing.T, spec clbsim.GenerateSpec, cfg clbsim.Config, devArgs []string, extra func(worker.Worker)) *recorder {
	cli := os.Getenv(envTemporalCLI)
	if cli == "" {
		cli = filepath.Join("..", "bin", "temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: cli, LogLevel: "error", ExtraArgs: devArgs,
		ClientOptions: &client.Options{Logger: quietLogger(t)}, Stdout: testWriter{t}, Stderr: testWriter{t}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, server.Stop()) })
	c := server.Client()

	// By default a TCP listener and an HTTP one with two rules, 45 targets
	// each; tasks take 300-500 ms, the API's rate limit applies.
	state, err := clbsim.Generate(spec, 5)
	require.NoError(t, err)
	cfg.State = state
	api, sim := clbsimtest.Start(t, cfg)
	scripted := &scriptedCLB{API: api, sim: sim}

	acts := &activities.Activities{CLB: scripted}
	reads := worker.New(c, workflows.TaskQueue, worker.Options{})
	reads.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	reads.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	reads.RegisterActivity(acts)
	if extra != nil {
		extra(reads)
	}
	mutations := worker.New(c, workflows.TaskQueue+workflows.MutationsQueueSuffix, worker.Options{TaskQueueActivitiesPerSecond: 20})
	mutations.RegisterActivity(acts)
	require.NoError(t, reads.Start())
	t.Cleanup(reads.Stop)
	require.NoError(t, mutations.Start())
	t.Cleanup(mutations.Stop)
	return &recorder{t: t, ctx: ctx, client: c, sim: sim, scripted: scripted, state: state}
}

// input drains the bound targets of a listener (or of one of its rules),
// and two that are not bound.
func (r *recorder) input(listenerID string, bound []clb.BoundTarget) workflows.DrainInput {
	targets := append(clbsim.RequestTargets(bound), clb.Target{InstanceId: "ins-ghost001", Port: 80}, clb.Target{EniIp: "192.0.2.1", Port: 80})
	return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: r.state.LoadBalancers[0].LoadBalancerId, ListenerId: listenerID}, Targets: targets}
}

// reset restores the fleet and scripts the next DeregisterTargets calls.
func (r *recorder) reset(faults map[int]clbsim.Faults) {
	r.sim.Reset()
	r.scripted.mu.Lock()
	defer r.scripted.mu.Unlock()
	r.scripted.faults, r.scripted.calls = faults, 0
}

// run starts a drain, lets during act on it, waits for its result, and
// writes the history of each of its runs as testdata/<name>[-run<n>].json.
func (r *recorder) run(name string, in workflows.DrainInput, during func(workflowID string)) workflows.DrainResult {
	var res workflows.DrainResult
	require.NoError(r.t, r.record(name, workflows.WorkflowName, workflows.WorkflowIDFor(in), in, during, &res))
	return res
}

// record starts the workflow of type name under wid with input in, lets
// during act on it, waits for its end into res, writes the history of each
// of its runs as testdata/<name>[-run<n>].json, and returns how it ended.
func (r *recorder) record(name, workflowType, wid string, in any, during func(workflowID string), res any) error {
	t := r.t
	run, err := r.client.ExecuteWorkflow(r.ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: workflows.TaskQueue}, workflowType, in)
	require.NoError(t, err)
	// Taken now: after Get follows a continue-as-new, it names the last run.
	firstRunID := run.GetRunID()
	if during != nil {
		during(wid)
	}
	ended := run.Get(r.ctx, res)

	var runIDs []string
	for id := firstRunID; id != ""; id = r.nextRun(wid, id) {
		runIDs = append(runIDs, id)
	}
	for i, id := range runIDs {
		file := name + ".json"
		if len(runIDs) > 1 {
			file = name + "-run" + strconv.Itoa(i+1) + ".json"
		}
		r.write(file, wid, id)
	}
	return ended
}

// nextRun is the run that the run id continued as, or "".
func (r *recorder) nextRun(wid, id string) string {
	events := r.history(wid, id).Events
	return events[len(events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
}

func (r *recorder) history(wid, runID string) *historypb.History {
	hist := &historypb.History{}
	iter := r.client.GetWorkflowHistory(r.ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(r.t, err)
		hist.Events = append(hist.Events, ev)
	}
	return hist
}

func (r *recorder) write(file, wid, runID string) {
	hist := r.history(wid, runID)
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(r.t, err)
	require.NoError(r.t, os.MkdirAll("testdata", 0o755))
	require.NoError(r.t, os.WriteFile(filepath.Join("testdata", file), append(b, '\n'), 0o644))
	ids := recordedIDs(r.t)
	ids[file] = wid
	b, err = json.MarshalIndent(ids, "", "  ")
	require.NoError(r.t, err)
	require.NoError(r.t, os.WriteFile(idsFile, append(b, '\n'), 0o644))
	r.t.Logf("wrote testdata/%s: %d events", file, len(hist.Events))
}
