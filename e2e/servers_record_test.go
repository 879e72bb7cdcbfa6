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
	"github.com/clbdrain/clbdrain/workflows"
)

// envRecordServers names the file TestRecordServersHistory writes.
const envRecordServers = "CLBDRAIN_RECORD_SERVERS"

// TestRecordServersHistory records a history that
// workflows/servers_replay_test.go replays: a DrainServers of three
// servers on four load balancers, approved, with a drain delay. It runs
// only when asked, writing a new file beside the ones recorded before
// (approved.json before the patches claims-release-together and
// servers-approval-timeout, released-together.json with the first only,
// approved-v2.json with both, children-in-turn.json with
// servers-children-in-turn too):
//
//	CLBDRAIN_E2E=1 CLBDRAIN_RECORD_SERVERS=$PWD/workflows/testdata/servers/<name>.json \
//	    go test -run TestRecordServersHistory ./e2e/
func TestRecordServersHistory(t *testing.T) {
	need(t)
	path := os.Getenv(envRecordServers)
	if path == "" {
		t.Skip("set " + envRecordServers + " to the file to write")
	}
	state, _ := serversFleet(t)
	sim, err := harness.StartSim(clbsim.Config{State: state, TaskLatency: 300 * time.Millisecond, Seed: 5})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "record-servers"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	w, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := workflows.ServersInput{Servers: []clb.Server{{InstanceId: "ins-e2esrv01"}, {InstanceId: "ins-e2esrv02"}, {Ip: "10.9.0.3"}},
		DrainDelay: time.Second, Approval: true, Reason: "record", Requester: "recorder"}
	id := "record/" + workflows.ServersWorkflowID(in.Servers)
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ServersWorkflowName, in)
	require.NoError(t, err)
	var p workflows.ServersProgress
	require.Eventually(t, func() bool {
		v, err := s.temporal.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
		return err == nil && v.Get(&p) == nil && p.Phase == workflows.PhaseAwaiting
	}, time.Minute, 50*time.Millisecond)
	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateApprove,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{workflows.ApprovalInput{PlanID: p.Plan.ID, By: "recorder"}}})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))
	require.NoError(t, run.Get(ctx, nil))
	hist := &historypb.History{}
	it := s.temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
