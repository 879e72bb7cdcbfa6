package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestTaskGaps(t *testing.T) {
	removed := func(lb, task string, ms int, target string) clbsim.Change {
		return clbsim.Change{Time: at(ms), TaskID: task, Action: clb.ActionDeregisterTargets, LoadBalancerId: lb, Target: target}
	}
	audit := []clbsim.Change{
		removed("lb-a", "t1", 2000, "ins-1:80"),
		removed("lb-a", "t1", 2000, "ins-2:80"), // one change per target, one task
		removed("lb-b", "u1", 2500, "ins-3:80"),
		{Time: at(2600), TaskID: "w1", Action: clb.ActionModifyTargetWeight, LoadBalancerId: "lb-a", Target: "ins-4:80"},
		removed("lb-a", "t2", 4200, "ins-4:80"),
		removed("lb-b", "u2", 4700, "ins-5:80"),
	}
	reqs := []request{
		{At: at(0), Action: clb.ActionDeregisterTargets, RequestID: "t1"},
		{At: at(1900), Action: clb.ActionDescribeTaskStatus, TaskID: "t1"},
		{At: at(2040), Action: clb.ActionDescribeTaskStatus, TaskID: "t1"},
		{At: at(2100), Action: clb.ActionDescribeTaskStatus, TaskID: "t1"},
		{At: at(2150), Action: clb.ActionDeregisterTargets, RequestID: "t2"},
		{At: at(500), Action: clb.ActionDeregisterTargets, RequestID: "u1"},
		{At: at(2700), Action: clb.ActionDescribeTaskStatus, TaskID: "u1"},
		{At: at(2710), Action: clb.ActionDeregisterTargets, RequestID: ""}, // refused: no task
		{At: at(2750), Action: clb.ActionDeregisterTargets, RequestID: "u2"},
	}
	gaps := taskGaps(audit, reqs)
	assert.Equal(t, []taskGap{
		{Seen: 40 * time.Millisecond, Next: 150 * time.Millisecond},
		{Seen: 200 * time.Millisecond, Next: 250 * time.Millisecond},
	}, gaps, "the last task of each load balancer has no next chunk")

	mean, most := meanMax([]time.Duration{40 * time.Millisecond, 200 * time.Millisecond})
	assert.Equal(t, 120*time.Millisecond, mean)
	assert.Equal(t, 200*time.Millisecond, most)
	mean, most = meanMax(nil)
	assert.Zero(t, mean)
	assert.Zero(t, most)
}

func TestTaskGapsLeavesOutUnrecordedCalls(t *testing.T) {
	audit := []clbsim.Change{
		{Time: at(2000), TaskID: "t1", Action: clb.ActionDeregisterTargets, LoadBalancerId: "lb-a"},
		{Time: at(4000), TaskID: "t2", Action: clb.ActionDeregisterTargets, LoadBalancerId: "lb-a"},
	}
	assert.Empty(t, taskGaps(audit, nil))
	assert.Empty(t, taskGaps(audit, []request{{At: at(2100), Action: clb.ActionDeregisterTargets, RequestID: "t2"}}),
		"no poll of t1 after its end")
}

func TestBusiestSecond(t *testing.T) {
	var reqs []request
	for _, ms := range []int{0, 100, 999, 1000, 1001, 1500} {
		reqs = append(reqs, request{At: at(ms), Action: clb.ActionDescribeTaskStatus})
	}
	reqs = append(reqs, request{At: at(5), Action: clb.ActionDeregisterTargets})
	assert.Equal(t, map[string]int{clb.ActionDescribeTaskStatus: 4, clb.ActionDeregisterTargets: 1}, busiestSecond(reqs),
		"999, 1000, 1001 and 1500 share a second; 0 and 1000 do not")
}

// scheduled is an ActivityTaskScheduled event on queue.
func scheduled(id int64, queue string) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: id, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
		Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				TaskQueue: &taskqueuepb.TaskQueue{Name: queue}}}}
}

