package main

import (
	"testing"
	"time"
)

func TestServerQueueRate(t *testing.T) {
	if got := serverQueueRate(20); got != 25 {
		t.Errorf("serverQueueRate(20) = %v, want 25: a quarter above the fleet's ceiling", got)
	}
}

// TestWorkersKeepAPollAPartition: the worker of the task queue keeps at
// least one poll open per partition of the task queue (four by default)
// for workflow tasks, so that a burst of new workflows (a server drain's
// child drains) is matched at once rather than left in a partition's
// backlog: the SDK keeps at least half of its workflow task polls on the
// worker's sticky queue, so that takes twice as many. Both workers stop
// within the stop timeout; the mutations worker keeps its rate, its
// heartbeat throttle, and runs no workflows.
func TestWorkersKeepAPollAPartition(t *testing.T) {
	const partitions = 4
	cfg := config{QueueRate: 20, StopTimeout: 7 * time.Second}
	main, mut := mainOptions(cfg), mutationOptions(cfg)
	if onQueue := main.MaxConcurrentWorkflowTaskPollers / 2; onQueue < partitions {
		t.Errorf("main worker: %d workflow task polls, %d on the task queue; want at least %d", main.MaxConcurrentWorkflowTaskPollers, onQueue, partitions)
	}
	if !mut.DisableWorkflowWorker || mut.TaskQueueActivitiesPerSecond != 25 {
		t.Errorf("mutations worker: workflows disabled %v, rate %v; want true, 25", mut.DisableWorkflowWorker, mut.TaskQueueActivitiesPerSecond)
	}
	if mut.MaxHeartbeatThrottleInterval != turnHeartbeatThrottle {
		t.Errorf("mutations worker: heartbeat throttle %v; want %v", mut.MaxHeartbeatThrottleInterval, turnHeartbeatThrottle)
	}
	if main.WorkerStopTimeout != cfg.StopTimeout || mut.WorkerStopTimeout != cfg.StopTimeout {
		t.Errorf("stop timeouts %v and %v; want %v", main.WorkerStopTimeout, mut.WorkerStopTimeout, cfg.StopTimeout)
	}
}
