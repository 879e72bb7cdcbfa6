package workflows

import (
	"cmp"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// handleApproval registers the approve and reject Updates. Their validator
// refuses an empty approver, an approval of another plan than the current
// one, and any decision while the workflow is not waiting for one.
func (s *serversDrain) handleApproval(ctx workflow.Context) error {
	for _, u := range []struct {
		name    string
		approve bool
	}{{UpdateApprove, true}, {UpdateReject, false}} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, in ApprovalInput) (Approval, error) {
				s.decision = &Approval{Approved: u.approve, PlanID: in.PlanID, By: in.By, Comment: in.Comment, At: workflow.Now(ctx)}
				s.awaiting = false
				return *s.decision, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in ApprovalInput) error {
				return validateApproval(in, s.plan, s.awaiting)
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// approvalTimeoutVersion is the workflow.GetVersion change after which
// the wait for a decision is bounded by ApprovalTimeout; before it, a
// server drain waited for one as long as it took.
const approvalTimeoutVersion = "servers-approval-timeout"

// approve waits for a decision on the plan, at most ApprovalTimeout (else
// it fails with ErrApprovalTimeout); rejected, it fails with
// ErrRejected. Approved, it reads the bindings again and fails with
// ErrPlanChanged, saying how, if they are not the plan's any more, or
// with ErrCapacityGuard if the guards no longer hold.
func (s *serversDrain) approve(ctx workflow.Context) error {
	s.awaiting = true
	s.setPhase(ctx, PhaseAwaiting)
	s.log.Info("waiting for approval", "plan", s.plan.ID)
	decided := func() bool { return s.decision != nil }
	timeout := cmp.Or(s.in.ApprovalTimeout, DefaultApprovalTimeout)
	ok, err := true, error(nil)
	if workflow.GetVersion(ctx, approvalTimeoutVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		err = workflow.Await(ctx, decided)
	} else {
		ok, err = workflow.AwaitWithTimeout(ctx, timeout, decided)
	}
	switch {
	case err != nil:
		s.awaiting = false
		return err
	case !ok:
		s.awaiting = false
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"no decision on plan %s within %s (--approval-timeout): nothing was changed", s.plan.ID, timeout),
			ErrApprovalTimeout, nil)
	}
	d := *s.decision
	s.result.Approval = &d
	if !d.Approved {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("plan %s rejected by %s: %s", d.PlanID, d.By, d.Comment), ErrRejected, nil, d)
	}
	s.log.Info("approved", "plan", d.PlanID, "by", d.By)
	s.setPhase(ctx, PhaseRechecking)
	was := *s.plan
	now, err := s.discover(ctx)
	if err != nil {
		return err
	}
	if diff := PlanDiff(was, now); len(diff) > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the bindings changed since plan %s was approved (now %s); nothing was changed: %s", was.ID, now.ID, strings.Join(diff, "; ")),
			ErrPlanChanged, nil, diff)
	}
	if err := guardsHold(now, s.in.Guards); err != nil {
		return err
	}
	s.setPlan(ctx, now)
	return nil
}
