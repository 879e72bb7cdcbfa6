package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clb/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The fleet every test draws from: each test takes load balancers of its own.
var fleetSpec = clbsim.GenerateSpec{LoadBalancers: 12, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60, ENI: 0.1}

// Region the worker and clbsim agree on.
const region = "ap-guangzhou"

// suite is what TestMain sets up once for the package.
type suite struct {
	cli      string // the temporal CLI
	bin      string // directory of the built binaries
	dev      *testsuite.DevServer
	temporal client.Client
	sim      *clbsim.Server
	simURL   string
	fleet    clbsim.State
	worker   *process
	nextLB   int
	workDir  string
}

var (
	s          suite
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	cli, err := findCLI()
	if err != nil {
		if os.Getenv("CLBDRAIN_E2E") == "1" {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		skipReason = err.Error() + "; run `make test` to build it and run these tests"
		return m.Run()
	}
	if err := s.setUp(cli); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setting up:", err)
		s.tearDown()
		return 1
	}
	code := m.Run()
	s.tearDown()
	return code
}

// need skips a test when the end-to-end environment is missing.
func need(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func findCLI() (string, error) {
	if p := os.Getenv("CLBDRAIN_TEMPORAL_CLI"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("CLBDRAIN_TEMPORAL_CLI=%s does not exist", p)
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	if p, err := filepath.Abs("../bin/temporal"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no temporal CLI (set CLBDRAIN_TEMPORAL_CLI, put temporal on PATH, or build ./bin/temporal)")
}

func (s *suite) setUp(cli string) error {
	s.cli = cli
	var err error
	if s.workDir, err = os.MkdirTemp("", "clbdrain-e2e-"); err != nil {
		return err
	}
	s.bin = filepath.Join(s.workDir, "bin")
	build := exec.Command("go", "build", "-o", s.bin+"/", "./cmd/worker", "./cmd/starter", "./cmd/clbsim")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the binaries: %v\n%s", err, out)
	}

	if s.fleet, err = clbsim.Generate(fleetSpec, 42); err != nil {
		return err
	}
	if s.sim, err = clbsim.New(clbsim.Config{State: s.fleet, Region: region, TaskLatency: 150 * time.Millisecond, Seed: 42}); err != nil {
		return err
	}
	srv := httptest.NewServer(s.sim)
	s.simURL = srv.URL

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.dev, err = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		LogLevel:      "error",
		ClientOptions: &client.Options{Namespace: "default"},
		Stdout:        io.Discard,
		Stderr:        io.Discard,
	})
	if err != nil {
		return fmt.Errorf("starting the Temporal dev server: %w", err)
	}
	s.temporal = s.dev.Client()
	s.worker, err = s.startWorker()
	return err
}

func (s *suite) tearDown() {
	if s.worker != nil {
		s.worker.stop()
	}
	if s.dev != nil {
		_ = s.dev.Stop()
	}
	if s.sim != nil {
		s.sim.Close()
	}
	if s.workDir != "" {
		_ = os.RemoveAll(s.workDir)
	}
}

// env is the environment of the clbdrain processes: Temporal, the
// emulator's endpoint and its demo credentials, and nothing else of ours.
func (s *suite) env(extra ...string) []string {
	e := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.workDir,
		"TEMPORAL_ADDRESS=" + s.dev.FrontendHostPort(),
		"TEMPORAL_NAMESPACE=default",
		"TEMPORAL_CONFIG_FILE=" + filepath.Join(s.workDir, "absent.toml"),
		"TENCENTCLOUD_REGION=" + region,
		"TENCENTCLOUD_SECRET_ID=" + clbsim.DefaultSecretID,
		"TENCENTCLOUD_SECRET_KEY=" + clbsim.DefaultSecretKey,
		"CLB_ENDPOINT=" + s.simURL,
	}
	return append(e, extra...)
}

// process is a clbdrain binary running in the background.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startWorker runs the worker binary and waits until it polls.
func (s *suite) startWorker(args ...string) (*process, error) {
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(s.bin, "worker"), args...)
	p.cmd.Env = s.env()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(p.out.String(), "worker started") {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the worker exited:\n%s", p.out.String())
		case <-deadline:
			p.kill()
			return nil, fmt.Errorf("the worker did not start in 30s:\n%s", p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p, nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.kill()
	}
}

