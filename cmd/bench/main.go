// Command bench measures clbdrain against the CLB emulator (clbsim) and a
// real Temporal dev server, and prints one table: how long a drain takes
// against the ideal and against a naive script, whether a fleet of drains
// stays inside the account's API budget, and how large workflow histories
// grow. Every figure is a ratio or a count measured in the same run, since
// absolute times drift on shared machines. It exits 1 when a target is
// missed, 2 when the benchmark could not run.
//
// Usage (make bench builds both binaries first):
//
//	bench [-temporal bin/temporal] [-worker bin/worker]
//
// The drains run on cmd/worker processes, against emulators served over
// HTTP in this process with a tap in front that records when each call
// arrived. The phases:
//
//  1. One drain of 500 targets (25 chunks) on one listener, tasks of 2 s,
//     one worker: wall time (from starting the workflow to its result) over
//     the ideal 25 × 2 s, and DescribeTaskStatus calls per task. For each
//     task but the last, its completion (the audit's time) is set against
//     the first DescribeTaskStatus call about it that arrived after it (how
//     long polling took to notice) and against the arrival of the next
//     chunk's DeregisterTargets call (how long the load balancer stood
//     idle between chunks: the whole cost of a chunk beyond its task).
//  2. At the same time, a naive script on an identical listener, in an
//     emulator of its own: the official SDK in a plain loop, chunks of 20,
//     one at a time, DescribeTaskStatus at once and then after 0.5 s,
//     doubling to 10 s, as the Terraform provider waits. Its wall time over
//     clbdrain's is the speed-up.
//  3. 40 drains at once on 40 load balancers of 100 targets, tasks of 2 s,
//     two workers sharing a 20 requests/s budget per action (--api-rate 10
//     each, --queue-rate 20), against an emulator that throttles above 20
//     per second. The makespan runs from the first start to the last
//     result; its lower bound is max(5 chunks × 2 s, 200 DeregisterTargets
//     calls / 20 per s, 200 DescribeTaskStatus calls / 20 per s) = 10 s.
//     The busiest second of each action counts every call that arrived in
//     any sliding one-second window, throttled ones included.
//  4. Events per chunk: the mean distance, in history events, between the
//     scheduling of one chunk's DeregisterTargets and the next one's, in
//     drain 1 and in every run of a drain of 5,000 targets (tasks of
//     50 ms), which continues as new: its runs and its longest run.
//  5. A server drain (servers.go): 3 servers on 10 load balancers × 4
//     listeners (120 bindings), tasks of 1 s, drain delay 5 s, one worker:
//     makespan over one weight task + delay + 4 deregistration tasks, and
//     the busiest second of each action it calls.
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
	"strings"
	"sync"
	"syscall"
	"time"

	historypb "go.temporal.io/api/history/v1"
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	header := machine()
	progress("%s", header)
	var st stalls
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go st.watch(wctx)
	f, err := measure(ctx, *cli, *workerBin)
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

// measure runs the phases: the single drain and the naive script side by
// side, then the fleet, then the large drain.
func measure(ctx context.Context, cli, workerBin string) (figures, error) {
	var f figures
	progress("starting a Temporal dev server")
	e, err := startEnv(ctx, cli, workerBin)
	if err != nil {
		return f, err
	}
	defer e.close()

	progress("1. single drain and 2. naive script: starting, side by side (%d targets each, tasks of %s)", singleTargets, singleLatency)
	var (
		wg                   sync.WaitGroup
		singleErr, scriptErr error
		singleHistory        []*historypb.HistoryEvent
	)
	wg.Go(func() {
		f.Single, singleHistory, singleErr = e.single(ctx)
		progress("1. single drain: finished in %s", seconds(f.Single.Wall))
	})
	wg.Go(func() {
		f.Script, scriptErr = script(ctx)
		progress("2. naive script: finished in %s", seconds(f.Script.Wall))
	})
	wg.Wait()
	if err := errors.Join(singleErr, scriptErr); err != nil {
		return f, err
	}

	progress("3. fleet: starting %d drains on %d workers", fleetLBs, fleetWorkers)
	if f.Fleet, err = e.fleet(ctx); err != nil {
		return f, err
	}
	progress("3. fleet: finished in %s, %d failed", seconds(f.Fleet.Makespan), f.Fleet.Failed)

	progress("4. history: starting a drain of %d targets (tasks of %s)", largeTargets, largeLatency)
	if f.History, err = e.large(ctx, singleHistory); err != nil {
		return f, err
	}
	progress("4. history: finished in %s, %d runs", seconds(f.History.Wall), f.History.Runs)

	progress("5. server drain: starting (%d servers on %d load balancers × %d listeners)", serversCount, serversLBs, serversListeners)
	if f.Servers, err = e.servers(ctx); err != nil {
		return f, err
	}
	progress("5. server drain: finished in %s", seconds(f.Servers.Wall))
	return f, nil
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
