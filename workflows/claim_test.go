package workflows_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// The two conventional IDs of the rule locID of httpListener.
var (
	byLocationID = workflows.WorkflowID(lbID, lisID, locID)
	byDomainURL  = workflows.WorkflowID(lbID, lisID, "api.example.com/v1")
)

// blocker stands for a drain that runs under an ID until cancelled.
func blocker(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return false })
}

// ruleInput drains targets of the rule locID, named by LocationId when
// byLoc, else by Domain and Url.
func ruleInput(byLoc bool) workflows.DrainInput {
	in := layer4(3)
	if byLoc {
		in.LocationId = locID
	} else {
		in.Domain, in.Url = "api.example.com", "/v1"
	}
	return in
}

// twoDrains starts a blocker under blockID, then the drain under drainID,
// and reports how the drain ended.
func twoDrains(ctx workflow.Context, blockID, drainID string, in workflows.DrainInput) (string, error) {
	bctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: blockID})
	if err := workflow.ExecuteChildWorkflow(bctx, blocker).GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return "", err
	}
	opts := workflows.ChildOptions(in)
	opts.WorkflowID = drainID
	var res workflows.DrainResult
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), workflows.WorkflowName, in).Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		// Error() adds the causes' messages.
		return appErr.Type() + ": " + appErr.Error(), nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("deregistered %d", len(res.Deregistered)), nil
}

func l7Fleet(t *testing.T) *fleet {
	f := newFleet(t)
	snap := &activities.Activities{CLB: oneListener{l: httpListener()}}
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	f.env.RegisterWorkflow(blocker)
	f.env.RegisterWorkflow(twoDrains)
	f.healthy(time.Second)
	return f
}

// A drain of a rule named one way is refused, before anything is touched,
// while a drain of the same rule named the other way runs.
func TestDrainOfARuleRunningUnderItsOtherNameIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name             string
		blockID, drainID string
		byLoc            bool
	}{
		{"by LocationId while one by Domain+Url runs", byDomainURL, byLocationID, true},
		{"by Domain+Url while one by LocationId runs", byLocationID, byDomainURL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := l7Fleet(t)
			in := ruleInput(tc.byLoc)
			in.DrainDelay = time.Minute
			f.env.ExecuteWorkflow(twoDrains, tc.blockID, tc.drainID, in)
			require.True(t, f.env.IsWorkflowCompleted())
			require.NoError(t, f.env.GetWorkflowError())
			var out string
			require.NoError(t, f.env.GetWorkflowResult(&out))
			require.Contains(t, out, workflows.ErrAlreadyRunning+": ")
			require.Contains(t, out, "already running as workflow "+tc.blockID)
			require.Contains(t, out, "nothing was touched")
			f.env.AssertActivityNumberOfCalls(t, "SetWeight", 0)
			f.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 0)
		})
	}
}

// Drains of other rules of the listener are not in the way.
func TestDrainOfAnotherRuleRuns(t *testing.T) {
	f := l7Fleet(t)
	f.env.ExecuteWorkflow(twoDrains, workflows.WorkflowID(lbID, lisID, locID2), byLocationID, ruleInput(true))
	require.NoError(t, f.env.GetWorkflowError())
	var out string
	require.NoError(t, f.env.GetWorkflowResult(&out))
	require.Equal(t, "deregistered 3", out)
}

// heldDrain runs a drain of the rule by LocationId with a long drain
// delay; a minute in, it tries to start another under the Domain+Url ID
// and, when cancelClaim, then cancels the claim under that ID.
func heldDrain(ctx workflow.Context, in workflows.DrainInput, cancelClaim bool) (string, error) {
	first := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ChildOptions(in)), workflows.WorkflowName, in)
	if err := first.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return "", err
	}
	if err := workflow.Sleep(ctx, time.Minute); err != nil {
		return "", err
	}
	other := ruleInput(false)
	second := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ChildOptions(other)), workflows.WorkflowName, other)
	startErr := second.GetChildWorkflowExecution().Get(ctx, nil)
	if cancelClaim {
		if err := workflow.RequestCancelExternalWorkflow(ctx, byDomainURL, "").Get(ctx, nil); err != nil {
			return "", err
		}
	}
	var res workflows.DrainResult
	if err := first.Get(ctx, &res); err != nil {
		return "", err
	}
	return fmt.Sprintf("second started: %v; first: %d deregistered, %d restored, cancelled %v",
		startErr == nil, len(res.Deregistered), len(res.Restored), res.Cancelled), nil
}

