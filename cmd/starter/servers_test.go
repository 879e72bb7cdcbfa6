package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// serversClient is Temporal for the server drain's commands: it records
// starts and Updates, answers the progress query with progress, and ends
// runs with result.
type serversClient struct {
	fakeClient
	progress  workflows.ServersProgress
	result    workflows.ServersResult
	updates   []client.UpdateWorkflowOptions
	updateErr error
}

func (s *serversClient) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	s.starts = append(s.starts, startCall{opts, wf, args})
	if s.startErr != nil {
		return nil, s.startErr
	}
	return &serversRun{id: opts.ID, result: s.result}, nil
}

func (s *serversClient) GetWorkflow(_ context.Context, id, _ string) client.WorkflowRun {
	return &serversRun{id: id, result: s.result}
}

func (s *serversClient) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return encoded{s.progress}, nil
}

func (s *serversClient) UpdateWorkflow(_ context.Context, opts client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	s.updates = append(s.updates, opts)
	if s.updateErr != nil {
		return nil, s.updateErr
	}
	in := opts.Args[0].(workflows.ApprovalInput)
	return updateHandle{decision: workflows.Approval{Approved: opts.UpdateName == workflows.UpdateApprove, PlanID: in.PlanID, By: in.By}}, nil
}

type updateHandle struct {
	client.WorkflowUpdateHandle
	decision workflows.Approval
}

func (h updateHandle) Get(_ context.Context, ptr any) error {
	*(ptr.(*workflows.Approval)) = h.decision
	return nil
}

type serversRun struct {
	client.WorkflowRun
	id     string
	result workflows.ServersResult
}

func (r *serversRun) GetID() string    { return r.id }
func (r *serversRun) GetRunID() string { return "run-1" }
func (r *serversRun) Get(_ context.Context, ptr any) error {
	*(ptr.(*workflows.ServersResult)) = r.result
	return nil
}

// runServers runs the starter with sc as Temporal (nil: dialing fails the
// test), neither output a terminal.
func runServers(t *testing.T, sc *serversClient, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var res result
	a := &app{prog: "starter", stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		dial: func(context.Context) (client.Client, string, error) {
			res.dialed = true
			if sc == nil {
				t.Errorf("dialed Temporal for %q", args)
				return nil, "", io.ErrUnexpectedEOF
			}
			return sc, "ops", nil
		},
		terminal: func(io.Writer) (int, bool) { return 0, false }, pollInterval: time.Millisecond, queryTimeout: time.Second,
		user: func() string { return "tester" }, now: time.Now, env: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res.code = a.main(ctx, args)
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}

func TestDrainServersStarts(t *testing.T) {
	file := writeFile(t, "servers.txt", "# web tier\nins-abc12345\n10.0.3.7:8080\n[fd00::5]:443\n")
	sc := &serversClient{}
	res := runServers(t, sc, "", "drain-servers", "--servers", file, "--lb", "lb-abc12345", "--lb", "lb-def12345",
		"--drain-delay", "30s", "--approval", "--approval-timeout", "2h", "--min-remaining", "2", "--reason", "rotate")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Len(t, sc.starts, 1)
	in := sc.starts[0].args[0].(workflows.ServersInput)
	assert.Equal(t, []clb.Server{{InstanceId: "ins-abc12345"}, {Ip: "10.0.3.7", Port: 8080}, {Ip: "fd00::5", Port: 443}}, in.Servers)
	assert.Equal(t, []string{"lb-abc12345", "lb-def12345"}, in.LoadBalancerIds)
	assert.True(t, in.Approval)
	assert.Equal(t, 2*time.Hour, in.ApprovalTimeout)
	assert.Equal(t, 2, in.Guards.MinRemaining)
	assert.Equal(t, "tester", in.Requester)
	opts := sc.starts[0].opts
	assert.Equal(t, "clb-drain-servers/10.0.3.7:8080,[fd00::5]:443,ins-abc12345", opts.ID)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, opts.WorkflowIDConflictPolicy)
	assert.Equal(t, workflows.ServersWorkflowName, sc.starts[0].workflow)
	assert.Contains(t, res.stdout, "starter approve 'clb-drain-servers/10.0.3.7:8080,[fd00::5]:443,ins-abc12345' --by NAME")
}

