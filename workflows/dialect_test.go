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
	"github.com/clbdrain/clbdrain/workflows"
)

// requireExactlyOnce checks that the drain completed, every bound target
// was drained once and unbound once, and nothing else was touched.
func requireExactlyOnce(t *testing.T, em *emulator, res workflows.DrainResult) {
	t.Helper()
	require.Equal(t, keysOf(em.targets), keysOf(res.Deregistered))
	weights, gone := em.changes(clb.ActionBatchModifyTargetWeight), em.changes(clb.ActionDeregisterTargets)
	require.Len(t, weights, len(em.targets))
	require.Len(t, gone, len(em.targets))
	for _, tg := range em.targets {
		require.Equal(t, 1, weights[tg.Key()], "weight of %s", tg.Key())
		require.Equal(t, 1, gone[tg.Key()], "unbound %s", tg.Key())
	}
	require.Empty(t, em.sim.State().LoadBalancers[0].Listeners[0].Targets)
}

// A drain completes exactly once under each dialect of the API that the
// emulator plays: a lock that outlives its task, answered with each lock
// code; task ids that expire; throttling answered with sub-codes; all of
// them at once.
func TestDrainUnderEachDialect(t *testing.T) {
	for _, tc := range []struct {
		spec string
		// rate is the emulator's limit per action: 4 for the dialects
		// that answer throttling, none for the others, whose runs are then
		// deterministic.
		rate int
	}{
		{"lingering-lock=2s", -1},
		{"lingering-lock=2s,lock-code=FailedOperation", -1},
		{"lingering-lock=2s,lock-code=FailedOperation.InvalidLBStatus", -1},
		{"lingering-lock=2s,lock-code=InternalError", -1},
		{"task-expiry=1s:InvalidParameter", -1},
		{"task-expiry=500ms:ResourceNotFound", -1},
		{"throttle-code=rotate", 4},
		// A throttled poll comes 1 to 1.5 s later: task ids that expire
		// sooner than that would make every throttled poll find its task
		// unknown, a combination no real API is known to play.
		{"all,task-expiry=5s:ResourceNotFound", 4},
	} {
		spec := tc.spec
		t.Run(spec, func(t *testing.T) {
			dialect, err := clbsim.ParseDialect(spec)
			require.NoError(t, err)
			env, em, _ := emulatedEnv(t, clbsim.Config{TaskLatency: 2 * time.Second, Rate: tc.rate, Dialect: dialect}, nil)
			in := em.input()
			in.DrainDelay = 30 * time.Second
			in.ChunkSize = 10
			env.ExecuteWorkflow(workflows.WorkflowName, in)
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var res workflows.DrainResult
			require.NoError(t, env.GetWorkflowResult(&res))
			requireExactlyOnce(t, em, res)
		})
	}
}