// While a drain runs, its rule's other ID is held: a drain started under
// it is refused.
func TestRunningDrainHoldsItsRulesOtherID(t *testing.T) {
	for _, tc := range []struct {
		cancelClaim bool
		want        string
	}{
		{false, "second started: false; first: 3 deregistered, 0 restored, cancelled false"},
	} {
		f := l7Fleet(t)
		f.env.RegisterWorkflow(heldDrain)
		in := ruleInput(true)
		in.DrainDelay = time.Hour
		f.env.ExecuteWorkflow(heldDrain, in, tc.cancelClaim)
		require.NoError(t, f.env.GetWorkflowError())
		var out string
		require.NoError(t, f.env.GetWorkflowResult(&out))
		require.Equal(t, tc.want, out)
	}
}

// claimParent starts a claim as the drain does, cancels it, as an
// operator cancelling "the drain" by the claimed ID would, then tries to
// start a drain under the claimed ID.
func claimParent(ctx workflow.Context) (bool, error) {
	cctx, cancel := workflow.WithCancel(ctx)
	claim := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(cctx, workflow.ChildWorkflowOptions{WorkflowID: byDomainURL}),
		workflows.ClaimWorkflowName, workflows.ClaimInput{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: lisID, LocationId: locID}})
	if err := claim.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return false, err
	}
	cancel()
	if err := workflow.Sleep(ctx, time.Minute); err != nil {
		return false, err
	}
	in := ruleInput(false)
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ChildOptions(in)), workflows.WorkflowName, in).
		GetChildWorkflowExecution().Get(ctx, nil)
	return temporal.IsWorkflowExecutionAlreadyStartedError(err), nil
}

// A claim holds its ID through a cancel request, until its drain closes.
func TestClaimHoldsThroughCancel(t *testing.T) {
	f := l7Fleet(t)
	f.env.RegisterWorkflow(claimParent)
	f.env.ExecuteWorkflow(claimParent)
	require.NoError(t, f.env.GetWorkflowError())
	var refused bool
	require.NoError(t, f.env.GetWorkflowResult(&refused))
	require.True(t, refused)
}

// A drain releases its claims before it continues as new, so that the next
// run claims the IDs again at once, and before it ends.
func TestClaimsAreReleasedBeforeContinueAsNewAndEnd(t *testing.T) {
	for _, chunksPerRun := range []int{1, 0} {
		f := l7Fleet(t)
		var released []string
		f.env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, _ converter.EncodedValue, err error) {
			if info.WorkflowType.Name == workflows.ClaimWorkflowName && err == nil {
				released = append(released, info.WorkflowExecution.ID)
			}
		})
		in := ruleInput(true)
		in.ChunkSize, in.ChunksPerRun = 1, chunksPerRun
		f.env.ExecuteWorkflow(workflows.WorkflowName, in)
		require.True(t, f.env.IsWorkflowCompleted())
		if chunksPerRun == 1 {
			decodeContinueAsNew(t, f.env.GetWorkflowError())
		} else {
			f.result()
		}
		// The test's drain runs under an ID of its own: it claims both.
		require.Equal(t, []string{byLocationID, byDomainURL}, released, "chunksPerRun %d", chunksPerRun)
	}
}

// A continued run takes its claims before its snapshot: refused because a
// drain of the rule by its other name started in between, it reads
// nothing and says what earlier runs left at weight 0.
func TestContinuedRunClaimsBeforeItsSnapshot(t *testing.T) {
	f := l7Fleet(t)
	in := ruleInput(true)
	in.DrainDelay, in.ChunkSize, in.ChunksPerRun = time.Minute, 1, 1
	f.run(in)
	next := decodeContinueAsNew(t, f.env.GetWorkflowError())

	g := l7Fleet(t)
	g.env.ExecuteWorkflow(twoDrains, byDomainURL, byLocationID, next)
	require.True(t, g.env.IsWorkflowCompleted())
	require.NoError(t, g.env.GetWorkflowError())
	var out string
	require.NoError(t, g.env.GetWorkflowResult(&out))
	require.Contains(t, out, workflows.ErrAlreadyRunning+": ")
	require.Contains(t, out, "failed leaving 2 targets at weight 0")
	require.Contains(t, out, "this drain stops in run 2, leaving 2 targets it drained at weight 0 and 1 deregistered")
	require.NotContains(t, out, "nothing was touched")
	g.env.AssertActivityNumberOfCalls(t, "Snapshot", 0)
	g.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 0)
}
