package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestDrainsOfOneLoadBalancerTakeTurns starts four drains of four listeners
// of one load balancer at once, 60 targets each (3 chunks), with 1 s tasks,
// on an emulator and a worker of their own: the drains take turns, so no
// call of theirs meets the lock of another's task, every target is removed
// exactly once, and a drain that waits says for whom.
func TestDrainsOfOneLoadBalancerTakeTurns(t *testing.T) {
	need(t)
	const latency = time.Second
	sc, err := harness.NewTurnsScenario(4, 60, "e2e turns")
	require.NoError(t, err)
	fleet, inputs := sc.Fleet, sc.Inputs
	sim, err := harness.StartSim(clbsim.Config{State: fleet, TaskLatency: latency, Seed: 11})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "e2e-turns"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	w, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer w.Stop()
	lb := fleet.LoadBalancers[0]

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waits := watchWaiting(ctx, inputs)
	start := time.Now()
	runs := make([]client.WorkflowRun, len(inputs))
	for i, in := range inputs {
		runs[i], err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: queue},
			workflows.WorkflowName, in)
		require.NoError(t, err)
	}
	for i, run := range runs {
		var res workflows.DrainResult
		require.NoError(t, run.Get(ctx, &res), "drain %d", i)
		assert.Len(t, res.Deregistered, 60, "drain %d", i)
	}
	makespan := time.Since(start)
	ideal := 12 * latency
	t.Logf("4 drains × 3 chunks on one load balancer: makespan %s against 12 × task latency = %s: %.3f×",
		makespan.Round(time.Millisecond), ideal, makespan.Seconds()/ideal.Seconds())

	stats := sim.Stats()
	assert.Zero(t, harness.LockAnswers(stats), "a call met the lock of a task of clbdrain's own: %+v", stats.Actions)
	assert.Equal(t, 12, stats.TasksCreated, "one task per chunk")
	tally := harness.TallyAudit(sim.Audit(), sc.Requested)
	assert.True(t, tally.Exact(), "every target removed once, nothing else touched: %+v", tally)
	seen := waits()
	assert.NotEmpty(t, seen, "a waiting drain says so in its progress")
	for _, line := range seen {
		assert.Contains(t, line, "waiting for "+lb.LoadBalancerId+" held by "+workflows.WorkflowIDPrefix+"/")
	}

	// Idle, the turns workflow holds nothing and queues nothing.
	v, err := s.temporal.QueryWorkflow(ctx, turns.WorkflowID(queue, lb.LoadBalancerId), "", turns.QueryTurns)
	require.NoError(t, err)
	var st turns.State
	require.NoError(t, v.Get(&st))
	assert.Nil(t, st.Holder)
	assert.Empty(t, st.Queue)
	assert.EqualValues(t, 12, st.Granted, "one turn per chunk")
	assert.Zero(t, st.Expired, "no lease ran out")
}

// watchWaiting polls the progress of the drains until ctx is done, and
// returns a func that stops it and returns the distinct waiting lines seen.
func watchWaiting(ctx context.Context, inputs []workflows.DrainInput) func() []string {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, in := range inputs {
				v, err := s.temporal.QueryWorkflow(ctx, workflows.WorkflowIDFor(in), "", workflows.QueryProgress)
				var p workflows.Progress
				if err == nil && v.Get(&p) == nil && strings.TrimSpace(p.WaitingFor) != "" {
					mu.Lock()
					seen[p.WaitingFor] = true
					mu.Unlock()
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() []string {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for l := range seen {
			out = append(out, l)
		}
		return out
	}
}
