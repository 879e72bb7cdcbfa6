package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

func e2eCVM(id, ip string, port, weight int64) clb.BoundTarget {
	return clb.BoundTarget{Type: clb.TypeCVM, InstanceId: id, PrivateIpAddresses: []string{ip}, Port: port, Weight: weight}
}

func e2eENI(ip string, port, weight int64) clb.BoundTarget {
	return clb.BoundTarget{Type: clb.TypeENI, PrivateIpAddresses: []string{ip}, Port: port, Weight: weight}
}

// serversFleet is 16 generated load balancers and 4 where three servers
// (two CVMs, ins-e2esrv01 and ins-e2esrv02, and the ENI target 10.9.0.3)
// have 12 bindings, two of them on layer-7 rules, every listener or rule
// keeping one server of its own; and those 12 bindings.
func serversFleet(t *testing.T) (clbsim.State, []harness.Binding) {
	state, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 16, Listeners: 2, Layer7: 1, Rules: 2, Targets: 5}, 29)
	require.NoError(t, err)
	a := func(port, w int64) clb.BoundTarget { return e2eCVM("ins-e2esrv01", "10.9.0.1", port, w) }
	b := func(port, w int64) clb.BoundTarget { return e2eCVM("ins-e2esrv02", "10.9.0.2", port, w) }
	c := func(port, w int64) clb.BoundTarget { return e2eENI("10.9.0.3", port, w) }
	keep := func(i int, port int64) clb.BoundTarget {
		return e2eCVM(fmt.Sprintf("ins-e2ekep%02d", i), fmt.Sprintf("10.9.1.%d", i), port, 10)
	}
	tcp := func(id string, port int64, ts ...clb.BoundTarget) clb.Listener {
		return clb.Listener{ListenerId: id, Protocol: clb.ProtocolTCP, Port: port, Targets: ts}
	}
	ours := []clbsim.LoadBalancer{
		{LoadBalancerId: "lb-e2esrv01", Listeners: []clb.Listener{
			tcp("lbl-e2el0101", 80, a(80, 10), c(80, 20), keep(1, 80)),
			tcp("lbl-e2el0102", 8080, b(8080, 30), keep(2, 8080))}},
		{LoadBalancerId: "lb-e2esrv02", Listeners: []clb.Listener{{ListenerId: "lbl-e2el0201", Protocol: clb.ProtocolHTTP, Port: 80,
			Rules: []clb.Rule{
				{LocationId: "loc-e2er0201", Domain: "a.example.com", Url: "/", Targets: []clb.BoundTarget{a(8080, 40), b(8080, 50), keep(3, 8080)}},
				{LocationId: "loc-e2er0202", Domain: "b.example.com", Url: "/", Targets: []clb.BoundTarget{c(8080, 60), keep(4, 8080)}},
			}}}},
		{LoadBalancerId: "lb-e2esrv03", Listeners: []clb.Listener{tcp("lbl-e2el0301", 443, a(443, 70), b(443, 80), c(443, 90), keep(5, 443))}},
		{LoadBalancerId: "lb-e2esrv04", Listeners: []clb.Listener{
			{ListenerId: "lbl-e2el0401", Protocol: clb.ProtocolUDP, Port: 53, Targets: []clb.BoundTarget{a(53, 5), keep(6, 53)}},
			tcp("lbl-e2el0402", 22, b(22, 15), c(22, 25), keep(7, 22))}},
	}
	// Ours among the others, not first.
	state.LoadBalancers = append(state.LoadBalancers[:8], append(ours, state.LoadBalancers[8:]...)...)
	var want []harness.Binding
	for _, lb := range ours {
		for _, l := range lb.Listeners {
			add := func(loc string, ts []clb.BoundTarget) {
				for _, tg := range ts {
					if tg.InstanceId != "" && tg.InstanceId[:10] == "ins-e2ekep" {
						continue
					}
					want = append(want, harness.Binding{LB: lb.LoadBalancerId, Listener: l.ListenerId, Location: loc, Target: harness.KeyOf(tg)})
				}
			}
			add("", l.Targets)
			for _, r := range l.Rules {
				add(r.LocationId, r.Targets)
			}
		}
	}
	require.Len(t, want, 12)
	return state, want
}