func TestEventsPerChunk(t *testing.T) {
	const queue = "bench"
	mutations := queue + workflows.MutationsQueueSuffix
	events := []*historypb.HistoryEvent{
		{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED},
		scheduled(5, queue), // the snapshot
		scheduled(11, mutations),
		scheduled(17, queue), // a wait
		scheduled(23, mutations),
		scheduled(29, queue),
		scheduled(35, mutations),
	}
	n, ok := eventsPerChunk(events)
	require.True(t, ok)
	assert.InDelta(t, 12.0, n, 1e-9)

	_, ok = eventsPerChunk(events[:3])
	assert.False(t, ok, "one chunk says nothing")
}

func TestFleetLowerBound(t *testing.T) {
	assert.Equal(t, 10*time.Second, fleetLowerBound(40, 5, 2*time.Second, 20), "chain and budget agree")
	assert.Equal(t, 20*time.Second, fleetLowerBound(40, 5, 4*time.Second, 20), "the chain binds")
	assert.Equal(t, 20*time.Second, fleetLowerBound(80, 5, 2*time.Second, 20), "the budget binds")
}

func TestProcFiles(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	assert.Equal(t, "AMD EPYC 7B13", cpuModel(cpuinfo))
	assert.Empty(t, cpuModel("processor\t: 0\n"))

	assert.Equal(t, "0.88 1.15 1.11", loadAverage("0.88 1.15 1.11 2/345 6789\n"))
	assert.Empty(t, loadAverage(""))

	status := "Name:\tworker\nVmPeak:\t 1873912 kB\nVmHWM:\t   43264 kB\nVmRSS:\t   41000 kB\n"
	n, ok := vmHWM(status)
	require.True(t, ok)
	assert.Equal(t, int64(43264*1024), n)
	for _, bad := range []string{"Name:\tworker\n", "VmHWM:\t 12 MB\n", "VmHWM:\t x kB\n"} {
		_, ok := vmHWM(bad)
		assert.False(t, ok, bad)
	}
}

func TestTaskTime(t *testing.T) {
	audit := []clbsim.Change{
		{Time: at(1100), TaskID: "t1", Action: clb.ActionDeregisterTargets},
		{Time: at(1100), TaskID: "t1", Action: clb.ActionDeregisterTargets}, // one change per target
		{Time: at(2300), TaskID: "t2", Action: clb.ActionDeregisterTargets},
		{Time: at(2500), TaskID: "t3", Action: clb.ActionDeregisterTargets}, // its call unrecorded
	}
	reqs := []request{
		{At: at(100), Action: clb.ActionDeregisterTargets, RequestID: "t1"},
		{At: at(1150), Action: clb.ActionDeregisterTargets, RequestID: "t2"},
		{At: at(1200), Action: clb.ActionDescribeTaskStatus, TaskID: "t2", RequestID: "r-poll"},
	}
	assert.Equal(t, 2150*time.Millisecond, taskTime(audit, reqs), "1 s for t1 and 1.15 s for t2")
}

func TestTasksByKind(t *testing.T) {
	audit := []clbsim.Change{
		{TaskID: "w1", Action: clb.ActionBatchModifyTargetWeight},
		{TaskID: "w1", Action: clb.ActionBatchModifyTargetWeight},
		{TaskID: "w2", Action: clb.ActionModifyTargetWeight},
		{TaskID: "d1", Action: clb.ActionDeregisterTargets},
		{TaskID: "d1", Action: clb.ActionDeregisterTargets},
		{TaskID: "r1", Action: clb.ActionRegisterTargets},
	}
	w, d := tasksByKind(audit)
	assert.Equal(t, 2, w)
	assert.Equal(t, 1, d)
}

func TestDelayIdeal(t *testing.T) {
	assert.Equal(t, 32*time.Second, delayIdeal(200, 10*time.Second, 2*time.Second), "1 weight task, 10 s, 10 deregistrations")
	assert.Equal(t, 66*time.Second, delayIdeal(501, 10*time.Second, 2*time.Second), "2 weight tasks, 10 s, 26 deregistrations")
}
