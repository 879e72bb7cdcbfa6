package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

// envRecordTurns names the file TestRecordTurnsHistory writes.
const envRecordTurns = "CLBDRAIN_RECORD_TURNS"

// TestRecordTurnsHistory records the history that workflows/turns_replay_test.go
// replays: three drains of one load balancer, one with a drain phase,
// taking turns. It runs only when asked:
//
//	CLBDRAIN_E2E=1 CLBDRAIN_RECORD_TURNS=$PWD/workflows/testdata/turns/three-drains.json \
//	    go test -run TestRecordTurnsHistory ./e2e/
func TestRecordTurnsHistory(t *testing.T) {
	need(t)
	path := os.Getenv(envRecordTurns)
	if path == "" {
		t.Skip("set " + envRecordTurns + " to the file to write")
	}
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 3, Targets: 40}, 5)
	require.NoError(t, err)
	sim, err := harness.StartSim(clbsim.Config{State: fleet, TaskLatency: 300 * time.Millisecond, Seed: 5})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "record-turns"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	w, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer w.Stop()
	lb := fleet.LoadBalancers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var runs []client.WorkflowRun
	for i, l := range lb.Listeners {
		in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId},
			Targets: harness.TargetsOf(l.Targets)}
		if i == 0 {
			in.DrainDelay = time.Second
		}
		run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: queue}, workflows.WorkflowName, in)
		require.NoError(t, err)
		runs = append(runs, run)
	}
	for _, r := range runs {
		require.NoError(t, r.Get(ctx, nil))
	}
	hist := &historypb.History{}
	it := s.temporal.GetWorkflowHistory(ctx, turns.WorkflowID(queue, lb.LoadBalancerId), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	t.Logf("wrote %s: %d events", path, len(hist.Events))
}