func TestDrainServersWaitReports(t *testing.T) {
	file := writeFile(t, "servers.txt", "ins-abc12345\n")
	sc := &serversClient{progress: workflows.ServersProgress{Phase: workflows.PhaseDone}}
	sc.result.Bindings = []workflows.ManifestBinding{{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Targets: clb.WeightedList{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 30}}}}
	res := runServers(t, sc, "", "drain-servers", "--servers", file, "--wait", "--json")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "removed:   1 targets from 1 listeners or rules")
	assert.Contains(t, res.stderr, "] done")
	assert.Contains(t, res.stdout, `"Weight": 30`)
}

func TestPlanPrintsTheTable(t *testing.T) {
	file := writeFile(t, "servers.txt", "ins-abc12345\n")
	sc := &serversClient{}
	sel := clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"}
	sc.result.Plan = workflows.Plan{ID: "plan-1", Bindings: 1, Targets: 1, Searched: 3, LoadBalancers: []workflows.PlanLoadBalancer{{
		LoadBalancerId: "lb-abc12345", Bindings: []workflows.PlanBinding{{}}}}}
	b := &sc.result.Plan.LoadBalancers[0].Bindings[0]
	b.Selector, b.Protocol, b.Port = sel, "TCP", 80
	b.Remove = []clb.WeightedTarget{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10}}
	b.Keep.Targets, b.Keep.Weighted, b.Keep.Weight, b.Keep.TotalWeight = 1, 1, 30, 40
	sc.result.Plan.Classic = []string{"lb-classic1"}
	res := runServers(t, sc, "", "plan", "--servers", file)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "plan plan-1: 1 target(s) to remove from 1 listener(s) or rule(s) on 1 load balancer(s) (3 searched)")
	assert.Contains(t, res.stdout, "lb-abc12345/lbl-abc12345")
	assert.Contains(t, res.stdout, "ins-abc12345:80@10")
	assert.Contains(t, res.stdout, "75%")
	assert.Contains(t, res.stdout, "left out: 1 classic load balancer(s), whose targets these calls do not manage: lb-classic1")
	in := sc.starts[0].args[0].(workflows.ServersInput)
	assert.True(t, in.PlanOnly)
	assert.True(t, strings.HasPrefix(sc.starts[0].opts.ID, workflows.PlanIDPrefix))

	sc.result.Violations = []workflows.GuardViolation{{Selector: sel, Why: "would keep 0"}}
	res = runServers(t, sc, "", "plan", "--servers", file)
	require.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stdout, "guard: lb-abc12345/lbl-abc12345: would keep 0")
}

func TestApproveAndReject(t *testing.T) {
	sc := &serversClient{progress: workflows.ServersProgress{Plan: &workflows.Plan{ID: "plan-7"}}}
	res := runServers(t, sc, "", "approve", "clb-drain-servers/x", "--by", "bob", "--comment", "ok")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "clb-drain-servers/x: plan plan-7 approved by bob\n", res.stdout)
	require.Len(t, sc.updates, 1)
	assert.Equal(t, workflows.UpdateApprove, sc.updates[0].UpdateName)
	assert.Equal(t, workflows.ApprovalInput{PlanID: "plan-7", By: "bob", Comment: "ok"}, sc.updates[0].Args[0])

	res = runServers(t, sc, "", "reject", "clb-drain-servers/x", "--by", "carol", "--plan", "plan-6")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "plan plan-6 rejected by carol")

	sc.updateErr = errors.New("PlanId = \"plan-6\": is not the current plan")
	res = runServers(t, sc, "", "approve", "clb-drain-servers/x", "--by", "bob", "--plan", "plan-6")
	require.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "is not the current plan")

	res = runServers(t, nil, "", "approve", "clb-drain-servers/x")
	require.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "--by is required")
}

