package workflows

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// ClaimWorkflowName is the registered name of DrainClaim. Register it
// beside WorkflowName on every worker that runs drains.
const ClaimWorkflowName = "DrainClaim"

// claimVersion is the workflow.GetVersion change that made drains claim
// the other conventional IDs of their rule; histories recorded before it
// replay without the claims.
const claimVersion = "claim-rule-ids"

// ClaimInput is the input of DrainClaim.
type ClaimInput struct {
	// Selector is the rule (or listener) claimed, resolved.
	Selector clb.Selector `json:"Selector"`
	// DrainWorkflowID is the workflow ID of the drain that holds the claim.
	DrainWorkflowID string `json:"DrainWorkflowID"`
}

// ClaimReleaseSignal is the signal a drain sends its claims when it no
// longer needs them (it ends, or continues as new and claims again).
const ClaimReleaseSignal = "release"

// DrainClaim holds a conventional workflow ID for the drain that starts it
// as its child, so that no drain of the same rule starts under that ID
// while the drain runs: a rule has an ID for its LocationId and one for its
// Domain+Url (WorkflowIDFor), and a drain claims the ones it does not run
// under. It holds until the drain releases it (ClaimReleaseSignal: before
// the drain ends or continues as new, so that the next run can claim the
// ID at once) or closes (its parent close policy terminates it). A cancel
// request does not end it, since a drain of the rule would then be let in
// beside the running one: cancel the drain by its own workflow ID
// (ClaimInput.DrainWorkflowID, the claim's parent).
func DrainClaim(ctx workflow.Context, in ClaimInput) error {
	hold, _ := workflow.NewDisconnectedContext(ctx)
	workflow.GetSignalChannel(hold, ClaimReleaseSignal).Receive(hold, nil)
	return nil
}

// releaseClaims releases the drain's claims and waits for them to end, on
// a disconnected context (a cancelled drain releases them too).
func (d *drain) releaseClaims(ctx workflow.Context) {
	releaseClaims(ctx, d.log, d.claims)
	d.claims = nil
}

// releaseTogetherVersion is the workflow.GetVersion change after which a
// workflow releases its claims all at once, every signal sent before it
// waits for any claim to end; before it, one claim after another.
const releaseTogetherVersion = "claims-release-together"

// releaseClaims releases claims, on a context the cancel does not reach,
// and waits for each to end, so that a workflow started once this one has
// closed finds them free. A claim that cannot be released ends when its
// parent closes.
func releaseClaims(ctx workflow.Context, logger log.Logger, claims []workflow.ChildWorkflowFuture) {
	if len(claims) == 0 {
		return
	}
	rctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	together := workflow.GetVersion(rctx, releaseTogetherVersion, workflow.DefaultVersion, 1) == 1
	signals := make([]workflow.Future, len(claims))
	for i, c := range claims {
		if together {
			signals[i] = c.SignalChildWorkflow(rctx, ClaimReleaseSignal, nil)
		}
	}
	for i, c := range claims {
		if !together {
			signals[i] = c.SignalChildWorkflow(rctx, ClaimReleaseSignal, nil)
		}
		if err := signals[i].Get(rctx, nil); err != nil {
			logger.Warn("releasing a claim failed; it ends when the workflow holding it closes", "error", err)
			continue
		}
		if err := c.Get(rctx, nil); err != nil {
			logger.Warn("a released claim ended with an error", "error", err)
		}
	}
}

// claimEarlyVersion is the workflow.GetVersion change after which a
// continued run of a rule's drain takes its claims before its snapshot:
// they are released at continue-as-new, and a drain of the rule by its
// other name could otherwise start in between and see the targets at
// weight 0. Before it, a continued run claimed after its snapshot.
const claimEarlyVersion = "claim-before-snapshot"

// claimsEarly reports whether this run takes its claims before its
// snapshot: a continued run (Resume set) of a rule whose LocationId run 1
// resolved, from claimEarlyVersion on. It claims under the rule as run 1
// resolved it.
func (d *drain) claimsEarly(ctx workflow.Context) bool {
	if d.in.Resume == nil || d.in.LocationId == "" || !d.result.Selector.HasRule() ||
		workflow.GetVersion(ctx, claimEarlyVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	d.sel = d.result.Selector
	return true
}

// ruleIDs are the conventional workflow IDs of the listener or rule sel
// names, resolved: one for a listener, one per spelling of a rule.
func ruleIDs(sel clb.Selector) []string {
	if !sel.HasRule() {
		return []string{WorkflowIDFor(DrainInput{Selector: sel})}
	}
	byLoc := sel
	byLoc.Domain, byLoc.Url = "", ""
	byName := sel
	byName.LocationId = ""
	return []string{WorkflowIDFor(DrainInput{Selector: byLoc}), WorkflowIDFor(DrainInput{Selector: byName})}
}

// claim starts a DrainClaim under each conventional ID of the resolved
// rule that the drain does not run under, before anything is changed. A
// claim that cannot start means a drain of the same rule runs under that ID:
// the drain fails with ErrAlreadyRunning, naming it. A drain run under its
// own conventional ID of a listener claims nothing.
func (d *drain) claim(ctx workflow.Context) error {
	own := workflow.GetInfo(ctx).WorkflowExecution.ID
	var ids []string
	for _, id := range ruleIDs(d.sel) {
		if id != own {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || workflow.GetVersion(ctx, claimVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	// Claims are not cancelled with the drain, nor ever by it (cancelling
	// this context would cancel them): they hold until it closes.
	cctx, _ := workflow.NewDisconnectedContext(ctx)
	for _, id := range ids {
		opts := workflow.ChildWorkflowOptions{
			WorkflowID:            id,
			TaskQueue:             workflow.GetInfo(ctx).TaskQueueName,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_TERMINATE,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		}
		child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(cctx, opts), ClaimWorkflowName,
			ClaimInput{Selector: d.sel, DrainWorkflowID: own})
		err := child.GetChildWorkflowExecution().Get(cctx, nil)
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return d.alreadyRunning(id, err)
		}
		if err != nil {
			return err
		}
		d.claims = append(d.claims, child)
	}
	return nil
}

// alreadyRunning is the error of a claim refused because a drain of the
// same rule runs as workflow id. Run 1 has touched nothing yet; a
// continued run says what earlier runs left at weight 0 (FailureDetails
// name them, see withLeftAtZero).
func (d *drain) alreadyRunning(id string, err error) error {
	msg := fmt.Sprintf("a drain of %s is already running as workflow %s (the same rule named another way); ", d.sel, id)
	left := len(d.leftAtZero())
	switch {
	case d.in.Resume == nil:
		msg += "nothing was touched"
	case left > 0:
		msg += fmt.Sprintf("this drain stops in run %d, leaving %d targets it drained at weight 0 and %d deregistered",
			d.result.Runs, left, len(d.result.Deregistered))
	default:
		msg += fmt.Sprintf("this drain stops in run %d, with %d targets deregistered and none left at weight 0",
			d.result.Runs, len(d.result.Deregistered))
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrAlreadyRunning, err)
}
