package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerStartTimeout bounds how long a worker may take to poll.
const workerStartTimeout = 60 * time.Second

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 40 * time.Second

// WorkerReady is what the worker logs once it polls its task queues.
const WorkerReady = "worker started"

// Process is a program running in the background (a clbdrain binary, a
// Temporal server node), its output kept in memory and, when asked, in a
// log file as well.
type Process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// Spec is a program to run in the background.
type Spec struct {
	// Path is the program; Args its arguments; Env its whole environment.
	Path string
	Args []string
	Env  []string
	// Log, when set, receives the output too (the memory copy is kept).
	// It must take writes until the process ends: a failed write ends the
	// copy, and the process with SIGPIPE at its next line.
	Log io.Writer
	// Ready, when not empty, is a line fragment Start waits for in the
	// output, for at most ReadyTimeout (60 s when zero).
	Ready        string
	ReadyTimeout time.Duration
}

// Start runs spec's program and, when spec.Ready is set, waits until its
// output contains it. A process that exits first or does not get ready in
// time is an error that quotes its output (the latter killed first).
func Start(spec Spec) (*Process, error) {
	p := &Process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(spec.Path, spec.Args...)
	p.cmd.Env = spec.Env
	var out io.Writer = p.out
	if spec.Log != nil {
		out = io.MultiWriter(p.out, spec.Log)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	// The exit status shows in the output the errors quote.
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	if spec.Ready == "" {
		return p, nil
	}
	timeout := spec.ReadyTimeout
	if timeout == 0 {
		timeout = workerStartTimeout
	}
	name := filepath.Base(spec.Path)
	deadline := time.After(timeout)
	for !strings.Contains(p.out.String(), spec.Ready) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the %s exited:\n%s", name, p.out.String())
		case <-deadline:
			p.Kill()
			return nil, fmt.Errorf("the %s did not start in %s:\n%s", name, timeout, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p, nil
}

// StartWorker runs the worker binary of bin with env and args, and waits
// until it logs "worker started" (it polls its task queues then).
func StartWorker(bin string, env []string, args ...string) (*Process, error) {
	return StartWorkerBinary(filepath.Join(bin, "worker"), env, args...)
}

// StartWorkerBinary is StartWorker for the worker binary at path.
func StartWorkerBinary(path string, env []string, args ...string) (*Process, error) {
	return Start(Spec{Path: path, Args: args, Env: env, Ready: WorkerReady})
}

// Output is everything the process wrote so far, stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for a clean exit, killing the process
// after 40 seconds.
func (p *Process) Stop() {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		// The process is gone already, or cannot be signalled: make sure.
		p.Kill()
		return
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.Kill()
	}
}

// Kill is kill -9: the process ends at once, with no chance to clean up.
// It returns once the process is gone.
func (p *Process) Kill() {
	// An error means the process is gone already.
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Result is how a command run to completion ended.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// RunStarter runs the starter binary of bin with env, stdin and args to
// completion, or until ctx ends.
func RunStarter(ctx context.Context, bin string, env []string, stdin string, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "starter"), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	res := Result{Stdout: o.String(), Stderr: e.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		res.Code = exit.ExitCode()
	default:
		return res, fmt.Errorf("running starter %v: %w", args, err)
	}
	return res, nil
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
