package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/clbdrain/clbdrain/workflows"
)

// planCommand is "starter plan".
func (a *app) planCommand() *cobra.Command {
	var c serversFlags
	cmd := &cobra.Command{
		Use: "plan --servers FILE [--lb ID ...] [--json] [flags]",
		Long: `Shows what drain-servers would do, and changes nothing: every load balancer,
listener and layer-7 rule the servers are bound to, the targets to remove with
their weights, what each listener or rule keeps (targets, targets with weight
> 0, share of weight), its attributes and warnings, and the capacity guards
the plan would break. The worker reads the load balancers (a DrainServers run
with PlanOnly, under clb-drain-plan/...). Exits 0 when the guards hold, 1 when
they do not (or the plan could not be made).

` + serversFileFormat,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return exit(a.plan(cmd.Context(), &c)) },
	}
	c.register(cmd.Flags())
	return cmd
}

func (a *app) plan(ctx context.Context, c *serversFlags) int {
	in, code := a.serversInput("plan", c)
	if code >= 0 {
		return code
	}
	in.PlanOnly = true
	tc, namespace, ok := a.connect(ctx, "plan")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	id := workflows.PlanIDPrefix + time.Now().UTC().Format("20060102T150405.000000000")
	run, code := a.startServers(ctx, tc, "plan", c.taskQueue, id, in, namespace)
	if code >= 0 {
		return code
	}
	var res workflows.ServersResult
	if err := run.Get(ctx, &res); err != nil {
		return a.reportServers("plan", id, res, err, false)
	}
	if c.json {
		if code := a.printJSON("plan", res); code != exitOK {
			return code
		}
	} else {
		a.printPlan(a.stdout, res.Plan, res.Violations)
	}
	if len(res.Violations) > 0 {
		a.errorf("plan", "the plan breaks %d capacity guard(s): drain-servers would fail before any change (--allow-empty overrides)", len(res.Violations))
		return exitFailed
	}
	return exitOK
}

// printPlan prints a plan as a table, with the guard violations under it.
func (a *app) printPlan(w io.Writer, p workflows.Plan, violations []workflows.GuardViolation) {
	lbs := len(p.LoadBalancers)
	fmt.Fprintf(w, "plan %s: %d target(s) to remove from %d listener(s) or rule(s) on %d load balancer(s) (%d searched)\n",
		p.ID, p.Targets, p.Bindings, lbs, p.Searched)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER OR RULE\tPROTOCOL\tREMOVE (WEIGHT)\tKEEPS\tKEEPS WEIGHT>0\tKEEPS WEIGHT\tATTRIBUTES")
	for _, lb := range p.LoadBalancers {
		for _, b := range lb.Bindings {
			var remove []string
			for _, t := range b.Remove {
				remove = append(remove, t.String())
			}
			share := "-"
			if b.Keep.TotalWeight > 0 {
				share = strconv.FormatFloat(float64(b.Keep.Weight)*100/float64(b.Keep.TotalWeight), 'f', 0, 64) + "%"
			}
			where := b.Selector.String()
			if b.Domain != "" || b.Url != "" {
				where += " (" + b.Domain + b.Url + ")"
			}
			fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%d\t%d\t%s\t%s\n", where, b.Protocol, b.Port, strings.Join(remove, " "),
				b.Keep.Targets, b.Keep.Weighted, share, attributes(b))
		}
	}
	_ = tw.Flush()
	for _, lb := range p.LoadBalancers {
		for _, b := range lb.Bindings {
			for _, warning := range b.Warnings {
				fmt.Fprintf(w, "warning: %s: %s\n", b.Selector, warning)
			}
		}
	}
	if len(p.Classic) > 0 {
		fmt.Fprintf(w, "left out: %d classic load balancer(s), whose targets these calls do not manage: %s\n", len(p.Classic), strings.Join(p.Classic, ", "))
	}
	for _, v := range violations {
		fmt.Fprintf(w, "guard: %s: %s\n", v.Selector, v.Why)
	}
}

// attributes is the listener attributes of a plan's binding, briefly.
func attributes(b workflows.PlanBinding) string {
	l := b.Listener
	if l == nil {
		return "-"
	}
	var out []string
	if l.DeregisterTargetRst != nil && *l.DeregisterTargetRst {
		out = append(out, "rst")
	}
	if l.IdleConnectTimeout != nil {
		out = append(out, "idle="+strconv.FormatInt(*l.IdleConnectTimeout, 10)+"s")
	}
	if l.SessionExpireTime != nil && *l.SessionExpireTime > 0 {
		out = append(out, "session="+strconv.FormatInt(*l.SessionExpireTime, 10)+"s")
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}
