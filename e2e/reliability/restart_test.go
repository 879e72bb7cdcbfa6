package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// A drain of a layer-7 rule, named by Domain and Url, on a Temporal dev
// server of its own that keeps its state in a SQLite file and listens on a
// fixed port. The server is stopped three times at seeded moments (during
// the drain timer, while a DeregisterTargets call is held in clbsim, and
// while a poll of its task is held) and started again on the same file and
// port after a seeded pause; the worker process is never restarted and
// reconnects by itself. The drain completes, each requested target removed
// exactly once, nothing else touched.
func TestTemporalServerRestartedMidDrain(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 200, ENI: 0.1}
	sc := newScenario(t, 2, "Temporal server restarted", "restarted", spec,
		clbsim.Config{TaskLatency: 50 * time.Millisecond, TaskJitter: 50 * time.Millisecond})
	l7, _ := harness.Listener(sc.initial.LoadBalancers[0], true)
	rule := l7.Rules[0]
	want := sample(sc.rng, harness.TargetsOf(rule.Targets), 150)
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: sc.initial.LoadBalancers[0].LoadBalancerId, ListenerId: l7.ListenerId, Domain: rule.Domain, Url: rule.Url},
		Targets: want, DrainDelay: 3 * time.Second, Reason: "reliability: server restarted"}

	hostPort, err := harness.FreeHostPort()
	require.NoError(t, err)
	devOpts := harness.DevServerOptions{CLI: campaign.cli, HostPort: hostPort, DBFilename: filepath.Join(t.TempDir(), "temporal.db")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dev := startServer(ctx, t, devOpts)
	t.Cleanup(func() {
		// The workers first, while the server can still take their goodbye.
		sc.stopWorkers()
		stopServer(dev)
	})
	sc.temporal, sc.env.TemporalAddress = dev.Client(), hostPort

	sc.startWorker()
	id := sc.start(ctx, in, "").GetID()
	var moments []string
	restart := func(moment string) {
		stopServer(dev)
		down := time.Second + time.Duration(sc.rng.IntN(2000))*time.Millisecond
		time.Sleep(down)
		dev = startServer(ctx, t, devOpts)
		sc.temporal = dev.Client()
		sc.row.Restarts++
		moments = append(moments, fmt.Sprintf("%s (down %s)", moment, down))
		t.Logf("%s: restarted the Temporal server: %s, down %s", time.Since(sc.begun).Round(time.Millisecond), moment, down)
	}

	// 1. During the drain timer.
	sc.await(2*time.Minute, "the drain timer", func() bool {
		p, ok := sc.progress(ctx, id)
		return ok && p.Phase == workflows.PhaseDrainWait
	})
	time.Sleep(time.Duration(sc.rng.IntN(1000)) * time.Millisecond)
	restart("drain timer")

	// 2. While a DeregisterTargets call is held in clbsim: its answer
	// reaches the worker while the server is down.
	chunk := 1 + sc.rng.IntN(3)
	awaitChunk(ctx, sc, id, chunk)
	sc.holdNextCall(clb.ActionDeregisterTargets, time.Second)
	restart(fmt.Sprintf("DeregisterTargets call of chunk %d", chunk+1))
	sc.sim.SetFaults(nil)

	// 3. While a poll of a task is held in clbsim.
	chunk = 4 + sc.rng.IntN(2)
	awaitChunk(ctx, sc, id, chunk)
	sc.holdNextCall(clb.ActionDescribeTaskStatus, time.Second)
	restart(fmt.Sprintf("task wait of chunk %d", chunk+1))
	sc.sim.SetFaults(nil)

	var res workflows.DrainResult
	require.NoError(t, sc.temporal.GetWorkflow(ctx, id, "").Get(ctx, &res))
	sc.row.Injected = fmt.Sprintf("dev server (SQLite, fixed port) stopped ×%d: %s", len(moments), strings.Join(moments, ", "))
	sc.row.Outcome = "completed"
	assert.Len(t, res.Deregistered, len(want))
	assert.Equal(t, rule.LocationId, res.Selector.LocationId)
	sel := in.Selector
	sel.LocationId = rule.LocationId
	sc.account(harness.BindingsOf(sel, want))
}

// startServer starts a dev server with o.
func startServer(ctx context.Context, t *testing.T, o harness.DevServerOptions) *testsuite.DevServer {
	t.Helper()
	dev, err := harness.StartDevServer(ctx, o)
	require.NoError(t, err)
	return dev
}

// stopServer stops a dev server (SIGINT, then waits for it to exit) and
// closes its client.
func stopServer(dev *testsuite.DevServer) {
	dev.Client().Close()
	_ = dev.Stop()
}
