package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerStartTimeout bounds how long a worker may take to poll.
const workerStartTimeout = 60 * time.Second

// Process is a clbdrain binary running in the background.
type Process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// StartWorker runs the worker binary of bin with env and args, and waits
// until it logs "worker started" (it polls its task queues then).
func StartWorker(bin string, env []string, args ...string) (*Process, error) {
	p := &Process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(bin, "worker"), args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.After(workerStartTimeout)
	for !strings.Contains(p.out.String(), "worker started") {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the worker exited:\n%s", p.out.String())
		case <-deadline:
			p.Kill()
			return nil, fmt.Errorf("the worker did not start in %s:\n%s", workerStartTimeout, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p, nil
}

// Output is everything the process wrote so far, stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM and waits for a clean exit, killing the process
// after 40 seconds.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.Kill()
	}
}

// Kill is kill -9: the process ends at once, with no chance to clean up.
// It returns once the process is gone.
func (p *Process) Kill() {
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
