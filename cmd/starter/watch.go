package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/term"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// terminalWidth reports whether w is a terminal that can redraw a line in
// place, and its width.
func terminalWidth(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		width = 80
	}
	return width, true
}

// queryProgressAs asks the latest run of workflowID for its progress
// (workflows.QueryProgress) as a P, giving up after timeout. The query is
// answered by a worker, so it fails while none is polling.
func queryProgressAs[P any](ctx context.Context, tc client.Client, timeout time.Duration, workflowID string) (P, error) {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var p P
	v, err := tc.QueryWorkflow(qctx, workflowID, "", workflows.QueryProgress)
	if err != nil {
		return p, err
	}
	err = v.Get(&p)
	return p, err
}

// queryProgress asks the drain's latest run for its Progress.
func (a *app) queryProgress(ctx context.Context, tc client.Client, workflowID string) (workflows.Progress, error) {
	return queryProgressAs[workflows.Progress](ctx, tc, a.queryTimeout, workflowID)
}

// followRun waits for run to end, calling poll at once and then every
// interval until it does, and returns run's result or error as run.Get
// does.
func followRun[R any](ctx context.Context, run client.WorkflowRun, every time.Duration, poll func()) (R, error) {
	type end struct {
		res R
		err error
	}
	done := make(chan end, 1)
	go func() {
		var res R
		err := run.Get(ctx, &res)
		done <- end{res, err}
	}()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		poll()
		select {
		case e := <-done:
			return e.res, e.err
		case <-ticker.C:
		}
	}
}

// watch follows a drain until it ends, showing its progress on w and its
// warnings on stderr (once each), and returns its result or error. Progress
// is asked of the workflow ID, not of the run, so it follows
// continue-as-new, as run.Get does.
func (a *app) watch(ctx context.Context, tc client.Client, cmd string, run client.WorkflowRun, w io.Writer, since time.Time) (workflows.DrainResult, error) {
	width, tty := a.terminal(w)
	pp := &progressPrinter{w: w, tty: tty, width: width, since: since,
		warn: func(ws []string) { a.printWarnings(cmd, ws) }, fresh: a.fresh}
	res, err := followRun[workflows.DrainResult](ctx, run, a.pollInterval, func() {
		p, err := a.queryProgress(ctx, tc, run.GetID())
		pp.show(p, err, time.Now())
	})
	pp.finish()
	return res, err
}

// progressPrinter shows successive progress answers: on a terminal, one
// line redrawn in place; elsewhere (a log, a pipe), one line for each
// change of phase, of chunks done, of run or of last error.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	width int
	since time.Time

	// fresh picks the warnings not printed yet; warn prints them.
	fresh func([]string) []string
	warn  func([]string)

	last     workflows.Progress
	haveLast bool
	lastErr  string
	drawn    bool
}

func (pp *progressPrinter) show(p workflows.Progress, err error, now time.Time) {
	if err != nil {
		msg := queryErrorText(err)
		if pp.tty {
			// A query that fails now and then keeps the last progress on
			// screen rather than flickering.
			line := truncate("["+formatDuration(now.Sub(pp.since))+"] waiting for the drain's progress: "+msg, pp.width-1)
			if pp.haveLast {
				line = progressLine(pp.last, pp.since, now, true, pp.width)
			}
			pp.draw(line)
			return
		}
		if msg != pp.lastErr {
			fmt.Fprintf(pp.w, "[%s] waiting for the drain's progress: %s\n", formatDuration(now.Sub(pp.since)), msg)
			pp.lastErr = msg
		}
		return
	}
	pp.lastErr = ""
	if pp.fresh != nil {
		if ws := pp.fresh(p.Warnings); len(ws) > 0 {
			if pp.tty && pp.drawn {
				// The warnings start on a line of their own.
				fmt.Fprint(pp.w, "\r\x1b[K")
			}
			pp.warn(ws)
		}
	}
	if pp.tty {
		pp.draw(progressLine(p, pp.since, now, true, pp.width))
	} else if !pp.haveLast || progressChanged(pp.last, p) {
		fmt.Fprintln(pp.w, progressLine(p, pp.since, now, false, 0))
	}
	pp.last, pp.haveLast = p, true
}

