package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/workflows"
)

// queryServersProgress asks a DrainServers for its ServersProgress.
func (a *app) queryServersProgress(ctx context.Context, tc client.Client, workflowID string) (workflows.ServersProgress, error) {
	return queryProgressAs[workflows.ServersProgress](ctx, tc, a.queryTimeout, workflowID)
}

// watchServers follows a server drain until it ends, a progress line per
// change on w (redrawn in place on a terminal); with approval, it prints
// the plan once known and how to approve it.
func (a *app) watchServers(ctx context.Context, tc client.Client, run client.WorkflowRun, w io.Writer, approval bool) (workflows.ServersResult, error) {
	width, tty := a.terminal(w)
	since, last, planShown := time.Now(), "", false
	res, err := followRun[workflows.ServersResult](ctx, run, a.pollInterval, func() {
		p, err := a.queryServersProgress(ctx, tc, run.GetID())
		if err == nil {
			if approval && !planShown && p.Plan != nil && p.Phase == workflows.PhaseAwaiting {
				a.printPlan(w, *p.Plan, nil)
				fmt.Fprintf(w, "waiting for approval: %s\n", a.command("approve", run.GetID(), "--by", "NAME"))
				planShown = true
			}
			line := serversLine(p)
			elapsed := formatDuration(time.Since(since))
			switch {
			case tty:
				fmt.Fprintf(w, "\r%s\x1b[K", truncate(serversBar(p)+"  "+elapsed+"  "+line, width-1))
			case line != last:
				fmt.Fprintln(w, "["+elapsed+"] "+line)
			}
			last = line
		}
	})
	if tty {
		fmt.Fprintln(w)
	}
	return res, err
}

// serversBar is the progress bar of a server drain, by targets removed.
func serversBar(p workflows.ServersProgress) string {
	f := 0.0
	switch {
	case p.Phase == workflows.PhaseDone:
		f = 1
	case p.TargetsTotal > 0:
		f = max(0, min(1, float64(p.TargetsDone)/float64(p.TargetsTotal)))
	}
	done := int(f * barWidth)
	return "[" + strings.Repeat("=", done) + strings.Repeat(" ", barWidth-done) + "] " + fmt.Sprintf("%3d%%", int(f*100))
}

// serversLine is one progress line of a server drain, without the time,
// so that a log gets a line per change only.
func serversLine(p workflows.ServersProgress) string {
	line := string(p.Phase)
	if p.BindingsTotal > 0 {
		line += fmt.Sprintf(", %d/%d listeners or rules, %d/%d targets removed, %d/%d load balancers",
			p.BindingsDone, p.BindingsTotal, p.TargetsDone, p.TargetsTotal, p.LoadBalancersDone, p.LoadBalancersTotal)
	}
	if !p.DrainUntil.IsZero() {
		line += " · draining until " + p.DrainUntil.Format(time.TimeOnly)
	}
	if p.WaitingFor != "" {
		line += " · " + p.WaitingFor
	}
	if p.LastError != "" {
		line += " · last error: " + oneLine(p.LastError)
	}
	return line
}

// reportServers prints how a server drain ended, the ServersResult as JSON
// on stdout with asJSON, and returns the exit code: 0 when every binding
// was removed, 1 otherwise.
func (a *app) reportServers(cmd, id string, res workflows.ServersResult, err error, asJSON bool) int {
	if err != nil {
		f := explain(err)
		text := "server drain " + id + " failed: " + f.Message
		if f.Cancelled {
			text = "server drain " + id + " was cancelled"
		}
		if f.Type != "" {
			text += "\n  error type: " + f.Type
		}
		fmt.Fprintln(a.stderr, text)
		return exitFailed
	}
	out := a.output(asJSON || res.Cancelled)
	fmt.Fprintln(out, serversSummary(id, res))
	if asJSON {
		if code := a.printJSON(cmd, res); code != exitOK {
			return code
		}
	}
	if res.Cancelled {
		return exitFailed
	}
	return exitOK
}

// serversSummary describes a finished server drain.
func serversSummary(id string, res workflows.ServersResult) string {
	var b strings.Builder
	verb := "done"
	if res.Cancelled {
		verb = "cancelled"
	}
	removed := 0
	for _, m := range res.Bindings {
		removed += len(m.Targets)
	}
	fmt.Fprintf(&b, "server drain %s %s in %s\n", id, verb, formatDuration(res.Finished.Sub(res.Started)))
	fmt.Fprintf(&b, "  removed:   %d targets from %d listeners or rules (plan %s)\n", removed, len(res.Bindings), res.Plan.ID)
	for _, s := range res.Skipped {
		fmt.Fprintf(&b, "  left:      %s: %d targets (%s)\n", s.Selector, len(s.Targets), s.Why)
	}
	for _, o := range res.Outcomes {
		if o.Restored > 0 {
			fmt.Fprintf(&b, "  restored:  %s: %d weights given back\n", o.Selector, o.Restored)
		}
	}
	if res.Approval != nil {
		fmt.Fprintf(&b, "  approved:  by %s\n", res.Approval.By)
	}
	fmt.Fprintf(&b, "  manifest:  the result's Bindings, with each target's weight before the drain (--json)\n")
	fmt.Fprintf(&b, "  put back:  starter restore %s", shellQuote(id))
	return b.String()
}
