package main

import (
	"context"
	"fmt"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// The drain-delay phase: a drain that sets weight 0 first and waits
// before it deregisters.
const (
	delayTargets = 200
	delayDelay   = 10 * time.Second
	delayLatency = 2 * time.Second
	// maxDelayRatio bounds its wall time over the ideal.
	maxDelayRatio = 1.07
)

// delayFigures are the measures of a drain with a drain delay.
type delayFigures struct {
	Targets int
	Delay   time.Duration
	Latency time.Duration
	// Wall runs from starting the workflow to having its result.
	Wall time.Duration
	// WeightTasks and DeregisterTasks count the tasks of each kind the
	// drain made (clbsim's audit).
	WeightTasks, DeregisterTasks int
}

// weightTasksIdeal is how many weight tasks n targets need: one per
// BatchModifyTargetWeight call of at most clb.MaxBatchTargets.
func weightTasksIdeal(n int) int { return (n + clb.MaxBatchTargets - 1) / clb.MaxBatchTargets }

// deregisterTasksIdeal is how many DeregisterTargets tasks n targets need.
func deregisterTasksIdeal(n int) int { return (n + clb.MaxTargetsPerCall - 1) / clb.MaxTargetsPerCall }

// delayIdeal is the least a drain of n targets with a drain delay can take:
// its weight tasks, the delay, then its deregistration tasks, back to back.
func delayIdeal(n int, delay, latency time.Duration) time.Duration {
	return time.Duration(weightTasksIdeal(n)+deregisterTasksIdeal(n))*latency + delay
}

// measureDelay drains delayTargets from one listener with a drain delay of
// delayDelay, tasks taking delayLatency, on a worker of its own.
func (e *env) measureDelay(ctx context.Context, f *figures) error {
	progress("drain delay: starting a drain of %d targets, --drain-delay %s (tasks of %s)", delayTargets, delayDelay, delayLatency)
	fleet, s, err := startListeners(1, delayTargets, delayLatency)
	if err != nil {
		return err
	}
	defer s.close()
	const queue = "bench-delay"
	w, err := e.startWorker(s.http.URL, "--task-queue", queue)
	if err != nil {
		return err
	}
	defer w.Stop()
	in := drainAll(fleet.LoadBalancers[0], "bench: drain delay")
	in.DrainDelay = delayDelay
	start := time.Now()
	res, _, err := e.drain(ctx, queue, in)
	d := delayFigures{Targets: delayTargets, Delay: delayDelay, Latency: delayLatency, Wall: time.Since(start)}
	if err != nil {
		return fmt.Errorf("the drain with a delay: %w", err)
	}
	if len(res.Deregistered) != delayTargets || res.Drained != delayTargets {
		return fmt.Errorf("the drain with a delay drained %d and deregistered %d targets, want %d", res.Drained, len(res.Deregistered), delayTargets)
	}
	d.WeightTasks, d.DeregisterTasks = tasksByKind(s.Audit())
	progress("drain delay: finished in %s", seconds(d.Wall))
	f.Delay = &d
	return nil
}

// tasksByKind counts the distinct tasks of an audit that set weights and
// those that deregistered.
func tasksByKind(audit []clbsim.Change) (weight, deregister int) {
	seen := map[string]bool{}
	for _, c := range audit {
		if seen[c.TaskID] {
			continue
		}
		seen[c.TaskID] = true
		switch c.Action {
		case clb.ActionModifyTargetWeight, clb.ActionBatchModifyTargetWeight:
			weight++
		case clb.ActionDeregisterTargets:
			deregister++
		}
	}
	return weight, deregister
}

// delaySection is the drain's wall time against its ideal.
func delaySection(f figures) []section {
	d := f.Delay
	if d == nil {
		return nil
	}
	ideal := delayIdeal(d.Targets, d.Delay, d.Latency)
	r := ratio(d.Wall, ideal)
	wt, dt := weightTasksIdeal(d.Targets), deregisterTasksIdeal(d.Targets)
	return []section{{
		Title: fmt.Sprintf("drain delay: %d targets on one listener, --drain-delay %s, tasks take %s", d.Targets, d.Delay, d.Latency),
		Rows: []row{
			checked(fmt.Sprintf("wall time / ideal (%d weight task + %s + %d deregistration tasks = %s)", wt, d.Delay, dt, seconds(ideal)),
				fmt.Sprintf("%.3f (%s)", r, seconds(d.Wall)), fmt.Sprintf("≤ %.2f", maxDelayRatio), r > 0 && r <= maxDelayRatio),
			info("weight tasks; deregistration tasks", fmt.Sprintf("%d; %d", d.WeightTasks, d.DeregisterTasks)),
		},
	}}
}
