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
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
	"github.com/clbdrain/clbdrain/workflows"
)

// The servers of these tests: two CVMs by InstanceId, one ENI target by IP.
var (
	srvA   = clb.Server{InstanceId: "ins-srva0001"}
	srvB   = clb.Server{InstanceId: "ins-srvb0002"}
	srvENI = clb.Server{Ip: "10.0.9.9"}
)

func cvmAt(id, ip string, port, weight int64) clb.BoundTarget {
	return clb.BoundTarget{Type: clb.TypeCVM, InstanceId: id, PrivateIpAddresses: []string{ip}, Port: port, Weight: weight}
}

func eniAt(ip string, port, weight int64) clb.BoundTarget {
	return clb.BoundTarget{Type: clb.TypeENI, PrivateIpAddresses: []string{ip}, Port: port, Weight: weight}
}

// serversFleet: lb-srv00001 binds A and the ENI server on a TCP listener
// and A on one rule of an HTTP listener; lb-srv00002 binds B; lb-srv00003
// binds none of them. Every listener or rule keeps others.
func serversFleet() clbsim.State {
	return clbsim.State{LoadBalancers: []clbsim.LoadBalancer{
		{LoadBalancerId: "lb-srv00001", Listeners: []clb.Listener{
			{ListenerId: "lbl-tcp00001", Protocol: clb.ProtocolTCP, Port: 80, Targets: []clb.BoundTarget{
				cvmAt("ins-srva0001", "10.0.1.1", 80, 10), cvmAt("ins-keep0001", "10.0.1.2", 80, 20), eniAt("10.0.9.9", 80, 30)}},
			{ListenerId: "lbl-http0001", Protocol: clb.ProtocolHTTP, Port: 8080, Rules: []clb.Rule{
				{LocationId: "loc-rule0001", Domain: "a.example.com", Url: "/", Targets: []clb.BoundTarget{
					cvmAt("ins-srva0001", "10.0.1.1", 8080, 40), cvmAt("ins-keep0002", "10.0.1.3", 8080, 10)}},
				{LocationId: "loc-rule0002", Domain: "b.example.com", Url: "/", Targets: []clb.BoundTarget{
					cvmAt("ins-keep0003", "10.0.1.4", 8080, 10)}},
			}},
		}},
		{LoadBalancerId: "lb-srv00002", Listeners: []clb.Listener{
			{ListenerId: "lbl-tcp00002", Protocol: clb.ProtocolTCP, Port: 443, Targets: []clb.BoundTarget{
				cvmAt("ins-srvb0002", "10.0.2.1", 443, 50), cvmAt("ins-keep0004", "10.0.2.2", 443, 50)}},
		}},
		{LoadBalancerId: "lb-srv00003", Listeners: []clb.Listener{
			{ListenerId: "lbl-tcp00003", Protocol: clb.ProtocolTCP, Port: 80, Targets: []clb.BoundTarget{
				cvmAt("ins-keep0005", "10.0.3.1", 80, 10)}},
		}},
	}}
}

// serversEnv runs DrainServers, its children and the real activities
// against the emulator holding state.
type serversEnv struct {
	env *testsuite.TestWorkflowEnvironment
	sim *clbsim.Server
	api *countingCLB
}

// countingCLB counts the calls that reach the emulator, by action.
type countingCLB struct {
	*clb.Client
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingCLB) count(action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[action]++
}

func (c *countingCLB) get(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[action]
}

func (c *countingCLB) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

func (c *countingCLB) DescribeLoadBalancers(ctx context.Context, q clb.LoadBalancerQuery) (clb.LoadBalancerPage, error) {
	c.count(clb.ActionDescribeLoadBalancers)
	return c.Client.DescribeLoadBalancers(ctx, q)
}

func (c *countingCLB) DescribeListenersTargets(ctx context.Context, lb string, ids []string) ([]clb.Listener, error) {
	c.count(clb.ActionDescribeTargets)
	return c.Client.DescribeListenersTargets(ctx, lb, ids)
}

func (c *countingCLB) DescribeListeners(ctx context.Context, lb string, ids ...string) ([]clb.ListenerAttributes, error) {
	c.count(clb.ActionDescribeListeners)
	return c.Client.DescribeListeners(ctx, lb, ids...)
}

func (c *countingCLB) BatchModifyTargetWeight(ctx context.Context, lb string, entries []clb.BatchWeightEntry) (string, error) {
	c.count(clb.ActionBatchModifyTargetWeight)
	return c.Client.BatchModifyTargetWeight(ctx, lb, entries)
}

func (c *countingCLB) DeregisterTargets(ctx context.Context, sel clb.Selector, targets []clb.Target) (string, error) {
	c.count(clb.ActionDeregisterTargets)
	return c.Client.DeregisterTargets(ctx, sel, targets)
}

func newServersEnv(t *testing.T, state clbsim.State) *serversEnv {
	return newServersEnvOn(t, state, func(env *testsuite.TestWorkflowEnvironment) simClock { return &envClock{env: env} })
}

// simClock is the emulator's and the activities' clock.
type simClock interface {
	clbsim.Clock
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is an envClock that follows the wall clock instead of the
// workflow's, for tests whose workflows wait longer than the emulator's
// MaxClockSkew: the client signs with the wall clock.
type wallClock struct{ envClock }

func (c *wallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.slept)
}

func newServersEnvOn(t *testing.T, state clbsim.State, newClock func(*testsuite.TestWorkflowEnvironment) simClock) *serversEnv {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: workflows.TaskQueue, ID: "clb-drain-servers/test"})
	clock := newClock(env)
	c, sim := clbsimtest.Start(t, clbsim.Config{State: state, TaskLatency: 500 * time.Millisecond, Clock: clock, Rate: -1})
	api := &countingCLB{Client: c, calls: map[string]int{}}
	env.RegisterActivity(&activities.Activities{CLB: api, Now: clock.Now, Sleep: clock.Sleep})
	env.RegisterWorkflowWithOptions(workflows.DrainServers, workflow.RegisterOptions{Name: workflows.ServersWorkflowName})
	env.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	return &serversEnv{env: env, sim: sim, api: api}
}

