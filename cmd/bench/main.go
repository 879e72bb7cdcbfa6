// Command bench measures clbdrain against the CLB emulator (clbsim) and a
// real Temporal dev server, and prints one table: how long a drain takes
// against the ideal and against a naive script, whether a fleet of drains
// stays inside the account's API budget, and how large workflow histories
// grow. Every figure is a ratio or a count measured in the same run, since
// absolute times drift on shared machines. It exits 1 when a target is
// missed, 2 when the benchmark could not run.
//
// Usage (make bench builds the binaries first):
//
//	bench [-temporal bin/temporal] [-worker bin/worker] [-starter bin/starter] [-only single,fleet]
//
// The drains run on cmd/worker processes, against emulators served over
// HTTP in this process with a tap in front that records when each call
// arrived. The phases (phases lists them; -only runs some), each a
// numbered section of the table:
//
//   - single: one drain of 500 targets (25 chunks) on one listener, tasks
//     of 2 s, one worker: wall time (from starting the workflow to its
//     result) over the ideal 25 × 2 s, DescribeTaskStatus calls per task,
//     and for each task but the last, its completion (the audit's time)
//     against the first DescribeTaskStatus call about it that arrived after
//     it and against the arrival of the next chunk's DeregisterTargets call.
//     At the same time, a naive script on an identical listener, in an
//     emulator of its own: the official SDK in a plain loop, chunks of 20,
//     DescribeTaskStatus at once and then after 0.5 s, doubling to 10 s, as
//     the Terraform provider waits. Its wall time over clbdrain's is the
//     speed-up.
//   - jitter: `starter drain --wait` of 500 targets, tasks of 1 s ± 200 ms:
//     the starter process's wall time, from its start to its exit with the
//     result, over the sum of the tasks' own durations.
//   - delay: a drain of 200 targets with --drain-delay 10s, tasks of 2 s,
//     over its ideal: one weight task (BatchModifyTargetWeight takes 500),
//     the delay, then 10 deregistration tasks.
//   - turns: four drains started at once on the four listeners of one load
//     balancer, 60 targets each, tasks of 1 s: the makespan over their 12
//     tasks back to back, and the lock answers their calls met (none: they
//     take turns).
//   - fleet: 40 drains at once on 40 load balancers of 100 targets, tasks of
//     2 s, two workers sharing a 20 requests/s budget per action (--api-rate
//     10 each, --queue-rate 20), against an emulator that throttles above
//     20 per second. The makespan runs from the first start to the last
//     result; its lower bound is max(5 chunks × 2 s, 200 DeregisterTargets
//     calls / 20 per s, 200 DescribeTaskStatus calls / 20 per s) = 10 s.
//     The busiest second of each action counts every call that arrived in
//     any sliding one-second window, throttled ones included.
//   - history: events per chunk, the mean distance, in history events,
//     between the scheduling of one chunk's DeregisterTargets and the next
//     one's, in the single drain and in every run of a drain of 5,000
//     targets (tasks of 50 ms), which continues as new: its runs and its
//     longest run.
//   - restore (restore.go): RestoreTargets puts back 500 targets on one
//     listener behind the health gate, health immediate, no ramp, tasks of
//     2 s: wall time over the ideal, 25 register tasks and one weight task.
//   - servers: a server drain (servers.go) of 3 servers on 10 load
//     balancers × 4 listeners (120 bindings), tasks of 1 s, drain delay
//     5 s, one worker: its makespan over one weight task + the delay + the
//     4 deregistration tasks of a load balancer, and the busiest second of
//     each action it calls.
//
// Progress goes to standard error, the table to standard output. A ticker
// watches for stalls of the machine (the benchmark not run for half a
// second or more), which the table reports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// began is when the benchmark started; progress lines show the time since.
var began = time.Now()

