package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// The same-load-balancer phase: drains of several listeners of one load
// balancer, started at once, take turns on it.
const (
	turnsListeners = 4
	turnsTargets   = 60
	turnsLatency   = time.Second
	// maxTurnsRatio bounds their makespan over their tasks' back to back.
	maxTurnsRatio = 1.15
)

// turnsFigures are the measures of drains that share a load balancer.
type turnsFigures struct {
	// Chunks are the drains' chunks in all, Tasks the tasks clbsim ran.
	Listeners, TargetsPerListener, Chunks, Tasks int
	Latency                                      time.Duration
	// Makespan runs from starting the first drain to the last result.
	Makespan time.Duration
	// LockAnswers counts the answers that met a task's lock on the load
	// balancer (harness.LockAnswers): with no other writer, every one was
	// caused by clbdrain's own calls.
	LockAnswers int
	// Exact is true when every requested target was removed once and
	// nothing else touched (clbsim's audit).
	Exact bool
}

// measureTurns starts one drain of each listener of one load balancer at
// once, tasks taking turnsLatency, on a worker of their own.
func (e *env) measureTurns(ctx context.Context, f *figures) error {
	progress("same load balancer: starting %d drains of %d targets on its %d listeners", turnsListeners, turnsTargets, turnsListeners)
	sc, err := harness.NewTurnsScenario(turnsListeners, turnsTargets, "bench: same load balancer")
	if err != nil {
		return err
	}
	const queue = "bench-turns"
	s, stop, err := e.startSimWorker(sc.Fleet, turnsLatency, queue)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	if err := e.drainAtOnce(ctx, queue, sc.Inputs); err != nil {
		return err
	}
	t := turnsFigures{Listeners: turnsListeners, TargetsPerListener: turnsTargets, Latency: turnsLatency,
		Chunks: turnsListeners * turnsTargets / clb.MaxTargetsPerCall, Makespan: time.Since(start)}
	st := s.Stats()
	t.Tasks, t.LockAnswers = st.TasksCreated, harness.LockAnswers(st)
	t.Exact = harness.TallyAudit(s.Audit(), sc.Requested).Exact()
	progress("same load balancer: finished in %s", seconds(t.Makespan))
	f.Turns = &t
	return nil
}

// drainAtOnce starts every drain of inputs at once and waits for them all;
// a drain that fails, or leaves a target bound, is an error.
func (e *env) drainAtOnce(ctx context.Context, queue string, inputs []workflows.DrainInput) error {
	runs := make([]client.WorkflowRun, len(inputs))
	for i, in := range inputs {
		run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: queue},
			workflows.WorkflowName, in)
		if err != nil {
			return err
		}
		runs[i] = run
	}
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(runs))
	)
	for i, run := range runs {
		wg.Go(func() {
			var res workflows.DrainResult
			errs[i] = run.Get(ctx, &res)
			if errs[i] == nil && len(res.Deregistered) != len(inputs[i].Targets) {
				errs[i] = fmt.Errorf("%s: %d targets deregistered, want %d", inputs[i].Selector, len(res.Deregistered), len(inputs[i].Targets))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// turnsSection is the makespan of the drains of one load balancer against
// their tasks back to back, and the lock answers their calls met.
func turnsSection(f figures) []section {
	t := f.Turns
	if t == nil {
		return nil
	}
	ideal := time.Duration(t.Chunks) * t.Latency
	r := ratio(t.Makespan, ideal)
	return []section{{
		Title: fmt.Sprintf("same load balancer: %d drains started at once on its %d listeners × %d targets, tasks take %s",
			t.Listeners, t.Listeners, t.TargetsPerListener, t.Latency),
		Rows: []row{
			checked(fmt.Sprintf("makespan / %d tasks back to back (%d × %s = %s)", t.Chunks, t.Chunks, t.Latency, seconds(ideal)),
				fmt.Sprintf("%.3f (%s)", r, seconds(t.Makespan)), fmt.Sprintf("≤ %.2f", maxTurnsRatio), t.Chunks > 0 && r <= maxTurnsRatio),
			info("tasks run (one per chunk)", fmt.Sprint(t.Tasks)),
			checked("lock answers (busy) to clbdrain's calls", fmt.Sprint(t.LockAnswers), "0", t.LockAnswers == 0),
			checked("every target removed once, nothing else touched", fmt.Sprint(t.Exact), "true", t.Exact),
		},
	}}
}
