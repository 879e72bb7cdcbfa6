package reliability

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// campaignSeed seeds every scenario's randomness (fleet, choices, moments,
// fault draws): scenario n uses campaignSeed+n.
const campaignSeed = 20261127

// scenario is the world of one scenario: its emulator, its task queue and
// worker processes, the Temporal client it uses, a seeded random source,
// and its row of the table.
type scenario struct {
	t        *testing.T
	seed     uint64
	rng      *rand.Rand
	queue    string
	sim      *harness.Sim
	initial  clbsim.State
	env      harness.Env
	temporal client.Client
	row      row
	begun    time.Time

	mu      sync.Mutex
	workers []*harness.Process
}

// newScenario starts scenario number's emulator on a fleet generated from
// spec, with cfg's other settings, and registers its row, which is added to
// the table when the test ends. The scenario runs in parallel with the
// others, on the campaign's Temporal dev server unless it brings its own.
func newScenario(t *testing.T, number int, name, queue string, spec clbsim.GenerateSpec, cfg clbsim.Config) *scenario {
	t.Helper()
	return newVariant(t, variant{number: number, name: name, queue: queue}, spec, cfg)
}

// variant names one row of a scenario that runs in several variants: its
// number, its variant number (0 for a scenario's only or first row), its
// name, its task queue, and the observer of its emulator's answers (nil
// for none).
type variant struct {
	number, sub int
	name, queue string
	observer    *observer
}

// newVariant is newScenario for a row that may be one of several of a
// scenario: variant v.sub of scenario v.number, seeded with
// campaignSeed+number+100*sub, its emulator's answers watched by
// v.observer when it is not nil.
func newVariant(t *testing.T, v variant, spec clbsim.GenerateSpec, cfg clbsim.Config) *scenario {
	t.Helper()
	if campaign.skip != "" {
		t.Skip(campaign.skip)
	}
	t.Parallel()
	sc := &scenario{t: t, seed: campaignSeed + uint64(v.number) + 100*uint64(v.sub), queue: "reliability-" + v.queue,
		temporal: campaign.dev.Client(), row: row{Number: v.number, Sub: v.sub, Scenario: v.name}, begun: time.Now()}
	sc.rng = rand.New(rand.NewPCG(sc.seed, sc.seed))
	fleet, err := clbsim.Generate(spec, sc.seed)
	require.NoError(t, err)
	cfg.State, cfg.Seed = fleet, sc.seed
	var wrap func(http.Handler) http.Handler
	if v.observer != nil {
		wrap = v.observer.wrap
	}
	sc.sim, err = harness.StartSimWith(cfg, wrap)
	require.NoError(t, err)
	sc.initial = sc.sim.State()
	sc.env = harness.Env{TemporalAddress: campaign.dev.FrontendHostPort(), CLBEndpoint: sc.sim.URL, Home: t.TempDir()}
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

// startWorker runs a worker process on the scenario's task queue with the
// scenario's environment plus extraEnv, and waits until it polls.
func (sc *scenario) startWorker(extraEnv ...string) *harness.Process {
	sc.t.Helper()
	return sc.startWorkerOn(sc.queue, extraEnv...)
}

// startWorkerOn is startWorker on another task queue.
func (sc *scenario) startWorkerOn(queue string, extraEnv ...string) *harness.Process {
	sc.t.Helper()
	p, err := harness.StartWorker(campaign.bin, sc.env.Vars(extraEnv...), "--task-queue", queue)
	require.NoError(sc.t, err)
	sc.mu.Lock()
	sc.workers = append(sc.workers, p)
	sc.mu.Unlock()
	return p
}

// stopWorkers stops every worker still running and, when the test failed,
// logs the end of each worker's output. Later calls do nothing.
func (sc *scenario) stopWorkers() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for i, p := range sc.workers {
		p.Stop()
		if sc.t.Failed() {
			out := harness.Lines(p.Output())
			sc.t.Logf("worker %d of %d, last lines of its output:\n%s", i+1, len(sc.workers),
				strings.Join(out[max(0, len(out)-60):], "\n"))
		}
	}
	sc.workers = nil
}