func serversInput() workflows.ServersInput {
	return workflows.ServersInput{Servers: []clb.Server{srvA, srvB, srvENI}, DrainDelay: time.Minute, Reason: "rotate", Requester: "alice"}
}

// bound is every binding of the emulator now, "selector target@weight".
func (e *serversEnv) bound() map[string]int64 {
	out := map[string]int64{}
	for _, lb := range e.sim.State().LoadBalancers {
		for _, l := range lb.Listeners {
			sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
			for _, b := range l.Targets {
				out[sel.String()+" "+b.Identity(clb.Target{EniIp: first(b.PrivateIpAddresses)}).Key()] = b.Weight
			}
			for _, r := range l.Rules {
				rs := sel
				rs.LocationId = r.LocationId
				for _, b := range r.Targets {
					out[rs.String()+" "+b.Identity(clb.Target{EniIp: first(b.PrivateIpAddresses)}).Key()] = b.Weight
				}
			}
		}
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// removals are the five bindings of the three servers, with their weights.
var removals = map[string]int64{
	"lb-srv00001/lbl-tcp00001 ins-srva0001:80":                10,
	"lb-srv00001/lbl-tcp00001 10.0.9.9:80":                    30,
	"lb-srv00001/lbl-http0001/loc-rule0001 ins-srva0001:8080": 40,
	"lb-srv00002/lbl-tcp00002 ins-srvb0002:443":               50,
}

func manifestLines(m workflows.RestoreManifest) map[string]int64 {
	out := map[string]int64{}
	for _, b := range m.Bindings {
		for _, t := range b.Targets {
			out[b.Selector.String()+" "+t.Key()] = t.Weight
		}
	}
	return out
}

func TestDrainServersRemovesEveryBinding(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	before := e.bound()
	e.env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: "servers-queue", ID: "clb-drain-servers/test"})
	var childQueues, claims []string
	e.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		childQueues = append(childQueues, info.TaskQueueName)
		if info.WorkflowType.Name == workflows.ClaimWorkflowName && strings.HasPrefix(info.WorkflowExecution.ID, "clb-drain-server/") {
			claims = append(claims, info.WorkflowExecution.ID)
		}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
	require.True(t, e.env.IsWorkflowCompleted())
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))

	require.Equal(t, removals, manifestLines(res.RestoreManifest), "the manifest carries the weights from before the drain")
	require.Equal(t, "clb-drain-servers/test", res.Source)
	require.Empty(t, res.Skipped)
	require.Equal(t, 3, res.Plan.Bindings)
	require.Equal(t, 4, res.Plan.Targets)
	require.Equal(t, 3, res.Plan.Searched)
	after := e.bound()
	for k, w := range before {
		if _, gone := removals[k]; gone {
			require.NotContains(t, after, k)
			continue
		}
		require.Equal(t, w, after[k], "untouched: %s", k)
	}
	require.Len(t, after, len(before)-len(removals))
	// One weight task per load balancer, each target unbound once.
	require.Equal(t, 2, e.api.get(clb.ActionBatchModifyTargetWeight))
	gone := map[string]int{}
	for _, c := range e.sim.Audit() {
		if c.Action == clb.ActionDeregisterTargets {
			gone[c.Target]++
		}
	}
	require.Len(t, gone, 4)
	for _, o := range res.Outcomes {
		require.Equal(t, workflows.BindingRemoved, o.Outcome, o.Selector.String())
	}
	// A claim per server, three drains, and the rule's drain's claim of
	// its other spelling.
	require.Len(t, childQueues, 3+3+1)
	for _, q := range childQueues {
		require.Equal(t, "servers-queue", q, "children run on the drain's task queue")
	}
	require.ElementsMatch(t, []string{"clb-drain-server/ins-srva0001", "clb-drain-server/ins-srvb0002", "clb-drain-server/10.0.9.9"}, claims)
	// The JSON of the result reads as a RestoreManifest.
	var m workflows.RestoreManifest
	require.NoError(t, e.env.GetWorkflowResult(&m))
	require.Equal(t, removals, manifestLines(m))
}

func TestDrainServersCapacityGuards(t *testing.T) {
	for _, tc := range []struct {
		name   string
		guards workflows.Guards
		fault  []string
	}{
		{"min remaining 2", workflows.Guards{MinRemaining: 2},
			[]string{"lb-srv00001/lbl-tcp00001", "lb-srv00001/lbl-http0001/loc-rule0001", "lb-srv00002/lbl-tcp00002"}},
		{"min remaining percent 50", workflows.Guards{MinRemainingPercent: 50},
			[]string{"lb-srv00001/lbl-tcp00001", "lb-srv00001/lbl-http0001/loc-rule0001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newServersEnv(t, serversFleet())
			in := serversInput()
			in.Guards = tc.guards
			e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
			err := e.env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			require.Equal(t, workflows.ErrCapacityGuard, appErr.Type())
			var v []workflows.GuardViolation
			require.NoError(t, appErr.Details(&v))
			var at []string
			for _, x := range v {
				at = append(at, x.Selector.String())
				require.Contains(t, err.Error(), x.Selector.String())
			}
			require.Equal(t, tc.fault, at)
			require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets), "nothing changed")
		})
	}
}

func TestDrainServersAllowEmpty(t *testing.T) {
	state := serversFleet()
	// lb-srv00002's listener binds only B: empty once B is gone.
	state.LoadBalancers[1].Listeners[0].Targets = state.LoadBalancers[1].Listeners[0].Targets[:1]
	e := newServersEnv(t, state)
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrCapacityGuard, appErr.Type())
	require.Contains(t, appErr.Error(), "lb-srv00002/lbl-tcp00002: would keep 0 target(s)")

	e = newServersEnv(t, state)
	in := serversInput()
	in.Guards.AllowEmpty = true
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
}

