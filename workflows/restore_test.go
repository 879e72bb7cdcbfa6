package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

const lbID2 = "lb-zzz99999"

// cloud plays the restore's activities on an in-memory CLB: bindings by
// selector, each target's weight by key; health by polls.
type cloud struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu    sync.Mutex
	bound map[string]map[string]int64
	// sick targets never turn healthy; the others turn healthy after
	// healthPolls health reads.
	sick        map[string]bool
	healthPolls int
	polls       int
	tasks       int
	registers   []activities.RegisterInput
	weights     []weightCall
	deregs      []activities.DeregisterInput
	// times are when each SetWeight was called.
	times []time.Time
}

func newCloud(t *testing.T) *cloud {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: workflows.TaskQueue})
	env.RegisterWorkflowWithOptions(workflows.RestoreTargets, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
	c := &cloud{t: t, env: env, bound: map[string]map[string]int64{}, sick: map[string]bool{}}
	return c
}

// mock plays every activity; mocks a test sets before win.
func (c *cloud) mock() {
	c.env.OnActivity(a.RegisterTargets, mock.Anything, mock.Anything).Return(c.register).Maybe()
	c.env.OnActivity(a.SetWeights, mock.Anything, mock.Anything).Return(c.setWeights).Maybe()
	c.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(c.deregister).Maybe()
	c.env.OnActivity(a.TargetHealth, mock.Anything, mock.Anything).Return(c.health).Maybe()
	c.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).After(2*time.Second).Return(activities.WaitResult{}, nil).Maybe()
}

func (c *cloud) at(sel clb.Selector) map[string]int64 {
	m := c.bound[sel.String()]
	if m == nil {
		m = map[string]int64{}
		c.bound[sel.String()] = m
	}
	return m
}

func (c *cloud) taskID() string {
	c.tasks++
	return fmt.Sprintf("task-%d", c.tasks)
}

func (c *cloud) register(ctx context.Context, in activities.RegisterInput) (activities.RegisterResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registers = append(c.registers, in)
	res := activities.RegisterResult{Attempt: int(activity.GetInfo(ctx).Attempt)}
	m := c.at(in.Selector)
	for _, t := range in.Targets {
		if w, ok := m[t.Key()]; ok {
			res.AlreadyBound = append(res.AlreadyBound, weighted(t.Target, w))
			continue
		}
		m[t.Key()] = t.Weight
		res.Sent = append(res.Sent, t)
	}
	if len(res.Sent) > 0 {
		res.TaskID = c.taskID()
	}
	return res, nil
}

// weightCall is one SetWeights call, its targets flattened.
type weightCall struct {
	LoadBalancerId string
	Targets        []clb.WeightedTarget
}

func (c *cloud) setWeights(ctx context.Context, in activities.SetWeightsInput) (activities.SetWeightsResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := weightCall{LoadBalancerId: in.LoadBalancerId}
	var res activities.SetWeightsResult
	for _, e := range in.Entries {
		call.Targets = append(call.Targets, e.Targets...)
		m := c.at(e.Selector)
		sent := clb.BatchWeightEntry{Selector: e.Selector}
		for _, t := range e.Targets {
			w, ok := m[t.Key()]
			switch {
			case !ok:
				res.Skipped = append(res.Skipped, clb.BatchWeightEntry{Selector: e.Selector, Targets: []clb.WeightedTarget{t}})
			case w == t.Weight:
				res.AlreadySet = append(res.AlreadySet, clb.BatchWeightEntry{Selector: e.Selector, Targets: []clb.WeightedTarget{t}})
			default:
				m[t.Key()] = t.Weight
				sent.Targets = append(sent.Targets, t)
			}
		}
		if len(sent.Targets) > 0 {
			res.Sent = append(res.Sent, sent)
		}
	}
	c.weights = append(c.weights, call)
	c.times = append(c.times, c.env.Now())
	if len(res.Sent) > 0 {
		res.TaskID = c.taskID()
	}
	return res, nil
}

func (c *cloud) deregister(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deregs = append(c.deregs, in)
	m := c.at(in.Selector)
	for _, t := range in.Targets {
		delete(m, t.Key())
	}
	return activities.DeregisterResult{TaskID: c.taskID(), Sent: in.Targets, Attempt: 1}, nil
}