// TestDrainServersEndToEnd takes three servers out of a fleet of 20 load
// balancers under injected faults, the worker killed with SIGKILL during
// the drain delay: exactly their 12 bindings are removed, once each,
// nothing else is touched, and the manifest lists all 12 with their weights
// from before. starter plan showed the same 12 first.
func TestDrainServersEndToEnd(t *testing.T) {
	need(t)
	state, want := serversFleet(t)
	weights := harness.Weights(state)
	faults, err := clbsim.ParseFaults("*:InternalError:0.1,DeregisterTargets:drop:0.05,BatchModifyTargetWeight:drop:0.1,*:taskfail:0.05")
	require.NoError(t, err)
	sim, err := harness.StartSim(clbsim.Config{State: state, TaskLatency: 500 * time.Millisecond, Seed: 29})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "e2e-servers"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	first, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer first.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	file := filepath.Join(t.TempDir(), "servers.txt")
	require.NoError(t, os.WriteFile(file, []byte("ins-e2esrv01\nins-e2esrv02\n10.9.0.3   # the ENI target\n"), 0o600))
	plan, err := harness.RunStarter(ctx, s.bin, env.Vars(), "", "plan", "--servers", file, "--task-queue", queue)
	require.NoError(t, err)
	require.Equal(t, 0, plan.Code, plan.Stderr)
	assert.Contains(t, plan.Stdout, "12 target(s) to remove from 7 listener(s) or rule(s) on 4 load balancer(s) (20 searched)")
	require.Empty(t, sim.Audit(), "plan changes nothing")

	sim.SetFaults(faults)
	in := workflows.ServersInput{Servers: []clb.Server{{InstanceId: "ins-e2esrv01"}, {InstanceId: "ins-e2esrv02"}, {Ip: "10.9.0.3"}},
		DrainDelay: 5 * time.Second, Reason: "e2e", MaxParallel: 2}
	id := workflows.ServersWorkflowID(in.Servers)
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ServersWorkflowName, in)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		v, err := s.temporal.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
		var p workflows.ServersProgress
		return err == nil && v.Get(&p) == nil && p.Phase == workflows.PhaseDrainWait
	}, 2*time.Minute, 50*time.Millisecond, "the drain delay starts")
	first.Kill()
	second, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer second.Stop()

	var res workflows.ServersResult
	require.NoError(t, run.Get(ctx, &res))
	sim.SetFaults(nil)
	tally := harness.TallyAudit(sim.Audit(), want)
	assert.True(t, tally.Exact(), "the 12 bindings removed once each, nothing else touched: %+v", tally)
	assert.Empty(t, harness.StateDiff(state, sim.State(), want))
	got := map[harness.Binding]int64{}
	for _, b := range res.Bindings {
		for _, tg := range b.Targets {
			got[harness.Binding{LB: b.Selector.LoadBalancerId, Listener: b.Selector.ListenerId, Location: b.Selector.LocationId, Target: tg.Key()}] = tg.Weight
		}
	}
	require.Len(t, got, 12)
	for _, b := range want {
		assert.Equal(t, weights[b], got[b], "the manifest's weight of %v", b)
	}
	assert.Empty(t, res.Skipped)
}

// requests counts the calls an emulator was sent, of every action.
func requests(sim *harness.Sim) int {
	n := 0
	for _, a := range sim.Stats().Actions {
		n += a.Requests
	}
	return n
}

