// Package reliability is clbdrain's reliability campaign: end-to-end
// scenarios that break what a drain stands on (the worker process, the
// Temporal server, the cloud API, the input, the credentials) and prove
// from clbsim's state and audit, not from what clbdrain says about itself,
// that the drain still ends correctly: every requested target removed
// exactly once, nothing else touched.
//
// Each scenario has its own clbsim, task queue and worker processes, so
// the scenarios run in parallel without disturbing one another; all but
// the server restart share one Temporal dev server. After the run, TestMain
// prints one table, a row per scenario with the counts measured, and
// writes it to the file CLBDRAIN_REPORT names, when set.
//
// Like the e2e package, it needs the temporal CLI (CLBDRAIN_TEMPORAL_CLI,
// temporal on PATH, or ./bin/temporal) and skips without it unless
// CLBDRAIN_E2E=1.
package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/e2e/harness"
)

// EnvReport names the file the campaign's table is written to.
const EnvReport = "CLBDRAIN_REPORT"

// campaign is what TestMain sets up once for every scenario.
var campaign struct {
	cli     string
	bin     string
	workDir string
	dev     *testsuite.DevServer
	skip    string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	cli, err := harness.FindCLI()
	if err != nil {
		if harness.Required() {
			fmt.Fprintln(os.Stderr, "reliability:", err)
			return 1
		}
		campaign.skip = err.Error() + "; run `make test` to build it and run the campaign"
		return m.Run()
	}
	campaign.cli = cli
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: setting up:", err)
		tearDown()
		return 1
	}
	code := m.Run()
	tearDown()
	if err := report.publish(os.Stdout, os.Getenv(EnvReport)); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: writing the report:", err)
		code = max(code, 1)
	}
	return code
}

func setUp() error {
	var err error
	if campaign.workDir, err = os.MkdirTemp("", "clbdrain-reliability-"); err != nil {
		return err
	}
	if campaign.bin, err = harness.Build(filepath.Join(campaign.workDir, "bin")); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	campaign.dev, err = harness.StartDevServer(ctx, harness.DevServerOptions{CLI: campaign.cli})
	return err
}

func tearDown() {
	if campaign.dev != nil {
		campaign.dev.Client().Close()
		_ = campaign.dev.Stop()
	}
	if campaign.workDir != "" {
		_ = os.RemoveAll(campaign.workDir)
	}
}
