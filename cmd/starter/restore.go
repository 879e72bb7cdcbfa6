package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// restoreCmd holds the flags of the restore subcommand.
type restoreCmd struct {
	manifest      string
	waitHealthy   time.Duration
	onUnhealthy   string
	healthPoll    time.Duration
	rampSteps     int
	rampInterval  time.Duration
	reason        string
	requester     string
	workflowID    string
	taskQueue     string
	wait, json    bool
	printManifest bool
}

const restoreAbout = `Puts back what a drain took out: every target it deregistered, on the same
listener or rule, at the weight it had before the drain. DRAIN_WORKFLOW_ID
names a completed drain (a DrainAndDeregister, a cancelled one included, or a
DrainServers, a failed one of either included: what it removed, from its
error's details): its result is the manifest; a drain
still running is refused (exit 3). --manifest FILE (- for standard input) reads a manifest instead:
    {"Bindings": [{"Selector": {"LoadBalancerId": "lb-abc12345",
                                "ListenerId": "lbl-abc12345"},
                   "Targets": [{"InstanceId": "ins-abc12345", "Port": 80, "Weight": 10}]}]}

Targets are registered in chunks of at most 20, through the load balancer's
turns; a target found bound already (re-added by hand) keeps its weight and
is reported. With --wait-healthy, targets are bound at weight 0 and each gets
its weight once the CLB health check passes; those still unhealthy after the
duration are left at 0 (or unbound with --on-unhealthy deregister) and the
restore fails with error type Unhealthy naming them. With --ramp-steps N the
weights rise from 0 in N steps, --ramp-interval apart.

The workflow ID is clb-restore/<drain workflow ID> (clb-restore/manifest-<hash>
for a hand-written manifest), so one manifest is never restored twice at once (exit 3 while one runs).
Exit 1 also when targets were not healthy in time (error type Unhealthy).`

// restoreCommand is "starter restore".
func (a *app) restoreCommand() *cobra.Command {
	var c restoreCmd
	cmd := &cobra.Command{
		Use:  "restore (DRAIN_WORKFLOW_ID | --manifest FILE) [flags]",
		Long: restoreAbout,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return exit(a.restore(cmd.Context(), &c, args)) },
	}
	fs := cmd.Flags()
	fs.StringVar(&c.manifest, "manifest", "", "restore the manifest in `FILE` (JSON; - reads standard input) instead of a drain's result")
	fs.DurationVar(&c.waitHealthy, "wait-healthy", 0, "bind at weight 0 and give each target its weight once healthy, waiting at most this `DURATION` (at most 24h); 0: no health gate")
	fs.StringVar(&c.onUnhealthy, "on-unhealthy", workflows.OnUnhealthyLeave, "what becomes of a target still unhealthy after --wait-healthy (`MODE`): leave it at weight 0, or deregister it")
	fs.DurationVar(&c.healthPoll, "health-poll", 0, "read health every `DURATION` (1s-10m; 0: 5s), or less often over a gate that 2,000 reads would not cover, or while more targets wait than 120,000 named over the gate allow")
	fs.IntVar(&c.rampSteps, "ramp-steps", 0, "raise weights from 0 to the original in `N` steps (2-100, and N × targets at most 100,000); 0: at once")
	fs.DurationVar(&c.rampInterval, "ramp-interval", 0, "the `DURATION` between two ramp steps, with --ramp-steps")
	fs.StringVar(&c.reason, "reason", "", "why, as `TEXT` recorded for audit (default: the drain's reason)")
	fs.StringVar(&c.requester, "requester", "", "who asks for the restore, as a `NAME` recorded for audit; default: your OS user name")
	fs.StringVar(&c.workflowID, "workflow-id", "", "the workflow `ID` (default clb-restore/<drain workflow ID>)")
	fs.StringVar(&c.taskQueue, "task-queue", workflows.TaskQueue, "the clbdrain worker's task `QUEUE`")
	fs.BoolVar(&c.wait, "wait", false, "wait for the restore to end, showing its progress, and exit with its outcome")
	fs.BoolVar(&c.json, "json", false, "print the start, or with --wait the RestoreResult, as JSON on stdout")
	fs.BoolVar(&c.printManifest, "print-manifest", false, "print the manifest as JSON on stdout and start nothing")
	return cmd
}

