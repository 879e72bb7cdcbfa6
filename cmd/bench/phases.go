package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The work of each phase.
const (
	singleTargets = 500
	singleLatency = 2 * time.Second

	fleetLBs        = 40
	fleetTargets    = 100
	fleetLatency    = 2 * time.Second
	fleetWorkers    = 2
	fleetWorkerRate = 10.0
	fleetQueueRate  = 20.0

	largeTargets = 5000
	largeLatency = 50 * time.Millisecond
)

// startListeners serves an emulator of count load balancers, each with one
// TCP listener binding targets CVMs, tasks taking latency; it returns the
// fleet and the emulator, which the caller closes.
func startListeners(count, targets int, latency time.Duration) (clbsim.State, *sim, error) {
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: count, Listeners: 1, Targets: targets}, 7)
	if err != nil {
		return fleet, nil, err
	}
	s, err := startSim(fleet, latency)
	return fleet, s, err
}

// drainAll is the input that deregisters everything bound to a load
// balancer's only listener.
func drainAll(lb clbsim.LoadBalancer, reason string) workflows.DrainInput {
	l := lb.Listeners[0]
	return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId},
		Targets: clbsim.RequestTargets(l.Targets), Reason: reason}
}

// drain runs one drain on the task queue and returns its result and its
// first run's id.
func (e *env) drain(ctx context.Context, queue string, in workflows.DrainInput) (workflows.DrainResult, string, error) {
	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: queue},
		workflows.WorkflowName, in)
	if err != nil {
		return workflows.DrainResult{}, "", err
	}
	// Taken now: after Get follows a continue-as-new, it names the last run.
	first := run.GetRunID()
	var res workflows.DrainResult
	err = run.Get(ctx, &res)
	return res, first, err
}