func (pp *progressPrinter) draw(line string) {
	// \r returns to the line's start and \x1b[K clears what a longer line
	// left behind.
	fmt.Fprintf(pp.w, "\r%s\x1b[K", line)
	pp.drawn = true
}

// finish ends the redrawn line, so that what follows starts on its own.
func (pp *progressPrinter) finish() {
	if pp.drawn {
		fmt.Fprintln(pp.w)
	}
}

// queryErrorText says why there is no progress: most often no worker has
// answered the query yet.
func queryErrorText(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no worker answered (is a clbdrain worker polling the task queue?)"
	}
	return oneLine(err.Error())
}

// progressChanged reports a change worth a line of its own in a log: a new
// phase, a finished chunk, a new run or a new last error.
func progressChanged(prev, cur workflows.Progress) bool {
	return prev.Phase != cur.Phase || prev.ChunksDone != cur.ChunksDone ||
		prev.Run != cur.Run || prev.LastError != cur.LastError
}

// barWidth is the number of cells in the terminal progress bar.
const barWidth = 24

// progressLine describes a drain's progress after it started at since: the
// elapsed time, the phase, chunks, targets, the task waited on and any last
// error. For a terminal (tty) a bar comes first and the line is cut to
// width - 1 so that it never wraps, least useful words last; otherwise it is
// a plain log line.
func progressLine(p workflows.Progress, since, now time.Time, tty bool, width int) string {
	parts := []string{string(p.Phase)}
	if p.Phase == workflows.PhaseDrainWait && !p.DrainUntil.IsZero() {
		parts[0] += " (" + formatDuration(p.DrainUntil.Sub(now)) + " left)"
	}
	if p.ChunksTotal > 0 {
		parts = append(parts, "chunks "+strconv.Itoa(p.ChunksDone)+"/"+strconv.Itoa(p.ChunksTotal))
	}
	if p.TargetsTotal > 0 {
		parts = append(parts, "targets "+strconv.Itoa(p.TargetsDone)+"/"+strconv.Itoa(p.TargetsTotal))
	}
	if p.AlreadyAbsent > 0 {
		parts = append(parts, strconv.Itoa(p.AlreadyAbsent)+" already absent")
	}
	if p.CurrentTaskID != "" {
		parts = append(parts, "task "+p.CurrentTaskID)
	}
	if p.WaitingFor != "" {
		parts = append(parts, p.WaitingFor)
	}
	if p.Run > 1 {
		parts = append(parts, "run "+strconv.Itoa(p.Run))
	}
	if p.LastError != "" {
		parts = append(parts, "last error: "+oneLine(p.LastError))
	}
	elapsed := formatDuration(now.Sub(since))
	if !tty {
		return "[" + elapsed + "] " + strings.Join(parts, ", ")
	}
	done := int(fraction(p) * barWidth)
	line := "[" + strings.Repeat("=", done) + strings.Repeat(" ", barWidth-done) + "] " +
		fmt.Sprintf("%3d%%", int(fraction(p)*100)) + "  " + elapsed + "  " + strings.Join(parts, "  ")
	return truncate(line, width-1)
}

// fraction is how much of the drain is done, from 0 to 1: by targets, else
// by chunks.
func fraction(p workflows.Progress) float64 {
	var f float64
	switch {
	case p.Phase == workflows.PhaseDone:
		f = 1
	case p.TargetsTotal > 0:
		f = float64(p.TargetsDone) / float64(p.TargetsTotal)
	case p.ChunksTotal > 0:
		f = float64(p.ChunksDone) / float64(p.ChunksTotal)
	}
	return max(0, min(1, f))
}

// truncate cuts s to at most n runes, ending with "…" when cut.
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// formatDuration rounds to the second: 0s, 45s, 3m12s, 1h2m0s.
func formatDuration(d time.Duration) string {
	return max(d, 0).Round(time.Second).String()
}

