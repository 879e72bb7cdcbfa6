package workflows_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestRecordVersionedHistories records the histories that pin what a
// running drain depends on across worker upgrades (README, "Upgrading
// workers"): every workflow type, every phase, continue-as-new at the
// default ChunksPerRun and a task failing past MaxTaskRetries, with the
// audit attributes on. The v3 set is recorded with batch weights
// (batch-weights); the v2 set, from before, stays to pin the older path.
// Run it alone, keeping the older histories:
//
//	CLBDRAIN_RECORD_HISTORY=1 go test -run TestRecordVersionedHistories ./workflows/
func TestRecordVersionedHistories(t *testing.T) {
	if os.Getenv(envRecord) != "1" {
		t.Skipf("set %s=1 to record histories on a dev server", envRecord)
	}
	args, audit := auditSetup()
	// 110 targets a listener or rule, tasks of 100-150 ms.
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 110, ENI: 0.2}
	r := startRecorderWith(t, spec, clbsim.Config{TaskLatency: 100 * time.Millisecond, TaskJitter: 50 * time.Millisecond, Seed: 5},
		args, func(reads worker.Worker) {
			audit(reads)
			reads.RegisterWorkflowWithOptions(workflows.ScheduledDrain, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
		})
	tcp := r.state.LoadBalancers[0].Listeners[0]
	rule := r.state.LoadBalancers[0].Listeners[1].Rules[0]

	// Six chunks with a drain phase; then the same listener continuing as
	// new every two chunks (three runs).
	in := r.input(tcp.ListenerId, tcp.Targets)
	in.DrainDelay, in.Reason, in.Requester = time.Second, "replay fixture", "alice"
	res := r.run("v3-layer4-6-chunks", in, nil)
	require.Len(t, res.Chunks, 6)
	r.reset(nil)
	in = r.input(tcp.ListenerId, tcp.Targets)
	in.ChunksPerRun = 2
	require.Equal(t, 3, r.run("v3-continue-as-new", in, nil).Runs)

	// A rule by Domain+Url whose second chunk's task fails once.
	r.reset(map[int]clbsim.Faults{2: taskFails()})
	in = r.input(r.state.LoadBalancers[0].Listeners[1].ListenerId, rule.Targets)
	in.Domain, in.Url = rule.Domain, rule.Url
	require.Equal(t, 1, r.run("v3-layer7-task-retried", in, nil).Chunks[1].TaskRetries)

	recordCancel(t, r, tcp)
	recordScheduled(t, r, tcp)
	recordLimits(t, r, tcp)
}

func taskFails() clbsim.Faults {
	return clbsim.Faults{{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultTaskFail, Probability: 1}}
}

// recordCancel: cancelled in the drain wait, the weights come back.
func recordCancel(t *testing.T, r *recorder, tcp clb.Listener) {
	r.reset(nil)
	in := r.input(tcp.ListenerId, tcp.Targets)
	in.DrainDelay = time.Hour
	res := r.run("v3-cancel-restores-weights", in, func(wid string) {
		awaitPhase(t, r, wid, workflows.PhaseDrainWait)
		require.NoError(t, r.client.CancelWorkflow(r.ctx, wid, ""))
	})
	require.True(t, res.Cancelled)
	require.Len(t, res.Restored, len(tcp.Targets))
}

// recordScheduled: what a schedule starts, and the drain it runs as a child.
func recordScheduled(t *testing.T, r *recorder, tcp clb.Listener) {
	r.reset(nil)
	in := workflows.ScheduledDrainInput{Drain: r.input(tcp.ListenerId, tcp.Targets)}
	var res workflows.DrainResult
	require.NoError(t, r.record("v3-scheduled-drain", workflows.ScheduledWorkflowName, "clb-drain-schedule/replay", in, nil, &res))
	require.Len(t, res.Deregistered, len(tcp.Targets))
	wid := workflows.WorkflowIDFor(in.Drain)
	r.write("v3-scheduled-drain-child.json", wid, "")
}

// recordLimits: the histories that DefaultChunksPerRun and MaxTaskRetries
// decide. One target a chunk and the default ChunksPerRun: the drain
// continues as new after DefaultChunksPerRun chunks. Then every task of a
// chunk fails: the drain fails after MaxTaskRetries retries.
func recordLimits(t *testing.T, r *recorder, tcp clb.Listener) {
	r.reset(nil)
	in := r.input(tcp.ListenerId, tcp.Targets)
	in.ChunkSize = 1
	res := r.run("v3-default-chunks-per-run", in, nil)
	require.Equal(t, 2, res.Runs)

	r.reset(map[int]clbsim.Faults{1: taskFails(), 2: taskFails(), 3: taskFails(), 4: taskFails()})
	in = r.input(tcp.ListenerId, tcp.Targets[:5])
	var failed workflows.DrainResult
	err := r.record("v3-task-retries-exhausted", workflows.WorkflowName, workflows.WorkflowIDFor(in), in, nil, &failed)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, workflows.ErrTaskFailed, appErr.Type())
}

func awaitPhase(t *testing.T, r *recorder, wid string, phase workflows.Phase) {
	require.Eventually(t, func() bool {
		v, err := r.client.QueryWorkflow(r.ctx, wid, "", workflows.QueryProgress)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && p.Phase == phase
	}, time.Minute, 100*time.Millisecond)
}

// TestReplayPinsChunksPerRun shows that the recorded histories pin when a
// drain continues as new: the drain run with one chunk fewer per run than
// the default fails to replay the history recorded at the default. So does
// the drain itself once DefaultChunksPerRun changes (and likewise once
// MaxTaskRetries changes, on v2-task-retries-exhausted.json): such a change
// needs workflow.GetVersion.
func TestReplayPinsChunksPerRun(t *testing.T) {
	file := filepath.Join("testdata", "v2-default-chunks-per-run-run1.json")
	fewer := func(ctx workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
		in.ChunksPerRun = workflows.DefaultChunksPerRun - 1
		return workflows.DrainAndDeregister(ctx, in)
	}
	r := newReplayer()
	r.RegisterWorkflowWithOptions(fewer, workflow.RegisterOptions{Name: workflows.WorkflowName})
	silent := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.ErrorContains(t, replay(t, r, silent, file), "[TMPRL1100]")

	r = newReplayer()
	r.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	require.NoError(t, replay(t, r, quietLogger(t), file))
}

// newReplayer is a replayer with the workflows a drain starts as children.
func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	return r
}
