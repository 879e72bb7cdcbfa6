package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// region is the region the workers and the emulators agree on.
const region = harness.Region

// env is what every phase runs on: a Temporal dev server and the worker
// binary, in a scratch directory.
type env struct {
	workerBin  string
	starterBin string
	dir        string
	dev        *testsuite.DevServer
	temporal   client.Client
	// singleHistory is the single drain's history, once it ran, for the
	// history phase.
	singleHistory []*historypb.HistoryEvent
}

// startEnv starts a Temporal dev server with the temporal CLI at cli.
func startEnv(ctx context.Context, cli, workerBin, starterBin string) (*env, error) {
	for _, p := range []string{cli, workerBin, starterBin} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %w (run `make bench`, which builds it)", p, err)
		}
	}
	dir, err := os.MkdirTemp("", "clbdrain-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{workerBin: workerBin, starterBin: starterBin, dir: dir}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	e.dev, err = testsuite.StartDevServer(sctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		LogLevel:      "error",
		ClientOptions: &client.Options{Namespace: "default", Logger: quiet},
		Stdout:        io.Discard,
		Stderr:        io.Discard,
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("starting the Temporal dev server: %w", err)
	}
	e.temporal = e.dev.Client()
	return e, nil
}

// close stops the dev server and removes the scratch directory.
func (e *env) close() {
	if e.dev != nil {
		if err := e.dev.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the dev server:", err)
		}
	}
	if err := os.RemoveAll(e.dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench: removing", e.dir+":", err)
	}
}

// sim is an emulator served over HTTP with a tap in front of it.
type sim struct {
	*clbsim.Server
	tap  *tap
	http *httptest.Server
}

// startSim serves an emulator of the fleet, tasks taking latency, with the
// API's rate limit.
func startSim(fleet clbsim.State, latency time.Duration) (*sim, error) {
	return startSimJitter(fleet, latency, 0)
}

// startSimJitter is startSim with tasks taking latency plus a uniformly
// drawn [0, jitter).
func startSimJitter(fleet clbsim.State, latency, jitter time.Duration) (*sim, error) {
	srv, err := clbsim.New(clbsim.Config{State: fleet, Region: region, TaskLatency: latency, TaskJitter: jitter,
		Rate: clbsim.DefaultRate, Seed: 1})
	if err != nil {
		return nil, err
	}
	t := &tap{next: srv}
	return &sim{Server: srv, tap: t, http: httptest.NewServer(t)}, nil
}

func (s *sim) close() {
	s.http.Close()
	s.Server.Close()
}

// startSimWorker serves an emulator of the fleet, tasks taking latency,
// and runs one worker against it polling queue. stop stops the worker,
// then the emulator; on error nothing is left running.
func (e *env) startSimWorker(fleet clbsim.State, latency time.Duration, queue string) (s *sim, stop func(), err error) {
	s, err = startSim(fleet, latency)
	if err != nil {
		return nil, nil, err
	}
	w, err := e.startWorker(s.http.URL, "--task-queue", queue)
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, func() {
		w.Stop()
		s.close()
	}, nil
}

// startWorker runs the worker binary against the emulator at simURL and
// waits until it polls.
func (e *env) startWorker(simURL string, args ...string) (*harness.Process, error) {
	return harness.StartWorkerBinary(e.workerBin, e.vars(simURL), args...)
}

// vars is the environment of the clbdrain processes that use the emulator
// at simURL.
func (e *env) vars(simURL string) []string {
	return harness.Env{TemporalAddress: e.dev.FrontendHostPort(), CLBEndpoint: simURL, Home: e.dir}.Vars()
}

// peakRSS is the VmHWM of the worker process w, in bytes.
func peakRSS(w *harness.Process) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(w.Pid()) + "/status")
	if err != nil {
		return 0, err
	}
	n, ok := vmHWM(string(b))
	if !ok {
		return 0, errors.New("no VmHWM in /proc/<pid>/status")
	}
	return n, nil
}