// failure is how a drain failed, as far as its error chain tells.
type failure struct {
	// Type is the ApplicationError type: a Tencent error code, or one of
	// the workflow's own (InvalidInput, TaskFailed, RuleRequired).
	Type    string `json:"Type,omitempty"`
	Message string `json:"Message"`
	// Activity names the activity that failed, when one did.
	Activity   string `json:"Activity,omitempty"`
	Cancelled  bool   `json:"Cancelled,omitempty"`
	TimedOut   bool   `json:"TimedOut,omitempty"`
	Terminated bool   `json:"Terminated,omitempty"`
	// LeftAtZero are the targets the failed drain left at weight 0, with
	// their weights from before it (workflows.FailureDetails).
	LeftAtZero []clb.WeightedTarget `json:"LeftAtZero,omitempty"`
}

// workflowErrorTypes are the ApplicationError types the workflow itself
// raises; they say more than the activity error they may wrap.
var workflowErrorTypes = map[string]bool{
	workflows.ErrInvalidInput:   true,
	workflows.ErrTaskFailed:     true,
	workflows.ErrNoRule:         true,
	workflows.ErrAlreadyRunning: true,
}

// explain walks a workflow's error chain (WorkflowExecutionError, then
// ApplicationError, ActivityError, ApplicationError...). The ApplicationError
// reported is the first of the workflow's own types; else the one an
// activity failed with, which carries the Tencent error code (not its
// cause, the SDK's raw error); else the outermost.
func explain(err error) failure {
	var (
		f                      failure
		own, ofActivity, outer *temporal.ApplicationError
		deepest                = err
		underActivity          bool
	)
	fd, leftAtZero := workflows.LeftAtZeroOf(err)
	if leftAtZero {
		f.LeftAtZero = fd.LeftAtZero
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		deepest = e
		switch v := e.(type) {
		case *temporal.ApplicationError:
			if leftAtZero && wrapsLeftAtZero(v) {
				// The wrapper of what failed: what failed says more.
				continue
			}
			if own == nil && workflowErrorTypes[v.Type()] {
				own = v
			}
			if underActivity && ofActivity == nil {
				ofActivity = v
			}
			if outer == nil {
				outer = v
			}
		case *temporal.ActivityError:
			if !underActivity {
				f.Activity = v.ActivityType().GetName()
				underActivity = true
			}
		case *temporal.CanceledError:
			f.Cancelled = true
		case *temporal.TimeoutError:
			// An activity's timeout is a cause; the workflow's is the end.
			f.TimedOut = f.TimedOut || !underActivity
		case *temporal.TerminatedError:
			f.Terminated = true
		}
	}
	chosen := own
	if chosen == nil {
		chosen = ofActivity
	}
	if chosen == nil {
		chosen = outer
	}
	f.describe(chosen, deepest)
	return f
}

// describe sets the failure's message (and type): from what ended the
// drain (a cancel, a termination, its timeout), else from the chosen
// ApplicationError, else from the deepest error of the chain.
func (f *failure) describe(chosen *temporal.ApplicationError, deepest error) {
	switch {
	case f.Cancelled:
		f.Message = "the drain was cancelled"
	case f.Terminated:
		f.Message = "the drain was terminated in Temporal; it stopped at once, so targets drained to weight 0 may still have weight 0"
	case f.TimedOut:
		f.Message = "the drain did not finish within its --timeout (workflow execution timeout); it stopped at once, so targets drained to weight 0 may still have weight 0"
	case chosen != nil:
		f.Type, f.Message = chosen.Type(), chosen.Message()
	default:
		f.Message = deepest.Error()
	}
}

// wrapsLeftAtZero reports whether e is the error a failed drain wraps its
// failure in to name the targets it left at weight 0.
func wrapsLeftAtZero(e *temporal.ApplicationError) bool {
	var fd workflows.FailureDetails
	return e.HasDetails() && e.Details(&fd) == nil && len(fd.LeftAtZero) > 0
}

