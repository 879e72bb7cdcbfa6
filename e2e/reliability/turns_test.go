package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// Sizes of the many-drains scenario: five layer-4 listeners of one load
// balancer, manyTargets bound to each; manyDrained of each are drained, a
// weight batch and three chunks of manyChunk a drain, and the rest of the
// first listener afterwards.
const (
	manyListeners = 5
	manyTargets   = 36
	manyDrained   = 30
	manyChunk     = 10
	// firstTurnBound is how soon a drain started once the others have
	// ended must get its first turn.
	firstTurnBound = 2 * time.Second
)

// Five drains of one load balancer at once: four started by hand on four
// listeners and one a schedule starts (`starter schedule`, triggered) on
// the fifth, each with a drain phase, under clbsim's cloud faults. The only
// worker is killed with SIGKILL twice while it holds the load balancer's
// turn (the turns workflow's query names the holder): once when every
// drain has asked for its turn and the holder waits on its task, and once
// more when the new worker's retried wait of that task holds the turn. A
// new worker starts after each kill. Every drain completes, clbsim's audit
// shows every target removed exactly once and nothing else touched, and a
// drain started afterwards on the same load balancer gets its first turn
// within firstTurnBound.
func TestManyDrainsOnOneLoadBalancer(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: manyListeners, Targets: manyTargets, ENI: 0.2}
	faults, err := clbsim.ParseFaults(cloudFaults)
	require.NoError(t, err)
	sc := newScenario(t, 8, "many drains on one load balancer", "many-drains", spec,
		clbsim.Config{TaskLatency: 300 * time.Millisecond, TaskJitter: 100 * time.Millisecond, Faults: faults})
	lb := sc.initial.LoadBalancers[0]
	require.Len(t, lb.Listeners, manyListeners)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var ins []workflows.DrainInput
	var requested []harness.Binding
	for i, l := range lb.Listeners {
		in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId},
			Targets: sample(sc.rng, harness.TargetsOf(l.Targets), manyDrained), DrainDelay: time.Second, ChunkSize: manyChunk,
			Reason: fmt.Sprintf("reliability: many drains %d", i)}
		ins = append(ins, in)
		requested = append(requested, harness.BindingsOf(in.Selector, in.Targets)...)
	}
	w := sc.startWorker()
	// The scheduled drain first: the starter and the schedule take a
	// moment, and the kills want every drain under way.
	scheduled := sc.schedule(ctx, ins[len(ins)-1])
	runs := make([]client.WorkflowRun, 0, len(ins))
	for _, in := range ins[:len(ins)-1] {
		runs = append(runs, sc.start(ctx, in, ""))
	}

	// The kills, each while the worker holds the turn. The first comes
	// once every drain is in line, so that every drain's change is cut and
	// retried (after its heartbeat timeout) while the second kill's wait is
	// retried too.
	tq := turnsQuery{sc: sc, ctx: ctx, id: turns.WorkflowID(sc.queue, lb.LoadBalancerId), faults: faults}
	var moments []string
	sc.await(time.Minute, "every drain in line for the turn", func() bool {
		st, ok := tq.state()
		return ok && st.Holder != nil && len(st.Queue) == len(ins)-1
	})
	moments = append(moments, tq.killWhileWaitHolds(&w, "every drain in line"))
	moments = append(moments, tq.killWhileWaitHolds(&w, "the new worker's retried wait"))

	results := make([]workflows.DrainResult, len(ins))
	errs := make([]error, len(ins))
	var done sync.WaitGroup
	for i, run := range runs {
		done.Go(func() { errs[i] = run.Get(ctx, &results[i]) })
	}
	done.Go(func() { results[len(ins)-1], errs[len(ins)-1] = scheduled(ctx) })
	done.Wait()
	completed := 0
	for i, err := range errs {
		if assert.NoError(t, err, "drain %d", i) && assert.Len(t, results[i].Deregistered, manyDrained, "drain %d", i) {
			completed++
		}
	}

	// Afterwards, with the faults off (a snapshot's retried read would
	// delay the first change for reasons of its own): the rest of the
	// first listener.
	sc.sim.SetFaults(nil)
	after, firstTurn := tq.firstTurn(ins[0], lb.Listeners[0])
	requested = append(requested, harness.BindingsOf(after.Selector, after.Targets)...)
	assert.LessOrEqual(t, firstTurn, firstTurnBound, "the first turn of a drain started afterwards")

	st, _ := tq.state()
	assert.Nil(t, st.Holder, "idle at the end")
	assert.Empty(t, st.Queue, "idle at the end")
	sc.account(requested, "InternalError")
	sc.row.Injected = fmt.Sprintf("cloud faults; kill -9 ×2 while holding the turn: %s", strings.Join(moments, ", "))
	sc.row.Outcome = fmt.Sprintf("%d/%d drains completed (one scheduled), %d turns granted, %d taken back at lease end; "+
		"a drain started afterwards got its first turn in %s (bound %s)",
		completed, len(ins), st.Granted, st.Expired, firstTurn.Round(time.Millisecond), firstTurnBound)
}

