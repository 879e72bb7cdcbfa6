// Package release is an example to copy: the release loop of one listener
// or rule as a Temporal workflow. Release drains the servers being released
// (DrainAndDeregister as a child), waits until they are deployed (a
// "deployed" Update, or a deploy activity of your own), then puts them back
// with RestoreTargets as a child, behind its health gate. If anything fails
// or the release is cancelled once the drain has removed targets, it puts
// back what was drained before it returns. Register Release in your own
// worker, on your own task queue; clbdrain's worker runs the children on
// the clb-drain queue.
package release

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/workflows"
)

// Names of the example.
const (
	// WorkflowName is the registered name of Release.
	WorkflowName = "Release"
	// UpdateDeployed is the Update that tells Release the servers are
	// deployed; its argument is a Deployed.
	UpdateDeployed = "deployed"
	// ErrDeployTimeout is the error type of a release whose deploy did
	// not finish within DeployTimeout.
	ErrDeployTimeout = "DeployTimeout"
	// DefaultDeployTimeout is how long Release waits for the deploy
	// unless told otherwise.
	DefaultDeployTimeout = time.Hour
)

// Input is the input of Release.
type Input struct {
	// Drain is the drain of the servers released.
	Drain workflows.DrainInput `json:"Drain"`
	// Version is what is being deployed, for the record.
	Version string `json:"Version,omitempty"`
	// DeployActivity, when set, names your deploy activity: Release calls
	// it with a DeployRequest (on DeployTaskQueue, or Release's queue)
	// instead of waiting for the deployed Update.
	DeployActivity  string `json:"DeployActivity,omitempty"`
	DeployTaskQueue string `json:"DeployTaskQueue,omitempty"`
	// DeployTimeout bounds the deploy; 0 means DefaultDeployTimeout.
	DeployTimeout time.Duration `json:"DeployTimeout,omitempty"`
	// WaitHealthy, OnUnhealthy, RampSteps and RampInterval are the
	// restore's (workflows.RestoreInput).
	WaitHealthy  time.Duration `json:"WaitHealthy,omitempty"`
	OnUnhealthy  string        `json:"OnUnhealthy,omitempty"`
	RampSteps    int           `json:"RampSteps,omitempty"`
	RampInterval time.Duration `json:"RampInterval,omitempty"`
}

// DeployRequest is what Release passes to a deploy activity.
type DeployRequest struct {
	Version string `json:"Version,omitempty"`
	// Drained are the servers out of traffic, ready to be deployed.
	Drained workflows.RestoreManifest `json:"Drained"`
}

// Deployed is the argument of the deployed Update, or the result of a
// deploy activity.
type Deployed struct {
	// By is who (or what pipeline) deployed; required.
	By string `json:"By"`
	// Version is what was deployed.
	Version string `json:"Version,omitempty"`
}

// Result is the result of Release.
type Result struct {
	Drain    workflows.DrainResult   `json:"Drain"`
	Deployed *Deployed               `json:"Deployed,omitempty"`
	Restore  workflows.RestoreResult `json:"Restore"`
}

// Release drains, waits for the deploy, and restores, as the package
// documentation says. It fails with the drain's error (nothing to put
// back: a failed drain keeps its targets bound, or names those left at
// weight 0), ErrDeployTimeout, the deploy activity's error, or the
// restore's (workflows.ErrUnhealthy naming the servers that did not come
// back healthy).
func Release(ctx workflow.Context, in Input) (Result, error) {
	r := &release{in: in}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDeployed, r.deployed,
		workflow.UpdateHandlerOptions{Validator: r.validate}); err != nil {
		return Result{}, err
	}
	dctx := workflow.WithChildOptions(ctx, workflows.ChildOptions(in.Drain))
	err := workflow.ExecuteChildWorkflow(dctx, workflows.WorkflowName, in.Drain).Get(ctx, &r.res.Drain)
	if err != nil && ctx.Err() == nil {
		return r.res, err
	}
	r.manifest = r.res.Drain.Manifest(workflows.WorkflowIDFor(in.Drain))
	r.drained = true
	if ctx.Err() != nil {
		return r.putBack(ctx, ctx.Err())
	}
	if err := r.deploy(ctx); err != nil {
		return r.putBack(ctx, err)
	}
	if err := r.restore(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// release is the state of Release.
type release struct {
	in       Input
	res      Result
	manifest workflows.RestoreManifest
	drained  bool
}

// validate refuses a deployed Update before the drain is done, or without
// who deployed.
func (r *release) validate(_ workflow.Context, d Deployed) error {
	switch {
	case !r.drained:
		return errors.New("deployed: the servers are still being drained")
	case d.By == "":
		return errors.New("deployed: By (who deployed) is required")
	case r.res.Deployed != nil:
		return errors.New("deployed: already told, by " + r.res.Deployed.By)
	}
	return nil
}

// deployed is the Update handler.
func (r *release) deployed(_ workflow.Context, d Deployed) error {
	r.res.Deployed = &d
	return nil
}

// deploy calls the deploy activity, or waits for the deployed Update,
// within DeployTimeout.
func (r *release) deploy(ctx workflow.Context) error {
	timeout := r.in.DeployTimeout
	if timeout == 0 {
		timeout = DefaultDeployTimeout
	}
	if r.in.DeployActivity != "" {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue: r.in.DeployTaskQueue, StartToCloseTimeout: timeout,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
		var d Deployed
		err := workflow.ExecuteActivity(actx, r.in.DeployActivity, DeployRequest{Version: r.in.Version, Drained: r.manifest}).Get(ctx, &d)
		if err == nil {
			r.res.Deployed = &d
		}
		return err
	}
	ok, err := workflow.AwaitWithTimeout(ctx, timeout, func() bool { return r.res.Deployed != nil })
	switch {
	case err != nil:
		return err
	case !ok:
		return temporal.NewNonRetryableApplicationError("the deploy did not finish within "+timeout.String(), ErrDeployTimeout, nil)
	}
	return nil
}

// restore runs RestoreTargets on the drain's manifest as a child, on
// cctx. Nothing drained means nothing to restore.
func (r *release) restore(cctx workflow.Context) error {
	if len(r.manifest.Bindings) == 0 {
		return nil
	}
	in := workflows.RestoreInput{Manifest: r.manifest, WaitHealthy: r.in.WaitHealthy, OnUnhealthy: r.in.OnUnhealthy,
		RampSteps: r.in.RampSteps, RampInterval: r.in.RampInterval, Reason: r.in.Drain.Reason, Requester: r.in.Drain.Requester}
	cctx = workflow.WithChildOptions(cctx, workflows.RestoreChildOptions(in))
	return workflow.ExecuteChildWorkflow(cctx, workflows.RestoreWorkflowName, in).Get(cctx, &r.res.Restore)
}

// putBack restores what was drained after cause (a failed deploy, or the
// release's cancellation), on a context the cancel does not reach, and
// returns cause, or the restore's error when it fails too.
func (r *release) putBack(ctx workflow.Context, cause error) (Result, error) {
	workflow.GetLogger(ctx).Warn("release stopped after the drain: putting back what was drained", "cause", cause)
	rctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	if err := r.restore(rctx); err != nil {
		return r.res, err
	}
	return r.res, cause
}