// approveAfter sends an Update after d and records its outcome.
type updateOutcome struct {
	mu       sync.Mutex
	rejected error
	done     bool
}

func (u *updateOutcome) Accept()             {}
func (u *updateOutcome) Reject(err error)    { u.mu.Lock(); u.rejected, u.done = err, true; u.mu.Unlock() }
func (u *updateOutcome) Complete(any, error) { u.mu.Lock(); u.done = true; u.mu.Unlock() }
func (u *updateOutcome) result() (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.done, u.rejected
}
func (e *serversEnv) plan(t *testing.T) *workflows.Plan {
	v, err := e.env.QueryWorkflow(workflows.QueryProgress)
	require.NoError(t, err)
	var p workflows.ServersProgress
	require.NoError(t, v.Get(&p))
	return p.Plan
}

func (e *serversEnv) update(at time.Duration, name string, in func() workflows.ApprovalInput) *updateOutcome {
	u := &updateOutcome{}
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, fmt.Sprint(at, name), u, in())
	}, at)
	return u
}

func TestDrainServersApproval(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.Approval = true
	planID := func() string { return e.plan(t).ID }
	noBy := e.update(time.Minute, workflows.UpdateApprove, func() workflows.ApprovalInput { return workflows.ApprovalInput{PlanID: planID()} })
	stale := e.update(2*time.Minute, workflows.UpdateApprove, func() workflows.ApprovalInput {
		return workflows.ApprovalInput{PlanID: "plan-0000000000000000", By: "bob"}
	})
	var changesBefore int
	ok := e.update(3*time.Minute, workflows.UpdateApprove, func() workflows.ApprovalInput {
		changesBefore = e.api.get(clb.ActionBatchModifyTargetWeight) + e.api.get(clb.ActionDeregisterTargets)
		return workflows.ApprovalInput{PlanID: planID(), By: "bob", Comment: "go"}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())

	_, err := noBy.result()
	require.ErrorContains(t, err, "By")
	_, err = stale.result()
	require.ErrorContains(t, err, "is not the current plan")
	done, err := ok.result()
	require.True(t, done)
	require.NoError(t, err)
	require.Zero(t, changesBefore, "nothing changes before the approval")

	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.NotNil(t, res.Approval)
	require.Equal(t, "bob", res.Approval.By)
	require.True(t, res.Approval.Approved)
	require.Equal(t, removals, manifestLines(res.RestoreManifest))
	require.Equal(t, 2, e.api.get(clb.ActionDescribeLoadBalancers), "the bindings are read again once approved")
}

func TestDrainServersRejected(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.Approval = true
	e.update(time.Minute, workflows.UpdateReject, func() workflows.ApprovalInput {
		return workflows.ApprovalInput{PlanID: e.plan(t).ID, By: "carol", Comment: "not today"}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrRejected, appErr.Type())
	require.Contains(t, appErr.Error(), "carol")
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets))
}

// A binding whose weight changed between the plan and the approval fails
// the drain with the difference, before any change.
func TestDrainServersStalePlan(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.Approval = true
	var id string
	e.env.RegisterDelayedCallback(func() {
		id = e.plan(t).ID
		sel := clb.Selector{LoadBalancerId: "lb-srv00002", ListenerId: "lbl-tcp00002"}
		_, err := e.api.Client.ModifyTargetWeight(context.Background(), sel,
			[]clb.WeightedTarget{{Target: clb.Target{InstanceId: "ins-srvb0002", Port: 443}, Weight: 7}})
		require.NoError(t, err)
	}, time.Minute)
	e.update(2*time.Minute, workflows.UpdateApprove, func() workflows.ApprovalInput {
		return workflows.ApprovalInput{PlanID: id, By: "bob"}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrPlanChanged, appErr.Type())
	require.Contains(t, appErr.Error(), "- lb-srv00002/lbl-tcp00002 ins-srvb0002:443@50")
	require.Contains(t, appErr.Error(), "+ lb-srv00002/lbl-tcp00002 ins-srvb0002:443@7")
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets))
}

// Cancelled during the drain delay, the drain gives every weight back and
// removes nothing; cancelled while waiting for approval, it changes nothing.
func TestDrainServersCancel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		approval bool
		at       time.Duration
		weights  int
	}{
		{"in the drain delay", false, 30 * time.Second, 4},
		{"awaiting approval", true, time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newServersEnv(t, serversFleet())
			before := e.bound()
			in := serversInput()
			in.Approval = tc.approval
			e.env.RegisterDelayedCallback(e.env.CancelWorkflow, tc.at)
			e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
			require.NoError(t, e.env.GetWorkflowError())
			var res workflows.ServersResult
			require.NoError(t, e.env.GetWorkflowResult(&res))
			require.True(t, res.Cancelled)
			require.Empty(t, res.RestoreManifest.Bindings)
			require.Equal(t, before, e.bound(), "every weight as it was")
			restored := 0
			for _, o := range res.Outcomes {
				require.Equal(t, workflows.BindingCancelled, o.Outcome)
				restored += o.Restored
			}
			require.Equal(t, tc.weights, restored)
			require.Zero(t, e.api.get(clb.ActionDeregisterTargets))
		})
	}
}

// A child that fails leaves its binding reported, the others removed.
func TestDrainServersChildFails(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	e.sim.SetFaults(clbsim.Faults{{Action: clb.ActionDeregisterTargets, Kind: clbsim.FaultError, Code: "UnauthorizedOperation", Probability: 1}})
	in := serversInput()
	in.DrainDelay = 0
	in.Servers = []clb.Server{srvB}
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrBindingsFailed, appErr.Type())
	var res workflows.ServersResult
	require.NoError(t, appErr.Details(&res))
	require.Len(t, res.Outcomes, 1)
	require.Equal(t, workflows.BindingFailed, res.Outcomes[0].Outcome)
	require.Contains(t, res.Outcomes[0].Error, "UnauthorizedOperation")
	require.Len(t, res.Skipped, 1)
	require.Contains(t, res.Skipped[0].Why, "failed")
	require.Empty(t, res.RestoreManifest.Bindings)
}

