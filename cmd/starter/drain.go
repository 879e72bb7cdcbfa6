package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/internal/targetfile"
	"github.com/clbdrain/clbdrain/workflows"
)

// drainFlags are the flags that describe a drain, shared by drain and
// schedule.
type drainFlags struct {
	lb, listener, location, domain, url string
	targets                             string
	drainDelay                          time.Duration
	chunkSize                           int
	reason                              string
	requester                           string
	workflowID                          string
	taskQueue                           string
	timeout                             time.Duration
}

func (f *drainFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.lb, "lb", "", "the load balancer `ID`, such as lb-abc12345 (required)")
	fs.StringVar(&f.listener, "listener", "", "the listener `ID`, such as lbl-abc12345 (required)")
	fs.StringVar(&f.location, "location", "", "the layer-7 rule's `ID`, such as loc-abc12345 (or --domain and --url)")
	fs.StringVar(&f.domain, "domain", "", "the layer-7 rule's `HOST` name, with --url")
	fs.StringVar(&f.url, "url", "", "the layer-7 rule's `PATH`, such as /api, with --domain")
	fs.StringVar(&f.targets, "targets", "", "the `FILE` listing the targets to remove, one a line or as a JSON array; - reads standard input (required)")
	fs.DurationVar(&f.drainDelay, "drain-delay", 0, "set the targets' weight to 0 first and wait this `DURATION` (such as 30s or 5m, at most 24h) before deregistering them; 0 deregisters at once")
	fs.IntVar(&f.chunkSize, "chunk-size", 0, "at most `N` targets per DeregisterTargets call, 1-20 (0: 20)")
	fs.StringVar(&f.reason, "reason", "", "why, as `TEXT` recorded in the result for audit: a ticket, a release")
	fs.StringVar(&f.requester, "requester", "", "who asks for the drain, as a `NAME` recorded for audit (starter list); default: your OS user name")
	fs.StringVar(&f.workflowID, "workflow-id", "", "the workflow `ID` (default clb-drain/<lb>/<listener>[/<rule>], which keeps two drains of one listener from running at once)")
	fs.StringVar(&f.taskQueue, "task-queue", workflows.TaskQueue, "the clbdrain worker's task `QUEUE`")
	fs.DurationVar(&f.timeout, "timeout", 0, "end the drain as failed if it has not finished after this `DURATION` (the workflow execution timeout; it stops at once, without restoring drained weights, so prefer cancel); 0: none")
}

// flagHints names the flag behind each field of a DrainInput, for problems.
var flagHints = map[string]string{
	"LoadBalancerId": "--lb",
	"ListenerId":     "--listener",
	"LocationId":     "--location",
	"Domain":         "--domain",
	"Url":            "--url",
	"Targets":        "--targets",
	"DrainDelay":     "--drain-delay",
	"ChunkSize":      "--chunk-size",
	"Reason":         "--reason",
	"Requester":      "--requester",
}

// input builds and validates the DrainInput, reading the targets from the
// file or stdin. It returns every problem at once: the flags', the
// targets file's syntax, and workflows.Validate's.
func (f *drainFlags) input(stdin io.Reader) (workflows.DrainInput, []clb.Problem) {
	in := workflows.DrainInput{
		Selector: clb.Selector{LoadBalancerId: f.lb, ListenerId: f.listener,
			LocationId: f.location, Domain: f.domain, Url: f.url},
		DrainDelay: f.drainDelay,
		ChunkSize:  f.chunkSize,
		Reason:     f.reason,
		Requester:  f.requester,
	}
	var problems []clb.Problem
	targets, targetProblems := readTargets(f.targets, stdin)
	in.Targets = targets
	problems = append(problems, targetProblems...)
	if f.timeout < 0 {
		problems = append(problems, clb.Problem{Field: "--timeout", Value: f.timeout.String(), Reason: "must be 0 (none) or more"})
	}
	if strings.TrimSpace(f.taskQueue) == "" {
		problems = append(problems, clb.Problem{Field: "--task-queue", Value: f.taskQueue, Reason: "must name the worker's task queue"})
	}
	var verr *clb.ValidationError
	if err := workflows.Validate(in); errors.As(err, &verr) {
		for _, p := range verr.Problems {
			// Without a readable file, "no targets" would only repeat why.
			if len(targetProblems) > 0 && strings.HasPrefix(p.Field, "Targets") {
				continue
			}
			problems = append(problems, p)
		}
	} else if err != nil {
		problems = append(problems, clb.Problem{Field: "input", Reason: err.Error()})
	}
	return in, problems
}

