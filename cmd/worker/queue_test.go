package main

import "testing"

func TestServerQueueRate(t *testing.T) {
	if got := serverQueueRate(20); got != 25 {
		t.Errorf("serverQueueRate(20) = %v, want 25: a quarter above the fleet's ceiling", got)
	}
}

// TestWorkersKeepTwoPollsAPartition: the worker of the task queue keeps
// at least two polls open per partition (four by default) for workflow
// tasks, so that a burst of new workflows (a server drain's child drains)
// is matched at once rather than left in a partition's backlog; the
// mutations worker keeps its rate and runs no workflows.
func TestWorkersKeepTwoPollsAPartition(t *testing.T) {
	const partitions = 4
	cfg := config{QueueRate: 20}
	main, mut := mainOptions(cfg), mutationOptions(cfg)
	if main.MaxConcurrentWorkflowTaskPollers < 2*partitions {
		t.Errorf("main worker: %d workflow task polls; want at least %d", main.MaxConcurrentWorkflowTaskPollers, 2*partitions)
	}
	if !mut.DisableWorkflowWorker || mut.TaskQueueActivitiesPerSecond != 25 {
		t.Errorf("mutations worker: workflows disabled %v, rate %v; want true, 25", mut.DisableWorkflowWorker, mut.TaskQueueActivitiesPerSecond)
	}
}
