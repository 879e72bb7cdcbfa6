// Package harness runs clbdrain end to end for the e2e test packages and
// the benchmark: it finds the temporal CLI, builds the real binaries,
// starts Temporal dev servers, serves clbsim over HTTP in the test process,
// runs the worker (or any program, such as a Temporal server node) as a
// process (stopped, or killed with SIGKILL) and the starter to completion,
// and reads what clbsim holds back: the audit verdicts (each requested
// target removed exactly once, nothing else touched) come from the
// emulator, not from what clbdrain says about itself.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// Environment variables the end-to-end tests read.
const (
	// EnvTemporalCLI names the temporal CLI to run dev servers with.
	EnvTemporalCLI = "CLBDRAIN_TEMPORAL_CLI"
	// EnvE2E set to 1 makes a missing temporal CLI a failure rather than a
	// reason to skip (make test, CI).
	EnvE2E = "CLBDRAIN_E2E"
)

// Region is the region the workers and clbsim agree on.
const Region = "ap-guangzhou"

// Namespace is the Temporal namespace of every dev server.
const Namespace = "default"

// ModuleRoot returns the directory of clbdrain's go.mod, found upwards
// from the working directory (a test runs in its package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FindCLI returns the temporal CLI: CLBDRAIN_TEMPORAL_CLI, else temporal
// on PATH, else bin/temporal under the module root (make test builds it).
// CLBDRAIN_E2E=0 turns the end-to-end tests off (make unit).
func FindCLI() (string, error) {
	if os.Getenv(EnvE2E) == "0" {
		return "", fmt.Errorf("%s=0 turns the end-to-end tests off", EnvE2E)
	}
	if p := os.Getenv(EnvTemporalCLI); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s does not exist", EnvTemporalCLI, p)
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	if root, err := ModuleRoot(); err == nil {
		p := filepath.Join(root, "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no temporal CLI (set %s, put temporal on PATH, or build ./bin/temporal)", EnvTemporalCLI)
}

// Required reports whether the end-to-end tests must run (CLBDRAIN_E2E=1),
// so that a missing CLI fails them instead of skipping them.
func Required() bool {
	return os.Getenv(EnvE2E) == "1"
}

// Build builds the worker, starter and clbsim binaries into dir and
// returns dir.
func Build(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/worker", "./cmd/starter", "./cmd/clbsim")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the binaries: %v\n%s", err, out)
	}
	return dir, nil
}

// DevServerOptions are what a test chooses of a dev server.
type DevServerOptions struct {
	// CLI is the temporal CLI.
	CLI string
	// HostPort is the frontend address; empty picks a free port.
	HostPort string
	// DBFilename persists the server's state in a SQLite file, so that a
	// server started again on it resumes every workflow; empty keeps it in
	// memory.
	DBFilename string
	// WithoutAuditAttributes leaves out clbdrain's audit search attributes,
	// which a dev server registers by default.
	WithoutAuditAttributes bool
}

// StartDevServer starts a Temporal dev server (quiet, headless) and waits
// until it answers.
func StartDevServer(ctx context.Context, o DevServerOptions) (*testsuite.DevServer, error) {
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  o.CLI,
		DBFilename:    o.DBFilename,
		LogLevel:      "error",
		ClientOptions: &client.Options{HostPort: o.HostPort, Namespace: Namespace},
		Stdout:        io.Discard,
		Stderr:        io.Discard,
		ExtraArgs:     auditAttributeArgs(o),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the Temporal dev server: %w", err)
	}
	return dev, nil
}

// auditAttributeArgs register the audit search attributes on a dev server
// (--search-attribute Name=Type), unless o leaves them out.
func auditAttributeArgs(o DevServerOptions) []string {
	var args []string
	for _, k := range workflows.AuditSearchAttributes() {
		if !o.WithoutAuditAttributes {
			args = append(args, "--search-attribute", k.GetName()+"="+k.GetValueType().String())
		}
	}
	return args
}

// FreeHostPort returns a loopback address with a port free now, for a
// server that must come back on the same address after a restart.
func FreeHostPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Sim is clbsim served over HTTP from the test process: the workers reach
// it at URL, and tests read its state, stats and audit in process.
type Sim struct {
	*clbsim.Server
	// URL is the endpoint to give the workers (CLB_ENDPOINT).
	URL  string
	http *httptest.Server
}

// StartSim builds a clbsim Server from cfg and serves it.
func StartSim(cfg clbsim.Config) (*Sim, error) {
	return StartSimWith(cfg, nil)
}

// StartSimWith is StartSim with the emulator's handler wrapped by wrap, a
// test's observer of the requests and answers; a nil wrap serves the
// emulator as it is. The wrapper must pass every request on and keep the
// http.Hijacker of the ResponseWriter (a drop fault closes the connection).
func StartSimWith(cfg clbsim.Config, wrap func(http.Handler) http.Handler) (*Sim, error) {
	if cfg.Region == "" {
		cfg.Region = Region
	}
	srv, err := clbsim.New(cfg)
	if err != nil {
		return nil, err
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	return &Sim{Server: srv, URL: ts.URL, http: ts}, nil
}

// Close stops serving and stops the emulator's timer.
func (s *Sim) Close() {
	s.http.Close()
	s.Server.Close()
}

// Env is the environment of the clbdrain processes: Temporal, the
// emulator's endpoint and the Tencent credentials, and nothing else of the
// test process's.
type Env struct {
	// TemporalAddress is the dev server's frontend host:port.
	TemporalAddress string
	// CLBEndpoint is the emulator's URL.
	CLBEndpoint string
	// SecretID and SecretKey are the Tencent credentials; empty means
	// clbsim's demo credentials.
	SecretID, SecretKey string
	// Home is HOME, a directory of the test's.
	Home string
}

// Vars returns the environment as KEY=VALUE pairs, followed by extra.
func (e Env) Vars(extra ...string) []string {
	id, key := e.SecretID, e.SecretKey
	if id == "" && key == "" {
		id, key = clbsim.DefaultSecretID, clbsim.DefaultSecretKey
	}
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.Home,
		"TEMPORAL_ADDRESS=" + e.TemporalAddress,
		"TEMPORAL_NAMESPACE=" + Namespace,
		"TEMPORAL_CONFIG_FILE=" + filepath.Join(e.Home, "absent.toml"),
		"TENCENTCLOUD_REGION=" + Region,
		"TENCENTCLOUD_SECRET_ID=" + id,
		"TENCENTCLOUD_SECRET_KEY=" + key,
		"CLB_ENDPOINT=" + e.CLBEndpoint,
	}
	return append(vars, extra...)
}

// WaitFor polls cond every interval until it holds or timeout passes, and
// reports whether it held.
func WaitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
