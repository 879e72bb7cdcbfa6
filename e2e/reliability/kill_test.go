package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// A 1,000-target drain (with a drain phase, and continue-as-new every 20
// chunks) whose worker is killed with SIGKILL four times, each at a seeded
// moment steered by clbsim and the progress query: while a weight task
// (one of two BatchModifyTargetWeight tasks of 500) runs, during the drain timer, inside a DeregisterTargets call (held in
// clbsim so that the change lands after the worker died and its answer is
// lost), and while a deregistration task runs. A new worker starts after
// each kill. The drain completes, and clbsim's audit shows each requested
// target removed exactly once and no other target touched.
func TestWorkerKilledMidDrain(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 1200, ENI: 0.1}
	sc := newScenario(t, 1, "worker killed", "killed", spec,
		clbsim.Config{TaskLatency: 50 * time.Millisecond, TaskJitter: 50 * time.Millisecond})
	lb := sc.initial.LoadBalancers[0]
	l, _ := harness.Listener(lb, false)
	want := sample(sc.rng, harness.TargetsOf(l.Targets), 1000)
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}, Targets: want,
		DrainDelay: 3 * time.Second, ChunksPerRun: 20, Reason: "reliability: worker killed"}
	const chunks = 50
	const weightBatches = 2

	// The moments, drawn up front: a weight batch, a point of the drain
	// timer, and two deregistration chunks.
	weightBatch := 1 + sc.rng.IntN(weightBatches)
	timerShare := 0.2 + 0.5*sc.rng.Float64()
	callChunk := 3 + sc.rng.IntN(17)
	waitChunk := 25 + sc.rng.IntN(20)
	callDelay := time.Duration(sc.rng.IntN(1000)) * time.Millisecond
	weightPollDelay := time.Duration(sc.rng.IntN(1000)) * time.Millisecond
	taskPollDelay := time.Duration(sc.rng.IntN(1000)) * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := sc.startWorker()
	run := sc.start(ctx, in, "")
	id := run.GetID()
	var moments []string
	kill := func(moment string) {
		w = sc.killAndRestart(w)
		moments = append(moments, moment)
		t.Logf("%s: killed the worker: %s", time.Since(sc.begun).Round(time.Millisecond), moment)
	}

	// 1. While WaitForTask waits on a BatchModifyTargetWeight task: clbsim
	// holds its poll, and the worker dies inside it.
	sc.await(time.Minute, fmt.Sprint("weight batch ", weightBatch), func() bool {
		return sc.sim.Stats().Actions[clb.ActionBatchModifyTargetWeight].Requests >= weightBatch
	})
	sc.holdNextCall(clb.ActionDescribeTaskStatus, 2*time.Second)
	time.Sleep(weightPollDelay)
	kill(fmt.Sprintf("wait on weight task %d/%d (+%s)", weightBatch, weightBatches, weightPollDelay))
	sc.sim.SetFaults(nil)

	// 2. During the drain timer.
	var p workflows.Progress
	sc.await(2*time.Minute, "the drain timer", func() bool {
		var ok bool
		p, ok = sc.progress(ctx, id)
		return ok && p.Phase == workflows.PhaseDrainWait
	})
	time.Sleep(time.Duration(timerShare * float64(time.Until(p.DrainUntil))))
	require.True(t, time.Now().Before(p.DrainUntil), "still in the drain timer")
	kill(fmt.Sprintf("drain timer, %s before its end", time.Until(p.DrainUntil).Round(time.Millisecond)))

	// 3. Inside a DeregisterTargets call: clbsim holds the next call for
	// 4 s, the worker dies meanwhile, and then clbsim applies the change
	// with nobody to answer. The next attempt (after the activity's
	// start-to-close timeout) must find the chunk gone, not remove it again.
	awaitChunk(ctx, sc, id, callChunk)
	sc.holdNextCall(clb.ActionDeregisterTargets, 4*time.Second)
	time.Sleep(callDelay)
	kill(fmt.Sprintf("DeregisterTargets call of chunk %d/%d (+%s)", callChunk+1, chunks, callDelay))
	// The kill landed inside the call: the worker has exited (Kill waits
	// for it) while clbsim still held the call it had received, so that
	// call's answer was never delivered.
	require.Equal(t, 1, unansweredMutations(sc.sim.Stats()),
		"one mutating call, the held DeregisterTargets, still unanswered when the worker died")
	sc.sim.SetFaults(nil)
	sc.await(20*time.Second, "clbsim to handle the held call with nobody to answer", func() bool {
		return unansweredMutations(sc.sim.Stats()) == 0
	})

	// 4. While WaitForTask waits on a DeregisterTargets task, inside a
	// held poll as in 1.
	awaitChunk(ctx, sc, id, waitChunk)
	sc.holdNextCall(clb.ActionDescribeTaskStatus, 2*time.Second)
	time.Sleep(taskPollDelay)
	kill(fmt.Sprintf("wait on the task of chunk %d/%d (+%s)", waitChunk+1, chunks, taskPollDelay))
	sc.sim.SetFaults(nil)

	var res workflows.DrainResult
	require.NoError(t, sc.temporal.GetWorkflow(ctx, id, "").Get(ctx, &res))
	sc.row.Injected = "kill -9 ×4: " + strings.Join(moments, ", ")
	sc.row.Outcome = fmt.Sprintf("completed in %d runs", res.Runs)
	assert.Len(t, res.Deregistered, len(want))
	assert.Empty(t, res.AlreadyAbsent)
	sc.account(harness.BindingsOf(in.Selector, want))
}

// awaitChunk waits until a drain has deregistered at least n chunks.
func awaitChunk(ctx context.Context, sc *scenario, id string, n int) {
	sc.t.Helper()
	sc.await(3*time.Minute, fmt.Sprint("chunk ", n), func() bool {
		p, ok := sc.progress(ctx, id)
		return ok && p.Phase == workflows.PhaseDeregistering && p.ChunksDone >= n
	})
}

// unansweredMutations is how many mutating calls clbsim has received and
// not yet answered: each call it handles either starts a task or is
// answered with an error, and the answer is written after either.
func unansweredMutations(st clbsim.Stats) int {
	n := -st.TasksCreated
	for _, action := range []string{clb.ActionDeregisterTargets, clb.ActionModifyTargetWeight, clb.ActionBatchModifyTargetWeight, clb.ActionRegisterTargets} {
		a := st.Actions[action]
		n += a.Requests
		for _, count := range a.Errors {
			n -= count
		}
	}
	return n
}