func TestDrainServersInvalidInput(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.Servers = append(in.Servers, clb.Server{InstanceId: "ins-srva0001", Port: 80}, clb.Server{Ip: "nope"})
	in.Guards = workflows.Guards{AllowEmpty: true, MinRemaining: 2}
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrInvalidInput, appErr.Type())
	var problems []clb.Problem
	require.NoError(t, appErr.Details(&problems))
	require.Len(t, problems, 3)
	require.Zero(t, e.api.total(), "no API call")
}

func TestDrainServersUnknownLoadBalancer(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.LoadBalancerIds = []string{"lb-srv00001", "lb-nothere1"}
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrInvalidInput, appErr.Type())
	require.Contains(t, appErr.Error(), "lb-nothere1")
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets))
}

// An instance and its own IP given as two servers name one binding twice.
func TestDrainServersSameBindingTwice(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.Servers = append(in.Servers, clb.Server{Ip: "10.0.1.1"})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrInvalidInput, appErr.Type())
	require.Contains(t, appErr.Error(), "ins-srva0001:* and 10.0.1.1:* name the same binding")
}

// Discovery pages through a region of 150 load balancers, 100 at a time,
// and a scope of a few reads only those.
func TestDrainServersDiscoveryPages(t *testing.T) {
	state := serversFleet()
	for i := range 147 {
		state.LoadBalancers = append(state.LoadBalancers, clbsim.LoadBalancer{LoadBalancerId: fmt.Sprintf("lb-fill%04d", i),
			Listeners: []clb.Listener{{ListenerId: fmt.Sprintf("lbl-fill%04d", i), Protocol: clb.ProtocolTCP, Port: 80,
				Targets: []clb.BoundTarget{cvmAt(fmt.Sprintf("ins-fill%04d", i), "10.1.0.1", 80, 10)}}}})
	}
	e := newServersEnv(t, state)
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Equal(t, 150, res.Plan.Searched)
	require.Equal(t, 2, e.api.get(clb.ActionDescribeLoadBalancers))
	// Once per load balancer searched, and once per child's snapshot.
	require.Equal(t, 150+3, e.api.get(clb.ActionDescribeListeners))
	require.Equal(t, removals, manifestLines(res.RestoreManifest))
}

// CVMOnly narrows a region-wide search of servers named by IP with the
// backend filter: only the load balancers with a CVM at those IPs.
func TestDrainServersBackendFilter(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.Servers, in.CVMOnly = []clb.Server{{Ip: "10.0.2.1"}}, true
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Equal(t, 1, res.Plan.Searched)
	require.Equal(t, map[string]int64{"lb-srv00002/lbl-tcp00002 ins-srvb0002:443": 50}, manifestLines(res.RestoreManifest))
}

// PlanOnly returns the plan, with the guards it breaks, and changes nothing.
func TestDrainServersPlanOnly(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	in := serversInput()
	in.PlanOnly, in.Guards = true, workflows.Guards{MinRemaining: 2}
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Equal(t, 4, res.Plan.Targets)
	require.Len(t, res.Violations, 3)
	require.Empty(t, res.RestoreManifest.Bindings)
	require.Empty(t, res.Skipped)
	require.Empty(t, res.Outcomes)
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets))
	b := res.Plan.LoadBalancers[0].Bindings[0]
	require.Equal(t, activities.Keep{Targets: 1, Weighted: 1, Weight: 20, TotalWeight: 60}, b.Keep)
	require.NotNil(t, b.Listener)
}

func TestServersWorkflowID(t *testing.T) {
	a := workflows.ServersWorkflowID([]clb.Server{{InstanceId: "ins-b"}, {Ip: "10.0.0.5", Port: 80}, {Ip: "fd00::5", Port: 443}})
	b := workflows.ServersWorkflowID([]clb.Server{{Ip: "fd00::5", Port: 443}, {InstanceId: "ins-b"}, {Ip: "10.0.0.5", Port: 80}})
	require.Equal(t, "clb-drain-servers/10.0.0.5:80,[fd00::5]:443,ins-b", a)
	require.Equal(t, a, b, "the order of the servers does not matter")
	var many []clb.Server
	for i := range 40 {
		many = append(many, clb.Server{InstanceId: fmt.Sprintf("ins-%08d", i)})
	}
	long := workflows.ServersWorkflowID(many)
	require.Regexp(t, `^clb-drain-servers/sha256-[0-9a-f]{24}$`, long)
	require.NotEqual(t, long, workflows.ServersWorkflowID(many[1:]))
}

// Cancelled once its first (or third: the first of the second load
// balancer, its first load balancer's two started together) child drain
// started, the server
// drain ends with every planned target either removed (and in the manifest
// with its weight from before) or bound at its weight from before.
func TestDrainServersCancelWhileDeregistering(t *testing.T) {
	for _, tc := range []struct {
		child, removed int
	}{{1, 0}, {3, 3}} {
		t.Run(fmt.Sprint("at child ", tc.child), func(t *testing.T) {
			e := newServersEnv(t, serversFleet())
			before := e.bound()
			started := 0
			e.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
				if info.WorkflowType.Name != workflows.WorkflowName {
					return
				}
				if started++; started == tc.child {
					e.env.RegisterDelayedCallback(e.env.CancelWorkflow, 0)
				}
			})
			in := serversInput()
			in.MaxParallel = 1
			e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
			require.NoError(t, e.env.GetWorkflowError())
			var res workflows.ServersResult
			require.NoError(t, e.env.GetWorkflowResult(&res))
			require.True(t, res.Cancelled)
			removed := manifestLines(res.RestoreManifest)
			require.Len(t, removed, tc.removed)
			after := e.bound()
			for k, w := range removals {
				if rw, ok := removed[k]; ok {
					require.Equal(t, w, rw, k)
					require.NotContains(t, after, k)
					continue
				}
				require.Equal(t, w, after[k], "given back: %s", k)
			}
			for k, w := range before {
				if _, ok := removals[k]; !ok {
					require.Equal(t, w, after[k], "untouched: %s", k)
				}
			}
			require.NotEmpty(t, res.Skipped, "the bindings not removed are listed")
		})
	}
}

