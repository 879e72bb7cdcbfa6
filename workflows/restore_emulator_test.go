package workflows_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
	"github.com/clbdrain/clbdrain/workflows"
)

// RegisterTargets injects the scripted faults as DeregisterTargets does,
// the calls of both numbered together.
func (s *scriptedCLB) RegisterTargets(ctx context.Context, sel clb.Selector, targets []clb.WeightedTarget) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.sim.SetFaults(s.faults[s.calls])
	defer s.sim.SetFaults(nil)
	return s.API.(clb.TargetRegistrar).RegisterTargets(ctx, sel, targets)
}

// DescribeTargetHealth passes the call on: the emulator's client has it.
func (s *scriptedCLB) DescribeTargetHealth(ctx context.Context, lbs ...string) ([]clb.TargetHealth, error) {
	return s.API.(clb.HealthReader).DescribeTargetHealth(ctx, lbs...)
}

// emulatedRestoreEnv runs the real RestoreTargets and activities against
// an emulator whose TCP listener has nothing bound; the manifest puts its
// 45 targets back at weights from 1 to 100.
func emulatedRestoreEnv(t *testing.T, cfg clbsim.Config, faults map[int]clbsim.Faults) (*testsuite.TestWorkflowEnvironment, *clbsim.Server, workflows.RestoreManifest) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	clock := &envClock{env: env}
	state, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 45, ENI: 0.2}, 11)
	require.NoError(t, err)
	lb := state.LoadBalancers[0]
	l := lb.Listeners[0]
	m := workflows.RestoreManifest{Source: "clb-drain/x", Bindings: []workflows.ManifestBinding{{
		Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}}}}
	for i, tg := range clbsim.RequestTargets(l.Targets) {
		m.Bindings[0].Targets = append(m.Bindings[0].Targets, clb.WeightedTarget{Target: tg, Weight: int64(1 + i*37%100)})
	}
	state.LoadBalancers[0].Listeners[0].Targets = nil
	cfg.State, cfg.Clock = state, clock
	client, sim := clbsimtest.Start(t, cfg)
	env.RegisterActivity(&activities.Activities{CLB: &scriptedCLB{API: client, sim: sim, faults: faults}, Now: clock.Now, Sleep: clock.Sleep})
	env.RegisterWorkflowWithOptions(workflows.RestoreTargets, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
	return env, sim, m
}

func TestRestoreAgainstEmulator(t *testing.T) {
	env, sim, m := emulatedRestoreEnv(t, clbsim.Config{TaskLatency: 200 * time.Millisecond, TaskJitter: 100 * time.Millisecond, Seed: 3},
		map[int]clbsim.Faults{
			// Chunk 0's answer is lost after the change was applied.
			1: {{Action: clb.ActionRegisterTargets, Kind: clbsim.FaultDrop, Probability: 1}},
			// Chunk 1's task fails.
			2: {{Action: clb.ActionRegisterTargets, Kind: clbsim.FaultTaskFail, Probability: 1}},
		})
	env.ExecuteWorkflow(workflows.RestoreWorkflowName, workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.RestoreResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, keysOf(m.Bindings[0].Targets), keysOf(res.Bindings[0].Registered), "the lost answer's chunk counts as its own")
	require.Empty(t, res.Bindings[0].AlreadyBound)

	want := map[string]int64{}
	for _, tg := range m.Bindings[0].Targets {
		want[tg.Key()] = tg.Weight
	}
	got := map[string]int64{}
	for _, b := range sim.State().LoadBalancers[0].Listeners[0].Targets {
		got[clbsim.RequestTargets([]clb.BoundTarget{b})[0].Key()] = b.Weight
	}
	require.Equal(t, want, got, "every target back at its weight")
	registered := map[string]int{}
	for _, c := range sim.Audit() {
		if c.Action == clb.ActionRegisterTargets {
			registered[c.Target]++
			require.Zero(t, *c.NewWeight, "bound at 0 behind the health gate")
		}
	}
	require.Len(t, registered, 45)
	for k, n := range registered {
		require.Equal(t, 1, n, "%s registered once", k)
	}
	stats := sim.Stats()
	require.Equal(t, 1, stats.Actions[clb.ActionRegisterTargets].Dropped)
	require.Equal(t, 1, stats.TasksFailed)
	require.Equal(t, 1, stats.Actions[clb.ActionBatchModifyTargetWeight].Requests, "weights raised in one task")
}