// readTargets reads the --targets file, "-" being stdin.
func readTargets(path string, stdin io.Reader) ([]clb.Target, []clb.Problem) {
	if path == "" {
		return nil, []clb.Problem{{Field: "--targets", Reason: "is required: a file listing the targets, or - for standard input"}}
	}
	r, problems := openInput("--targets", path, stdin)
	if len(problems) > 0 {
		return nil, problems
	}
	defer r.Close()
	targets, err := targetfile.Parse(r)
	var verr *clb.ValidationError
	switch {
	case errors.As(err, &verr):
		return nil, verr.Problems
	case err != nil:
		return nil, []clb.Problem{{Field: "--targets", Value: path, Reason: err.Error()}}
	}
	return targets, nil
}

// printProblems lists every problem of the input on stderr.
func (a *app) printProblems(cmd string, problems []clb.Problem) {
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(a.stderr, "%s %s: invalid input, nothing was started: %d %s\n", a.prog, cmd, len(problems), noun)
	for _, p := range problems {
		line := p.String()
		if p.Value == "" {
			line = p.Field + ": " + p.Reason
		}
		field, _, _ := strings.Cut(p.Field, "[")
		if hint, ok := flagHints[field]; ok {
			line += " (" + hint + ")"
		}
		fmt.Fprintf(a.stderr, "  - %s\n", line)
	}
	fmt.Fprintf(a.stderr, "Run '%s help %s' for the flags and the targets file format.\n", a.prog, cmd)
}

// defaultRequester sets --requester, when not given, to the OS user
// (user() returns "" when it cannot tell: the drain then has none).
func (f *drainFlags) defaultRequester(user func() string) {
	if f.requester == "" {
		f.requester = user()
	}
}

// workflowIDOf is --workflow-id, or else the drain's own workflow ID.
func (f *drainFlags) workflowIDOf(in workflows.DrainInput) string {
	if f.workflowID != "" {
		return f.workflowID
	}
	return workflows.WorkflowIDFor(in)
}

// drainCmd holds the flags of the drain subcommand.
type drainCmd struct {
	drainFlags
	wait, json          bool
	region, clbEndpoint string
}

const drainAbout = `Starts a drain on the clbdrain worker: the targets listed in FILE are taken
out of the listener (or layer-7 rule), first drained when --drain-delay is set
(weight 0, then the delay), then deregistered in chunks of at most 20, each
waited for until the CLB reports it done. Targets not bound are reported,
not an error, and nothing else is ever touched.

The input is checked before Temporal is dialed: every problem is listed and
nothing is started (exit 2). The workflow ID is clb-drain/<lb>/<listener>[/<rule>],
so a second drain of one listener or rule is refused while the first runs
(exit 3). Without --wait, the command exits once the drain is started.

FILE (- for standard input) lists one target a line, as InstanceId:port or
IP:port (no @weight: the drain reads weights from the load balancer); blank
lines and # comments are ignored:
    ins-abc12345:80
    10.0.0.5:8080      # ENI IP
    [fd00::5]:8080     # IPv6 in brackets
or is a JSON array:
    [{"InstanceId":"ins-abc12345","Port":80},{"EniIp":"10.0.0.5","Port":8080}]`

// drainCommand is "starter drain".
func (a *app) drainCommand() *cobra.Command {
	var c drainCmd
	cmd := &cobra.Command{
		Use:  "drain --lb ID --listener ID [--location ID | --domain HOST --url PATH] --targets FILE [flags]",
		Long: drainAbout,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return exit(a.drain(cmd.Context(), &c)) },
	}
	fs := cmd.Flags()
	c.register(fs)
	fs.BoolVar(&c.wait, "wait", false, "wait for the drain to end, showing its progress, and exit with its outcome")
	fs.BoolVar(&c.json, "json", false, "print the start, or with --wait the DrainResult, as JSON on stdout; progress and messages go to stderr")
	fs.StringVar(&c.region, "region", "", "the load balancer's `REGION`, such as ap-guangzhou (default $TENCENTCLOUD_REGION): with TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY set, the listener's attributes are read before the start, to warn if unbinding will cut live connections")
	fs.StringVar(&c.clbEndpoint, "clb-endpoint", "", "the CLB API `HOST` for that read, as the worker's --clb-endpoint (default $CLB_ENDPOINT, else the region's)")
	return cmd
}

// started is what drain prints once the workflow is started (as JSON with
// --json and without --wait).
type started struct {
	WorkflowID string `json:"WorkflowId"`
	RunID      string `json:"RunId"`
	Namespace  string `json:"Namespace"`
	URL        string `json:"URL"`
}

