package cluster

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// seed seeds every scenario's fleet: scenario n uses seed+n.
const seed = 20261201

// scenario is the world of one scenario: its emulator, task queue, worker
// processes, and its row of the table.
type scenario struct {
	t       *testing.T
	queue   string
	sim     *harness.Sim
	initial clbsim.State
	home    string
	workers []*harness.Process
	row     row
	begun   time.Time
}

// newScenario starts scenario number's emulator on a fleet generated from
// spec, tasks taking 100-200 ms, and registers its row, added to the table
// when the test ends.
func newScenario(t *testing.T, number int, name, queue string, spec clbsim.GenerateSpec) *scenario {
	t.Helper()
	need(t)
	sc := &scenario{t: t, queue: "cluster-" + queue, home: t.TempDir(), row: row{Number: number, Scenario: name}, begun: time.Now()}
	fleet, err := clbsim.Generate(spec, seed+uint64(number))
	require.NoError(t, err)
	sc.sim, err = harness.StartSim(clbsim.Config{State: fleet, Seed: seed + uint64(number),
		TaskLatency: 100 * time.Millisecond, TaskJitter: 100 * time.Millisecond})
	require.NoError(t, err)
	sc.initial = sc.sim.State()
	t.Cleanup(func() {
		sc.stopWorkers()
		sc.sim.Close()
		sc.row.Elapsed = time.Since(sc.begun)
		if t.Failed() {
			sc.row.Outcome = "FAILED " + sc.row.Outcome
		}
		report.add(sc.row)
	})
	return sc
}

// env is the clbdrain processes' environment, with n's frontend as the
// Temporal address.
func (sc *scenario) env(n *node) []string {
	return harness.Env{TemporalAddress: n.frontend, CLBEndpoint: sc.sim.URL, Home: sc.home}.Vars()
}

// startWorker runs a worker process on the scenario's task queue that
// talks to n's frontend, and waits until it polls.
func (sc *scenario) startWorker(n *node) {
	sc.t.Helper()
	p, err := harness.StartWorker(cluster.bin, sc.env(n), "--task-queue", sc.queue)
	require.NoError(sc.t, err)
	sc.workers = append(sc.workers, p)
	// For the script's cleanup, should this test binary die first.
	pid := strconv.Itoa(p.Pid())
	require.NoError(sc.t, os.WriteFile(filepath.Join(cluster.dir, "worker-"+pid+".pid"), []byte(pid), 0o644))
}

// stopWorkers stops the workers and, when the test failed, logs the end of
// their output.
func (sc *scenario) stopWorkers() {
	for i, p := range sc.workers {
		p.Stop()
		if sc.t.Failed() {
			sc.t.Logf("worker %d, last lines of its output:\n%s", i+1, tail(p.Output(), 40))
		}
	}
	sc.workers = nil
}

// starter runs the starter binary through n's frontend.
func (sc *scenario) starter(ctx context.Context, n *node, args ...string) harness.Result {
	sc.t.Helper()
	res, err := harness.RunStarter(ctx, cluster.bin, sc.env(n), "", args...)
	require.NoError(sc.t, err)
	return res
}

// drainArgs are the starter's flags that drain targets from listener l of
// load balancer lb on the scenario's task queue.
func (sc *scenario) drainArgs(lb, l string, targets []clb.Target, more ...string) []string {
	sc.t.Helper()
	file := filepath.Join(sc.t.TempDir(), "targets.txt")
	require.NoError(sc.t, harness.WriteTargets(file, targets))
	args := []string{"--lb", lb, "--listener", l, "--targets", file, "--task-queue", sc.queue}
	return append(args, more...)
}

