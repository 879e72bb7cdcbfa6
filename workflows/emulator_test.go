package workflows_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
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

// emulator is clbsim behind the production client, over HTTP in process,
// with a fleet of one load balancer whose TCP listener binds 45 targets.
type emulator struct {
	sim    *clbsim.Server
	client *clb.Client
	sel    clb.Selector
	// targets are the listener's bound targets, a fifth of them ENI.
	targets []clb.Target
}

func startEmulator(t *testing.T, cfg clbsim.Config) *emulator {
	state, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 45, ENI: 0.2}, 11)
	require.NoError(t, err)
	cfg.State = state
	client, sim := clbsimtest.Start(t, cfg)
	lb := state.LoadBalancers[0]
	l := lb.Listeners[0]
	e := &emulator{sim: sim, client: client, sel: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId},
		targets: clbsim.RequestTargets(l.Targets)}
	require.Len(t, e.targets, 45)
	return e
}

// input drains every target of the listener, and two that are not bound.
func (e *emulator) input() workflows.DrainInput {
	targets := append(slices.Clone(e.targets), clb.Target{InstanceId: "ins-ghost001", Port: 80}, clb.Target{EniIp: "192.0.2.1", Port: 80})
	return workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: e.sel.LoadBalancerId, ListenerId: e.sel.ListenerId}, Targets: targets}
}

// changes counts the applied changes of an action, per target key.
func (e *emulator) changes(action string) map[string]int {
	out := map[string]int{}
	for _, c := range e.sim.Audit() {
		if c.Action == action {
			out[c.Target]++
		}
	}
	return out
}

// envClock is the emulator's clock in a workflow test: the test
// environment's clock, which activity retries and timers move, plus the
// time the activities slept.
type envClock struct {
	env    *testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	slept  time.Duration
	sleeps []time.Duration
}

func (c *envClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.env.Now().Add(c.slept)
}

// AfterFunc never fires: the emulator completes due tasks whenever it is
// next called, which is all these tests need.
func (c *envClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return false } }

func (c *envClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
	c.sleeps = append(c.sleeps, d)
	return nil
}

// scriptedCLB injects emulator faults into chosen DeregisterTargets calls
// (numbered from 1), and only those.
type scriptedCLB struct {
	clb.API
	sim    *clbsim.Server
	faults map[int]clbsim.Faults
	mu     sync.Mutex
	calls  int
}

func (s *scriptedCLB) DeregisterTargets(ctx context.Context, sel clb.Selector, targets []clb.Target) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.sim.SetFaults(s.faults[s.calls])
	defer s.sim.SetFaults(nil)
	return s.API.DeregisterTargets(ctx, sel, targets)
}

// BatchModifyTargetWeight passes the call on: the emulator's client has it.
func (s *scriptedCLB) BatchModifyTargetWeight(ctx context.Context, lb string, entries []clb.BatchWeightEntry) (string, error) {
	return s.API.(clb.BatchWeighter).BatchModifyTargetWeight(ctx, lb, entries)
}

// emulatedEnv runs the real workflow and activities against the emulator.
func emulatedEnv(t *testing.T, cfg clbsim.Config, faults map[int]clbsim.Faults) (*testsuite.TestWorkflowEnvironment, *emulator, *envClock) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	clock := &envClock{env: env}
	cfg.Clock = clock
	em := startEmulator(t, cfg)
	env.RegisterActivity(&activities.Activities{CLB: &scriptedCLB{API: em.client, sim: em.sim, faults: faults}, Now: clock.Now, Sleep: clock.Sleep})
	env.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	return env, em, clock
}

func TestDrainAgainstEmulator(t *testing.T) {
	env, em, _ := emulatedEnv(t, clbsim.Config{TaskLatency: 200 * time.Millisecond, TaskJitter: 100 * time.Millisecond, Seed: 3},
		map[int]clbsim.Faults{
			// Chunk 0's answer is lost after the change was applied.
			1: {{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultDrop, Probability: 1}},
			// Chunk 1's task fails.
			2: {{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultTaskFail, Probability: 1}},
		})
	in := em.input()
	in.DrainDelay = 30 * time.Second
	env.ExecuteWorkflow(workflows.WorkflowName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(t, env.GetWorkflowResult(&res))

	require.Equal(t, keysOf(em.targets), keysOf(res.Deregistered))
	require.Equal(t, keysOf(in.Targets[45:]), keysOf(res.AlreadyAbsent))
	require.Equal(t, 45, res.Drained)
	require.Len(t, res.Chunks, 3)

	c0 := res.Chunks[0]
	require.Equal(t, 2, c0.Attempts, "the retry after the lost answer")
	require.Equal(t, 20, c0.Gone, "and it found the change applied")
	require.Empty(t, c0.RequestID)
	require.Equal(t, workflows.OutcomeDeregistered, c0.Outcome)

	c1 := res.Chunks[1]
	require.Equal(t, 1, c1.TaskRetries)
	require.NotEmpty(t, c1.RequestID)
	require.Zero(t, c1.Gone, "a failed task changes nothing")

	// Exactly once: every target drained once and unbound once.
	weights, gone := em.changes(clb.ActionBatchModifyTargetWeight), em.changes(clb.ActionDeregisterTargets)
	require.Len(t, weights, 45)
	require.Len(t, gone, 45)
	for _, tg := range em.targets {
		require.Equal(t, 1, weights[tg.Key()], tg.Key())
		require.Equal(t, 1, gone[tg.Key()], tg.Key())
	}
	stats := em.sim.Stats()
	require.Equal(t, 1, stats.Actions[clb.ActionDeregisterTargets].Dropped)
	require.Equal(t, 1, stats.TasksFailed)
	require.Empty(t, em.sim.State().LoadBalancers[0].Listeners[0].Targets)
}

// Under the dialect that leaves empty listeners out of DescribeTargets and
// spells backend types in lower case, the re-check after the last chunk's
// lost answer (the listener emptied) finds the chunk done.
func TestDrainAgainstEmulatorDialect(t *testing.T) {
	env, em, _ := emulatedEnv(t, clbsim.Config{TaskLatency: 200 * time.Millisecond, Seed: 3,
		Dialect: clbsim.Dialect{OmitEmptyListeners: true, LowerCaseTypes: true}},
		map[int]clbsim.Faults{3: {{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultDrop, Probability: 1}}})
	env.ExecuteWorkflow(workflows.WorkflowName, em.input())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, keysOf(em.targets), keysOf(res.Deregistered))
	require.Equal(t, 5, res.Chunks[2].Gone)
	gone := em.changes(clb.ActionDeregisterTargets)
	require.Len(t, gone, 45)
	for _, tg := range em.targets {
		require.Equal(t, 1, gone[tg.Key()], tg.Key())
	}
}

func TestWaitHeartbeatsThroughLongTasks(t *testing.T) {
	env, em, clock := emulatedEnv(t, clbsim.Config{TaskLatency: 12 * time.Second, Rate: -1}, nil)
	in := em.input()
	in.ChunkSize = 15
	env.ExecuteWorkflow(workflows.WorkflowName, in)
	require.NoError(t, env.GetWorkflowError())

	// Once 12 s tasks are expected, the wait sleeps most of them, in slices
	// of half the 15 s heartbeat timeout.
	require.Contains(t, clock.sleeps, 7500*time.Millisecond)
	require.LessOrEqual(t, slices.Max(clock.sleeps), 7500*time.Millisecond)
}