func (c *cloud) health(ctx context.Context, in activities.HealthInput) (activities.HealthResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.polls++
	var res activities.HealthResult
	for _, b := range in.Bindings {
		var bh activities.BindingHealth
		for _, t := range b.Targets {
			if !c.sick[t.Key()] && c.polls > c.healthPolls {
				bh.Healthy = append(bh.Healthy, t)
			} else {
				bh.NotHealthy = append(bh.NotHealthy, t)
			}
		}
		res.Bindings = append(res.Bindings, bh)
	}
	return res, nil
}

func (c *cloud) run(in workflows.RestoreInput) {
	c.env.ExecuteWorkflow(workflows.RestoreWorkflowName, in)
	require.True(c.t, c.env.IsWorkflowCompleted())
}

func (c *cloud) result() workflows.RestoreResult {
	require.NoError(c.t, c.env.GetWorkflowError())
	var res workflows.RestoreResult
	require.NoError(c.t, c.env.GetWorkflowResult(&res))
	return res
}

// weightsOf is what the cloud has bound where sel names.
func (c *cloud) weightsOf(sel clb.Selector) map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for k, w := range c.at(sel) {
		out[k] = w
	}
	return out
}

func l4Sel() clb.Selector { return clb.Selector{LoadBalancerId: lbID, ListenerId: lisID} }

func l7Sel() clb.Selector {
	return clb.Selector{LoadBalancerId: lbID, ListenerId: "lbl-http0001", LocationId: locID}
}

// varied is n targets from first on, weights 1-100 varied.
func varied(first, n int) clb.WeightedList {
	out := make(clb.WeightedList, n)
	for i := range out {
		out[i] = weighted(cvm(first+i), int64(1+(first+i)*37%100))
	}
	return out
}

// manifest is 45 targets on a listener and 15 on a rule.
func manifest() workflows.RestoreManifest {
	return workflows.RestoreManifest{Source: "clb-drain/lb-abc12345/lbl-abc12345", Reason: "release 42", Bindings: []workflows.ManifestBinding{
		{Selector: l4Sel(), Targets: varied(0, 45)},
		{Selector: l7Sel(), Targets: varied(100, 15)},
	}}
}

func wantWeights(ts clb.WeightedList) map[string]int64 {
	out := map[string]int64{}
	for _, t := range ts {
		out[t.Key()] = t.Weight
	}
	return out
}

func TestRestoreStraightToTheOriginalWeights(t *testing.T) {
	c := newCloud(t)
	c.mock()
	m := manifest()
	c.run(workflows.RestoreInput{Manifest: m})
	res := c.result()
	require.Equal(t, wantWeights(m.Bindings[0].Targets), c.weightsOf(l4Sel()))
	require.Equal(t, wantWeights(m.Bindings[1].Targets), c.weightsOf(l7Sel()))
	require.Len(t, c.registers, 4, "45 in chunks of 20, then 15")
	for _, r := range c.registers {
		require.LessOrEqual(t, len(r.Targets), clb.MaxTargetsPerCall)
	}
	require.Empty(t, c.weights, "bound at their weights: nothing to raise")
	require.Equal(t, m.Bindings[0].Targets, res.Bindings[0].Registered)
	require.Equal(t, "release 42", res.Reason)
	require.False(t, res.Cancelled)
}

func TestRestoreLeavesATargetReAddedByHand(t *testing.T) {
	for _, in := range []workflows.RestoreInput{
		{},
		{WaitHealthy: time.Minute},
		{RampSteps: 3, RampInterval: time.Minute},
	} {
		c := newCloud(t)
		c.mock()
		m := manifest()
		hand := m.Bindings[0].Targets[3]
		c.at(l4Sel())[hand.Key()] = 7
		in.Manifest = m
		c.run(in)
		res := c.result()
		got := c.weightsOf(l4Sel())
		require.EqualValues(t, 7, got[hand.Key()], "the hand's weight stands")
		want := wantWeights(m.Bindings[0].Targets)
		want[hand.Key()] = 7
		require.Equal(t, want, got)
		require.Equal(t, clb.WeightedList{weighted(hand.Target, 7)}, res.Bindings[0].AlreadyBound)
		require.Len(t, res.Bindings[0].Registered, 44)
		for _, w := range c.weights {
			for _, x := range w.Targets {
				require.NotEqual(t, hand.Key(), x.Key(), "never ramped nor raised")
			}
		}
	}
}