// outcome is the exit code and the text for how a drain ended: its result,
// or the error its run returned. cancelling is true for cancel --wait, where
// a cancelled drain is the end asked for.
func outcome(workflowID string, res workflows.DrainResult, err error, cancelling bool) (int, string) {
	if err == nil {
		if res.Cancelled && !cancelling {
			return exitFailed, summary(res)
		}
		return exitOK, summary(res)
	}
	f := explain(err)
	if f.Cancelled {
		code := exitFailed
		if cancelling {
			code = exitOK
		}
		return code, "drain " + workflowID + " was cancelled"
	}
	text := "drain " + workflowID + " failed: " + f.Message
	if f.Type != "" {
		text += "\n  error type: " + f.Type
	}
	if f.Activity != "" {
		text += "\n  in activity: " + f.Activity
	}
	if n := len(f.LeftAtZero); n > 0 {
		text += fmt.Sprintf("\n  left at weight 0: %d targets (their weights from before: LeftAtZero in the error's details, or status --json)", n)
	}
	return exitFailed, text
}

// summary describes a finished drain.
func summary(res workflows.DrainResult) string {
	var b strings.Builder
	verb, when := "done", " in "
	if res.Cancelled {
		verb, when = "cancelled", " after "
	}
	fmt.Fprintf(&b, "drain of %s %s", res.Selector, verb)
	if !res.Started.IsZero() && !res.Finished.IsZero() {
		b.WriteString(when + formatDuration(res.Finished.Sub(res.Started)))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  deregistered:      %d targets in %d chunks\n", len(res.Deregistered), len(res.Chunks))
	fmt.Fprintf(&b, "  already absent:    %d targets\n", len(res.AlreadyAbsent))
	if res.Drained > 0 {
		fmt.Fprintf(&b, "  drained first:     %d targets set to weight 0\n", res.Drained)
	}
	if len(res.GoneDuringDrain) > 0 {
		fmt.Fprintf(&b, "  gone meanwhile:    %d targets (unbound by someone else during the drain phase)\n", len(res.GoneDuringDrain))
	}
	if len(res.Renamed) > 0 {
		fmt.Fprintf(&b, "  named as bound:    %d targets asked for in another spelling (Renamed)\n", len(res.Renamed))
	}
	if res.Cancelled {
		fmt.Fprintf(&b, "  left bound:        %d targets\n",
			max(0, res.Requested-len(res.Deregistered)-len(res.AlreadyAbsent)-len(res.GoneDuringDrain)))
		fmt.Fprintf(&b, "  weights restored:  %d targets\n", len(res.Restored))
	}
	if res.DuplicatesMerged > 0 {
		fmt.Fprintf(&b, "  duplicates merged: %d\n", res.DuplicatesMerged)
	}
	if res.Runs > 1 {
		fmt.Fprintf(&b, "  workflow runs:     %d (continued as new)\n", res.Runs)
	}
	if res.Reason != "" {
		fmt.Fprintf(&b, "  reason:            %s\n", res.Reason)
	}
	for _, c := range res.Chunks {
		if c.Outcome == workflows.OutcomeFailed || c.Outcome == workflows.OutcomeAbandoned {
			fmt.Fprintf(&b, "  chunk %d %s: %s\n", c.Index, c.Outcome, oneLine(c.Error))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// report prints how a drain ended, the DrainResult as JSON on stdout with
// --json, and returns the exit code.
func (a *app) report(cmd, workflowID string, res workflows.DrainResult, err error, cancelling, asJSON bool) int {
	code, text := outcome(workflowID, res, err, cancelling)
	if err == nil {
		a.warn(cmd, res.Warnings)
	}
	out := a.output(asJSON || code != exitOK)
	fmt.Fprintln(out, text)
	if asJSON && err == nil {
		if jsonCode := a.printJSON(cmd, res); jsonCode != exitOK {
			return jsonCode
		}
	}
	return code
}