// schedule makes a schedule of the drain in with `starter schedule`,
// triggers it, and returns a func that waits for the ScheduledDrain it
// started and returns its result. The schedule is deleted when the test
// ends.
func (sc *scenario) schedule(ctx context.Context, in workflows.DrainInput) func(context.Context) (workflows.DrainResult, error) {
	sc.t.Helper()
	id := sc.queue + "-schedule"
	file := filepath.Join(sc.t.TempDir(), "scheduled.txt")
	require.NoError(sc.t, harness.WriteTargets(file, in.Targets))
	res := sc.starter(ctx, "", "schedule", "--schedule-id", id, "--every", "24h", "--lb", in.LoadBalancerId,
		"--listener", in.ListenerId, "--targets", file, "--drain-delay", in.DrainDelay.String(),
		"--chunk-size", fmt.Sprint(in.ChunkSize), "--task-queue", sc.queue, "--reason", in.Reason)
	require.Equal(sc.t, 0, res.Code, "starter schedule:\n%s%s", res.Stdout, res.Stderr)
	h := sc.temporal.ScheduleClient().GetHandle(ctx, id)
	sc.t.Cleanup(func() { _ = h.Delete(context.Background()) })
	require.NoError(sc.t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var wid, runID string
	sc.await(30*time.Second, "the scheduled drain to start", func() bool {
		d, err := h.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) == 0 {
			return false
		}
		last := d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		wid, runID = last.WorkflowID, last.FirstExecutionRunID
		return true
	})
	return func(ctx context.Context) (workflows.DrainResult, error) {
		var res workflows.DrainResult
		err := sc.temporal.GetWorkflow(ctx, wid, runID).Get(ctx, &res)
		return res, err
	}
}

// turnsQuery reads the turns workflow of the scenario's load balancer, id;
// faults are the scenario's clbsim faults, in force but while a call is
// held.
type turnsQuery struct {
	sc     *scenario
	ctx    context.Context
	id     string
	faults clbsim.Faults
}

// state is the turns workflow's answer to QueryTurns; ok is false when it
// did not answer (no worker, or not started yet).
func (q turnsQuery) state() (turns.State, bool) {
	qctx, cancel := context.WithTimeout(q.ctx, 3*time.Second)
	defer cancel()
	var st turns.State
	v, err := q.sc.temporal.QueryWorkflow(qctx, q.id, "", turns.QueryTurns)
	return st, err == nil && v.Get(&st) == nil
}

// killWhileWaitHolds kills the worker *w while the WaitForTask of the
// turn's holder, on that worker, is inside a poll (clbsim holds the next
// DescribeTaskStatus call: only the holder has a task to poll), checks
// that the turn is held then, and starts another worker in *w's place. It
// returns what the kill met.
func (q turnsQuery) killWhileWaitHolds(w **harness.Process, when string) string {
	sc := q.sc
	sc.t.Helper()
	sc.holdNextCall(clb.ActionDescribeTaskStatus, 2*time.Second)
	st, ok := q.state()
	require.True(sc.t, ok && st.Holder != nil, "the turn is held while its task is polled: %+v", st)
	*w = sc.killAndRestart(*w)
	sc.sim.SetFaults(q.faults)
	sc.t.Logf("%s: killed the worker while %s held the turn (%s), %d waiting", time.Since(sc.begun).Round(time.Millisecond),
		st.Holder.WorkflowID, when, len(st.Queue))
	return fmt.Sprintf("%s (%d waiting)", when, len(st.Queue))
}

// firstTurn starts, on the listener of done (a drain that has ended), a
// drain of what done left bound, and returns its input and how long after
// its start it was first granted the turn. The drain must complete.
func (q turnsQuery) firstTurn(done workflows.DrainInput, l clb.Listener) (workflows.DrainInput, time.Duration) {
	sc := q.sc
	sc.t.Helper()
	in := done
	in.Targets = slices.DeleteFunc(harness.TargetsOf(l.Targets), func(tg clb.Target) bool { return slices.Contains(done.Targets, tg) })
	in.Reason = "reliability: many drains, afterwards"
	require.Len(sc.t, in.Targets, manyTargets-manyDrained)
	id := workflows.WorkflowIDFor(in) + "-after"
	started := time.Now()
	run := sc.start(q.ctx, in, id)
	var granted time.Time
	sc.await(time.Minute, "the first turn of the drain started afterwards", func() bool {
		st, ok := q.state()
		if ok && st.Holder != nil && st.Holder.WorkflowID == id {
			granted = time.Now()
			return true
		}
		return false
	})
	var res workflows.DrainResult
	require.NoError(sc.t, run.Get(q.ctx, &res))
	assert.Len(sc.t, res.Deregistered, len(in.Targets))
	return in, granted.Sub(started)
}
