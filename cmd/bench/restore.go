package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The restore phase: 500 targets put back on one listener behind the
// health gate, health immediate, no ramp, tasks of 2 s.
const (
	restoreTargets = 500
	restoreLatency = 2 * time.Second
	// maxRestoreRatio bounds the restore's wall time over the ideal.
	maxRestoreRatio = 1.10
)

// restoreFigures are the measures of one restore against the ideal: its
// register tasks (one per 20 targets) and one weight task (500 targets
// raised at once, BatchModifyTargetWeight), back to back.
type restoreFigures struct {
	Targets, RegisterTasks, WeightTasks int
	Latency                             time.Duration
	// Wall runs from starting the workflow to having its result.
	Wall time.Duration
	// Tasks counts the tasks the emulator made, HealthReads the
	// DescribeTargetHealth calls.
	Tasks, HealthReads int
}

// unbound is fleet with every binding of its listeners removed: what a
// drain of all of them leaves.
func unbound(fleet clbsim.State) clbsim.State {
	out := fleet
	out.LoadBalancers = append([]clbsim.LoadBalancer(nil), fleet.LoadBalancers...)
	for i := range out.LoadBalancers {
		lb := &out.LoadBalancers[i]
		lb.Listeners = append([]clb.Listener(nil), lb.Listeners...)
		for j := range lb.Listeners {
			lb.Listeners[j].Targets = nil
		}
	}
	return out
}

// measureRestore is the restore phase: it puts back restoreTargets targets
// at their weights on one listener of an emulator that has them unbound,
// with one worker, and records the figures in f.Restore.
func (e *env) measureRestore(ctx context.Context, figs *figures) error {
	progress("restore: putting back %d targets behind the health gate (tasks of %s)", restoreTargets, restoreLatency)
	f, err := e.restore(ctx)
	if err != nil {
		return err
	}
	progress("restore: finished in %s", seconds(f.Wall))
	figs.Restore = &f
	return nil
}

// restore puts back restoreTargets targets at their weights on one
// listener of an emulator that has them unbound, with one worker, and
// returns the figures.
func (e *env) restore(ctx context.Context) (restoreFigures, error) {
	f := restoreFigures{Targets: restoreTargets, RegisterTasks: restoreTargets / clb.MaxTargetsPerCall, WeightTasks: 1, Latency: restoreLatency}
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: restoreTargets}, 11)
	if err != nil {
		return f, err
	}
	const queue = "bench-restore"
	s, stop, err := e.startSimWorker(unbound(fleet), restoreLatency, queue)
	if err != nil {
		return f, err
	}
	defer stop()

	lb := fleet.LoadBalancers[0]
	l := lb.Listeners[0]
	m := workflows.RestoreManifest{Source: "bench", Bindings: []workflows.ManifestBinding{{
		Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}}}}
	for i, t := range clbsim.RequestTargets(l.Targets) {
		m.Bindings[0].Targets = append(m.Bindings[0].Targets, clb.WeightedTarget{Target: t, Weight: int64(1 + i%100)})
	}
	in := workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute, Reason: "bench: restore"}
	start := time.Now()
	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.RestoreWorkflowID(m), TaskQueue: queue},
		workflows.RestoreWorkflowName, in)
	if err != nil {
		return f, err
	}
	var res workflows.RestoreResult
	err = run.Get(ctx, &res)
	f.Wall = time.Since(start)
	if err != nil {
		return f, fmt.Errorf("the restore: %w", err)
	}
	if n := len(res.Bindings[0].Registered); n != restoreTargets {
		return f, fmt.Errorf("the restore registered %d targets, want %d", n, restoreTargets)
	}
	st := s.Stats()
	f.Tasks, f.HealthReads = st.TasksCreated, st.Actions["DescribeTargetHealth"].Requests
	return f, nil
}

// restoreSections are the restore's section, none when it did not run.
func restoreSections(f figures) []section {
	if f.Restore == nil {
		return nil
	}
	return []section{restoreSection(*f.Restore)}
}

// restoreSection is the restore against the ideal.
func restoreSection(r restoreFigures) section {
	ideal := time.Duration(r.RegisterTasks+r.WeightTasks) * r.Latency
	rr := ratio(r.Wall, ideal)
	return section{
		Title: fmt.Sprintf("restore: RestoreTargets puts back %d targets on one listener behind the health gate (health immediate, no ramp), tasks take %s",
			r.Targets, r.Latency),
		Rows: []row{
			checked(fmt.Sprintf("restore wall time / ideal ((%d register + %d weight tasks) × %s = %s)", r.RegisterTasks, r.WeightTasks, r.Latency, ideal),
				fmt.Sprintf("%.3f (%s)", rr, seconds(r.Wall)), fmt.Sprintf("≤ %.2f", maxRestoreRatio), r.Wall > 0 && rr <= maxRestoreRatio),
			checked("restore tasks", fmt.Sprint(r.Tasks), fmt.Sprint(r.RegisterTasks+r.WeightTasks), r.Tasks == r.RegisterTasks+r.WeightTasks),
			info("DescribeTargetHealth calls", fmt.Sprint(r.HealthReads)),
		},
	}
}
