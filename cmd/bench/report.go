package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// The targets the benchmark holds clbdrain to.
const (
	// maxSingleRatio bounds a single drain's wall time over the ideal.
	maxSingleRatio = 1.05
	// maxPollsPerTask bounds DescribeTaskStatus calls per task, on average.
	maxPollsPerTask = 4.0
	// minSpeedup is how much faster than the naive script a drain must be.
	minSpeedup = 1.3
	// maxFleetRatio bounds the fleet's makespan over its lower bound.
	maxFleetRatio = 1.30
	// maxEventsPerChunk bounds what a chunk adds to a run's history.
	maxEventsPerChunk = 12.0
	// maxRunEvents bounds the history of any one run.
	maxRunEvents = 10000
)

// budgetActions are the actions whose per-second peaks the fleet reports,
// in the order the table lists them: every action a drain without a drain
// delay calls (the snapshot reads the listener's attributes too).
var budgetActions = []string{clb.ActionDeregisterTargets, clb.ActionDescribeTaskStatus, clb.ActionDescribeTargets,
	clb.ActionDescribeListeners}

// singleFigures are the measures of one drain against the ideal.
type singleFigures struct {
	Targets, Chunks int
	Latency         time.Duration
	// Wall runs from starting the workflow to having its result.
	Wall time.Duration
	// Polls counts DescribeTaskStatus calls, Tasks the tasks, as the
	// emulator counted them.
	Polls, Tasks int
	Gaps         []taskGap
}

// scriptFigures are the measures of the naive script on the same work.
type scriptFigures struct {
	Wall         time.Duration
	Polls, Tasks int
}

// fleetFigures are the measures of many drains sharing the API budget.
type fleetFigures struct {
	LoadBalancers, TargetsPerLB, ChunksPerLB, Workers int
	Latency                                           time.Duration
	// Rate is the account's budget per action, WorkerRate each worker's.
	Rate, WorkerRate float64
	// Makespan runs from starting the first drain to the last result.
	Makespan time.Duration
	Failed   int
	// Busiest is the most requests of each action that reached the
	// emulator in any one second, throttled ones included; Throttled
	// counts the throttled answers of each action.
	Busiest, Throttled map[string]int
	// Polls counts DescribeTaskStatus calls, Tasks the tasks.
	Polls, Tasks int
	// PeakRSS is each worker's VmHWM, in bytes.
	PeakRSS []int64
}

// historyFigures are the measures of workflow histories.
type historyFigures struct {
	// PerChunk is what a chunk adds to the single drain's history,
	// PerChunkMost the most it adds to any run measured.
	PerChunk, PerChunkMost float64
	// Targets, Chunks and Latency describe the large drain.
	Targets, Chunks int
	Latency         time.Duration
	// Err is why the large drain did not complete, nil when it did.
	Err error
	// Runs counts its runs; LongestRun is the most events of one of them.
	Runs, LongestRun int
	// Wall is how long it took.
	Wall time.Duration
}

// figures are all the measures of one benchmark run; a phase that did not
// run leaves its figures nil.
type figures struct {
	Single  *singleFigures
	Script  *scriptFigures
	Fleet   *fleetFigures
	History *historyFigures
	Turns   *turnsFigures
	Jitter  *jitterFigures
	Delay   *delayFigures
	Restore *restoreFigures
	Servers *serversFigures
}

// row is one line of the table: a figure, what was measured and, for a
// figure with a target, the target and whether it was met.
type row struct {
	Figure, Measured, Target string
	// HasTarget is true when the row is checked; OK when it passed.
	HasTarget, OK bool
}

// section is a titled group of rows.
type section struct {
	Title string
	Rows  []row
}

// info is a row without a target.
func info(figure, measured string) row { return row{Figure: figure, Measured: measured} }

// checked is a row with a target, met when ok.
func checked(figure, measured, target string, ok bool) row {
	return row{Figure: figure, Measured: measured, Target: target, HasTarget: true, OK: ok}
}

// sections lays the figures of the phases that ran out as the table and
// checks each target.
func sections(f figures) []section {
	var out []section
	for _, p := range phases {
		out = append(out, p.sections(f)...)
	}
	return out
}