// A weight phase that fails fails the drain with the code, and the result
// in its details says per binding what may be left at weight 0.
func TestDrainServersWeightsFail(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	e.sim.SetFaults(clbsim.Faults{{Action: clb.ActionBatchModifyTargetWeight, Kind: clbsim.FaultError, Code: "UnauthorizedOperation", Probability: 1}})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, "UnauthorizedOperation", appErr.Type())
	var res workflows.ServersResult
	require.NoError(t, appErr.Details(&res))
	left := 0
	for _, o := range res.Outcomes {
		require.Equal(t, workflows.BindingNotStarted, o.Outcome)
		left += o.LeftAtZero
	}
	require.Equal(t, 4, left, "marked before the call: it may have been applied")
	require.Zero(t, e.api.get(clb.ActionDeregisterTargets))
}

// A load balancer of 45 listeners is read 20 listeners a DescribeTargets.
func TestDrainServersReadsTwentyListenersACall(t *testing.T) {
	lb := clbsim.LoadBalancer{LoadBalancerId: "lb-many0001"}
	for i := range 45 {
		lb.Listeners = append(lb.Listeners, clb.Listener{ListenerId: fmt.Sprintf("lbl-many%04d", i), Protocol: clb.ProtocolTCP, Port: int64(1000 + i),
			Targets: []clb.BoundTarget{cvmAt("ins-srva0001", "10.0.1.1", 80, 10), cvmAt("ins-keep0001", "10.0.1.2", 80, 10)}})
	}
	e := newServersEnv(t, clbsim.State{LoadBalancers: []clbsim.LoadBalancer{lb}})
	in := serversInput()
	in.PlanOnly = true
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Equal(t, 45, res.Plan.Bindings)
	require.Equal(t, 3, e.api.get(clb.ActionDescribeTargets))
	require.Equal(t, 1, e.api.get(clb.ActionDescribeListeners))
}

// A parent starts DrainServers as a child with ServersChildOptions.
func TestDrainServersAsChild(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	parent := func(ctx workflow.Context, in workflows.ServersInput) (workflows.ServersResult, error) {
		var res workflows.ServersResult
		err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ServersChildOptions(in)),
			workflows.ServersWorkflowName, in).Get(ctx, &res)
		return res, err
	}
	e.env.RegisterWorkflowWithOptions(parent, workflow.RegisterOptions{Name: "Release"})
	e.env.ExecuteWorkflow("Release", serversInput())
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Equal(t, workflows.ServersWorkflowID(serversInput().Servers), res.Source)
	require.Equal(t, removals, manifestLines(res.RestoreManifest))
}

// A child drain cancelled by someone else completes with Cancelled set:
// its binding is reported as failed, the others removed.
func TestDrainServersChildCancelledByAnother(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	e.env.OnWorkflow(workflows.WorkflowName, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
			if in.LoadBalancerId == "lb-srv00002" {
				return workflows.DrainResult{Selector: in.Selector, Cancelled: true}, nil
			}
			return workflows.DrainAndDeregister(ctx, in)
		})
	in := serversInput()
	in.DrainDelay = 0
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrBindingsFailed, appErr.Type())
	var res workflows.ServersResult
	require.NoError(t, appErr.Details(&res))
	require.Len(t, manifestLines(res.RestoreManifest), 3)
	last := res.Outcomes[len(res.Outcomes)-1]
	require.Equal(t, workflows.BindingFailed, last.Outcome)
	require.Contains(t, last.Error, "was cancelled")
}

// Cancelled as discovery starts, or as the weights are being set, the
// server drain removes nothing and leaves every weight as it was.
func TestDrainServersCancelEarly(t *testing.T) {
	for _, at := range []string{"FindBindings", "SetWeights"} {
		t.Run(at, func(t *testing.T) {
			e := newServersEnv(t, serversFleet())
			before := e.bound()
			done := false
			e.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				if info.ActivityType.Name == at && !done {
					done = true
					e.env.RegisterDelayedCallback(e.env.CancelWorkflow, 0)
				}
			})
			e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
			require.NoError(t, e.env.GetWorkflowError())
			var res workflows.ServersResult
			require.NoError(t, e.env.GetWorkflowResult(&res))
			require.True(t, res.Cancelled)
			require.Empty(t, res.RestoreManifest.Bindings)
			require.Equal(t, before, e.bound())
			require.Zero(t, e.api.get(clb.ActionDeregisterTargets))
		})
	}
}

// holdingDrain holds a server's claim under the instance's ID, as a server
// drain of ins-srva0001 does, then runs a server drain of the same CVM
// named by its private IP, and returns that drain's error.
func holdingDrain(ctx workflow.Context, in workflows.ServersInput) error {
	claim := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: workflows.ServerClaimID(srvA)}), workflows.ClaimWorkflowName, workflows.ClaimInput{})
	if err := claim.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ServersChildOptions(in)),
		workflows.ServersWorkflowName, in).Get(ctx, nil)
}

// A server drain naming a CVM by its IP while another holds it by its
// InstanceId is refused before any change: both would drain one server.
func TestDrainServersClaimsAnInstanceNamedByIP(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	e.env.RegisterWorkflow(holdingDrain)
	in := serversInput()
	in.Servers = []clb.Server{{Ip: "10.0.1.1"}}
	e.env.ExecuteWorkflow(holdingDrain, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrAlreadyRunning, appErr.Type())
	require.Contains(t, appErr.Error(), "holds server ins-srva0001")
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets), "nothing changed")
}

