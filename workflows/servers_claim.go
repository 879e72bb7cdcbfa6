package workflows

import (
	"fmt"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// ServerClaimID is the workflow ID under which a DrainServers holds a
// server (a DrainClaim child) while it runs: clb-drain-server/ and the
// server's host, its instance ID or its IP, whatever its port. Two server
// drains of one server never run at once, even when their lists differ or
// one names a CVM by its IP and the other by its InstanceId (claimFound).
func ServerClaimID(s clb.Server) string {
	return WorkflowIDPrefix + "-server/" + s.Host()
}

// claimServers starts a DrainClaim under each server's ServerClaimID,
// before anything is read or changed. A claim that cannot start means
// another server drain holds that server: the drain fails with
// ErrAlreadyRunning, naming it, having touched nothing. The claims hold
// until the drain releases them or closes (they are terminated then).
func (s *serversDrain) claimServers(ctx workflow.Context) error {
	var ids []string
	for _, sv := range s.in.Servers {
		ids = append(ids, ServerClaimID(sv))
	}
	return s.claim(ctx, ids)
}

// claimFound claims, once the plan is made and before any change, the
// instance of every CVM binding the plan removes that the drain does not
// hold yet: a CVM named by one of its IPs here and by its InstanceId (or
// another IP) in another server drain is then held by one of them only.
func (s *serversDrain) claimFound(ctx workflow.Context) error {
	var ids []string
	for _, b := range s.bindings {
		for _, t := range b.Remove {
			if t.InstanceId != "" {
				ids = append(ids, ServerClaimID(clb.Server{InstanceId: t.InstanceId}))
			}
		}
	}
	return s.claim(ctx, ids)
}

// claim starts a DrainClaim under each of ids the drain does not hold
// yet, and fails with ErrAlreadyRunning, naming the server, when one is
// held by another server drain.
func (s *serversDrain) claim(ctx workflow.Context, ids []string) error {
	own := workflow.GetInfo(ctx).WorkflowExecution.ID
	cctx, _ := workflow.NewDisconnectedContext(ctx)
	var started []workflow.ChildWorkflowFuture
	var startedIDs []string
	for _, id := range ids {
		if slices.Contains(s.claimed, id) || slices.Contains(startedIDs, id) {
			continue
		}
		opts := workflow.ChildWorkflowOptions{
			WorkflowID:            id,
			TaskQueue:             workflow.GetInfo(ctx).TaskQueueName,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_TERMINATE,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		}
		startedIDs = append(startedIDs, id)
		started = append(started, workflow.ExecuteChildWorkflow(workflow.WithChildOptions(cctx, opts), ClaimWorkflowName,
			ClaimInput{DrainWorkflowID: own}))
	}
	var refused error
	for i, child := range started {
		err := child.GetChildWorkflowExecution().Get(cctx, nil)
		switch {
		case temporal.IsWorkflowExecutionAlreadyStartedError(err) && refused == nil:
			refused = temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"another server drain holds server %s (its claim %s runs; the drain is that claim's parent): nothing was touched",
				startedIDs[i][len(WorkflowIDPrefix+"-server/"):], startedIDs[i]), ErrAlreadyRunning, err)
		case err != nil && refused == nil:
			refused = err
		case err == nil:
			s.claims = append(s.claims, child)
			s.claimed = append(s.claimed, startedIDs[i])
		}
	}
	return refused
}

// releaseServers releases the drain's claims (releaseClaims).
func (s *serversDrain) releaseServers(ctx workflow.Context) {
	releaseClaims(ctx, s.log, s.claims)
	s.claims, s.claimed = nil, nil
}