// progress prints a progress line to standard error.
func progress(format string, args ...any) {
	el := time.Since(began).Truncate(time.Second)
	fmt.Fprintf(os.Stderr, "bench %02d:%02d  %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
}

// run runs the benchmark and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cli := fs.String("temporal", "bin/temporal", "the temporal CLI, to start a dev server")
	workerBin := fs.String("worker", "bin/worker", "the clbdrain worker binary (cmd/worker)")
	starterBin := fs.String("starter", "bin/starter", "the clbdrain starter binary (cmd/starter)")
	only := fs.String("only", "", "run only these phases, comma-separated (single, fleet, history...)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	run, err := pickPhases(*only)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	header := machine()
	progress("%s", header)
	var st stalls
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go st.watch(wctx)
	f, err := measure(ctx, *cli, *workerBin, *starterBin, run)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	progress("done")
	fmt.Fprintln(stdout)
	ok := printTable(stdout, header, sections(f))
	fmt.Fprintf(stdout, "machine stalls: %s; load average at the end %s; total %s\n",
		&st, loadNow(), time.Since(began).Round(time.Second))
	if !ok {
		fmt.Fprintln(stderr, "bench: a target was missed")
		return 1
	}
	return 0
}

// phase is one part of the benchmark: run measures into f and returns the
// errors that keep the benchmark from running (a missed target is no
// error: the table shows it); sections lays its figures out, none when it
// did not run. Phases run one after another, in the order of phases, and
// their sections follow that order; -only picks some by name.
type phase struct {
	name     string
	run      func(e *env, ctx context.Context, f *figures) error
	sections func(f figures) []section
}

// phases are the parts of the benchmark, in the order they run. A new one
// adds its entry here and a field of figures, in a file of its own.
var phases = []phase{
	{"single", (*env).measureSingle, singleSections},
	{"jitter", (*env).measureJitter, jitterSection},
	{"delay", (*env).measureDelay, delaySection},
	{"turns", (*env).measureTurns, turnsSection},
	{"fleet", (*env).measureFleet, fleetSections},
	{"history", (*env).measureHistory, historySections},
	{"restore", (*env).measureRestore, restoreSections},
	{"servers", (*env).measureServers, serversSections},
}

// pickPhases returns the phases named in only (comma-separated), all of
// them when only is empty; an unknown name is an error that lists the
// known ones.
func pickPhases(only string) ([]phase, error) {
	if strings.TrimSpace(only) == "" {
		return phases, nil
	}
	var out []phase
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(phases, func(p phase) bool { return p.name == name })
		if i < 0 {
			var known []string
			for _, p := range phases {
				known = append(known, p.name)
			}
			return nil, fmt.Errorf("-only: unknown phase %q (known: %s)", name, strings.Join(known, ", "))
		}
		out = append(out, phases[i])
	}
	return out, nil
}

// measure starts a Temporal dev server and runs the phases on it.
func measure(ctx context.Context, cli, workerBin, starterBin string, run []phase) (figures, error) {
	var f figures
	progress("starting a Temporal dev server")
	e, err := startEnv(ctx, cli, workerBin, starterBin)
	if err != nil {
		return f, err
	}
	defer e.close()
	for _, p := range run {
		if err := p.run(e, ctx, &f); err != nil {
			return f, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return f, nil
}

// measureSingle runs the single drain and the naive script side by side.
func (e *env) measureSingle(ctx context.Context, f *figures) error {
	progress("single drain and naive script: starting, side by side (%d targets each, tasks of %s)", singleTargets, singleLatency)
	var (
		wg                   sync.WaitGroup
		single               singleFigures
		script               scriptFigures
		singleErr, scriptErr error
	)
	wg.Go(func() {
		single, e.singleHistory, singleErr = e.single(ctx)
		progress("single drain: finished in %s", seconds(single.Wall))
	})
	wg.Go(func() {
		script, scriptErr = runScript(ctx)
		progress("naive script: finished in %s", seconds(script.Wall))
	})
	wg.Wait()
	if err := errors.Join(singleErr, scriptErr); err != nil {
		return err
	}
	f.Single, f.Script = &single, &script
	return nil
}

// measureFleet runs the fleet of drains.
func (e *env) measureFleet(ctx context.Context, f *figures) error {
	progress("fleet: starting %d drains on %d workers", fleetLBs, fleetWorkers)
	fl, err := e.fleet(ctx)
	if err != nil {
		return err
	}
	progress("fleet: finished in %s, %d failed", seconds(fl.Makespan), fl.Failed)
	f.Fleet = &fl
	return nil
}

// measureHistory runs the large drain and measures histories.
func (e *env) measureHistory(ctx context.Context, f *figures) error {
	progress("history: starting a drain of %d targets (tasks of %s)", largeTargets, largeLatency)
	h, err := e.large(ctx, e.singleHistory)
	if err != nil {
		return err
	}
	progress("history: finished in %s, %d runs", seconds(h.Wall), h.Runs)
	f.History = &h
	return nil
}

// machine describes the machine and the load on it at the start.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := cpuModel(string(b)); m != "" {
			model = m
		}
	}
	return strings.Join([]string{
		fmt.Sprintf("machine: %d CPUs (nproc), %s", runtime.NumCPU(), model),
		fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		"load average at the start " + loadNow(),
	}, "; ")
}

// loadNow is the load averages over 1, 5 and 15 minutes.
func loadNow() string {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if l := loadAverage(string(b)); l != "" {
			return l
		}
	}
	return "unknown"
}