// TestDrainServersBadInput sends malformed server drains through the
// starter (exit 2, nothing started) and through a client start (the
// workflow fails with InvalidInput): no API call for any of them, and no
// change for the two that only discovery can tell (an unknown load
// balancer in scope, an instance given again by its own IP).
func TestDrainServersBadInput(t *testing.T) {
	need(t)
	state, _ := serversFleet(t)
	sim, err := harness.StartSim(clbsim.Config{State: state, TaskLatency: 100 * time.Millisecond})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "e2e-servers-bad"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	w, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	good := func() workflows.ServersInput {
		return workflows.ServersInput{Servers: []clb.Server{{InstanceId: "ins-e2esrv01"}}}
	}
	cases := []struct {
		name   string
		change func(*workflows.ServersInput)
		args   []string // the starter's flags for it; nil: client only
		file   string
		want   string
		reads  bool // discovery reads before refusing
	}{
		{"no servers", func(in *workflows.ServersInput) { in.Servers = nil }, []string{}, "# none\n", "must list at least one server", false},
		{"instance ID in capitals", func(in *workflows.ServersInput) { in.Servers[0].InstanceId = "ins-ABC12345" }, []string{}, "ins-ABC12345\n", `Servers[0].InstanceId = "ins-ABC12345"`, false},
		{"instance ID too short", func(in *workflows.ServersInput) { in.Servers[0].InstanceId = "ins-abc" }, []string{}, "ins-abc\n", `"ins-abc"`, false},
		{"not an IP", func(in *workflows.ServersInput) { in.Servers[0] = clb.Server{Ip: "10.0.0.256"} }, nil, "", `Servers[0].Ip = "10.0.0.256"`, false},
		{"both InstanceId and Ip", func(in *workflows.ServersInput) { in.Servers[0].Ip = "10.9.0.1" }, []string{}, `[{"InstanceId":"ins-e2esrv01","Ip":"10.9.0.1"}]`, "has both", false},
		{"neither", func(in *workflows.ServersInput) { in.Servers[0] = clb.Server{Port: 80} }, []string{}, `[{"Port":80}]`, "has neither", false},
		{"port out of range", func(in *workflows.ServersInput) { in.Servers[0].Port = 65536 }, []string{}, "ins-e2esrv01:65536\n", `Servers[0].Port = "65536"`, false},
		{"negative port", func(in *workflows.ServersInput) { in.Servers[0].Port = -1 }, nil, "", `Servers[0].Port = "-1"`, false},
		{"server twice", func(in *workflows.ServersInput) { in.Servers = append(in.Servers, in.Servers[0]) }, []string{}, "ins-e2esrv01\nins-e2esrv01\n", "overlaps Servers[0]", false},
		{"every port and one port", func(in *workflows.ServersInput) {
			in.Servers = append(in.Servers, clb.Server{InstanceId: "ins-e2esrv01", Port: 80})
		}, []string{}, "ins-e2esrv01\nins-e2esrv01:80\n", "overlaps Servers[0]", false},
		{"bad load balancer in scope", func(in *workflows.ServersInput) { in.LoadBalancerIds = []string{"lb-x"} }, []string{"--lb", "lb-x"}, "ins-e2esrv01\n", `LoadBalancerIds[0] = "lb-x"`, false},
		{"conflicting guards", func(in *workflows.ServersInput) {
			in.Guards = workflows.Guards{AllowEmpty: true, MinRemainingPercent: 10}
		},
			[]string{"--allow-empty", "--min-remaining-percent", "10"}, "ins-e2esrv01\n", "conflicts with MinRemaining", false},
		{"percent over 100", func(in *workflows.ServersInput) { in.Guards.MinRemainingPercent = 101 }, []string{"--min-remaining-percent", "101"}, "ins-e2esrv01\n", "must be 0 to 100", false},
		{"max parallel too high", func(in *workflows.ServersInput) { in.MaxParallel = 51 }, []string{"--max-parallel", "51"}, "ins-e2esrv01\n", `MaxParallel = "51"`, false},
		{"drain delay too long", func(in *workflows.ServersInput) { in.DrainDelay = 25 * time.Hour }, []string{"--drain-delay", "25h"}, "ins-e2esrv01\n", `DrainDelay = "25h0m0s"`, false},
		{"approval timeout without approval", func(in *workflows.ServersInput) { in.ApprovalTimeout = time.Hour }, []string{"--approval-timeout", "1h"}, "ins-e2esrv01\n", `ApprovalTimeout = "1h0m0s"`, false},
		{"approval timeout too long", func(in *workflows.ServersInput) { in.Approval, in.ApprovalTimeout = true, 721*time.Hour },
			[]string{"--approval", "--approval-timeout", "721h"}, "ins-e2esrv01\n", `ApprovalTimeout = "721h0m0s"`, false},
		{"unknown load balancer in scope", func(in *workflows.ServersInput) { in.LoadBalancerIds = []string{"lb-e2esrv01", "lb-nothere1"} }, nil, "", "lb-nothere1", true},
		{"an instance and its own IP", func(in *workflows.ServersInput) { in.Servers = append(in.Servers, clb.Server{Ip: "10.9.0.1"}) }, nil, "", "name the same binding", true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := requests(sim)
			if tc.args != nil {
				file := filepath.Join(t.TempDir(), "servers")
				require.NoError(t, os.WriteFile(file, []byte(tc.file), 0o600))
				res, err := harness.RunStarter(ctx, s.bin, env.Vars(), "", append([]string{"drain-servers", "--servers", file, "--task-queue", queue}, tc.args...)...)
				require.NoError(t, err)
				assert.Equal(t, 2, res.Code, res.Stderr)
				assert.Contains(t, res.Stderr, tc.want)
			}
			in := good()
			tc.change(&in)
			run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("e2e-servers-bad/%d", i), TaskQueue: queue},
				workflows.ServersWorkflowName, in)
			require.NoError(t, err)
			err = run.Get(ctx, nil)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			assert.Equal(t, workflows.ErrInvalidInput, appErr.Type())
			assert.Contains(t, err.Error(), tc.want)
			if !tc.reads {
				assert.Equal(t, before, requests(sim), "no API call")
			}
		})
	}
	assert.Empty(t, sim.Audit(), "nothing changed")
}

