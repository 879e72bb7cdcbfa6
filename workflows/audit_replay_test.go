package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
	"github.com/clbdrain/clbdrain/workflows"
)

// TestRecordAuditHistories records testdata/audit-*.json, which TestReplay
// replays: drains with the audit search attributes on, on a dev server that
// has them registered. Run it alone to keep the histories recorded before
// audit (which prove the GetVersion guard):
//
//	CLBDRAIN_RECORD_HISTORY=1 go test -run TestRecordAuditHistories ./workflows/
func TestRecordAuditHistories(t *testing.T) {
	if os.Getenv(envRecord) != "1" {
		t.Skipf("set %s=1 to record histories on a dev server", envRecord)
	}
	cli := os.Getenv(envTemporalCLI)
	if cli == "" {
		cli = filepath.Join("..", "bin", "temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var registered []string
	var args []string
	for _, k := range workflows.AuditSearchAttributes() {
		registered = append(registered, k.GetName())
		args = append(args, "--search-attribute", k.GetName()+"="+k.GetValueType().String())
	}
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: cli, LogLevel: "error", ExtraArgs: args,
		ClientOptions: &client.Options{Logger: quietLogger(t)}, Stdout: testWriter{t}, Stderr: testWriter{t}})
	require.NoError(t, err)
	defer func() { require.NoError(t, server.Stop()) }()
	c := server.Client()

	state, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 45, ENI: 0.2}, 5)
	require.NoError(t, err)
	api, sim := clbsimtest.Start(t, clbsim.Config{State: state, TaskLatency: 300 * time.Millisecond, TaskJitter: 200 * time.Millisecond, Seed: 5})
	scripted := &scriptedCLB{API: api, sim: sim}

	// The worker's setup, with the audit check answering that every
	// attribute is registered (as it is on this server).
	acts := &activities.Activities{CLB: scripted}
	reads := worker.New(c, workflows.TaskQueue, worker.Options{})
	reads.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	reads.RegisterActivity(acts)
	reads.RegisterActivityWithOptions(func(context.Context, workflows.AuditAttributesInput) (workflows.AuditAttributesResult, error) {
		return workflows.AuditAttributesResult{Registered: registered}, nil
	}, activity.RegisterOptions{Name: workflows.AuditAttributesActivity})
	mutations := worker.New(c, workflows.TaskQueue+workflows.MutationsQueueSuffix, worker.Options{TaskQueueActivitiesPerSecond: 20})
	mutations.RegisterActivity(acts)
	require.NoError(t, reads.Start())
	defer reads.Stop()
	require.NoError(t, mutations.Start())
	defer mutations.Stop()

	r := &recorder{t: t, ctx: ctx, client: c, sim: sim, scripted: scripted, state: state}

	// A layer-7 rule named by Domain+Url, with a drain phase, continuing
	// as new after two chunks: every phase, the rule's listener added once
	// resolved, and a second run that upserts again.
	l7 := state.LoadBalancers[0].Listeners[1]
	rule := l7.Rules[0]
	in := r.input(l7.ListenerId, rule.Targets)
	in.Domain, in.Url = rule.Domain, rule.Url
	in.DrainDelay, in.ChunksPerRun = 2*time.Second, 2
	in.Requester, in.Reason = "alice", "replay fixture"
	res := r.run("audit-layer7-drain-continue-as-new", in, nil)
	require.Equal(t, 2, res.Runs)
	require.Len(t, res.Deregistered, len(rule.Targets))

	desc, err := c.DescribeWorkflow(ctx, workflows.WorkflowIDFor(in), "")
	require.NoError(t, err)
	requester, ok := desc.TypedSearchAttributes.GetKeyword(workflows.SearchAttrRequester)
	require.True(t, ok, "the attributes were upserted")
	require.Equal(t, "alice", requester)
}
