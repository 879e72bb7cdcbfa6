package workflows

import (
	"strconv"
	"unicode/utf8"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// ValidateServersInput checks a ServersInput as DrainServers does before
// any API call: the servers (1 to MaxServers, each once), the scope (at
// most MaxScope load balancer IDs, each once), DrainDelay, the guards
// (MinRemaining 0 or more, MinRemainingPercent 0-100, AllowEmpty with
// neither), ApprovalTimeout (0 to MaxApprovalTimeout, with Approval),
// MaxParallel (0 to MaxMaxParallel), Reason and Requester. It returns nil
// or a *clb.ValidationError listing every problem at once.
func ValidateServersInput(in ServersInput) error {
	problems := clb.ValidateServers("Servers", in.Servers, MaxServers)
	problems = append(problems, clb.ValidateLoadBalancerIDs("LoadBalancerIds", in.LoadBalancerIds, MaxScope)...)
	if in.DrainDelay < 0 || in.DrainDelay > MaxDrainDelay {
		problems = append(problems, clb.Problem{Field: "DrainDelay", Value: in.DrainDelay.String(),
			Reason: "must be 0 (no drain) to " + MaxDrainDelay.String()})
	}
	switch {
	case in.ApprovalTimeout < 0 || in.ApprovalTimeout > MaxApprovalTimeout:
		problems = append(problems, clb.Problem{Field: "ApprovalTimeout", Value: in.ApprovalTimeout.String(),
			Reason: "must be 0 (the default, " + DefaultApprovalTimeout.String() + ") to " + MaxApprovalTimeout.String()})
	case in.ApprovalTimeout > 0 && !in.Approval:
		problems = append(problems, clb.Problem{Field: "ApprovalTimeout", Value: in.ApprovalTimeout.String(),
			Reason: "bounds the wait for approval: give it with Approval"})
	}
	problems = append(problems, validateGuards(in.Guards)...)
	if in.MaxParallel < 0 || in.MaxParallel > MaxMaxParallel {
		problems = append(problems, clb.Problem{Field: "MaxParallel", Value: strconv.Itoa(in.MaxParallel),
			Reason: "must be 0 (the default, " + strconv.Itoa(DefaultMaxParallel) + ") to " + strconv.Itoa(MaxMaxParallel)})
	}
	problems = append(problems, validateAudit(in.Reason, in.Requester)...)
	return clb.Err(problems)
}

// validateGuards checks the guards' ranges, and that AllowEmpty, which
// lifts them, is not given with either.
func validateGuards(g Guards) []clb.Problem {
	var out []clb.Problem
	if g.MinRemaining < 0 {
		out = append(out, clb.Problem{Field: "Guards.MinRemaining", Value: strconv.Itoa(g.MinRemaining),
			Reason: "must be 0 (the default, 1) or more"})
	}
	if !(g.MinRemainingPercent >= 0 && g.MinRemainingPercent <= 100) {
		out = append(out, clb.Problem{Field: "Guards.MinRemainingPercent", Value: strconv.FormatFloat(g.MinRemainingPercent, 'g', -1, 64),
			Reason: "must be 0 to 100"})
	}
	if g.AllowEmpty && (g.MinRemaining > 0 || g.MinRemainingPercent > 0) {
		out = append(out, clb.Problem{Field: "Guards.AllowEmpty", Value: "true",
			Reason: "lifts the guards, and conflicts with MinRemaining " + strconv.Itoa(g.MinRemaining) +
				" and MinRemainingPercent " + strconv.FormatFloat(g.MinRemainingPercent, 'g', -1, 64) + ": give one or the other"})
	}
	return out
}

// validateApproval checks an approve or reject Update against the plan it
// must be about; awaiting is whether the workflow waits for a decision.
func validateApproval(in ApprovalInput, plan *Plan, awaiting bool) error {
	var problems []clb.Problem
	switch {
	case in.By == "":
		problems = append(problems, clb.Problem{Field: "By", Value: "", Reason: "is required: who approves or rejects"})
	default:
		for _, p := range validateRequester(in.By) {
			p.Field = "By"
			problems = append(problems, p)
		}
	}
	if len(in.Comment) > MaxReasonLen || !utf8.ValidString(in.Comment) {
		problems = append(problems, clb.Problem{Field: "Comment", Value: strconv.Itoa(len(in.Comment)) + " bytes",
			Reason: "must be UTF-8 text of at most " + strconv.Itoa(MaxReasonLen) + " bytes"})
	}
	switch {
	case !awaiting || plan == nil:
		problems = append(problems, clb.Problem{Field: "PlanId", Value: in.PlanID, Reason: "the drain is not waiting for approval"})
	case in.PlanID != plan.ID:
		problems = append(problems, clb.Problem{Field: "PlanId", Value: in.PlanID,
			Reason: "is not the current plan (" + plan.ID + "): review the plan again"})
	}
	return clb.Err(problems)
}