// history returns the events of one run.
func (e *env) history(ctx context.Context, workflowID, runID string) ([]*historypb.HistoryEvent, error) {
	var events []*historypb.HistoryEvent
	it := e.temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// runs returns the events of every run of a drain, from its first run on
// through its continue-as-new chain.
func (e *env) runs(ctx context.Context, workflowID, firstRunID string) ([][]*historypb.HistoryEvent, error) {
	var out [][]*historypb.HistoryEvent
	for id := firstRunID; id != ""; {
		events, err := e.history(ctx, workflowID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, events)
		id = events[len(events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
	}
	return out, nil
}

// single drains singleTargets from one listener, tasks taking
// singleLatency, with one worker, and returns the figures and the run's
// history.
func (e *env) single(ctx context.Context) (singleFigures, []*historypb.HistoryEvent, error) {
	f := singleFigures{Targets: singleTargets, Chunks: singleTargets / clb.MaxTargetsPerCall, Latency: singleLatency}
	fleet, s, err := startListeners(1, singleTargets, singleLatency)
	if err != nil {
		return f, nil, err
	}
	defer s.close()
	const queue = "bench-single"
	w, err := e.startWorker(s.http.URL, "--task-queue", queue)
	if err != nil {
		return f, nil, err
	}
	defer w.Stop()

	in := drainAll(fleet.LoadBalancers[0], "bench: single drain")
	start := time.Now()
	res, runID, err := e.drain(ctx, queue, in)
	f.Wall = time.Since(start)
	if err != nil {
		return f, nil, fmt.Errorf("the single drain: %w", err)
	}
	if len(res.Deregistered) != singleTargets || len(res.Chunks) != f.Chunks {
		return f, nil, fmt.Errorf("the single drain deregistered %d targets in %d chunks, want %d in %d",
			len(res.Deregistered), len(res.Chunks), singleTargets, f.Chunks)
	}
	st := s.Stats()
	f.Polls, f.Tasks = st.Actions[clb.ActionDescribeTaskStatus].Requests, st.TasksCreated
	f.Gaps = taskGaps(s.Audit(), s.tap.requests())
	events, err := e.history(ctx, workflows.WorkflowIDFor(in), runID)
	return f, events, err
}

// runScript runs the naive script on a copy of the single drain's listener.
func runScript(ctx context.Context) (scriptFigures, error) {
	var f scriptFigures
	fleet, s, err := startListeners(1, singleTargets, singleLatency)
	if err != nil {
		return f, err
	}
	defer s.close()
	in := drainAll(fleet.LoadBalancers[0], "")
	start := time.Now()
	err = naiveScript(ctx, s.http.URL, in.LoadBalancerId, in.ListenerId, in.Targets)
	f.Wall = time.Since(start)
	if err != nil {
		return f, fmt.Errorf("the naive script: %w", err)
	}
	st := s.Stats()
	f.Polls, f.Tasks = st.Actions[clb.ActionDescribeTaskStatus].Requests, st.TasksCreated
	return f, nil
}

// fleet runs fleetLBs drains at once on as many load balancers, with
// fleetWorkers workers sharing the budget.
func (e *env) fleet(ctx context.Context) (fleetFigures, error) {
	f := fleetFigures{LoadBalancers: fleetLBs, TargetsPerLB: fleetTargets, ChunksPerLB: fleetTargets / clb.MaxTargetsPerCall,
		Workers: fleetWorkers, Latency: fleetLatency, Rate: clbsim.DefaultRate, WorkerRate: fleetWorkerRate}
	fleet, s, err := startListeners(fleetLBs, fleetTargets, fleetLatency)
	if err != nil {
		return f, err
	}
	defer s.close()
	const queue = "bench-fleet"
	workers, err := e.startFleetWorkers(s, queue)
	defer func() {
		for _, w := range workers {
			w.Stop()
		}
	}()
	if err != nil {
		return f, err
	}
	start := time.Now()
	errs := e.drainFleet(ctx, queue, fleet.LoadBalancers)
	f.Makespan = time.Since(start)
	f.Failed = len(errs)
	for _, err := range errs {
		progress("fleet: a drain failed: %v", err)
	}
	return f, fleetCounts(&f, s, workers)
}

// startFleetWorkers starts fleetWorkers workers on queue, each with its share
// of the budget; it returns those it started, also when one fails to start.
func (e *env) startFleetWorkers(s *sim, queue string) ([]*harness.Process, error) {
	var workers []*harness.Process
	for range fleetWorkers {
		w, err := e.startWorker(s.http.URL, "--task-queue", queue,
			"--api-rate", fmt.Sprint(fleetWorkerRate), "--queue-rate", fmt.Sprint(fleetQueueRate))
		if err != nil {
			return workers, err
		}
		workers = append(workers, w)
	}
	return workers, nil
}

// drainFleet drains every target of each load balancer's listener, all at
// once, and returns the drains' errors.
func (e *env) drainFleet(ctx context.Context, queue string, lbs []clbsim.LoadBalancer) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i, lb := range lbs {
		wg.Go(func() {
			res, _, err := e.drain(ctx, queue, drainAll(lb, fmt.Sprintf("bench: fleet drain %d", i+1)))
			if err == nil && len(res.Deregistered) != fleetTargets {
				err = fmt.Errorf("%s: %d targets deregistered, want %d", lb.LoadBalancerId, len(res.Deregistered), fleetTargets)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// fleetCounts fills in what the emulator and the workers measured: the
// busiest second, throttling, polls, tasks and each worker's peak RSS.
func fleetCounts(f *fleetFigures, s *sim, workers []*harness.Process) error {
	st := s.Stats()
	f.Busiest, f.Throttled = busiestSecond(s.tap.requests()), map[string]int{}
	for a, as := range st.Actions {
		f.Throttled[a] = as.Throttled
	}
	f.Polls, f.Tasks = st.Actions[clb.ActionDescribeTaskStatus].Requests, st.TasksCreated
	for _, w := range workers {
		rss, err := peakRSS(w)
		if err != nil {
			return err
		}
		f.PeakRSS = append(f.PeakRSS, rss)
	}
	return nil
}

// large drains largeTargets from one listener, tasks taking largeLatency,
// and measures the history of each run; single is the single drain's
// history, nil when it did not run (the large drain's first run stands for
// it then).
func (e *env) large(ctx context.Context, single []*historypb.HistoryEvent) (historyFigures, error) {
	f := historyFigures{Targets: largeTargets, Chunks: largeTargets / clb.MaxTargetsPerCall, Latency: largeLatency}
	if single != nil {
		var ok bool
		if f.PerChunk, ok = eventsPerChunk(single); !ok {
			return f, fmt.Errorf("the single drain's history has fewer than two chunks")
		}
		f.PerChunkMost = f.PerChunk
	}
	fleet, s, err := startListeners(1, largeTargets, largeLatency)
	if err != nil {
		return f, err
	}
	defer s.close()
	const queue = "bench-history"
	w, err := e.startWorker(s.http.URL, "--task-queue", queue)
	if err != nil {
		return f, err
	}
	defer w.Stop()

	in := drainAll(fleet.LoadBalancers[0], "bench: large drain")
	start := time.Now()
	res, runID, err := e.drain(ctx, queue, in)
	f.Wall = time.Since(start)
	if err == nil && len(res.Deregistered) != largeTargets {
		err = fmt.Errorf("%d targets deregistered, want %d", len(res.Deregistered), largeTargets)
	}
	if err != nil {
		f.Err = err
		return f, nil
	}
	runs, err := e.runs(ctx, workflows.WorkflowIDFor(in), runID)
	if err != nil {
		return f, err
	}
	f.Runs = len(runs)
	if single == nil {
		f.PerChunk, _ = eventsPerChunk(runs[0])
	}
	for _, events := range runs {
		f.LongestRun = max(f.LongestRun, len(events))
		if n, ok := eventsPerChunk(events); ok {
			f.PerChunkMost = max(f.PerChunkMost, n)
		}
	}
	return f, nil
}