// Another writer's task holds the load balancer for 20 s, and the load
// balancer answers the lock with plain FailedOperation: on a mutating call
// that is busy, retried until the lock passes, not an unknown code given
// up after three failures.
func TestDrainWaitsOutAPlainFailedOperationLock(t *testing.T) {
	dialect, err := clbsim.ParseDialect("lock-code=FailedOperation")
	require.NoError(t, err)
	env, em, _ := emulatedEnv(t, clbsim.Config{TaskLatency: 2 * time.Second, Rate: -1, Dialect: dialect}, nil)
	_, err = em.sim.HoldLock(em.sel.LoadBalancerId, 20*time.Second)
	require.NoError(t, err)
	in := em.input()
	in.DrainDelay = 30 * time.Second
	env.ExecuteWorkflow(workflows.WorkflowName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(t, env.GetWorkflowResult(&res))
	requireExactlyOnce(t, em, res)
	require.GreaterOrEqual(t, em.sim.Stats().Actions[clb.ActionBatchModifyTargetWeight].Errors["FailedOperation"], 4,
		"the lock was met, and waited out")
}

// lateFirstPolls makes the first poll of chosen tasks (numbered from 1 in
// the order they are first polled) come 10 s late on the emulator's clock,
// as when the worker that waited crashed and another took over: under the
// task-expiry dialect, the task is then unknown.
type lateFirstPolls struct {
	clb.API
	clock *envClock
	late  map[int]bool
	mu    sync.Mutex
	seen  []string
}

// BatchModifyTargetWeight passes the call on: the emulator's client has it.
func (l *lateFirstPolls) BatchModifyTargetWeight(ctx context.Context, lb string, entries []clb.BatchWeightEntry) (string, error) {
	return l.API.(clb.BatchWeighter).BatchModifyTargetWeight(ctx, lb, entries)
}

func (l *lateFirstPolls) DescribeTaskStatus(ctx context.Context, taskID string) (clb.TaskStatus, error) {
	l.mu.Lock()
	first := !slices.Contains(l.seen, taskID)
	if first {
		l.seen = append(l.seen, taskID)
	}
	late := first && l.late[len(l.seen)]
	l.mu.Unlock()
	if late {
		if err := l.clock.Sleep(ctx, 10*time.Second); err != nil {
			return clb.TaskStatus{}, err
		}
	}
	return l.API.DescribeTaskStatus(ctx, taskID)
}

// expiringEnv runs the real workflow and activities against the emulator
// with task ids that expire 1 s after their task ends, and the first poll
// of the late tasks 10 s late.
func expiringEnv(t *testing.T, late ...int) (*testsuite.TestWorkflowEnvironment, *emulator) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	clock := &envClock{env: env}
	dialect, err := clbsim.ParseDialect("task-expiry=1s:ResourceNotFound")
	require.NoError(t, err)
	em := startEmulator(t, clbsim.Config{TaskLatency: 2 * time.Second, Rate: -1, Clock: clock, Dialect: dialect})
	polls := &lateFirstPolls{API: em.client, clock: clock, late: map[int]bool{}}
	for _, n := range late {
		polls.late[n] = true
	}
	env.RegisterActivity(&activities.Activities{CLB: polls, Now: clock.Now, Sleep: clock.Sleep})
	env.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	return env, em
}

// A chunk whose task id expired before its end was seen is re-checked:
// what is gone is done, and nothing is unbound twice.
func TestDrainRechecksAChunkWhoseTaskExpired(t *testing.T) {
	env, em := expiringEnv(t, 1)
	env.ExecuteWorkflow(workflows.WorkflowName, em.input())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, keysOf(em.targets), keysOf(res.Deregistered))
	c := res.Chunks[0]
	require.Equal(t, 1, c.TaskRetries, "the unknown task's chunk was re-checked")
	require.Equal(t, 20, c.Gone, "and found gone")
	require.Equal(t, workflows.OutcomeDeregistered, c.Outcome)
	for key, n := range em.changes(clb.ActionDeregisterTargets) {
		require.Equal(t, 1, n, key)
	}
	require.Empty(t, em.sim.State().LoadBalancers[0].Listeners[0].Targets)
}

// A weight change whose task id expired is sent again, only for what it
// had not set; the drain goes on.
func TestDrainSendsAgainAWeightChangeWhoseTaskExpired(t *testing.T) {
	env, em := expiringEnv(t, 1)
	in := em.input()
	in.DrainDelay = 30 * time.Second
	env.ExecuteWorkflow(workflows.WorkflowName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, keysOf(em.targets), keysOf(res.Deregistered))
	require.Equal(t, 45, res.Drained)
	// The first batch's change was applied before its task id expired:
	// sent again, it finds them at 0 already and changes nothing.
	weights := em.changes(clb.ActionBatchModifyTargetWeight)
	for _, tg := range em.targets {
		require.Equal(t, 1, weights[tg.Key()], tg.Key())
	}
	for key, n := range em.changes(clb.ActionDeregisterTargets) {
		require.Equal(t, 1, n, key)
	}
}
