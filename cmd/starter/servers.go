package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/workflows"
)

// serversFlags are the flags that describe a server drain, shared by plan
// and drain-servers.
type serversFlags struct {
	servers             string
	lbs                 []string
	cvmOnly             bool
	drainDelay          time.Duration
	minRemaining        int
	minRemainingPercent float64
	allowEmpty          bool
	maxParallel         int
	// approval and approvalTimeout are drain-servers' own (registered by
	// drainServersCommand).
	approval          bool
	approvalTimeout   time.Duration
	reason, requester string
	taskQueue         string
	json              bool
}

func (f *serversFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.servers, "servers", "", "the `FILE` listing the servers to take out, one a line or as a JSON array; - reads standard input (required)")
	fs.StringArrayVar(&f.lbs, "lb", nil, "search only this load balancer `ID` (repeat for more); default: every load balancer of the worker's region")
	fs.BoolVar(&f.cvmOnly, "cvm-only", false, "the servers named by IP are CVMs, never ENI targets: a region-wide search then uses DescribeLoadBalancers' backend filter")
	fs.DurationVar(&f.drainDelay, "drain-delay", 0, "set every binding's weight to 0 first and wait this `DURATION` once (at most 24h) before deregistering; 0 deregisters at once")
	fs.IntVar(&f.minRemaining, "min-remaining", 0, "each listener or rule must keep at least `N` targets with weight > 0 (0: 1)")
	fs.Float64Var(&f.minRemainingPercent, "min-remaining-percent", 0, "each listener or rule must keep at least `P` percent of its weight, 0-100")
	fs.BoolVar(&f.allowEmpty, "allow-empty", false, "lift both guards: a listener or rule may be left with nothing")
	fs.IntVar(&f.maxParallel, "max-parallel", 0, "work on at most `N` load balancers at once, 1-50 (0: 10)")
	fs.StringVar(&f.reason, "reason", "", "why, as `TEXT` recorded for audit: a ticket, a release")
	fs.StringVar(&f.requester, "requester", "", "who asks, as a `NAME` recorded for audit; default: your OS user name")
	fs.StringVar(&f.taskQueue, "task-queue", workflows.TaskQueue, "the clbdrain worker's task `QUEUE`")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout; progress and messages go to stderr")
}

// serversHints names the flag behind each field of a ServersInput.
var serversHints = map[string]string{
	"Servers":                    "--servers",
	"LoadBalancerIds":            "--lb",
	"DrainDelay":                 "--drain-delay",
	"Guards.MinRemaining":        "--min-remaining",
	"Guards.MinRemainingPercent": "--min-remaining-percent",
	"Guards.AllowEmpty":          "--allow-empty",
	"MaxParallel":                "--max-parallel",
	"ApprovalTimeout":            "--approval-timeout",
	"Reason":                     "--reason",
	"Requester":                  "--requester",
}

// input builds and validates the ServersInput, reading the servers file.
// It returns every problem at once.
func (f *serversFlags) input(stdin io.Reader) (workflows.ServersInput, []clb.Problem) {
	in := workflows.ServersInput{LoadBalancerIds: f.lbs, CVMOnly: f.cvmOnly, DrainDelay: f.drainDelay,
		Guards:      workflows.Guards{MinRemaining: f.minRemaining, MinRemainingPercent: f.minRemainingPercent, AllowEmpty: f.allowEmpty},
		MaxParallel: f.maxParallel, Approval: f.approval, ApprovalTimeout: f.approvalTimeout, Reason: f.reason, Requester: f.requester}
	servers, problems := readServers(f.servers, stdin)
	in.Servers = servers
	if strings.TrimSpace(f.taskQueue) == "" {
		problems = append(problems, clb.Problem{Field: "--task-queue", Value: f.taskQueue, Reason: "must name the worker's task queue"})
	}
	fileBad := len(problems) > 0
	var verr *clb.ValidationError
	if err := workflows.ValidateServersInput(in); errors.As(err, &verr) {
		for _, p := range verr.Problems {
			if fileBad && p.Field == "Servers" {
				continue
			}
			problems = append(problems, p)
		}
	}
	return in, problems
}

// readServers reads the --servers file, "-" being stdin.
func readServers(path string, stdin io.Reader) ([]clb.Server, []clb.Problem) {
	if path == "" {
		return nil, []clb.Problem{{Field: "--servers", Reason: "is required: a file listing the servers, or - for standard input"}}
	}
	r, problems := openInput("--servers", path, stdin)
	if len(problems) > 0 {
		return nil, problems
	}
	defer r.Close()
	return parseServers(r)
}

