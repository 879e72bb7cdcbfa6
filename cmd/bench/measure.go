package main

import (
	"slices"
	"strconv"
	"strings"
	"time"

	historypb "go.temporal.io/api/history/v1"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// taskGap is what followed the completion of one task that had a next
// chunk on its load balancer.
type taskGap struct {
	// Seen runs from the task's completion to the first DescribeTaskStatus
	// call about it that arrived after it: how long polling took to notice.
	Seen time.Duration
	// Next runs from the task's completion to the arrival of the next
	// DeregisterTargets call accepted on its load balancer: the time the
	// load balancer stood idle between two chunks.
	Next time.Duration
}

// taskGaps sets each DeregisterTargets task's completion (the audit's Time)
// against the calls that followed it. The last task of each load balancer
// has no next chunk and is left out, as is a task whose calls were not
// recorded.
func taskGaps(audit []clbsim.Change, reqs []request) []taskGap {
	type task struct {
		id   string
		done time.Time
	}
	// The audit lists changes as tasks complete, one per target.
	var lbs []string
	byLB := map[string][]task{}
	known := map[string]bool{}
	for _, c := range audit {
		if c.Action != clb.ActionDeregisterTargets || known[c.TaskID] {
			continue
		}
		known[c.TaskID] = true
		if _, ok := byLB[c.LoadBalancerId]; !ok {
			lbs = append(lbs, c.LoadBalancerId)
		}
		byLB[c.LoadBalancerId] = append(byLB[c.LoadBalancerId], task{id: c.TaskID, done: c.Time})
	}
	sent := map[string]time.Time{}
	polls := map[string][]time.Time{}
	for _, r := range reqs {
		switch r.Action {
		case clb.ActionDeregisterTargets:
			if r.RequestID != "" {
				sent[r.RequestID] = r.At
			}
		case clb.ActionDescribeTaskStatus:
			polls[r.TaskID] = append(polls[r.TaskID], r.At)
		}
	}
	var gaps []taskGap
	for _, lb := range lbs {
		tasks := byLB[lb]
		for i := 0; i+1 < len(tasks); i++ {
			t := tasks[i]
			next, ok := sent[tasks[i+1].id]
			if !ok {
				continue
			}
			ps := polls[t.id]
			j, _ := slices.BinarySearchFunc(ps, t.done, func(p, d time.Time) int { return p.Compare(d) })
			if j == len(ps) {
				continue
			}
			gaps = append(gaps, taskGap{Seen: ps[j].Sub(t.done), Next: next.Sub(t.done)})
		}
	}
	return gaps
}

// busiestSecond is, for each action, the most requests that arrived in any
// one-second window (half-open, sliding, as the API counts them), answered
// or throttled.
func busiestSecond(reqs []request) map[string]int {
	byAction := map[string][]time.Time{}
	for _, r := range reqs {
		byAction[r.Action] = append(byAction[r.Action], r.At)
	}
	out := map[string]int{}
	for action, times := range byAction {
		slices.SortFunc(times, time.Time.Compare)
		most, first := 0, 0
		for last, t := range times {
			for t.Sub(times[first]) >= time.Second {
				first++
			}
			most = max(most, last-first+1)
		}
		out[action] = most
	}
	return out
}

// meanMax is the mean and the largest of ds; zeros when ds is empty.
func meanMax(ds []time.Duration) (mean, most time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
		most = max(most, d)
	}
	return sum / time.Duration(len(ds)), most
}

// eventsPerChunk is what each chunk adds to a run's history: the mean
// number of events from one chunk's DeregisterTargets being scheduled to
// the next one's. DeregisterTargets is the only activity of the mutations
// task queue in a drain without a drain phase. ok is false for a run of
// fewer than two chunks.
func eventsPerChunk(events []*historypb.HistoryEvent) (perChunk float64, ok bool) {
	var first, last int64
	n := 0
	for _, e := range events {
		attrs := e.GetActivityTaskScheduledEventAttributes()
		if attrs == nil || !strings.HasSuffix(attrs.GetTaskQueue().GetName(), workflows.MutationsQueueSuffix) {
			continue
		}
		if n == 0 {
			first = e.GetEventId()
		}
		last = e.GetEventId()
		n++
	}
	if n < 2 {
		return 0, false
	}
	return float64(last-first) / float64(n-1), true
}

// fleetLowerBound is the shortest makespan a fleet of drains could have:
// the chunks of one load balancer run one after another, each for the task
// latency, and every chunk needs one DeregisterTargets call and at least one
// DescribeTaskStatus call, of which the account's budget lets through rate
// per second per action.
func fleetLowerBound(loadBalancers, chunksPerLB int, latency time.Duration, rate float64) time.Duration {
	chain := time.Duration(chunksPerLB) * latency
	calls := time.Duration(float64(loadBalancers*chunksPerLB) / rate * float64(time.Second))
	return max(chain, calls)
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "" when there is
// none.
func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAverage is the three load averages of /proc/loadavg, or "" when it
// does not parse.
func loadAverage(loadavg string) string {
	f := strings.Fields(loadavg)
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// vmHWM is the peak resident set size, in bytes, from the text of
// /proc/<pid>/status; ok is false when the line is missing.
func vmHWM(status string) (bytes int64, ok bool) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, found := strings.CutPrefix(line, "VmHWM:")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}
