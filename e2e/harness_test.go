package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The fleet every test draws from: each test takes load balancers of its own.
var fleetSpec = clbsim.GenerateSpec{LoadBalancers: 12, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60, ENI: 0.1}

// suite is what TestMain sets up once for the package.
type suite struct {
	bin      string // directory of the built binaries
	dev      *testsuite.DevServer
	temporal client.Client
	sim      *harness.Sim
	fleet    clbsim.State
	worker   *harness.Process
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
	cli, err := harness.FindCLI()
	if err != nil {
		if harness.Required() {
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

func (s *suite) setUp(cli string) error {
	var err error
	if s.workDir, err = os.MkdirTemp("", "clbdrain-e2e-"); err != nil {
		return err
	}
	if s.bin, err = harness.Build(filepath.Join(s.workDir, "bin")); err != nil {
		return err
	}
	if s.fleet, err = clbsim.Generate(fleetSpec, 42); err != nil {
		return err
	}
	if s.sim, err = harness.StartSim(clbsim.Config{State: s.fleet, TaskLatency: 150 * time.Millisecond, Seed: 42}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if s.dev, err = harness.StartDevServer(ctx, harness.DevServerOptions{CLI: cli}); err != nil {
		return err
	}
	s.temporal = s.dev.Client()
	s.worker, err = harness.StartWorker(s.bin, s.env())
	return err
}

func (s *suite) tearDown() {
	if s.worker != nil {
		s.worker.Stop()
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
	return harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: s.sim.URL, Home: s.workDir}.Vars(extra...)
}

// starter runs the starter binary to completion and returns its exit code
// and output.
func (s *suite) starter(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := harness.RunStarter(ctx, s.bin, s.env("TEMPORAL_UI_ADDRESS=http://127.0.0.1:8233"), stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res.Code, res.Stdout, res.Stderr
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
	l, ok := harness.Listener(lb, false)
	if !ok {
		t.Fatalf("%s has no layer-4 listener", lb.LoadBalancerId)
	}
	return l
}

func layer7(t *testing.T, lb clbsim.LoadBalancer) clb.Listener {
	t.Helper()
	l, ok := harness.Listener(lb, true)
	if !ok {
		t.Fatalf("%s has no layer-7 listener", lb.LoadBalancerId)
	}
	return l
}

// targetsOf turns bound targets into request targets (ENI ones by address).
func targetsOf(bound []clb.BoundTarget) []clb.Target {
	return harness.TargetsOf(bound)
}

// boundNow lists the keys bound now on a listener (layer 4) or rule.
func boundNow(t *testing.T, lbID, listenerID, locationID string) map[string]clb.BoundTarget {
	t.Helper()
	return harness.Bound(s.sim.State(), lbID, listenerID, locationID)
}

// auditFor returns the audit entries of one load balancer.
func auditFor(lbID string) []clbsim.Change {
	return harness.AuditFor(s.sim.Audit(), lbID)
}

// writeTargets writes targets one per line, as an operator would.
func writeTargets(t *testing.T, targets []clb.Target) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.txt")
	if err := harness.WriteTargets(path, targets); err != nil {
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
	return harness.Lines(s)
}