// parseServers reads servers as a JSON array of {"InstanceId"|"Ip",
// "Port"} or one a line: ins-abc12345, ins-abc12345:80, 10.0.0.5,
// 10.0.0.5:8080, fd00::5 or [fd00::5]:8080; # starts a comment.
func parseServers(r io.Reader) ([]clb.Server, []clb.Problem) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, []clb.Problem{{Field: "--servers", Reason: "cannot be read: " + err.Error()}}
	}
	if trimmed := strings.TrimSpace(string(data)); strings.HasPrefix(trimmed, "[") {
		var out []clb.Server
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil {
			return nil, []clb.Problem{{Field: "--servers", Value: "JSON", Reason: "is not a JSON array of servers: " + err.Error()}}
		}
		return out, nil
	}
	var out []clb.Server
	var problems []clb.Problem
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		s, err := parseServer(line)
		if err != nil {
			problems = append(problems, clb.Problem{Field: "--servers line " + strconv.Itoa(n), Value: line, Reason: err.Error()})
			continue
		}
		out = append(out, s)
	}
	return out, problems
}

// parseServer reads one line of a servers file.
func parseServer(line string) (clb.Server, error) {
	host, port := line, ""
	switch {
	case strings.HasPrefix(line, "["):
		end := strings.Index(line, "]")
		if end < 0 {
			return clb.Server{}, errors.New("has [ without ]")
		}
		host, port = line[1:end], strings.TrimPrefix(line[end+1:], ":")
	case strings.Count(line, ":") == 1:
		host, port, _ = strings.Cut(line, ":")
	}
	var s clb.Server
	if strings.HasPrefix(host, "ins-") {
		s.InstanceId = host
	} else if _, err := netip.ParseAddr(host); err == nil {
		s.Ip = host
	} else {
		return s, errors.New("must be an InstanceId (ins-...) or an IP address, optionally followed by :port")
	}
	if port != "" {
		p, err := strconv.ParseInt(port, 10, 64)
		if err != nil {
			return s, errors.New("has a port that is not a number")
		}
		s.Port = p
	}
	return s, nil
}

// printServerProblems lists every problem of the input on stderr.
func (a *app) printServerProblems(cmd string, problems []clb.Problem) {
	fmt.Fprintf(a.stderr, "%s %s: invalid input, nothing was started: %d problem(s)\n", a.prog, cmd, len(problems))
	for _, p := range problems {
		line := p.String()
		if p.Value == "" {
			line = p.Field + ": " + p.Reason
		}
		field, _, _ := strings.Cut(p.Field, "[")
		if hint, ok := serversHints[field]; ok {
			line += " (" + hint + ")"
		}
		fmt.Fprintf(a.stderr, "  - %s\n", line)
	}
	fmt.Fprintf(a.stderr, "Run '%s help %s' for the flags and the servers file format.\n", a.prog, cmd)
}

// serversFileFormat documents the servers file.
const serversFileFormat = `FILE (- for standard input) lists one server a line: a CVM by InstanceId or
any target by private IP, optionally with a port (without one: every port);
blank lines and # comments are ignored:
    ins-abc12345          # every binding of the instance
    ins-abc12345:8080     # only its bindings on port 8080
    10.0.3.7              # a CVM's or an ENI target's private IP
    [fd00::5]:8080        # IPv6 with a port in brackets
or is a JSON array: [{"InstanceId":"ins-abc12345"},{"Ip":"10.0.3.7","Port":80}]`

// serversCommands are the server drain's subcommands.
func (a *app) serversCommands() []*cobra.Command {
	return []*cobra.Command{a.planCommand(), a.drainServersCommand(), a.approveCommand(true), a.approveCommand(false)}
}

// drainServersCmd holds the flags of drain-servers.
type drainServersCmd struct {
	serversFlags
	wait       bool
	workflowID string
}