// TestDrainServersOverlapping starts a server drain that waits for
// approval, then one of another list sharing a server: the second fails at
// once with DrainAlreadyRunning, naming the server, and touches nothing;
// once the first is rejected, the second can run.
func TestDrainServersOverlapping(t *testing.T) {
	need(t)
	state, _ := serversFleet(t)
	sim, err := harness.StartSim(clbsim.Config{State: state, TaskLatency: 100 * time.Millisecond})
	require.NoError(t, err)
	defer sim.Close()
	const queue = "e2e-servers-overlap"
	env := harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: sim.URL, Home: s.workDir}
	w, err := harness.StartWorker(s.bin, env.Vars(), "--task-queue", queue)
	require.NoError(t, err)
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	first := workflows.ServersInput{Servers: []clb.Server{{InstanceId: "ins-e2esrv01"}, {InstanceId: "ins-e2esrv02"}}, Approval: true}
	firstID := "overlap/" + workflows.ServersWorkflowID(first.Servers)
	run1, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: firstID, TaskQueue: queue}, workflows.ServersWorkflowName, first)
	require.NoError(t, err)
	var p workflows.ServersProgress
	require.Eventually(t, func() bool {
		v, err := s.temporal.QueryWorkflow(ctx, firstID, "", workflows.QueryProgress)
		return err == nil && v.Get(&p) == nil && p.Phase == workflows.PhaseAwaiting
	}, time.Minute, 50*time.Millisecond)

	second := workflows.ServersInput{Servers: []clb.Server{{InstanceId: "ins-e2esrv02", Port: 22}, {Ip: "10.9.0.3"}}}
	run2, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "overlap/" + workflows.ServersWorkflowID(second.Servers), TaskQueue: queue},
		workflows.ServersWorkflowName, second)
	require.NoError(t, err)
	err = run2.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, workflows.ErrAlreadyRunning, appErr.Type())
	assert.Contains(t, err.Error(), "another server drain holds server ins-e2esrv02")
	assert.Empty(t, sim.Audit(), "nothing changed")

	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: firstID, UpdateName: workflows.UpdateReject,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{workflows.ApprovalInput{PlanID: p.Plan.ID, By: "e2e"}}})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))
	require.ErrorContains(t, run1.Get(ctx, nil), workflows.ErrRejected)

	run3, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "overlap/again", TaskQueue: queue},
		workflows.ServersWorkflowName, second)
	require.NoError(t, err)
	var res workflows.ServersResult
	require.NoError(t, run3.Get(ctx, &res))
	n := 0
	for _, b := range res.Bindings {
		n += len(b.Targets)
	}
	assert.Equal(t, 5, n, "ins-e2esrv02 on port 22, and the four bindings of 10.9.0.3")
}