// singleSections are the single drain's section and the naive script's.
func singleSections(f figures) []section {
	if f.Single == nil || f.Script == nil {
		return nil
	}
	return []section{singleSection(*f.Single), scriptSection(*f.Single, *f.Script)}
}

// fleetSections are the fleet's section.
func fleetSections(f figures) []section {
	if f.Fleet == nil {
		return nil
	}
	return []section{fleetSection(*f.Fleet)}
}

// historySections are the history's section.
func historySections(f figures) []section {
	if f.History == nil {
		return nil
	}
	return []section{historySection(*f.History)}
}

// singleSection is the single drain against the ideal: wall time, polls
// per task, and how soon the drain sees a task done and moves on.
func singleSection(s singleFigures) section {
	ideal := time.Duration(s.Chunks) * s.Latency
	singleRatio := ratio(s.Wall, ideal)
	polls := perTask(s.Polls, s.Tasks)
	return section{
		Title: fmt.Sprintf("single drain: %d targets on one listener (%d chunks), tasks take %s", s.Targets, s.Chunks, s.Latency),
		Rows: append([]row{
			checked(fmt.Sprintf("wall time / ideal (%d × %s = %s)", s.Chunks, s.Latency, ideal),
				fmt.Sprintf("%.3f (%s)", singleRatio, seconds(s.Wall)), fmt.Sprintf("≤ %.2f", maxSingleRatio), singleRatio <= maxSingleRatio),
			checked("DescribeTaskStatus calls per task", fmt.Sprintf("%.2f (%d / %d)", polls, s.Polls, s.Tasks),
				fmt.Sprintf("≤ %g", maxPollsPerTask), s.Tasks > 0 && polls <= maxPollsPerTask),
		}, gapRows(s.Gaps)...),
	}
}

// gapRows are how soon, after each task but the last, a drain saw it end
// and sent its next chunk, on average and at most.
func gapRows(gaps []taskGap) []row {
	var seen, next []time.Duration
	for _, g := range gaps {
		seen, next = append(seen, g.Seen), append(next, g.Next)
	}
	seenMean, seenMax := meanMax(seen)
	nextMean, nextMax := meanMax(next)
	return []row{
		info("task done → first poll after it, mean / max", fmt.Sprintf("%s / %s", millis(seenMean), millis(seenMax))),
		info("task done → next DeregisterTargets, mean / max", fmt.Sprintf("%s / %s", millis(nextMean), millis(nextMax))),
	}
}

// scriptSection compares the naive script sc with the single drain s.
func scriptSection(s singleFigures, sc scriptFigures) section {
	speedup := ratio(sc.Wall, s.Wall)
	return section{
		Title: "naive script: official SDK, 20 per call, polls at once then 0.5 s doubling to 10 s; same work",
		Rows: []row{
			info("script wall time (DescribeTaskStatus calls per task)",
				fmt.Sprintf("%s (%.2f)", seconds(sc.Wall), perTask(sc.Polls, sc.Tasks))),
			checked("speed-up: script / clbdrain (clbdrain / script)", fmt.Sprintf("%.2f× (%.3f)", speedup, ratio(s.Wall, sc.Wall)),
				fmt.Sprintf("≥ %.1f×", minSpeedup), speedup >= minSpeedup),
		},
	}
}