// input is the RestoreInput of the flags and manifest m.
func (c *restoreCmd) input(m workflows.RestoreManifest) workflows.RestoreInput {
	in := workflows.RestoreInput{Manifest: m, WaitHealthy: c.waitHealthy, OnUnhealthy: c.onUnhealthy,
		HealthPoll: c.healthPoll, RampSteps: c.rampSteps, RampInterval: c.rampInterval,
		Reason: c.reason, Requester: c.requester}
	if in.OnUnhealthy == workflows.OnUnhealthyLeave {
		in.OnUnhealthy = ""
	}
	return in
}

// restoreFlagHints names the flag behind each field of a RestoreInput.
var restoreFlagHints = map[string]string{
	"WaitHealthy": "--wait-healthy", "OnUnhealthy": "--on-unhealthy", "HealthPoll": "--health-poll",
	"RampSteps": "--ramp-steps", "RampInterval": "--ramp-interval", "Reason": "--reason", "Requester": "--requester",
	"Manifest": "--manifest",
}

// checkFlags lists the problems of the command line that need no
// manifest: the source, and every setting (checked on a stand-in manifest).
func (c *restoreCmd) checkFlags(args []string) []clb.Problem {
	var problems []clb.Problem
	switch {
	case len(args) == 0 && c.manifest == "":
		problems = append(problems, clb.Problem{Field: "DRAIN_WORKFLOW_ID", Reason: "is required, or --manifest FILE"})
	case len(args) == 1 && c.manifest != "":
		problems = append(problems, clb.Problem{Field: "--manifest", Value: c.manifest, Reason: "cannot be given with a DRAIN_WORKFLOW_ID (" + args[0] + ")"})
	case len(args) == 1 && strings.TrimSpace(args[0]) == "":
		problems = append(problems, clb.Problem{Field: "DRAIN_WORKFLOW_ID", Reason: "must not be empty"})
	}
	if strings.TrimSpace(c.taskQueue) == "" {
		problems = append(problems, clb.Problem{Field: "--task-queue", Value: c.taskQueue, Reason: "must name the worker's task queue"})
	}
	stand := workflows.RestoreManifest{Bindings: []workflows.ManifestBinding{{
		Selector: clb.Selector{LoadBalancerId: "lb-00000000", ListenerId: "lbl-00000000"},
		Targets:  clb.WeightedList{{Target: clb.Target{InstanceId: "ins-00000000", Port: 1}}}}}}
	return append(problems, validationProblems(workflows.ValidateRestore(c.input(stand)))...)
}

// validationProblems are err's problems, with the flag behind each field.
func validationProblems(err error) []clb.Problem {
	var verr *clb.ValidationError
	if !errors.As(err, &verr) {
		if err != nil {
			return []clb.Problem{{Field: "input", Reason: err.Error()}}
		}
		return nil
	}
	out := make([]clb.Problem, len(verr.Problems))
	for i, p := range verr.Problems {
		field, _, _ := strings.Cut(p.Field, ".")
		field, _, _ = strings.Cut(field, "[")
		if hint, ok := restoreFlagHints[field]; ok {
			p.Reason += " (" + hint + ")"
		}
		out[i] = p
	}
	return out
}

// readManifest reads the --manifest file, "-" being stdin.
func readManifest(path string, stdin io.Reader) (workflows.RestoreManifest, []clb.Problem) {
	var m workflows.RestoreManifest
	r, problems := openInput("--manifest", path, stdin)
	if len(problems) > 0 {
		return m, problems
	}
	defer r.Close()
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, []clb.Problem{{Field: "--manifest", Value: path, Reason: "is not a restore manifest (JSON with Bindings): " + err.Error()}}
	}
	return m, nil
}

func (a *app) restore(ctx context.Context, c *restoreCmd, args []string) int {
	if c.requester == "" {
		c.requester = a.user()
	}
	if problems := c.checkFlags(args); len(problems) > 0 {
		a.printRestoreProblems(problems)
		return exitUsage
	}
	var m workflows.RestoreManifest
	if c.manifest != "" {
		var problems []clb.Problem
		if m, problems = readManifest(c.manifest, a.stdin); len(problems) == 0 {
			problems = validationProblems(workflows.ValidateRestore(c.input(m)))
		}
		if len(problems) > 0 {
			a.printRestoreProblems(problems)
			return exitUsage
		}
	}
	tc, namespace, ok := a.connect(ctx, "restore")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	if c.manifest == "" {
		var code int
		if m, code = a.drainManifest(ctx, tc, namespace, args[0]); code >= 0 {
			return code
		}
		if problems := validationProblems(workflows.ValidateRestore(c.input(m))); len(problems) > 0 && len(m.Bindings) > 0 {
			a.printRestoreProblems(problems)
			return exitUsage
		}
	}
	if c.printManifest {
		return a.printJSON("restore", m)
	}
	if len(m.Bindings) == 0 {
		fmt.Fprintf(a.stderr, "%s restore: the drain %s removed nothing: nothing to restore\n", a.prog, m.Source)
		return exitOK
	}
	return a.startRestore(ctx, tc, c, c.input(m), namespace)
}