func TestRestoreHealthGate(t *testing.T) {
	c := newCloud(t)
	c.mock()
	c.healthPolls = 2
	m := manifest()
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute, HealthPoll: 10 * time.Second})
	c.result()
	for _, r := range c.registers {
		for _, x := range r.Targets {
			require.Zero(t, x.Weight, "bound at 0 until healthy")
		}
	}
	require.Equal(t, 3, c.polls, "two reads unhealthy, the third healthy")
	require.Equal(t, wantWeights(m.Bindings[0].Targets), c.weightsOf(l4Sel()))
	require.Equal(t, wantWeights(m.Bindings[1].Targets), c.weightsOf(l7Sel()))
	require.True(t, start.Add(8*time.Second+20*time.Second).Equal(c.times[0]), "raised after the third read: %v", c.times[0])
}

func TestRestoreUnhealthy(t *testing.T) {
	for _, on := range []string{"", workflows.OnUnhealthyLeave, workflows.OnUnhealthyDeregister} {
		t.Run("on-unhealthy="+on, func(t *testing.T) {
			c := newCloud(t)
			c.mock()
			m := manifest()
			sick := []clb.WeightedTarget{m.Bindings[0].Targets[1], m.Bindings[1].Targets[4]}
			for _, s := range sick {
				c.sick[s.Key()] = true
			}
			c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute, OnUnhealthy: on})
			err := c.env.GetWorkflowError()
			ae := applicationError(t, err)
			require.Equal(t, workflows.ErrUnhealthy, ae.Type())
			for _, s := range sick {
				require.Contains(t, ae.Error(), s.Key())
			}
			require.Contains(t, ae.Error(), "2 targets not healthy within 1m0s")
			var res workflows.RestoreResult
			require.NoError(t, ae.Details(&res))
			require.Equal(t, clb.TargetList{sick[0].Target}, res.Bindings[0].Unhealthy)
			got := c.weightsOf(l4Sel())
			want := wantWeights(m.Bindings[0].Targets)
			if on == workflows.OnUnhealthyDeregister {
				delete(want, sick[0].Key())
				require.Equal(t, clb.TargetList{sick[0].Target}, res.Bindings[0].Removed)
				require.Len(t, res.Bindings[0].Registered, 44)
			} else {
				want[sick[0].Key()] = 0
				require.Empty(t, c.deregs)
			}
			require.Equal(t, want, got)
		})
	}
}

func TestRestoreRamp(t *testing.T) {
	c := newCloud(t)
	c.mock()
	m := workflows.RestoreManifest{Bindings: []workflows.ManifestBinding{{Selector: l4Sel(),
		Targets: clb.WeightedList{weighted(cvm(1), 10), weighted(cvm(2), 100), weighted(cvm(3), 1), weighted(cvm(4), 0)}}}}
	c.run(workflows.RestoreInput{Manifest: m, RampSteps: 4, RampInterval: time.Minute})
	res := c.result()
	var steps [][]int64
	for _, w := range c.weights {
		var ws []int64
		for _, x := range w.Targets {
			ws = append(ws, x.Weight)
		}
		steps = append(steps, ws)
	}
	require.Equal(t, [][]int64{{3, 25, 1}, {5, 50}, {8, 75}, {10, 100}}, steps, "weight 1 reaches 1 at once, weight 0 is never sent")
	require.Equal(t, time.Minute+2*time.Second, c.times[2].Sub(c.times[1]), "the interval after the step's task")
	require.Equal(t, 4, res.RampStep)
	require.Equal(t, wantWeights(m.Bindings[0].Targets), c.weightsOf(l4Sel()))
}

func TestRestoreCancelDuringRamp(t *testing.T) {
	c := newCloud(t)
	c.mock()
	m := workflows.RestoreManifest{Bindings: []workflows.ManifestBinding{{Selector: l4Sel(),
		Targets: clb.WeightedList{weighted(cvm(1), 10), weighted(cvm(2), 100)}}}}
	c.env.RegisterDelayedCallback(c.env.CancelWorkflow, 150*time.Second)
	c.run(workflows.RestoreInput{Manifest: m, RampSteps: 10, RampInterval: time.Minute})
	res := c.result()
	require.True(t, res.Cancelled)
	got := c.weightsOf(l4Sel())
	require.Equal(t, map[string]int64{cvm(1).Key(): 3, cvm(2).Key(): 30}, got, "left at the third step")
	require.Equal(t, 3, res.RampStep)
	require.Equal(t, clb.WeightedList{weighted(cvm(1), 3), weighted(cvm(2), 30)}, res.Bindings[0].Registered, "reported at the weights left")
	require.Len(t, c.weights, 3)
}

