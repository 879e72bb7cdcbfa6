package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The jitter phase: one drain started with the starter, as an operator
// would, tasks of uneven length.
const (
	jitterTargets = 500
	// Tasks take jitterLatency ± jitterSpread, uniformly.
	jitterLatency = time.Second
	jitterSpread  = 200 * time.Millisecond
	// maxJitterRatio bounds the starter's wall time over the tasks' own.
	maxJitterRatio = 1.10
)

// jitterFigures are the measures of a drain run with the starter on tasks
// of uneven length.
type jitterFigures struct {
	Targets, Chunks int
	Latency, Spread time.Duration
	// Wall runs from starting the starter's process to its exit with the
	// result.
	Wall time.Duration
	// Tasks is the sum of the drain's tasks' own durations, each from the
	// arrival of the call that made it to its end in clbsim.
	Tasks time.Duration
	// Polls counts DescribeTaskStatus calls, TaskCount the tasks.
	Polls, TaskCount int
	// Gaps are what followed each task but the last (taskGaps).
	Gaps []taskGap
}

// measureJitter drains jitterTargets from one listener with `starter drain
// --wait`, tasks taking jitterLatency ± jitterSpread.
func (e *env) measureJitter(ctx context.Context, f *figures) error {
	progress("uneven tasks: starting a drain of %d targets with the starter (tasks of %s ± %s)", jitterTargets, jitterLatency, jitterSpread)
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: jitterTargets}, 7)
	if err != nil {
		return err
	}
	s, err := startSimJitter(fleet, jitterLatency-jitterSpread, 2*jitterSpread)
	if err != nil {
		return err
	}
	defer s.close()
	const queue = "bench-jitter"
	w, err := e.startWorker(s.http.URL, "--task-queue", queue)
	if err != nil {
		return err
	}
	defer w.Stop()
	in := drainAll(fleet.LoadBalancers[0], "bench: uneven tasks")
	file := filepath.Join(e.dir, "jitter-targets.txt")
	if err := harness.WriteTargets(file, in.Targets); err != nil {
		return err
	}
	j := jitterFigures{Targets: jitterTargets, Chunks: jitterTargets / clb.MaxTargetsPerCall, Latency: jitterLatency, Spread: jitterSpread}
	start := time.Now()
	res, err := harness.RunStarter(ctx, filepath.Dir(e.starterBin), e.vars(s.http.URL), "", "drain",
		"--lb", in.LoadBalancerId, "--listener", in.ListenerId, "--targets", file, "--task-queue", queue,
		"--reason", in.Reason, "--wait", "--json")
	j.Wall = time.Since(start)
	if err != nil {
		return err
	}
	if err := starterDeregistered(res, jitterTargets); err != nil {
		return err
	}
	st := s.Stats()
	j.Polls, j.TaskCount = st.Actions[clb.ActionDescribeTaskStatus].Requests, st.TasksCreated
	j.Tasks = taskTime(s.Audit(), s.tap.requests())
	j.Gaps = taskGaps(s.Audit(), s.tap.requests())
	progress("uneven tasks: finished in %s", seconds(j.Wall))
	f.Jitter = &j
	return nil
}

// starterDeregistered checks that the starter exited 0 with a result that
// deregistered want targets.
func starterDeregistered(res harness.Result, want int) error {
	if res.Code != 0 {
		return fmt.Errorf("starter drain exited %d: %s", res.Code, res.Stderr)
	}
	var out workflows.DrainResult
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		return fmt.Errorf("starter drain --json printed no result: %w: %s", err, res.Stdout)
	}
	if len(out.Deregistered) != want {
		return fmt.Errorf("starter drain deregistered %d targets, want %d", len(out.Deregistered), want)
	}
	return nil
}

// taskTime is the sum of the durations of the tasks of the audit: each
// from the arrival of the call that made it (its RequestId) to its end. A
// task whose call was not recorded is left out.
func taskTime(audit []clbsim.Change, reqs []request) time.Duration {
	sent := map[string]time.Time{}
	for _, r := range reqs {
		if r.RequestID != "" {
			sent[r.RequestID] = r.At
		}
	}
	var sum time.Duration
	seen := map[string]bool{}
	for _, c := range audit {
		at, ok := sent[c.TaskID]
		if !ok || seen[c.TaskID] {
			continue
		}
		seen[c.TaskID] = true
		sum += c.Time.Sub(at)
	}
	return sum
}

// jitterSection is the starter's wall time against the drain's tasks.
func jitterSection(f figures) []section {
	j := f.Jitter
	if j == nil {
		return nil
	}
	r := ratio(j.Wall, j.Tasks)
	return []section{{
		Title: fmt.Sprintf("uneven tasks: `starter drain --wait`, %d targets on one listener (%d chunks), tasks take %s ± %s",
			j.Targets, j.Chunks, j.Latency, j.Spread),
		Rows: append([]row{
			checked(fmt.Sprintf("starter's wall time / its tasks' own time (%s)", seconds(j.Tasks)),
				fmt.Sprintf("%.3f (%s)", r, seconds(j.Wall)), fmt.Sprintf("≤ %.2f", maxJitterRatio), j.Tasks > 0 && r <= maxJitterRatio),
			info("DescribeTaskStatus calls per task", fmt.Sprintf("%.2f (%d / %d)", perTask(j.Polls, j.TaskCount), j.Polls, j.TaskCount)),
		}, gapRows(j.Gaps)...),
	}}
}
