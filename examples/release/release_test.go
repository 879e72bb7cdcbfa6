package release_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/examples/release"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func drainIn() workflows.DrainInput {
	return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Targets: []clb.Target{{InstanceId: "ins-abc12345", Port: 80}, {InstanceId: "ins-abc12346", Port: 80}}, Reason: "release 7"}
}

// stubs plays the clbdrain children: the drain removes its targets at
// weight 30; the restore records its input and answers restoreErr.
type stubs struct {
	env        *testsuite.TestWorkflowEnvironment
	restores   []workflows.RestoreInput
	restoreErr error
	drainTime  time.Duration
}

func newStubs(t *testing.T) *stubs {
	var ts testsuite.WorkflowTestSuite
	s := &stubs{env: ts.NewTestWorkflowEnvironment()}
	s.env.SetStartTime(start)
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: "releases"})
	s.env.RegisterWorkflowWithOptions(release.Release, workflow.RegisterOptions{Name: release.WorkflowName})
	s.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
		res := workflows.DrainResult{Selector: in.Selector, Reason: in.Reason}
		for _, tg := range in.Targets {
			res.Deregistered = append(res.Deregistered, clb.WeightedTarget{Target: tg, Weight: 30})
		}
		if err := workflow.Sleep(ctx, s.drainTime+time.Second); err != nil {
			res.Deregistered = res.Deregistered[:1]
			res.Cancelled = true
		}
		return res, nil
	}, workflow.RegisterOptions{Name: workflows.WorkflowName})
	s.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.RestoreInput) (workflows.RestoreResult, error) {
		s.restores = append(s.restores, in)
		if s.restoreErr != nil {
			return workflows.RestoreResult{}, s.restoreErr
		}
		return workflows.RestoreResult{Source: in.Manifest.Source}, nil
	}, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
	return s
}

func (s *stubs) deployAt(t *testing.T, d time.Duration, dep release.Deployed) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(release.UpdateDeployed, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("deployed refused: %v", err) },
			OnAccept: func() {}, OnComplete: func(any, error) {},
		}, dep)
	}, d)
}

func TestReleaseDrainsWaitsForDeployedAndRestoresWithHealthGate(t *testing.T) {
	s := newStubs(t)
	s.deployAt(t, time.Minute, release.Deployed{By: "ci", Version: "v7"})
	s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn(), WaitHealthy: 2 * time.Minute,
		OnUnhealthy: workflows.OnUnhealthyDeregister, RampSteps: 2, RampInterval: time.Second})
	require.NoError(t, s.env.GetWorkflowError())
	var res release.Result
	require.NoError(t, s.env.GetWorkflowResult(&res))
	require.Equal(t, &release.Deployed{By: "ci", Version: "v7"}, res.Deployed)
	require.Len(t, s.restores, 1)
	in := s.restores[0]
	require.Equal(t, res.Drain.Manifest(workflows.WorkflowIDFor(drainIn())), in.Manifest)
	require.Equal(t, 2*time.Minute, in.WaitHealthy)
	require.Equal(t, workflows.OnUnhealthyDeregister, in.OnUnhealthy)
	require.Equal(t, 2, in.RampSteps)
	require.Equal(t, "clb-drain/lb-abc12345/lbl-abc12345", res.Restore.Source)
}

func TestReleaseRefusesAnEarlyOrAnonymousDeployed(t *testing.T) {
	s := newStubs(t)
	s.drainTime = time.Minute
	var refusals []string
	send := func(dep release.Deployed) func() {
		return func() {
			s.env.UpdateWorkflow(release.UpdateDeployed, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { refusals = append(refusals, err.Error()) },
				OnAccept: func() {}, OnComplete: func(any, error) {},
			}, dep)
		}
	}
	s.env.RegisterDelayedCallback(send(release.Deployed{By: "ci"}), 10*time.Second)
	s.env.RegisterDelayedCallback(send(release.Deployed{}), 2*time.Minute)
	s.env.RegisterDelayedCallback(send(release.Deployed{By: "ci"}), 3*time.Minute)
	s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn()})
	require.NoError(t, s.env.GetWorkflowError())
	require.Len(t, refusals, 2)
	require.Contains(t, refusals[0], "still being drained")
	require.Contains(t, refusals[1], "By (who deployed) is required")
}

func TestReleaseCallsTheDeployActivity(t *testing.T) {
	s := newStubs(t)
	var got release.DeployRequest
	s.env.RegisterActivityWithOptions(func(_ context.Context, req release.DeployRequest) (release.Deployed, error) {
		got = req
		return release.Deployed{By: "deployer", Version: req.Version}, nil
	}, activity.RegisterOptions{Name: "Deploy"})
	s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn(), Version: "v8", DeployActivity: "Deploy"})
	require.NoError(t, s.env.GetWorkflowError())
	require.Equal(t, "v8", got.Version)
	require.Len(t, got.Drained.Bindings[0].Targets, 2)
	require.Len(t, s.restores, 1)
}

func TestReleasePutsBackWhatWasDrainedWhenTheDeployFails(t *testing.T) {
	s := newStubs(t)
	s.env.RegisterActivityWithOptions(func(context.Context, release.DeployRequest) (release.Deployed, error) {
		return release.Deployed{}, temporal.NewNonRetryableApplicationError("image not found", "DeployFailed", nil)
	}, activity.RegisterOptions{Name: "Deploy"})
	s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn(), DeployActivity: "Deploy", WaitHealthy: time.Minute})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(s.env.GetWorkflowError(), &ae))
	require.Equal(t, "DeployFailed", ae.Type())
	require.Len(t, s.restores, 1, "restored before failing")
	require.Len(t, s.restores[0].Manifest.Bindings[0].Targets, 2)
}

func TestReleasePutsBackWhenTheDeployTimesOut(t *testing.T) {
	s := newStubs(t)
	s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn(), DeployTimeout: 10 * time.Minute})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(s.env.GetWorkflowError(), &ae))
	require.Equal(t, release.ErrDeployTimeout, ae.Type())
	require.Len(t, s.restores, 1)
}

func TestReleaseCancelledPutsBackWhatWasDrained(t *testing.T) {
	for _, at := range []time.Duration{30 * time.Second, 5 * time.Minute} {
		s := newStubs(t)
		s.drainTime = time.Minute
		s.env.RegisterDelayedCallback(s.env.CancelWorkflow, at)
		s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn()})
		require.True(t, temporal.IsCanceledError(s.env.GetWorkflowError()), "%v", s.env.GetWorkflowError())
		require.Len(t, s.restores, 1, "cancelled at %s", at)
		want := 2
		if at < time.Minute {
			want = 1 // cancelled mid-drain: only what it removed
		}
		require.Len(t, s.restores[0].Manifest.Bindings[0].Targets, want)
	}
}

func TestReleaseFailsWithTheRestoresUnhealthy(t *testing.T) {
	s := newStubs(t)
	s.restoreErr = temporal.NewNonRetryableApplicationError("1 targets not healthy within 1m0s: x", workflows.ErrUnhealthy, nil)
	s.deployAt(t, time.Minute, release.Deployed{By: "ci"})
	s.env.ExecuteWorkflow(release.WorkflowName, release.Input{Drain: drainIn(), WaitHealthy: time.Minute})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(s.env.GetWorkflowError(), &ae))
	require.Equal(t, workflows.ErrUnhealthy, ae.Type())
	require.Len(t, s.restores, 1, "not restored twice")
}