// startDrain starts a drain with the starter (without waiting) through
// n's frontend and returns its workflow ID.
func (sc *scenario) startDrain(ctx context.Context, n *node, args []string) string {
	sc.t.Helper()
	res := sc.starter(ctx, n, append([]string{"drain", "--json"}, args...)...)
	require.Equal(sc.t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	var started struct {
		WorkflowID string `json:"WorkflowId"`
	}
	require.NoError(sc.t, json.Unmarshal([]byte(res.Stdout), &started), res.Stdout)
	return started.WorkflowID
}

// result decodes the DrainResult a starter printed as JSON after exit 0.
func (sc *scenario) result(res harness.Result) workflows.DrainResult {
	sc.t.Helper()
	require.Equal(sc.t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	var out workflows.DrainResult
	require.NoError(sc.t, json.Unmarshal([]byte(res.Stdout), &out), res.Stdout)
	return out
}

// statusResult decodes the DrainResult of the status a starter printed as
// JSON after exit 0.
func (sc *scenario) statusResult(res harness.Result) workflows.DrainResult {
	sc.t.Helper()
	require.Equal(sc.t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	var out struct {
		Status string
		Result *workflows.DrainResult
	}
	require.NoError(sc.t, json.Unmarshal([]byte(res.Stdout), &out), res.Stdout)
	require.Equal(sc.t, "completed", out.Status)
	require.NotNil(sc.t, out.Result, res.Stdout)
	return *out.Result
}

// retriedActivities reads a workflow's history (its last run) through c
// and counts the activities that needed more than one attempt, by the
// kind of their last failure (such as a start-to-close timeout).
func (sc *scenario) retriedActivities(ctx context.Context, c client.Client, id string) map[string]int {
	sc.t.Helper()
	out := map[string]int{}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(sc.t, err)
		started := ev.GetActivityTaskStartedEventAttributes()
		if started == nil || started.GetAttempt() <= 1 {
			continue
		}
		kind := "error"
		if f := started.GetLastFailure(); f.GetTimeoutFailureInfo() != nil {
			kind = strings.ToLower(strings.TrimPrefix(f.GetTimeoutFailureInfo().GetTimeoutType().String(), "TIMEOUT_TYPE_")) + " timeout"
		}
		out[kind]++
	}
	return out
}

// listedWorkflow is a workflow of `starter list --json`.
type listedWorkflow struct {
	WorkflowID string `json:"WorkflowId"`
	Outcome    string `json:"Outcome"`
	Requester  string `json:"Requester"`
}

// listed runs `starter list --json` with args through n's frontend until
// it shows workflow id (visibility lags behind a little), and returns it.
func (sc *scenario) listed(ctx context.Context, n *node, id string, args ...string) listedWorkflow {
	sc.t.Helper()
	var found listedWorkflow
	last := ""
	ok := harness.WaitFor(time.Minute, 500*time.Millisecond, func() bool {
		res := sc.starter(ctx, n, append([]string{"list", "--json"}, args...)...)
		last = res.Stdout + res.Stderr
		var out struct{ Workflows []listedWorkflow }
		if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &out) != nil {
			return false
		}
		for _, w := range out.Workflows {
			if w.WorkflowID == id && !strings.HasPrefix(w.Outcome, "running") {
				found = w
				return true
			}
		}
		return false
	})
	require.True(sc.t, ok, "starter list %q never showed %s closed; last answer:\n%s", args, id, last)
	return found
}

// awaitProgress waits until a drain's progress, asked through c, holds cond.
func (sc *scenario) awaitProgress(ctx context.Context, c client.Client, id, what string, cond func(workflows.Progress) bool) {
	sc.t.Helper()
	ok := harness.WaitFor(3*time.Minute, 50*time.Millisecond, func() bool {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && cond(p)
	})
	require.True(sc.t, ok, "waited 3m for %s", what)
}

// account fills the row's counts from clbsim's audit of the named
// bindings and checks them: removed exactly once each when removal is
// expected, else none removed; nothing else touched; and the final state is
// the initial one without the removed bindings.
func (sc *scenario) account(named []harness.Binding, removal bool) {
	sc.t.Helper()
	tl := harness.TallyAudit(sc.sim.Audit(), named)
	sc.row.Requested, sc.row.RemovedOnce, sc.row.RemovedTwice, sc.row.OtherTouched = tl.Requested, tl.RemovedOnce, tl.RemovedTwice, tl.OtherTouched
	var removed []harness.Binding
	if removal {
		removed = named
		assert.True(sc.t, tl.Exact(), "every named target removed exactly once, nothing else touched: %+v", tl)
	} else {
		assert.Equal(sc.t, harness.Tally{Requested: len(named), NeverRemoved: len(named)}, tl, "nothing removed, nothing else touched")
	}
	if diff := harness.StateDiff(sc.initial, sc.sim.State(), removed); len(diff) > 0 {
		sc.t.Errorf("the final state is not the initial one without the removed targets: %d differences, such as:\n%s",
			len(diff), strings.Join(diff[:min(len(diff), 10)], "\n"))
	}
}