// killAndRestart kills a worker with SIGKILL, starts another in its
// place, and counts both in the row.
func (sc *scenario) killAndRestart(p *harness.Process) *harness.Process {
	sc.t.Helper()
	p.Kill()
	sc.row.Kills++
	next := sc.startWorker()
	sc.row.Restarts++
	return next
}

// holdNextCall makes clbsim hold the next call of action for hold before
// handling it, and returns once that call has arrived: its caller is then
// inside the call for hold. It replaces the emulator's fault spec; the
// scenario clears it with SetFaults(nil).
func (sc *scenario) holdNextCall(action string, hold time.Duration) {
	sc.t.Helper()
	sc.sim.SetFaults(clbsim.Faults{{Action: action, Kind: clbsim.FaultLatency, Probability: 1, Latency: hold}})
	calls := sc.sim.Stats().Actions[action].Requests
	sc.await(time.Minute, "a held "+action+" call", func() bool {
		return sc.sim.Stats().Actions[action].Requests > calls
	})
}

// start starts a drain on the scenario's task queue under id (the
// conventional workflow ID when empty).
func (sc *scenario) start(ctx context.Context, in workflows.DrainInput, id string) client.WorkflowRun {
	sc.t.Helper()
	if id == "" {
		id = workflows.WorkflowIDFor(in)
	}
	run, err := sc.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: sc.queue}, workflows.WorkflowName, in)
	require.NoError(sc.t, err)
	return run
}

// progress asks a drain for its progress; ok is false when no worker
// answered.
func (sc *scenario) progress(ctx context.Context, workflowID string) (workflows.Progress, bool) {
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var p workflows.Progress
	v, err := sc.temporal.QueryWorkflow(qctx, workflowID, "", workflows.QueryProgress)
	return p, err == nil && v.Get(&p) == nil
}

// await waits until cond holds, polling every 10 ms, and fails the test
// after timeout.
func (sc *scenario) await(timeout time.Duration, what string, cond func() bool) {
	sc.t.Helper()
	require.True(sc.t, harness.WaitFor(timeout, 10*time.Millisecond, cond), "waited %s for %s", timeout, what)
}

// starter runs the starter binary with the scenario's environment.
func (sc *scenario) starter(ctx context.Context, stdin string, args ...string) harness.Result {
	sc.t.Helper()
	res, err := harness.RunStarter(ctx, campaign.bin, sc.env.Vars(), stdin, args...)
	require.NoError(sc.t, err)
	return res
}

// account fills the row's counts from the emulator and checks the effect
// is exact: each requested binding removed exactly once, nothing else
// changed, and the final state is the initial one without the requested
// bindings. faultCodes are the error codes the scenario injected.
func (sc *scenario) account(requested []harness.Binding, faultCodes ...string) {
	sc.t.Helper()
	tl := harness.TallyAudit(sc.sim.Audit(), requested)
	st := sc.sim.Stats()
	sc.row.Requested, sc.row.RemovedOnce, sc.row.RemovedTwice, sc.row.OtherTouched = tl.Requested, tl.RemovedOnce, tl.RemovedTwice, tl.OtherTouched
	sc.row.APICalls, sc.row.Faults = apiCalls(st), injected(st, faultCodes...)
	assert.Equal(sc.t, tl.Requested, tl.RemovedOnce, "every requested target removed exactly once: %+v", tl)
	assert.Zero(sc.t, tl.RemovedTwice, "no target removed twice")
	assert.Zero(sc.t, tl.OtherTouched, "no other target touched")
	if diff := harness.StateDiff(sc.initial, sc.sim.State(), requested); len(diff) > 0 {
		sc.t.Errorf("the final state is not the initial one without the requested targets: %d differences, such as:\n%s",
			len(diff), strings.Join(diff[:min(len(diff), 10)], "\n"))
	}
}

// sample returns n distinct items of all, drawn with rng, in drawn order.
func sample[T any](rng *rand.Rand, all []T, n int) []T {
	out := make([]T, 0, n)
	for _, i := range rng.Perm(len(all))[:n] {
		out = append(out, all[i])
	}
	return out
}
