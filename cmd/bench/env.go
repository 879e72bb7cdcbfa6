package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// region is the region the workers and the emulators agree on.
const region = "ap-guangzhou"

// env is what every phase runs on: a Temporal dev server and the worker
// binary, in a scratch directory.
type env struct {
	workerBin string
	dir       string
	dev       *testsuite.DevServer
	temporal  client.Client
}

// startEnv starts a Temporal dev server with the temporal CLI at cli.
func startEnv(ctx context.Context, cli, workerBin string) (*env, error) {
	for _, p := range []string{cli, workerBin} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %w (run `make bench`, which builds it)", p, err)
		}
	}
	dir, err := os.MkdirTemp("", "clbdrain-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{workerBin: workerBin, dir: dir}
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
	srv, err := clbsim.New(clbsim.Config{State: fleet, Region: region, TaskLatency: latency, Rate: clbsim.DefaultRate, Seed: 1})
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

// worker is a cmd/worker process.
type worker struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startWorker runs the worker binary against the emulator at simURL and
// waits until it polls.
func (e *env) startWorker(simURL string, args ...string) (*worker, error) {
	w := &worker{out: &syncBuffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(e.workerBin, args...)
	w.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.dir,
		"TEMPORAL_ADDRESS=" + e.dev.FrontendHostPort(),
		"TEMPORAL_NAMESPACE=default",
		"TEMPORAL_CONFIG_FILE=" + filepath.Join(e.dir, "absent.toml"),
		"TENCENTCLOUD_REGION=" + region,
		"TENCENTCLOUD_SECRET_ID=" + clbsim.DefaultSecretID,
		"TENCENTCLOUD_SECRET_KEY=" + clbsim.DefaultSecretKey,
		"CLB_ENDPOINT=" + simURL,
	}
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		// The exit status shows in the output kept for errors.
		_ = w.cmd.Wait()
		close(w.done)
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(w.out.String(), "worker started") {
		select {
		case <-w.done:
			return nil, fmt.Errorf("the worker exited:\n%s", w.out.String())
		case <-deadline:
			w.kill()
			return nil, fmt.Errorf("the worker did not start in 30 s:\n%s", w.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return w, nil
}

// peakRSS is the worker's VmHWM, in bytes.
func (w *worker) peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(w.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, err
	}
	n, ok := vmHWM(string(b))
	if !ok {
		return 0, errors.New("no VmHWM in /proc/<pid>/status")
	}
	return n, nil
}

// stop sends SIGTERM and waits for the exit, killing the worker if it
// takes longer than its stop timeout allows.
func (w *worker) stop() {
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.kill()
		return
	}
	select {
	case <-w.done:
	case <-time.After(40 * time.Second):
		w.kill()
	}
}

func (w *worker) kill() {
	// An error means the process is gone already.
	_ = w.cmd.Process.Kill()
	<-w.done
}

// syncBuffer is a bytes.Buffer safe for a process's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