// kill is kill -9.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// starter runs the starter binary to completion and returns its exit code
// and output.
func (s *suite) starter(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "starter"), args...)
	cmd.Env = s.env("TEMPORAL_UI_ADDRESS=http://127.0.0.1:8233")
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running starter %v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// takeLB hands a test a load balancer of the fleet no other test uses.
func (s *suite) takeLB(t *testing.T) clbsim.LoadBalancer {
	t.Helper()
	if s.nextLB >= len(s.fleet.LoadBalancers) {
		t.Fatalf("the e2e fleet has only %d load balancers; enlarge fleetSpec", len(s.fleet.LoadBalancers))
	}
	lb := s.fleet.LoadBalancers[s.nextLB]
	s.nextLB++
	return lb
}

// layer4 and layer7 return the first listener of each kind.
func layer4(t *testing.T, lb clbsim.LoadBalancer) clb.Listener {
	t.Helper()
	for _, l := range lb.Listeners {
		if !clb.IsLayer7(l.Protocol) {
			return l
		}
	}
	t.Fatalf("%s has no layer-4 listener", lb.LoadBalancerId)
	return clb.Listener{}
}

func layer7(t *testing.T, lb clbsim.LoadBalancer) clb.Listener {
	t.Helper()
	for _, l := range lb.Listeners {
		if clb.IsLayer7(l.Protocol) {
			return l
		}
	}
	t.Fatalf("%s has no layer-7 listener", lb.LoadBalancerId)
	return clb.Listener{}
}

// targetsOf turns bound targets into request targets (ENI ones by address).
func targetsOf(bound []clb.BoundTarget) []clb.Target {
	out := make([]clb.Target, 0, len(bound))
	for _, b := range bound {
		if b.Type == clbsim.TypeENI {
			out = append(out, clb.Target{EniIp: b.PrivateIpAddresses[0], Port: b.Port})
		} else {
			out = append(out, clb.Target{InstanceId: b.InstanceId, Port: b.Port})
		}
	}
	return out
}

// boundNow lists the keys bound now on a listener (layer 4) or rule.
func boundNow(t *testing.T, lbID, listenerID, locationID string) map[string]clb.BoundTarget {
	t.Helper()
	out := map[string]clb.BoundTarget{}
	for _, lb := range s.sim.State().LoadBalancers {
		if lb.LoadBalancerId != lbID {
			continue
		}
		for _, l := range lb.Listeners {
			if l.ListenerId != listenerID {
				continue
			}
			bound := l.Targets
			for _, r := range l.Rules {
				if r.LocationId == locationID {
					bound = r.Targets
				}
			}
			for _, b := range bound {
				out[keyOf(b)] = b
			}
		}
	}
	return out
}

func keyOf(b clb.BoundTarget) string {
	if b.Type == clbsim.TypeENI {
		return clb.Target{EniIp: b.PrivateIpAddresses[0], Port: b.Port}.Key()
	}
	return clb.Target{InstanceId: b.InstanceId, Port: b.Port}.Key()
}

// auditFor returns the audit entries of one load balancer.
func auditFor(lbID string) []clbsim.Change {
	var out []clbsim.Change
	for _, c := range s.sim.Audit() {
		if c.LoadBalancerId == lbID {
			out = append(out, c)
		}
	}
	return out
}

// writeTargets writes targets one per line, as an operator would.
func writeTargets(t *testing.T, targets []clb.Target) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.txt")
	var b strings.Builder
	for _, tg := range targets {
		b.WriteString(tg.String() + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitForPhase waits until the progress query of a drain reports phase.
func waitForPhase(ctx context.Context, t *testing.T, workflowID string, phase workflows.Phase) {
	t.Helper()
	require.Eventually(t, func() bool {
		v, err := s.temporal.QueryWorkflow(ctx, workflowID, "", workflows.QueryProgress)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && p.Phase == phase
	}, time.Minute, 100*time.Millisecond, "drain %s never reached phase %s", workflowID, phase)
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's reads.
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
