package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// upserts records every UpsertTypedSearchAttributes of a test workflow.
type upserts struct {
	mu   sync.Mutex
	list []temporal.SearchAttributes
}

func recordUpserts(env *testsuite.TestWorkflowEnvironment) *upserts {
	u := &upserts{}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.list = append(u.list, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil).Maybe()
	return u
}

// phases are the ClbPhase values upserted, in order.
func (u *upserts) phases() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, sa := range u.list {
		if v, ok := sa.GetKeyword(workflows.SearchAttrPhase); ok {
			out = append(out, v)
		}
	}
	return out
}

// names are the attribute names of every upsert, in order.
func (u *upserts) names() [][]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out [][]string
	for _, sa := range u.list {
		var names []string
		for k := range sa.GetUntypedValues() {
			names = append(names, k.GetName())
		}
		out = append(out, names)
	}
	return out
}

// allAudit names every audit search attribute.
func allAudit() []string {
	var out []string
	for _, k := range workflows.AuditSearchAttributes() {
		out = append(out, k.GetName())
	}
	return out
}

// auditCheck registers the local activity a worker registers, answering
// that the namespace has the named attributes; it counts its calls.
func auditCheck(env *testsuite.TestWorkflowEnvironment, registered []string, err error) *int {
	calls := 0
	env.RegisterActivityWithOptions(func(_ context.Context, in workflows.AuditAttributesInput) (workflows.AuditAttributesResult, error) {
		calls++
		if len(in.Attributes) != len(workflows.AuditSearchAttributes()) {
			return workflows.AuditAttributesResult{}, errors.New("the workflow asked for the wrong attributes")
		}
		return workflows.AuditAttributesResult{Registered: registered}, err
	}, activity.RegisterOptions{Name: workflows.AuditAttributesActivity})
	return &calls
}

func TestAuditUpsertsWhoWhatWhyAndEveryPhase(t *testing.T) {
	f := newFleet(t)
	calls := auditCheck(f.env, allAudit(), nil)
	u := recordUpserts(f.env)
	snap := &activities.Activities{CLB: oneListener{l: httpListener()}}
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	f.healthy(time.Second)
	in := layer4(3)
	in.Domain, in.Url = "api.example.com", "/v1"
	in.DrainDelay = time.Minute
	in.Requester, in.Reason = "alice", `CHG-42: kernel upgrade, it's C:\boot`
	f.run(in)
	f.result()

	require.Equal(t, 1, *calls, "one check per run")
	require.NotEmpty(t, u.list)
	first := u.list[0]
	get := func(k temporal.SearchAttributeKeyKeyword) string { v, _ := first.GetKeyword(k); return v }
	list := func(k temporal.SearchAttributeKeyKeywordList) []string { v, _ := first.GetKeywordList(k); return v }
	reason, _ := first.GetString(workflows.SearchAttrReason)
	assert.Equal(t, workflows.KindDrain, get(workflows.SearchAttrKind))
	assert.Equal(t, "alice", get(workflows.SearchAttrRequester))
	assert.Equal(t, "CHG-42  kernel upgrade, it s C  boot", reason, "no tsvector syntax (PostgreSQL visibility)")
	assert.Equal(t, []string{lbID}, list(workflows.SearchAttrLoadBalancers))
	assert.Equal(t, []string{lisID}, list(workflows.SearchAttrListeners))
	assert.Equal(t, []string{"ins-00000000", "ins-00000001", "ins-00000002"}, list(workflows.SearchAttrServers))

	assert.Equal(t, []string{"validating", "snapshot", "draining", "drain-wait", "deregistering", "done"}, u.phases())

	// The rule named by Domain+Url is added once the snapshot resolved it.
	var listeners []string
	for _, sa := range u.list {
		if v, ok := sa.GetKeywordList(workflows.SearchAttrListeners); ok {
			listeners = v
		}
	}
	assert.Equal(t, []string{lisID, lisID + "/" + locID}, listeners)

	// The current details, which the UI shows, say where the drain ended.
	v, err := f.env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	assert.Equal(t, "**done** · run 1 · 3 of 3 targets deregistered in 1 of 1 chunks", md.GetCurrentDetails())
}

func TestAuditPhasesOfACancelledDrain(t *testing.T) {
	f := newFleet(t)
	auditCheck(f.env, allAudit(), nil)
	u := recordUpserts(f.env)
	f.healthy(time.Second)
	in := layer4(5)
	in.DrainDelay = time.Hour
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Minute)
	f.run(in)
	require.True(t, f.result().Cancelled)

	assert.Equal(t, []string{"validating", "snapshot", "draining", "drain-wait", "restoring", "cancelled"}, u.phases())
}

func TestAuditPhasesOfAFailedDrain(t *testing.T) {
	f := newFleet(t)
	auditCheck(f.env, allAudit(), nil)
	u := recordUpserts(f.env)
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).
		Return(activities.DeregisterResult{}, appErr("denied", "AuthFailure.UnauthorizedOperation", true))
	f.healthy(time.Second)
	f.run(layer4(5))
	require.Error(t, f.env.GetWorkflowError())

	assert.Equal(t, []string{"validating", "snapshot", "deregistering", "failed"}, u.phases())
}

