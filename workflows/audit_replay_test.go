package workflows_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/clbdrain/clbdrain/workflows"
)

// auditSetup is what a recorder needs for the audit search attributes: the
// dev server's flags that register them, and the worker's check answering
// that every one is registered (as it is on that server).
func auditSetup() ([]string, func(worker.Worker)) {
	var registered, args []string
	for _, k := range workflows.AuditSearchAttributes() {
		registered = append(registered, k.GetName())
		args = append(args, "--search-attribute", k.GetName()+"="+k.GetValueType().String())
	}
	return args, func(reads worker.Worker) {
		reads.RegisterActivityWithOptions(func(context.Context, workflows.AuditAttributesInput) (workflows.AuditAttributesResult, error) {
			return workflows.AuditAttributesResult{Registered: registered}, nil
		}, activity.RegisterOptions{Name: workflows.AuditAttributesActivity})
	}
}

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
	args, audit := auditSetup()
	r := startRecorder(t, args, audit)
	c, ctx, state := r.client, r.ctx, r.state

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