func TestRestoreCancelDuringHealthWait(t *testing.T) {
	c := newCloud(t)
	c.mock()
	c.healthPolls = 100
	m := manifest()
	c.env.RegisterDelayedCallback(c.env.CancelWorkflow, time.Minute)
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Hour})
	res := c.result()
	require.True(t, res.Cancelled)
	require.Empty(t, c.weights)
	require.Len(t, res.Bindings[0].Registered, 45)
	require.Empty(t, res.Bindings[0].Unhealthy)
}

func TestRestoreCountsItsOwnLostRegistration(t *testing.T) {
	c := newCloud(t)
	m := manifest()
	// A first attempt bound the chunk and its answer was lost: the retry
	// finds the targets bound at the weight it sends.
	c.env.OnActivity(a.RegisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RegisterInput) (activities.RegisterResult, error) {
			res, err := c.register(ctx, in)
			if err == nil && in.Targets[0].Key() == m.Bindings[0].Targets[0].Key() {
				res.Attempt, res.AlreadyBound, res.Sent, res.TaskID = 2, append(res.AlreadyBound, res.Sent...), nil, ""
			}
			return res, err
		})
	c.mock()
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute})
	res := c.result()
	require.Empty(t, res.Bindings[0].AlreadyBound)
	require.Len(t, res.Bindings[0].Registered, 45)
	require.Equal(t, wantWeights(m.Bindings[0].Targets), c.weightsOf(l4Sel()), "raised as its own")
}

func TestRestoreSendsAChunkAgainAfterItsTaskFailed(t *testing.T) {
	c := newCloud(t)
	c.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskFailed("task-1", "backend error")).Once()
	c.mock()
	m := manifest()
	c.run(workflows.RestoreInput{Manifest: m})
	res := c.result()
	require.Len(t, c.registers, 5)
	require.True(t, c.registers[1].Recheck)
	require.Equal(t, c.registers[0].Targets, c.registers[1].Targets)
	require.Len(t, res.Bindings[0].Registered, 45)
	require.Empty(t, res.Bindings[0].AlreadyBound)
}

func TestRestoreFailsOnARegisterError(t *testing.T) {
	c := newCloud(t)
	c.env.OnActivity(a.RegisterTargets, mock.Anything, mock.Anything).Return(activities.RegisterResult{}, appErr("denied", "AuthFailure", true))
	c.mock()
	c.run(workflows.RestoreInput{Manifest: manifest()})
	ae := applicationError(t, c.env.GetWorkflowError())
	require.Equal(t, "AuthFailure", ae.Type())
	require.Contains(t, ae.Error(), "registering targets on lb-abc12345/lbl-abc12345")
}

func TestRestoreLoadBalancersInParallel(t *testing.T) {
	c := newCloud(t)
	c.mock()
	other := clb.Selector{LoadBalancerId: lbID2, ListenerId: lisID}
	m := workflows.RestoreManifest{Bindings: []workflows.ManifestBinding{
		{Selector: l4Sel(), Targets: varied(0, 40)},
		{Selector: other, Targets: varied(200, 40)},
	}}
	c.run(workflows.RestoreInput{Manifest: m})
	res := c.result()
	require.Equal(t, wantWeights(m.Bindings[1].Targets), c.weightsOf(other))
	require.Equal(t, 4*time.Second, res.Finished.Sub(res.Started), "two tasks each, side by side")
}