func TestAuditUpsertsOnlyTheAttributesTheNamespaceHas(t *testing.T) {
	f := newFleet(t)
	auditCheck(f.env, []string{"ClbKind", "ClbPhase"}, nil)
	u := recordUpserts(f.env)
	f.healthy(time.Second)
	in := layer4(3)
	in.Requester = "alice"
	f.run(in)
	f.result()

	require.NotEmpty(t, u.list)
	for _, names := range u.names() {
		for _, n := range names {
			assert.Contains(t, []string{"ClbKind", "ClbPhase"}, n)
		}
	}
	assert.Equal(t, []string{"validating", "snapshot", "deregistering", "done"}, u.phases())
}

func TestAuditIsOffWhenTheCheckFails(t *testing.T) {
	f := newFleet(t)
	auditCheck(f.env, nil, temporal.NewNonRetryableApplicationError("unavailable", "Unavailable", nil))
	u := recordUpserts(f.env)
	f.healthy(time.Second)
	f.run(layer4(3))

	assert.Len(t, f.result().Deregistered, 3, "the drain goes on")
	assert.Empty(t, u.list, "nothing is upserted")
}

func TestAuditIsOffWhenReplayingARunFromBeforeIt(t *testing.T) {
	f := newFleet(t)
	calls := auditCheck(f.env, allAudit(), nil)
	u := recordUpserts(f.env)
	f.env.OnGetVersion("audit-search-attributes", workflow.DefaultVersion, workflow.Version(1)).Return(workflow.DefaultVersion)
	f.healthy(time.Second)
	f.run(layer4(3))
	f.result()

	assert.Zero(t, *calls, "no check")
	assert.Empty(t, u.list, "no upsert")
}

func TestAuditServersAreCappedForTenThousandTargets(t *testing.T) {
	f := newFleet(t)
	auditCheck(f.env, allAudit(), nil)
	u := recordUpserts(f.env)
	f.healthy(time.Second)
	in := layer4(workflows.MaxTargets)
	in.ChunksPerRun = 1
	f.env.ExecuteWorkflow(workflows.WorkflowName, in)
	require.True(t, workflow.IsContinueAsNewError(f.env.GetWorkflowError()))

	servers, ok := u.list[0].GetKeywordList(workflows.SearchAttrServers)
	require.True(t, ok)
	data, err := json.Marshal(servers)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(data), workflows.MaxAuditValueBytes)
	assert.Greater(t, len(servers), 90, "about a hundred instance IDs fit")
	assert.Equal(t, "ins-00000000", servers[0], "the first ones, in input order")
}

func TestAuditReasonAndRequesterFitTheValueLimit(t *testing.T) {
	for _, reason := range []string{strings.Repeat("<", workflows.MaxReasonLen), strings.Repeat("\x01", workflows.MaxReasonLen),
		strings.Repeat("é\"", workflows.MaxReasonLen/3), "short & sweet"} {
		f := newFleet(t)
		auditCheck(f.env, allAudit(), nil)
		u := recordUpserts(f.env)
		f.healthy(time.Second)
		in := layer4(1)
		in.Reason, in.Requester = reason, strings.Repeat("&", workflows.MaxRequesterLen)
		f.run(in)
		f.result()

		got, _ := u.list[0].GetString(workflows.SearchAttrReason)
		requester, _ := u.list[0].GetKeyword(workflows.SearchAttrRequester)
		for _, v := range []string{got, requester} {
			data, err := json.Marshal(v)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(data), workflows.MaxAuditValueBytes, "%.20q", reason)
			assert.True(t, utf8.ValidString(v))
		}
		assert.True(t, strings.HasPrefix(reason, got), "a prefix of the reason")
		if len(reason) < 100 {
			assert.Equal(t, reason, got, "a short reason is kept whole")
		}
	}
}

func TestScheduledDrainUpsertsItsOwnAudit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		childErr  error
		cancelled bool
		want      []string
	}{
		{name: "done", want: []string{"running", "done"}},
		{name: "cancelled", cancelled: true, want: []string{"running", "cancelled"}},
		{name: "skipped", childErr: &temporal.ChildWorkflowExecutionAlreadyStartedError{}, want: []string{"running", "skipped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(workflows.ScheduledDrain, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
			var child workflows.DrainInput
			env.RegisterWorkflowWithOptions(func(_ workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
				child = in
				return workflows.DrainResult{Cancelled: tc.cancelled}, tc.childErr
			}, workflow.RegisterOptions{Name: workflows.WorkflowName})
			if tc.childErr != nil {
				env.OnWorkflow(workflows.WorkflowName, mock.Anything, mock.Anything).Return(workflows.DrainResult{}, tc.childErr)
			}
			auditCheck(env, allAudit(), nil)
			u := recordUpserts(env)
			in := scheduledInput()
			in.Drain.Requester = "cron-bot"
			env.ExecuteWorkflow(workflows.ScheduledWorkflowName, in)

			assert.Equal(t, tc.want, u.phases())
			kind, _ := u.list[0].GetKeyword(workflows.SearchAttrKind)
			requester, _ := u.list[0].GetKeyword(workflows.SearchAttrRequester)
			assert.Equal(t, workflows.KindScheduled, kind)
			assert.Equal(t, "cron-bot", requester)
			if tc.childErr != nil {
				return
			}
			assert.Equal(t, "cron-bot", child.Requester, "the child drain gets the requester in its input")
			// (The test environment answers no query after a failure.)
			v, err := env.QueryWorkflow("__temporal_workflow_metadata")
			require.NoError(t, err)
			var md sdkpb.WorkflowMetadata
			require.NoError(t, v.Get(&md))
			assert.Equal(t, "**"+tc.want[1]+"**", md.GetCurrentDetails(), "the current details")
		})
	}
}