// Servers bound to more listeners than one server drain can hold in its
// history and result: refused before any change, saying how to split it.
func TestDrainServersPlanTooLarge(t *testing.T) {
	var listeners []clb.Listener
	for i := range workflows.MaxPlanBindings + 1 {
		listeners = append(listeners, clb.Listener{ListenerId: fmt.Sprintf("lbl-%08d", i), Protocol: clb.ProtocolTCP, Port: int64(1000 + i),
			Targets: []clb.BoundTarget{cvmAt("ins-srva0001", "10.0.1.1", 80, 10), cvmAt("ins-keep0001", "10.0.1.2", 80, 10)}})
	}
	e := newServersEnv(t, clbsim.State{LoadBalancers: []clbsim.LoadBalancer{{LoadBalancerId: "lb-big00001", Listeners: listeners}}})
	in := serversInput()
	in.Servers = []clb.Server{srvA}
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrPlanTooLarge, appErr.Type())
	require.Contains(t, appErr.Error(), "bound to 1001 listeners or rules")
	require.Contains(t, appErr.Error(), "--lb")
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets), "nothing changed")
}

// holdID runs a Holder under id for holdFor (as a listener drain started
// by hand holds its conventional ID), then a server drain, and returns the
// server drain's result.
func holdID(e *serversEnv, id string, holdFor time.Duration) func(ctx workflow.Context, in workflows.ServersInput) (workflows.ServersResult, error) {
	e.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, d time.Duration) error {
		return workflow.Sleep(ctx, d)
	}, workflow.RegisterOptions{Name: "Holder"})
	return func(ctx workflow.Context, in workflows.ServersInput) (workflows.ServersResult, error) {
		hold := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id}), "Holder", holdFor)
		if err := hold.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return workflows.ServersResult{}, err
		}
		var res workflows.ServersResult
		err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflows.ServersChildOptions(in)),
			workflows.ServersWorkflowName, in).Get(ctx, &res)
		return res, err
	}
}

var tcp2 = clb.Selector{LoadBalancerId: "lb-srv00002", ListenerId: "lbl-tcp00002"}

// A binding whose conventional ID another drain holds waits for it to end,
// saying so in the progress, and is then drained.
func TestDrainServersChildWaitsForRunningDrain(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	id := workflows.WorkflowIDFor(workflows.DrainInput{Selector: tcp2})
	e.env.RegisterWorkflowWithOptions(holdID(e, id, 3*time.Minute), workflow.RegisterOptions{Name: "Holding"})
	var waiting string
	e.env.RegisterDelayedCallback(func() {
		v, err := e.env.QueryWorkflowByID(workflows.ServersWorkflowID(serversInput().Servers), workflows.QueryProgress)
		require.NoError(t, err)
		var p workflows.ServersProgress
		require.NoError(t, v.Get(&p))
		waiting = p.WaitingFor
	}, 2*time.Minute)
	e.env.ExecuteWorkflow("Holding", serversInput())
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Equal(t, "waiting for "+id, waiting)
	require.Equal(t, removals, manifestLines(res.RestoreManifest))
	for _, o := range res.Outcomes {
		require.Equal(t, workflows.BindingRemoved, o.Outcome, o.Selector.String())
	}
	require.GreaterOrEqual(t, res.Finished.Sub(res.Started), 3*time.Minute, "started once the other drain ended")
}

// A binding whose conventional ID another drain holds past the wait's
// bound fails, its weights given back; the others are removed.
func TestDrainServersChildWaitBound(t *testing.T) {
	e := newServersEnvOn(t, serversFleet(), func(*testsuite.TestWorkflowEnvironment) simClock { return &wallClock{} })
	id := workflows.WorkflowIDFor(workflows.DrainInput{Selector: tcp2})
	e.env.RegisterWorkflowWithOptions(holdID(e, id, 3*time.Hour), workflow.RegisterOptions{Name: "Holding"})
	e.env.ExecuteWorkflow("Holding", serversInput())
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrBindingsFailed, appErr.Type())
	var res workflows.ServersResult
	require.NoError(t, appErr.Details(&res))
	want := map[string]int64{}
	for k, w := range removals {
		if !strings.HasPrefix(k, tcp2.String()) {
			want[k] = w
		}
	}
	require.Equal(t, want, manifestLines(res.RestoreManifest))
	last := res.Outcomes[len(res.Outcomes)-1]
	require.Equal(t, tcp2, last.Selector)
	require.Equal(t, workflows.BindingFailed, last.Outcome)
	require.Contains(t, last.Error, "still running as workflow "+id+" after waiting 1h0m0s")
	require.Contains(t, last.Error, "its 1 target(s) got their weights back")
	require.Equal(t, 1, last.Restored)
	require.Zero(t, last.LeftAtZero)
	require.Equal(t, int64(50), e.bound()[tcp2.String()+" ins-srvb0002:443"], "given its weight back")
	require.Len(t, res.Skipped, 1)
	require.Contains(t, res.Skipped[0].Why, "failed: a drain was still running")
}