func TestRestoreRefusesBadInput(t *testing.T) {
	good := func() workflows.RestoreInput { return workflows.RestoreInput{Manifest: manifest()} }
	cases := map[string]struct {
		edit  func(*workflows.RestoreInput)
		field string
	}{
		"no bindings": {func(in *workflows.RestoreInput) { in.Manifest.Bindings = nil }, "Manifest.Bindings"},
		"bad lb":      {func(in *workflows.RestoreInput) { in.Manifest.Bindings[0].Selector.LoadBalancerId = "lb-X" }, "Manifest.Bindings[0].Selector.LoadBalancerId"},
		"twice":       {func(in *workflows.RestoreInput) { in.Manifest.Bindings[1].Selector = l4Sel() }, "Manifest.Bindings[1].Selector"},
		"no targets":  {func(in *workflows.RestoreInput) { in.Manifest.Bindings[0].Targets = nil }, "Manifest.Bindings[0].Targets"},
		"weight":      {func(in *workflows.RestoreInput) { in.Manifest.Bindings[0].Targets[2].Weight = 101 }, "Manifest.Bindings[0].Targets[2].Weight"},
		"dup target": {func(in *workflows.RestoreInput) {
			in.Manifest.Bindings[0].Targets[2] = in.Manifest.Bindings[0].Targets[1]
		}, "Manifest.Bindings[0].Targets[2]"},
		"bad port":           {func(in *workflows.RestoreInput) { in.Manifest.Bindings[0].Targets[0].Port = 0 }, "Manifest.Bindings[0].Targets[0].Port"},
		"wait":               {func(in *workflows.RestoreInput) { in.WaitHealthy = -time.Second }, "WaitHealthy"},
		"on-unhealthy":       {func(in *workflows.RestoreInput) { in.OnUnhealthy = "drop" }, "OnUnhealthy"},
		"deregister no gate": {func(in *workflows.RestoreInput) { in.OnUnhealthy = workflows.OnUnhealthyDeregister }, "OnUnhealthy"},
		"poll":               {func(in *workflows.RestoreInput) { in.HealthPoll = time.Millisecond }, "HealthPoll"},
		"steps":              {func(in *workflows.RestoreInput) { in.RampSteps = 1000 }, "RampSteps"},
		"steps no interval":  {func(in *workflows.RestoreInput) { in.RampSteps = 3 }, "RampInterval"},
		"interval no steps":  {func(in *workflows.RestoreInput) { in.RampInterval = time.Minute }, "RampInterval"},
		"reason":             {func(in *workflows.RestoreInput) { in.Reason = strings.Repeat("x", workflows.MaxReasonLen+1) }, "Reason"},
		"requester":          {func(in *workflows.RestoreInput) { in.Requester = strings.Repeat("x", workflows.MaxRequesterLen+1) }, "Requester"},
	}
	require.NoError(t, workflows.ValidateRestore(good()))
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := good()
			tc.edit(&in)
			err := workflows.ValidateRestore(in)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.field+" = ")
			c := newCloud(t)
			c.mock()
			c.run(in)
			ae := applicationError(t, c.env.GetWorkflowError())
			require.Equal(t, workflows.ErrInvalidInput, ae.Type())
			require.Empty(t, c.registers)
		})
	}
}

func TestRestoreWorkflowID(t *testing.T) {
	m := manifest()
	require.Equal(t, "clb-restore/clb-drain/lb-abc12345/lbl-abc12345", workflows.RestoreWorkflowID(m))
	m.Source = ""
	id := workflows.RestoreWorkflowID(m)
	require.True(t, strings.HasPrefix(id, "clb-restore/manifest-"), id)
	require.Equal(t, id, workflows.RestoreWorkflowID(manifestWithoutSource()), "the same manifest, the same ID")
	m.Bindings[0].Targets[0].Weight++
	require.NotEqual(t, id, workflows.RestoreWorkflowID(m))
}

func manifestWithoutSource() workflows.RestoreManifest {
	m := manifest()
	m.Source = ""
	return m
}

func TestRestoreProgress(t *testing.T) {
	c := newCloud(t)
	c.mock()
	c.healthPolls = 1000
	m := manifest()
	var p workflows.RestoreProgress
	c.env.RegisterDelayedCallback(func() {
		v, err := c.env.QueryWorkflow(workflows.QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&p))
		c.env.CancelWorkflow()
	}, time.Minute)
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Hour})
	require.Equal(t, workflows.PhaseHealthWait, p.Phase)
	require.Equal(t, 60, p.TargetsTotal)
	require.Equal(t, 60, p.Registered)
	require.Zero(t, p.AtWeight)
	require.False(t, p.HealthUntil.IsZero())
}