// drainServersCommand is "starter drain-servers".
func (a *app) drainServersCommand() *cobra.Command {
	var c drainServersCmd
	cmd := &cobra.Command{
		Use: "drain-servers --servers FILE [--lb ID ...] [--drain-delay D] [--approval [--approval-timeout D]] [--wait] [flags]",
		Long: `Takes servers out of every load balancer, listener and layer-7 rule they are
bound to (DrainServers on the clbdrain worker): it finds every binding, makes
a plan, checks the capacity guards on it (a violation fails it before any
change, naming every listener or rule at fault), with --approval waits for
'approve' or 'reject' (at most --approval-timeout; without a decision by then
it fails, having changed nothing), then sets weight 0 everywhere, waits --drain-delay
once, and deregisters each listener or rule as a child drain under its
conventional ID. Its result is a restore manifest: every binding removed with
its original weight. The workflow ID is clb-drain-servers/<servers, sorted>,
so a second drain of the same servers is refused while the first runs (exit 3).

` + serversFileFormat,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return exit(a.drainServers(cmd.Context(), &c)) },
	}
	fs := cmd.Flags()
	c.register(fs)
	fs.BoolVar(&c.approval, "approval", false, "wait, after the plan, for 'approve' or 'reject' before changing anything")
	fs.DurationVar(&c.approvalTimeout, "approval-timeout", 0, "with --approval, fail (changing nothing) when no decision came within this `DURATION`, at most 720h (0: 24h)")
	fs.BoolVar(&c.wait, "wait", false, "wait for the drain to end, showing its progress, and exit with its outcome")
	fs.StringVar(&c.workflowID, "workflow-id", "", "the workflow `ID` (default clb-drain-servers/<servers, sorted>)")
	return cmd
}

// serversInput is the input the flags of cmd (drain-servers, plan)
// describe, the requester defaulting to the user. Bad input is listed on
// stderr with exitUsage; else the code is -1.
func (a *app) serversInput(cmd string, c *serversFlags) (workflows.ServersInput, int) {
	if c.requester == "" {
		c.requester = a.user()
	}
	in, problems := c.input(a.stdin)
	if len(problems) > 0 {
		a.printServerProblems(cmd, problems)
		return in, exitUsage
	}
	return in, -1
}

func (a *app) drainServers(ctx context.Context, c *drainServersCmd) int {
	in, code := a.serversInput("drain-servers", &c.serversFlags)
	if code >= 0 {
		return code
	}
	id := c.workflowID
	if id == "" {
		id = workflows.ServersWorkflowID(in.Servers)
	}
	tc, namespace, ok := a.connect(ctx, "drain-servers")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	run, code := a.startServers(ctx, tc, "drain-servers", c.taskQueue, id, in, namespace)
	if code >= 0 {
		return code
	}
	out := a.output(c.json)
	url := connect.WorkflowURL(connect.UIAddress(), namespace, run.GetID(), run.GetRunID())
	fmt.Fprintf(out, "started server drain of %d server(s)\n  workflow ID: %s\n  run ID:      %s\n  UI:          %s\n",
		len(in.Servers), run.GetID(), run.GetRunID(), url)
	if c.approval {
		fmt.Fprintf(out, "  approve it:  %s\n  reject it:   %s\n",
			a.command("approve", run.GetID(), "--by", "NAME"), a.command("reject", run.GetID(), "--by", "NAME"))
	}
	if !c.wait {
		fmt.Fprintf(out, "  watch it:    %s\n  cancel it:   %s\n", a.command("status", "--wait", run.GetID()), a.command("cancel", run.GetID()))
		return exitOK
	}
	res, err := a.watchServers(ctx, tc, run, out, c.approval)
	if a.interrupted(ctx, "drain-servers", id) {
		return exitFailed
	}
	return a.reportServers("drain-servers", id, res, err, c.json)
}

// startServers starts DrainServers under id, failing when one with that ID
// runs. On failure it prints why and returns the exit code; else -1.
func (a *app) startServers(ctx context.Context, tc client.Client, cmd, queue, id string, in workflows.ServersInput, namespace string) (client.WorkflowRun, int) {
	opts := client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                queue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("take %d server(s) out: %s", len(in.Servers), strings.TrimPrefix(workflows.ServersWorkflowID(in.Servers), workflows.ServersIDPrefix)),
	}
	run, err := tc.ExecuteWorkflow(ctx, opts, workflows.ServersWorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		a.errorf(cmd, "a drain of these servers is already running; nothing was started.\n  workflow ID: %s\n  UI:          %s\n  watch it:    %s",
			id, connect.WorkflowURL(connect.UIAddress(), namespace, id, already.RunId), a.command("status", id))
		return nil, exitAlreadyRunning
	case err != nil:
		a.errorf(cmd, "starting workflow %s: %v", id, err)
		return nil, exitCodeOfServiceError(err)
	}
	return run, -1
}