// A child that fails as the server drain is cancelled is re-checked: what
// it removed before failing is in the manifest, with its plan weight.
func TestDrainServersChildFailsAsCancelled(t *testing.T) {
	e := newServersEnvOn(t, serversFleet(), func(*testsuite.TestWorkflowEnvironment) simClock { return &wallClock{} })
	tcp1 := clb.Selector{LoadBalancerId: "lb-srv00001", ListenerId: "lbl-tcp00001"}
	var gone string
	e.env.OnWorkflow(workflows.WorkflowName, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in workflows.DrainInput) (workflows.DrainResult, error) {
			if in.Selector != tcp1 {
				return workflows.DrainAndDeregister(ctx, in)
			}
			part := in
			part.Targets = in.Targets[:1]
			if _, err := workflows.DrainAndDeregister(ctx, part); err != nil {
				return workflows.DrainResult{}, err
			}
			gone = tcp1.String() + " " + in.Targets[0].Key()
			// Cancelled meanwhile, it fails rather than reporting.
			_ = workflow.Sleep(ctx, 10*time.Minute)
			return workflows.DrainResult{}, temporal.NewNonRetryableApplicationError("lost the cloud", "Boom", nil)
		})
	e.env.RegisterDelayedCallback(e.env.CancelWorkflow, 2*time.Minute)
	in := serversInput()
	in.DrainDelay = 0
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.True(t, res.Cancelled)
	require.NotEmpty(t, gone)
	require.NotContains(t, e.bound(), gone)
	removed := manifestLines(res.RestoreManifest)
	require.Contains(t, removed, gone, "removed before the child failed")
	require.Equal(t, removals[gone], removed[gone])
}

// slowClaim is a DrainClaim that takes claimEndTime to end once released.
func slowClaim(ctx workflow.Context, _ workflows.ClaimInput) error {
	workflow.GetSignalChannel(ctx, workflows.ClaimReleaseSignal).Receive(ctx, nil)
	return workflow.Sleep(ctx, claimEndTime)
}

const claimEndTime = time.Minute

// A server drain releases its claims all at once: with three claims that
// take a minute each to end once released, it closes a minute after its
// last binding, not three.
func TestDrainServersReleasesItsClaimsTogether(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	e.env.RegisterWorkflowWithOptions(slowClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName, DisableAlreadyRegisteredCheck: true})
	var lastChild time.Time
	e.env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, _ converter.EncodedValue, _ error) {
		if info.WorkflowType.Name == workflows.WorkflowName {
			lastChild = e.env.Now()
		}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
	require.True(t, e.env.IsWorkflowCompleted())
	require.NoError(t, e.env.GetWorkflowError())
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.False(t, lastChild.IsZero())
	closing := res.Finished.Sub(lastChild)
	require.GreaterOrEqual(t, closing, claimEndTime, "the drain waits for its claims to end")
	require.Less(t, closing, 2*claimEndTime, "the three claims end together")
}

// With no decision on its plan within ApprovalTimeout (24 h by default)
// a server drain fails with ErrApprovalTimeout, having changed nothing,
// and releases its claims; a decision in time cancels the wait.
func TestDrainServersApprovalTimesOut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		decideAt time.Duration
		wait     time.Duration
	}{
		{"the default", 0, 0, workflows.DefaultApprovalTimeout},
		{"one given", 10 * time.Minute, 0, 10 * time.Minute},
		{"approved in time", 10 * time.Minute, 9 * time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The emulator keeps to the wall clock: the workflow's runs a
			// day ahead.
			e := newServersEnvOn(t, serversFleet(), func(*testsuite.TestWorkflowEnvironment) simClock { return &wallClock{} })
			in := serversInput()
			in.Approval, in.ApprovalTimeout = true, tc.timeout
			if tc.decideAt > 0 {
				e.update(tc.decideAt, workflows.UpdateApprove, func() workflows.ApprovalInput {
					return workflows.ApprovalInput{PlanID: e.plan(t).ID, By: "bob"}
				})
			}
			released := 0
			e.env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, _ converter.EncodedValue, err error) {
				if info.WorkflowType.Name == workflows.ClaimWorkflowName && err == nil {
					released++
				}
			})
			start := e.env.Now()
			e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
			require.True(t, e.env.IsWorkflowCompleted())
			if tc.wait == 0 {
				require.NoError(t, e.env.GetWorkflowError())
				require.NotZero(t, e.api.get(clb.ActionDeregisterTargets))
				return
			}
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
			require.Equal(t, workflows.ErrApprovalTimeout, appErr.Type())
			require.Contains(t, appErr.Error(), "within "+tc.wait.String())
			require.Contains(t, appErr.Error(), "nothing was changed")
			took := e.env.Now().Sub(start)
			require.GreaterOrEqual(t, took, tc.wait)
			require.Less(t, took, tc.wait+time.Minute)
			require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets), "nothing changed")
			require.Equal(t, 3, released, "the claims on the three servers are released")
		})
	}
}

// ApprovalTimeout is refused when negative, over MaxApprovalTimeout, or
// without Approval, before any call.
func TestDrainServersRefusesABadApprovalTimeout(t *testing.T) {
	for _, tc := range []struct {
		approval bool
		timeout  time.Duration
		want     string
	}{
		{true, -time.Second, `ApprovalTimeout = "-1s": must be 0`},
		{true, workflows.MaxApprovalTimeout + time.Second, `ApprovalTimeout = "720h0m1s": must be 0`},
		{false, time.Hour, `ApprovalTimeout = "1h0m0s": bounds the wait for approval: give it with Approval`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			e := newServersEnv(t, serversFleet())
			in := serversInput()
			in.Approval, in.ApprovalTimeout = tc.approval, tc.timeout
			e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
			require.Equal(t, workflows.ErrInvalidInput, appErr.Type())
			require.Contains(t, appErr.Error(), tc.want)
			require.Zero(t, e.api.total(), "no API call")
		})
	}
}