// Bad input: exit 2, every problem named, Temporal never dialed (so no
// workflow and no API call).
func TestDrainServersBadInput(t *testing.T) {
	long := strings.Repeat("x", workflows.MaxReasonLen+1)
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"no servers flag", "", nil, "--servers: is required"},
		{"no servers", "# none\n", nil, "must list at least one server"},
		{"bad instance ID", "ins-ABC\n", nil, "Servers[0].InstanceId = \"ins-ABC\""},
		{"not a host", "web-1\n", nil, "must be an InstanceId (ins-...) or an IP address"},
		{"port out of range", "ins-abc12345:70000\n", nil, "must be 0 (every port) or 1-65535"},
		{"port not a number", "10.0.0.5:http\n", nil, "has a port that is not a number"},
		{"instance twice", "ins-abc12345\nins-abc12345:80\n", nil, "overlaps Servers[0]"},
		{"IP twice", "10.0.0.5:80\n10.0.0.5:80\n", nil, "overlaps Servers[0]"},
		{"both InstanceId and Ip", `[{"InstanceId":"ins-abc12345","Ip":"10.0.0.5"}]`, nil, "has both"},
		{"unknown JSON field", `[{"Instance":"ins-abc12345"}]`, nil, "is not a JSON array of servers"},
		{"bad load balancer ID", "ins-abc12345\n", []string{"--lb", "lb-x"}, "LoadBalancerIds[0] = \"lb-x\""},
		{"load balancer twice", "ins-abc12345\n", []string{"--lb", "lb-abc12345", "--lb", "lb-abc12345"}, "is already given"},
		{"conflicting guards", "ins-abc12345\n", []string{"--allow-empty", "--min-remaining", "2"}, "conflicts with MinRemaining 2"},
		{"percent over 100", "ins-abc12345\n", []string{"--min-remaining-percent", "120"}, "Guards.MinRemainingPercent = \"120\": must be 0 to 100"},
		{"negative min remaining", "ins-abc12345\n", []string{"--min-remaining", "-1"}, "Guards.MinRemaining = \"-1\""},
		{"max parallel too high", "ins-abc12345\n", []string{"--max-parallel", "51"}, "MaxParallel = \"51\""},
		{"drain delay too long", "ins-abc12345\n", []string{"--drain-delay", "25h"}, "DrainDelay = \"25h0m0s\""},
		{"reason too long", "ins-abc12345\n", []string{"--reason", long}, "Reason = "},
		{"empty task queue", "ins-abc12345\n", []string{"--task-queue", " "}, "--task-queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"drain-servers", "plan"} {
				args := []string{cmd}
				if tc.file != "" {
					args = append(args, "--servers", writeFile(t, "servers.txt", tc.file))
				} else if tc.name != "no servers flag" {
					args = append(args, "--servers", "-")
				}
				res := runWith(t, nil, tc.file, append(args, tc.args...)...)
				require.Equal(t, exitUsage, res.code, res.stderr)
				assert.False(t, res.dialed)
				assert.Contains(t, res.stderr, tc.want)
				assert.Contains(t, res.stderr, "nothing was started")
			}
		})
	}
}

// --approval-timeout is drain-servers' (named in its problems); plan,
// which shares the other flags, has neither it nor --approval.
func TestApprovalTimeoutFlag(t *testing.T) {
	res := runWith(t, nil, "ins-abc12345\n", "drain-servers", "--servers", "-", "--approval-timeout", "1h")
	require.Equal(t, exitUsage, res.code, res.stderr)
	assert.False(t, res.dialed)
	assert.Contains(t, res.stderr, `ApprovalTimeout = "1h0m0s": bounds the wait for approval`)
	assert.Contains(t, res.stderr, "(--approval-timeout)")
	res = runWith(t, nil, "ins-abc12345\n", "drain-servers", "--servers", "-", "--approval", "--approval-timeout", "721h")
	require.Equal(t, exitUsage, res.code, res.stderr)
	assert.Contains(t, res.stderr, `ApprovalTimeout = "721h0m0s": must be 0 (the default, 24h0m0s) to 720h0m0s (--approval-timeout)`)
	for _, flag := range []string{"--approval", "--approval-timeout=1h"} {
		res = runWith(t, nil, "ins-abc12345\n", "plan", "--servers", "-", flag)
		require.Equal(t, exitUsage, res.code, res.stderr)
		assert.False(t, res.dialed)
		assert.Contains(t, res.stderr, "flag provided but not defined")
	}
}