func (a *app) drain(ctx context.Context, c *drainCmd) int {
	c.defaultRequester(a.user)
	in, problems := c.input(a.stdin)
	if len(problems) > 0 {
		a.printProblems("drain", problems)
		return exitUsage
	}
	id := c.workflowIDOf(in)
	a.preflight(ctx, c, in)
	tc, namespace, ok := a.connect(ctx, "drain")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	run, code := a.startDrain(ctx, tc, c, in, id, namespace)
	if code >= 0 {
		return code
	}
	out := a.output(c.json)
	what := fmt.Sprintf("drain of %s: %d targets", in.Selector, len(in.Targets))
	if code := a.announceStart(out, "drain", what, run, namespace, c.wait, c.json); code >= 0 {
		return code
	}
	res, err := a.watch(ctx, tc, "drain", run, out, time.Now())
	if a.interrupted(ctx, "drain", id) {
		return exitFailed
	}
	return a.report("drain", id, res, err, false, c.json)
}

// output is where a command prints its progress and messages: stdout, or
// stderr when --json keeps stdout for the JSON.
func (a *app) output(asJSON bool) io.Writer {
	if asJSON {
		return a.stderr
	}
	return a.stdout
}

// announceStart prints on out that what was started as run: its workflow
// ID, run ID and UI link. Without wait it adds how to watch and cancel it
// (and, with asJSON, prints the start as JSON on stdout) and returns the
// exit code; with wait it returns -1 for the caller to follow the run.
func (a *app) announceStart(out io.Writer, cmd, what string, run client.WorkflowRun, namespace string, wait, asJSON bool) int {
	info := started{WorkflowID: run.GetID(), RunID: run.GetRunID(), Namespace: namespace,
		URL: connect.WorkflowURL(connect.UIAddress(), namespace, run.GetID(), run.GetRunID())}
	fmt.Fprintf(out, "started %s\n  workflow ID: %s\n  run ID:      %s\n  UI:          %s\n",
		what, info.WorkflowID, info.RunID, info.URL)
	if wait {
		return -1
	}
	fmt.Fprintf(out, "  watch it:    %s\n  cancel it:   %s\n",
		a.command("status", "--wait", info.WorkflowID), a.command("cancel", info.WorkflowID))
	if asJSON {
		return a.printJSON(cmd, info)
	}
	return exitOK
}

// startDrain starts the workflow under id unless a drain with that ID
// runs. On failure it prints why and returns the exit code; else -1.
func (a *app) startDrain(ctx context.Context, tc client.Client, c *drainCmd, in workflows.DrainInput, id, namespace string) (client.WorkflowRun, int) {
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                c.taskQueue,
		WorkflowExecutionTimeout: c.timeout,
		// A running drain of the same listener makes the start fail rather
		// than return the running one; a finished one may be run again.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            workflows.Summary(in),
		StaticDetails:                            workflows.Details(in),
	}
	run, err := tc.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		fmt.Fprint(a.stderr, a.alreadyRunning(in.Selector, id, already.RunId,
			connect.WorkflowURL(connect.UIAddress(), namespace, id, already.RunId)))
		return nil, exitAlreadyRunning
	case err != nil:
		a.errorf("drain", "starting workflow %s: %v", id, err)
		return nil, exitCodeOfServiceError(err)
	}
	return run, -1
}

// alreadyRunning explains why nothing was started and how to watch or
// cancel the drain that runs.
func (a *app) alreadyRunning(sel clb.Selector, id, runID, url string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s drain: a drain of %s is already running; nothing was started.\n", a.prog, sel)
	fmt.Fprintf(&b, "  workflow ID: %s\n", id)
	if runID != "" {
		fmt.Fprintf(&b, "  run ID:      %s\n", runID)
	}
	fmt.Fprintf(&b, "  UI:          %s\n", url)
	fmt.Fprintf(&b, "  watch it:    %s\n", a.command("status", "--wait", id))
	fmt.Fprintf(&b, "  cancel it:   %s\n", a.command("cancel", id))
	return b.String()
}

// exitCodeOfServiceError is 2 for a request Temporal rejected as invalid
// (a bad cron expression, a task queue name too long), else 1.
func exitCodeOfServiceError(err error) int {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return exitUsage
	}
	return exitFailed
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(cmd string, v any) int {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		a.errorf(cmd, "encoding JSON: %v", err)
		return exitFailed
	}
	fmt.Fprintf(a.stdout, "%s\n", data)
	return exitOK
}