func TestSummaryAndDetails(t *testing.T) {
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: lisID, LocationId: locID},
		Targets: cvms(25), DrainDelay: 30 * time.Second, Requester: "alice", Reason: "CHG-42\nkernel upgrade"}

	assert.Equal(t, "drain 25 targets from lb-abc12345/lbl-abc12345/loc-abc12345 by alice: CHG-42 kernel upgrade",
		workflows.Summary(in))
	details := workflows.Details(in)
	for _, want := range []string{"**Load balancer:** lb-abc12345", "**Listener:** lbl-abc12345", "**Rule:** loc-abc12345",
		"**Targets:** 25", "ins-00000000, ins-00000001", "ins-00000019, …", "**Drain delay:** 30s",
		"**Requester:** alice", "**Reason:** CHG-42\nkernel upgrade"} {
		assert.Contains(t, details, want)
	}
	assert.NotContains(t, details, "ins-00000020")

	in.Reason = strings.Repeat("é", 300)
	long := workflows.Summary(in)
	assert.LessOrEqual(t, len(long), 200)
	assert.True(t, utf8.ValidString(long), "cut on a rune boundary")
	assert.True(t, strings.HasSuffix(long, "…"))

	opts := workflows.ChildOptions(in)
	assert.Equal(t, workflows.Summary(in), opts.StaticSummary)
	assert.Equal(t, workflows.Details(in), opts.StaticDetails)
}

func TestValidateRequester(t *testing.T) {
	in := layer4(1)
	assert.Equal(t, 255, workflows.MaxRequesterLen, "SQL visibility keeps a Keyword in a VARCHAR(255)")
	in.Requester = strings.Repeat("é", workflows.MaxRequesterLen)
	require.NoError(t, workflows.Validate(in), "255 characters, 510 bytes")

	in.Requester = strings.Repeat("a", workflows.MaxRequesterLen+1)
	var verr *clb.ValidationError
	require.ErrorAs(t, workflows.Validate(in), &verr)
	require.Len(t, verr.Problems, 1)
	assert.Equal(t, "Requester", verr.Problems[0].Field)
	assert.Equal(t, "256 characters", verr.Problems[0].Value)
	assert.Contains(t, verr.Problems[0].Reason, "must be at most 255 characters")

	in.Requester = "al\xffce"
	require.ErrorAs(t, workflows.Validate(in), &verr)
	assert.Equal(t, "must be UTF-8 text", verr.Problems[0].Reason)
}

// releaseParent runs a drain as its child, as README shows, with or
// without a Requester.
func releaseParent(ctx workflow.Context, in workflows.DrainInput) (int, error) {
	var res workflows.DrainResult
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ChildOptions(in)), workflows.WorkflowName, in).Get(ctx, &res)
	return len(res.Deregistered), err
}

// A child drain without a Requester records its parent as requester
// ("workflow:" and the parent's workflow ID); one with a Requester keeps it.
func TestChildDrainRecordsItsParentAsRequester(t *testing.T) {
	const parentID = "release/v42"
	for requester, want := range map[string]string{"": workflows.ParentRequesterPrefix + parentID, "alice": "alice"} {
		f := newFleet(t)
		auditCheck(f.env, allAudit(), nil)
		u := recordUpserts(f.env)
		f.healthy(time.Second)
		f.env.RegisterWorkflow(releaseParent)
		f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: parentID, TaskQueue: workflows.TaskQueue})
		in := layer4(2)
		in.Requester = requester
		f.env.ExecuteWorkflow(releaseParent, in)
		require.True(t, f.env.IsWorkflowCompleted())
		require.NoError(t, f.env.GetWorkflowError())

		var got []string
		for _, sa := range u.list {
			if v, ok := sa.GetKeyword(workflows.SearchAttrRequester); ok {
				got = append(got, v)
			}
		}
		assert.Equal(t, []string{want}, got, "requester %q", requester)
	}
}

// A drain started without a parent and without a Requester records none.
func TestTopLevelDrainWithoutRequesterRecordsNone(t *testing.T) {
	f := newFleet(t)
	auditCheck(f.env, allAudit(), nil)
	u := recordUpserts(f.env)
	f.healthy(time.Second)
	f.run(layer4(1))
	f.result()
	require.NotEmpty(t, u.list)
	for _, sa := range u.list {
		_, ok := sa.GetKeyword(workflows.SearchAttrRequester)
		assert.False(t, ok)
	}
}