func serversDesc(status enumspb.WorkflowExecutionStatus) *client.WorkflowExecutionDescription {
	return &client.WorkflowExecutionDescription{WorkflowExecutionMetadata: client.WorkflowExecutionMetadata{
		WorkflowType: workflow.Type{Name: workflows.ServersWorkflowName}, Status: status}}
}

func TestStatusOfAServerDrain(t *testing.T) {
	id := "clb-drain-servers/ins-abc12345"
	sc := &serversClient{progress: workflows.ServersProgress{Phase: workflows.PhaseAwaiting, BindingsTotal: 2, TargetsTotal: 3,
		Plan: &workflows.Plan{ID: "plan-9", Bindings: 2, Targets: 3}}}
	sc.desc = serversDesc(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	res := runServers(t, sc, "", "status", id)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "plan plan-9: 3 target(s)")
	assert.Contains(t, res.stdout, "server drain "+id+": awaiting-approval, 0/2 listeners or rules")

	sc.desc = serversDesc(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	sc.result.Plan.ID = "plan-9"
	res = runServers(t, sc, "", "status", id)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "server drain "+id+" done")

	sc.desc.WorkflowType.Name = workflows.WorkflowName
	res = runServers(t, sc, "", "status", id)
	require.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "not a server drain")
}

func TestCancelAServerDrain(t *testing.T) {
	id := "clb-drain-servers/ins-abc12345"
	sc := &serversClient{}
	sc.desc = serversDesc(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	sc.result.Cancelled = true
	res := runServers(t, sc, "", "cancel", "--wait", id)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{id}, sc.cancelled)
	assert.Contains(t, res.stderr, "server drain "+id+" cancelled")

	sc.desc = serversDesc(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	res = runServers(t, sc, "", "cancel", id)
	require.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, "server drain "+id+" is not running (completed); nothing to cancel.\n  see it: starter status "+id)
}

// A server's claim stands for the server drain that holds it.
func TestStatusFollowsAServerClaim(t *testing.T) {
	id := "clb-drain-servers/ins-abc12345"
	sc := &serversClient{}
	sc.desc = serversDesc(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	claim := serversDesc(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	claim.WorkflowType.Name = workflows.ClaimWorkflowName
	claim.ParentWorkflowExecution = &workflow.Execution{ID: id}
	sc.descByID = map[string]*client.WorkflowExecutionDescription{"clb-drain-server/ins-abc12345": claim}
	res := runServers(t, sc, "", "status", "clb-drain-server/ins-abc12345")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "held by the server drain "+id)
	assert.Contains(t, res.stdout, "server drain "+id+" done")
}

func TestServersBar(t *testing.T) {
	assert.Equal(t, "["+strings.Repeat("=", barWidth/2)+strings.Repeat(" ", barWidth-barWidth/2)+"]  50%",
		serversBar(workflows.ServersProgress{Phase: workflows.PhaseDeregistering, TargetsDone: 6, TargetsTotal: 12}))
	assert.Equal(t, "["+strings.Repeat("=", barWidth)+"] 100%", serversBar(workflows.ServersProgress{Phase: workflows.PhaseDone}))
	assert.Equal(t, "["+strings.Repeat(" ", barWidth)+"]   0%", serversBar(workflows.ServersProgress{Phase: workflows.PhaseDiscovering}))
}

// A --servers file that cannot be opened is bad input, named with its path.
func TestDrainServersUnreadableFile(t *testing.T) {
	for _, cmd := range []string{"drain-servers", "plan"} {
		res := runWith(t, nil, "", cmd, "--servers", "/nonexistent/servers.txt")
		require.Equal(t, exitUsage, res.code, res.stderr)
		assert.False(t, res.dialed)
		assert.Contains(t, res.stderr, `--servers = "/nonexistent/servers.txt": cannot be read: open /nonexistent/servers.txt: no such file or directory`)
	}
}

// A binding waiting for a drain under its ID shows in the progress line.
func TestServersLineWaitingFor(t *testing.T) {
	line := serversLine(workflows.ServersProgress{Phase: workflows.PhaseDeregistering, BindingsTotal: 3, BindingsDone: 2,
		WaitingFor: "waiting for clb-drain/lb-1/lbl-1"})
	require.Contains(t, line, "2/3 listeners or rules")
	require.Contains(t, line, " · waiting for clb-drain/lb-1/lbl-1")
}