// fleetSection is the fleet's makespan against its lower bound, failures,
// per-second peaks against the budget, throttling, polls and memory.
func fleetSection(fl fleetFigures) section {
	bound := fleetLowerBound(fl.LoadBalancers, fl.ChunksPerLB, fl.Latency, fl.Rate)
	fleetRatio := ratio(fl.Makespan, bound)
	calls := fl.LoadBalancers * fl.ChunksPerLB
	var rss []string
	throttled := 0
	for _, n := range fl.Throttled {
		throttled += n
	}
	for _, b := range fl.PeakRSS {
		rss = append(rss, fmt.Sprintf("%.0f", float64(b)/(1<<20)))
	}
	fleet := section{
		Title: fmt.Sprintf("fleet: %d drains on %d load balancers × %d targets, %d workers × %g req/s per action (budget %g/s), tasks take %s",
			fl.LoadBalancers, fl.LoadBalancers, fl.TargetsPerLB, fl.Workers, fl.WorkerRate, fl.Rate, fl.Latency),
		Rows: []row{
			checked(fmt.Sprintf("makespan / lower bound (%s = max(%d × %s, %d calls / %g/s))",
				seconds(bound), fl.ChunksPerLB, fl.Latency, calls, fl.Rate),
				fmt.Sprintf("%.3f (%s)", fleetRatio, seconds(fl.Makespan)), fmt.Sprintf("≤ %.2f", maxFleetRatio),
				bound > 0 && fleetRatio <= maxFleetRatio),
			checked("drains failed", fmt.Sprintf("%d of %d", fl.Failed, fl.LoadBalancers), "0", fl.Failed == 0),
		},
	}
	for _, a := range budgetActions {
		fleet.Rows = append(fleet.Rows, checked("most requests in any one second: "+a, fmt.Sprint(fl.Busiest[a]),
			fmt.Sprintf("≤ %g", fl.Rate), float64(fl.Busiest[a]) <= fl.Rate))
	}
	fleet.Rows = append(fleet.Rows,
		info("throttled answers (RequestLimitExceeded)", fmt.Sprint(throttled)),
		info("DescribeTaskStatus calls per task", fmt.Sprintf("%.2f (%d / %d)", perTask(fl.Polls, fl.Tasks), fl.Polls, fl.Tasks)),
		info("peak RSS of each worker (VmHWM)", strings.Join(rss, " / ")+" MiB"))
	return fleet
}

// historySection is the history's size per chunk and per run.
func historySection(h historyFigures) section {
	large := fmt.Sprintf("%d runs, longest %d events (%s)", h.Runs, h.LongestRun, seconds(h.Wall))
	if h.Err != nil {
		large = "did not complete: " + h.Err.Error()
	}
	return section{
		Title: "history",
		Rows: []row{
			checked("events per chunk: drain 1; most of any run", fmt.Sprintf("%.2f; %.2f", h.PerChunk, h.PerChunkMost),
				fmt.Sprintf("≤ %g", maxEventsPerChunk), h.PerChunk > 0 && h.PerChunkMost <= maxEventsPerChunk),
			checked(fmt.Sprintf("%d targets (%d chunks), tasks take %s", h.Targets, h.Chunks, h.Latency), large,
				fmt.Sprintf("completes, ≤ %d per run", maxRunEvents), h.Err == nil && h.LongestRun <= maxRunEvents),
		},
	}
}

// printTable writes the header and the sections, numbered, the columns
// aligned across sections, and reports whether every target was met.
func printTable(w io.Writer, header string, secs []section) bool {
	cols := [3]int{len("figure"), len("measured"), len("target")}
	for _, s := range secs {
		for _, r := range s.Rows {
			for i, cell := range []string{"  " + r.Figure, r.Measured, r.Target} {
				cols[i] = max(cols[i], utf8.RuneCountInString(cell))
			}
		}
	}
	line := func(cells ...string) {
		var b strings.Builder
		for i, c := range cells[:3] {
			b.WriteString(c + strings.Repeat(" ", cols[i]-utf8.RuneCountInString(c)+2))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String()+cells[3], " "))
	}
	fmt.Fprintln(w, header)
	line("figure", "measured", "target", "")
	all := true
	for i, s := range secs {
		fmt.Fprintf(w, "%d. %s\n", i+1, s.Title)
		for _, r := range s.Rows {
			verdict := ""
			if r.HasTarget {
				verdict = "ok"
				if !r.OK {
					verdict, all = "MISSED", false
				}
			}
			line("  "+r.Figure, r.Measured, r.Target, verdict)
		}
	}
	return all
}

// ratio is a/b, 0 when b is not positive.
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// perTask is calls/tasks, 0 without tasks.
func perTask(calls, tasks int) float64 {
	if tasks == 0 {
		return 0
	}
	return float64(calls) / float64(tasks)
}

// seconds and millis print a duration for the table.
func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func millis(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