// printRestoreProblems lists every problem of the input on stderr.
func (a *app) printRestoreProblems(problems []clb.Problem) {
	fmt.Fprintf(a.stderr, "%s restore: invalid input, nothing was started: %d problem(s)\n", a.prog, len(problems))
	for _, p := range problems {
		line := p.String()
		if p.Value == "" {
			line = p.Field + ": " + p.Reason
		}
		fmt.Fprintf(a.stderr, "  - %s\n", line)
	}
	fmt.Fprintf(a.stderr, "Run '%s help restore' for the flags and the manifest format.\n", a.prog)
}

// drainManifest reads the manifest of the drain id: the result of a
// completed drain. A running drain, a failed one, a restore, or a workflow
// that is no drain is refused, said why on stderr, with the exit code;
// else -1.
func (a *app) drainManifest(ctx context.Context, tc client.Client, namespace, id string) (workflows.RestoreManifest, int) {
	var m workflows.RestoreManifest
	desc, code := a.describeWorkflow(ctx, tc, "restore", namespace, id)
	switch {
	case code >= 0:
		return m, code
	case desc.WorkflowType.Name == workflows.RestoreWorkflowName:
		a.errorf("restore", "workflow %s is a %s, not a drain: give the ID of the drain it restores, or --manifest FILE (see it: %s)",
			id, workflows.RestoreWorkflowName, a.command("status", id))
		return m, exitUsage
	case isOpen(desc.Status):
		a.errorf("restore", "the drain %s is still running; restore it once it has ended (%s), or cancel it (%s), which restores its drained weights",
			id, a.command("status", "--wait", id), a.command("cancel", id))
		return m, exitAlreadyRunning
	}
	raw, code := a.drainOutcome(ctx, tc, id, desc)
	if code >= 0 {
		return m, code
	}
	m, err := manifestOf(id, desc.WorkflowType.Name, raw)
	if err != nil {
		a.errorf("restore", "%v", err)
		return m, exitUsage
	}
	return m, -1
}

// drainOutcome is the result of the ended drain id, which desc describes: of a
// completed one, or the details of a failed one's error when they are a
// restore manifest (a server drain that could not remove every binding
// names in them what it removed) or name what a listener drain had
// deregistered (workflows.FailureDetails). Any other end has nothing to restore:
// it says so and returns the exit code; else -1.
func (a *app) drainOutcome(ctx context.Context, tc client.Client, id string, desc *client.WorkflowExecutionDescription) (json.RawMessage, int) {
	var raw json.RawMessage
	err := tc.GetWorkflow(ctx, id, desc.WorkflowExecution.RunID).Get(ctx, &raw)
	if desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && err == nil {
		return raw, -1
	}
	var appErr *temporal.ApplicationError
	if desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED && errors.As(err, &appErr) && appErr.HasDetails() &&
		appErr.Details(&raw) == nil && hasKey(raw, "Bindings") {
		fmt.Fprintf(a.stderr, "%s restore: the drain %s failed (%s); restoring what it removed, from its error's details\n",
			a.prog, id, appErr.Type())
		return raw, -1
	}
	if fd, ok := workflows.FailureDetailsOf(err); desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED && ok && len(fd.Deregistered) > 0 {
		fmt.Fprintf(a.stderr, "%s restore: the drain %s failed part way; restoring the %d targets it had deregistered, from its error's details\n",
			a.prog, id, len(fd.Deregistered))
		if len(fd.LeftAtZero) > 0 {
			fmt.Fprintf(a.stderr, "%s restore: it also left %d targets at weight 0, still bound: a restore leaves them as they are\n",
				a.prog, len(fd.LeftAtZero))
		}
		raw, err := json.Marshal(fd.Manifest(id))
		if err != nil {
			a.errorf("restore", "the details of %s: %v", id, err)
			return nil, exitFailed
		}
		return raw, -1
	}
	if desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		a.errorf("restore", "reading the result of %s: %v", id, err)
		return nil, exitFailed
	}
	a.errorf("restore", "the drain %s did not complete (%s): it has no result to restore; write a manifest of what it removed and use --manifest",
		id, statusNames[desc.Status])
	return nil, exitFailed
}