// A decision that comes once the wait has timed out is refused by the
// validator: the workflow fails with ErrApprovalTimeout, changing nothing.
func TestDrainServersRefusesADecisionAfterTheTimeout(t *testing.T) {
	e := newServersEnvOn(t, serversFleet(), func(*testsuite.TestWorkflowEnvironment) simClock { return &wallClock{} })
	in := serversInput()
	in.Approval, in.ApprovalTimeout = true, 10*time.Minute
	var approvalTimer string
	e.env.SetOnTimerScheduledListener(func(timerID string, d time.Duration) {
		if d == in.ApprovalTimeout {
			approvalTimer = timerID
		}
	})
	late := &updateOutcome{}
	e.env.SetOnTimerFiredListener(func(timerID string) {
		if timerID == approvalTimer {
			e.env.UpdateWorkflow(workflows.UpdateApprove, "late", late, workflows.ApprovalInput{PlanID: e.plan(t).ID, By: "bob"})
		}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NotEmpty(t, approvalTimer)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.env.GetWorkflowError(), &appErr)
	require.Equal(t, workflows.ErrApprovalTimeout, appErr.Type())
	done, err := late.result()
	require.True(t, done)
	require.ErrorContains(t, err, "the drain is not waiting for approval")
	require.Zero(t, e.api.get(clb.ActionBatchModifyTargetWeight)+e.api.get(clb.ActionDeregisterTargets), "nothing changed")
}

// The approval timer is left running once a decision came (the SDK
// cancels it only behind a flag it leaves off); firing in the drain delay
// it changes nothing: the delay is waited in full and the drain ends well.
func TestDrainServersApprovalTimerFiringInTheDrainDelay(t *testing.T) {
	e := newServersEnvOn(t, serversFleet(), func(*testsuite.TestWorkflowEnvironment) simClock { return &wallClock{} })
	in := serversInput()
	in.Approval, in.ApprovalTimeout, in.DrainDelay = true, 10*time.Minute, time.Hour
	e.update(9*time.Minute, workflows.UpdateApprove, func() workflows.ApprovalInput {
		return workflows.ApprovalInput{PlanID: e.plan(t).ID, By: "bob"}
	})
	var approvalTimer string
	e.env.SetOnTimerScheduledListener(func(timerID string, d time.Duration) {
		if d == in.ApprovalTimeout {
			approvalTimer = timerID
		}
	})
	var firedIn workflows.Phase
	e.env.SetOnTimerFiredListener(func(timerID string) {
		if timerID == approvalTimer {
			v, err := e.env.QueryWorkflow(workflows.QueryProgress)
			require.NoError(t, err)
			var p workflows.ServersProgress
			require.NoError(t, v.Get(&p))
			firedIn = p.Phase
		}
	})
	start := e.env.Now()
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
	require.Equal(t, workflows.PhaseDrainWait, firedIn, "the approval timer fired in the drain delay")
	require.GreaterOrEqual(t, e.env.Now().Sub(start), 9*time.Minute+in.DrainDelay, "the delay waited in full")
	var res workflows.ServersResult
	require.NoError(t, e.env.GetWorkflowResult(&res))
	require.Len(t, res.Bindings, 3)
	for _, o := range res.Outcomes {
		require.Equal(t, workflows.BindingRemoved, o.Outcome, o.Selector.String())
	}
}

// A claim that has already ended when its server drain releases them all
// (its release signal fails) does not keep the drain from releasing the
// others and waiting for them: the drain completes, every other claim
// ended by its release.
func TestDrainServersReleasesItsClaimsWhenOneHasEnded(t *testing.T) {
	e := newServersEnv(t, serversFleet())
	gone := workflows.ServerClaimID(srvA)
	e.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.ClaimInput) error {
		if workflow.GetInfo(ctx).WorkflowExecution.ID == gone {
			return nil
		}
		return workflows.DrainClaim(ctx, in)
	}, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName, DisableAlreadyRegisteredCheck: true})
	released := map[string]bool{}
	e.env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, _ converter.EncodedValue, err error) {
		if info.WorkflowType.Name == workflows.ClaimWorkflowName && strings.HasPrefix(info.WorkflowExecution.ID, "clb-drain-server/") && err == nil {
			released[info.WorkflowExecution.ID] = true
		}
	})
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, serversInput())
	require.True(t, e.env.IsWorkflowCompleted())
	require.NoError(t, e.env.GetWorkflowError())
	want := map[string]bool{}
	for _, s := range serversInput().Servers {
		want[workflows.ServerClaimID(s)] = true
	}
	require.Equal(t, want, released)
}

// TestDrainServersStartsEveryLoadBalancersFirstChildFirst: the first child
// drain of every load balancer starts before the second of any (patch
// servers-children-in-turn), so that the first changes of all of them
// go out together, the second children starting while those tasks run.
func TestDrainServersStartsEveryLoadBalancersFirstChildFirst(t *testing.T) {
	var state clbsim.State
	for i := range 2 {
		lb := clbsim.LoadBalancer{LoadBalancerId: fmt.Sprintf("lb-turn%04d", i)}
		for j := range 3 {
			lb.Listeners = append(lb.Listeners, clb.Listener{ListenerId: fmt.Sprintf("lbl-t%d%06d", i, j), Protocol: clb.ProtocolTCP,
				Port: int64(80 + j), Targets: []clb.BoundTarget{cvmAt("ins-srva0001", "10.0.1.1", 80, 10),
					cvmAt(fmt.Sprintf("ins-keep%d%03d", i, j), fmt.Sprintf("10.0.%d.%d", i+2, j+2), 80, 10)}})
		}
		state.LoadBalancers = append(state.LoadBalancers, lb)
	}
	e := newServersEnv(t, state)
	var order []string
	e.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		if info.WorkflowType.Name == workflows.WorkflowName {
			order = append(order, info.WorkflowExecution.ID[strings.LastIndex(info.WorkflowExecution.ID, "lbl-"):])
		}
	})
	in := serversInput()
	in.Servers = []clb.Server{srvA}
	e.env.ExecuteWorkflow(workflows.ServersWorkflowName, in)
	require.NoError(t, e.env.GetWorkflowError())
	require.Len(t, order, 6)
	require.ElementsMatch(t, []string{"lbl-t0000000", "lbl-t1000000"}, order[:2], "the first child of each load balancer first: %v", order)
	require.ElementsMatch(t, []string{"lbl-t0000001", "lbl-t1000001"}, order[2:4], "then the second of each: %v", order)
}