func TestRestoreRaisesWeightsInBatches(t *testing.T) {
	c := newCloud(t)
	c.mock()
	m := workflows.RestoreManifest{Bindings: []workflows.ManifestBinding{
		{Selector: l4Sel(), Targets: varied(0, 450)},
		{Selector: l7Sel(), Targets: varied(1000, 150)},
	}}
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute})
	c.result()
	require.Len(t, c.weights, 2, "600 targets healthy at once: 500, then 100")
	require.Len(t, c.weights[0].Targets, clb.MaxBatchTargets)
	require.Len(t, c.weights[1].Targets, 100)
	require.Equal(t, wantWeights(m.Bindings[1].Targets), c.weightsOf(l7Sel()))
}

func TestRestoreSendsWeightsAgainAfterTheirTaskFailed(t *testing.T) {
	c := newCloud(t)
	var ins []activities.SetWeightsInput
	c.env.OnActivity(a.SetWeights, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SetWeightsInput) (activities.SetWeightsResult, error) {
			ins = append(ins, in)
			return c.setWeights(ctx, in)
		})
	// Registration takes tasks 1-4; the weight task is task-5.
	c.env.OnActivity(a.WaitForTask, mock.Anything, mock.MatchedBy(func(in activities.WaitInput) bool { return in.TaskID == "task-5" })).
		Return(activities.WaitResult{}, taskFailed("task-5", "backend error")).Once()
	c.mock()
	m := manifest()
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: time.Minute})
	c.result()
	require.Len(t, ins, 2)
	require.False(t, ins[0].Recheck)
	require.True(t, ins[1].Recheck)
	require.Equal(t, wantWeights(m.Bindings[0].Targets), c.weightsOf(l4Sel()))
}

func TestRestoreTimesItsTasksFromTheirCalls(t *testing.T) {
	c := newCloud(t)
	created := start.Add(time.Hour)
	var waits []activities.WaitInput
	c.env.OnActivity(a.RegisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RegisterInput) (activities.RegisterResult, error) {
			res, err := c.register(ctx, in)
			res.TaskCreated = created
			return res, err
		})
	c.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WaitInput) (activities.WaitResult, error) {
			waits = append(waits, in)
			return activities.WaitResult{}, nil
		})
	c.mock()
	c.run(workflows.RestoreInput{Manifest: manifest()})
	c.result()
	require.Len(t, waits, 4)
	for _, w := range waits {
		require.True(t, created.Equal(w.TaskCreated), "%+v", w)
		require.Equal(t, clb.ActionRegisterTargets, w.Action)
		require.Equal(t, lbID, w.LoadBalancerID)
	}
}

func TestRestoreRampsNothingWithoutTimers(t *testing.T) {
	c := newCloud(t)
	c.mock()
	m := workflows.RestoreManifest{Bindings: []workflows.ManifestBinding{{Selector: l4Sel(),
		Targets: clb.WeightedList{weighted(cvm(1), 10), weighted(cvm(2), 0)}}}}
	c.at(l4Sel())[cvm(1).Key()] = 5 // re-added by hand: not the ramp's
	c.run(workflows.RestoreInput{Manifest: m, RampSteps: 10, RampInterval: time.Hour})
	res := c.result()
	require.Empty(t, c.weights)
	require.Zero(t, res.RampStep)
	require.Less(t, res.Finished.Sub(res.Started), time.Minute, "no ramp interval waited")
	require.Equal(t, map[string]int64{cvm(1).Key(): 5, cvm(2).Key(): 0}, c.weightsOf(l4Sel()))
}

func TestRestoreReadsHealthLessOftenOverALongGate(t *testing.T) {
	c := newCloud(t)
	c.mock()
	c.healthPolls = 1 << 30
	m := manifest()
	c.run(workflows.RestoreInput{Manifest: m, WaitHealthy: 24 * time.Hour, HealthPoll: time.Second})
	ae := applicationError(t, c.env.GetWorkflowError())
	require.Equal(t, workflows.ErrUnhealthy, ae.Type())
	// One load balancer: a read every 24h / 2000 = 43.2 s, not every second.
	require.LessOrEqual(t, c.polls, workflows.MaxHealthReads+1)
	require.GreaterOrEqual(t, c.polls, workflows.MaxHealthReads-1)
}