// hasKey reports whether raw is a JSON object with key.
func hasKey(raw json.RawMessage, key string) bool {
	var shape map[string]json.RawMessage
	if json.Unmarshal(raw, &shape) != nil {
		return false
	}
	_, ok := shape[key]
	return ok
}

// manifestOf is the restore manifest of the result raw of the drain id, a
// workflow of type kind: a RestoreManifest as it is (DrainServers), or a
// DrainResult made one (DrainAndDeregister, ScheduledDrain).
func manifestOf(id, kind string, raw json.RawMessage) (workflows.RestoreManifest, error) {
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(raw, &shape); err != nil {
		return workflows.RestoreManifest{}, fmt.Errorf("the result of %s (%s) is not a drain's: %v", id, kind, err)
	}
	if _, ok := shape["Bindings"]; ok {
		var m workflows.RestoreManifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return m, fmt.Errorf("the result of %s (%s) is not a restore manifest: %v", id, kind, err)
		}
		if m.Source == "" {
			m.Source = id
		}
		return m, nil
	}
	if _, ok := shape["Deregistered"]; !ok {
		return workflows.RestoreManifest{}, fmt.Errorf("workflow %s is a %s: its result is neither a drain's nor a restore manifest", id, kind)
	}
	var res workflows.DrainResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return workflows.RestoreManifest{}, fmt.Errorf("the result of %s (%s) is not a drain's: %v", id, kind, err)
	}
	return res.Manifest(id), nil
}

// startRestore starts the restore and, with --wait, follows it to its end.
func (a *app) startRestore(ctx context.Context, tc client.Client, c *restoreCmd, in workflows.RestoreInput, namespace string) int {
	id := c.workflowID
	if id == "" {
		id = workflows.RestoreWorkflowID(in.Manifest)
	}
	opts := client.StartWorkflowOptions{
		ID: id, TaskQueue: c.taskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            workflows.RestoreChildOptions(in).StaticSummary,
	}
	run, err := tc.ExecuteWorkflow(ctx, opts, workflows.RestoreWorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		a.errorf("restore", "a restore %s is already running; nothing was started.\n  watch it:  %s\n  cancel it: %s",
			id, a.command("status", "--wait", id), a.command("cancel", id))
		return exitAlreadyRunning
	case err != nil:
		a.errorf("restore", "starting workflow %s: %v", id, err)
		return exitCodeOfServiceError(err)
	}
	out := a.output(c.json)
	what := fmt.Sprintf("restore of %d targets on %d listeners or rules", countTargets(in.Manifest), len(in.Manifest.Bindings))
	if code := a.announceStart(out, "restore", what, run, namespace, c.wait, c.json); code >= 0 {
		return code
	}
	res, err := a.watchRestore(ctx, tc, run, out, time.Now())
	if a.interrupted(ctx, "restore", id) {
		return exitFailed
	}
	return a.reportRestore(id, res, err, c.json)
}

func countTargets(m workflows.RestoreManifest) int {
	n := 0
	for _, b := range m.Bindings {
		n += len(b.Targets)
	}
	return n
}

// watchRestore follows a restore until it ends, one progress line per
// change (redrawn in place on a terminal), and returns its result or error.
func (a *app) watchRestore(ctx context.Context, tc client.Client, run client.WorkflowRun, w io.Writer, since time.Time) (workflows.RestoreResult, error) {
	width, tty := a.terminal(w)
	last, drawn := "", false
	res, err := followRun[workflows.RestoreResult](ctx, run, a.pollInterval, func() {
		p, err := queryProgressAs[workflows.RestoreProgress](ctx, tc, a.queryTimeout, run.GetID())
		line := restoreLine(p, err, since, time.Now(), tty, width)
		switch {
		case tty:
			fmt.Fprintf(w, "\r%s\x1b[K", line)
			drawn = true
		case line[strings.Index(line, "]")+1:] != last:
			fmt.Fprintln(w, line)
			last = line[strings.Index(line, "]")+1:]
		}
	})
	if drawn {
		fmt.Fprintln(w)
	}
	return res, err
}

// restoreLine describes a restore's progress: elapsed time, phase, targets
// registered and at their weight, ramp step, health deadline, the turn
// waited for, the last error; with a bar and cut to width on a terminal.
func restoreLine(p workflows.RestoreProgress, err error, since, now time.Time, tty bool, width int) string {
	elapsed := formatDuration(now.Sub(since))
	if err != nil {
		return "[" + elapsed + "] waiting for the restore's progress: " + queryErrorText(err)
	}
	parts := []string{string(p.Phase)}
	if p.TargetsTotal > 0 {
		parts = append(parts, fmt.Sprintf("registered %d/%d", p.Registered, p.TargetsTotal),
			fmt.Sprintf("at weight %d/%d", p.AtWeight, p.TargetsTotal))
	}
	if p.AlreadyBound > 0 {
		parts = append(parts, strconv.Itoa(p.AlreadyBound)+" already bound")
	}
	if p.RampSteps > 0 {
		parts = append(parts, fmt.Sprintf("ramp step %d/%d", p.RampStep, p.RampSteps))
	}
	switch {
	case p.Phase != workflows.PhaseHealthWait || p.HealthUntil.IsZero():
	case tty:
		parts = append(parts, fmt.Sprintf("healthy %d, %s left", p.Healthy, formatDuration(p.HealthUntil.Sub(now))))
	default:
		// A log line changes with the count, not with the clock.
		parts = append(parts, fmt.Sprintf("healthy %d, waiting until %s", p.Healthy, p.HealthUntil.UTC().Format(time.TimeOnly)+" UTC"))
	}
	if p.WaitingFor != "" {
		parts = append(parts, p.WaitingFor)
	}
	if p.LastError != "" {
		parts = append(parts, "last error: "+oneLine(p.LastError))
	}
	if !tty {
		return "[" + elapsed + "] " + strings.Join(parts, ", ")
	}
	f := 0.0
	if p.TargetsTotal > 0 {
		f = float64(p.Registered+p.AtWeight) / float64(2*p.TargetsTotal)
	}
	if p.Phase == workflows.PhaseDone {
		f = 1
	}
	f = max(0, min(1, f))
	done := int(f * barWidth)
	line := "[" + strings.Repeat("=", done) + strings.Repeat(" ", barWidth-done) + "] " +
		fmt.Sprintf("%3d%%", int(f*100)) + "  " + elapsed + "  " + strings.Join(parts, "  ")
	return truncate(line, width-1)
}

// reportRestore prints how a restore ended, the RestoreResult as JSON on
// stdout with --json (also for an Unhealthy failure, from its details),
// and returns the exit code: 0 done, 1 failed or cancelled.
func (a *app) reportRestore(id string, res workflows.RestoreResult, err error, asJSON bool) int {
	code, text := exitOK, restoreSummary(res)
	if err != nil {
		f := explain(err)
		code, text = exitFailed, "restore "+id+" failed: "+f.Message
		if f.Type != "" {
			text += "\n  error type: " + f.Type
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&res) == nil {
			text += "\n" + restoreSummary(res)
		}
	} else if res.Cancelled {
		code = exitFailed
	}
	out := a.output(asJSON || code != exitOK)
	fmt.Fprintln(out, text)
	if asJSON && len(res.Bindings) > 0 {
		if jsonCode := a.printJSON("restore", res); jsonCode != exitOK {
			return jsonCode
		}
	}
	return code
}

// restoreSummary describes a restore's result.
func restoreSummary(res workflows.RestoreResult) string {
	var registered, already, unhealthy, removed int
	for _, b := range res.Bindings {
		registered += len(b.Registered)
		already += len(b.AlreadyBound)
		unhealthy += len(b.Unhealthy)
		removed += len(b.Removed)
	}
	var b strings.Builder
	verb := "done"
	if res.Cancelled {
		verb = "cancelled: what is registered stays at its current weight"
	}
	fmt.Fprintf(&b, "restore of %d listeners or rules %s", len(res.Bindings), verb)
	if !res.Started.IsZero() && !res.Finished.IsZero() {
		b.WriteString(" after " + formatDuration(res.Finished.Sub(res.Started)))
	}
	fmt.Fprintf(&b, "\n  registered:     %d targets\n", registered)
	fmt.Fprintf(&b, "  already bound:  %d targets (left at the weight they had)\n", already)
	if unhealthy > 0 {
		fmt.Fprintf(&b, "  unhealthy:      %d targets (%d unbound again)\n", unhealthy, removed)
	}
	if res.RampStep > 0 {
		fmt.Fprintf(&b, "  ramp steps:     %d\n", res.RampStep)
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(&b, "  skipped:        %d bindings the drain had not removed\n", len(res.Skipped))
	}
	return strings.TrimSuffix(b.String(), "\n")
}
