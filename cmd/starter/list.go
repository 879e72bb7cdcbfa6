package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/workflows"
)

// listCmd holds the flags of the list subcommand.
type listCmd struct {
	lb, server, since string
	running, json     bool
	verbose           bool
	limit             int
}

// defaultSince is how far back list looks without --since.
const defaultSince = "7d"

const listAbout = `Lists clbdrain workflows, newest first, from Temporal's visibility: when each
started and ended, who asked for it (--requester of drain and schedule), why
(--reason), what (load balancer, listeners and rules), and its outcome (done,
cancelled, failed, skipped, or running with its phase). Drains that continued
as new are shown once, by their last run. It reads the audit search
attributes, which the namespace must have registered (README, "Audit").

--server finds the drains of an instance ID or ENI IP; a drain records its
first servers only (about a hundred), so a drain of more may be missed.`

// listCommand is "starter list".
func (a *app) listCommand() *cobra.Command {
	var c listCmd
	cmd := &cobra.Command{
		Use:  "list [--lb ID] [--server ID] [--since 7d] [--running] [--json]",
		Long: listAbout,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return exit(a.list(cmd.Context(), &c)) },
	}
	fs := cmd.Flags()
	fs.StringVar(&c.lb, "lb", "", "only the workflows of this load balancer `ID`, such as lb-abc12345")
	fs.StringVar(&c.server, "server", "", "only the workflows that take out this `SERVER`: an instance ID or an ENI IP")
	fs.StringVar(&c.since, "since", defaultSince, "only the workflows started in the last `DURATION`, such as 1h, 36h or 7d, at most 3650d; 0: any time")
	fs.BoolVar(&c.running, "running", false, "only the workflows still running")
	fs.BoolVar(&c.json, "json", false, "print the query and the workflows as JSON on stdout")
	fs.BoolVar(&c.verbose, "verbose", false, "print the visibility query first (as temporal workflow list --query takes it)")
	fs.IntVar(&c.limit, "limit", 100, "show at most `N` workflows, 1-1000")
	return cmd
}

// listed is one workflow as list shows it (a row, or an object of --json).
type listed struct {
	WorkflowID    string    `json:"WorkflowId"`
	RunID         string    `json:"RunId"`
	Kind          string    `json:"Kind"`
	Started       time.Time `json:"Started"`
	Closed        time.Time `json:"Closed,omitzero"`
	Status        string    `json:"Status"`
	Phase         string    `json:"Phase,omitempty"`
	Outcome       string    `json:"Outcome"`
	Requester     string    `json:"Requester,omitempty"`
	Reason        string    `json:"Reason,omitempty"`
	LoadBalancers []string  `json:"LoadBalancers,omitempty"`
	Listeners     []string  `json:"Listeners,omitempty"`
	Servers       []string  `json:"Servers,omitempty"`
	URL           string    `json:"URL"`
}

// listOutput is what list --json prints.
type listOutput struct {
	Query     string   `json:"Query"`
	Workflows []listed `json:"Workflows"`
}

func (a *app) list(ctx context.Context, c *listCmd) int {
	query, problems := c.query(a.now())
	if len(problems) > 0 {
		a.errorf("list", "bad flags, nothing was listed:")
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "  - %s %q: %s\n", p.Field, p.Value, p.Reason)
		}
		fmt.Fprintf(a.stderr, "Run '%s help list' for the flags.\n", a.prog)
		return exitUsage
	}
	if c.verbose {
		fmt.Fprintf(a.stderr, "query: %s\n", query)
	}
	tc, namespace, ok := a.connect(ctx, "list")
	if !ok {
		return exitFailed
	}
	defer tc.Close()
	infos, err := listExecutions(ctx, tc, namespace, query, c.limit)
	if err != nil {
		a.listFailed(err, query)
		return exitCodeOfServiceError(err)
	}
	rows := make([]listed, 0, len(infos))
	for _, info := range infos {
		rows = append(rows, listedOf(info, namespace))
	}
	slices.SortStableFunc(rows, func(x, y listed) int { return y.Started.Compare(x.Started) })
	if c.json {
		return a.printJSON("list", listOutput{Query: query, Workflows: rows})
	}
	a.printTable(rows)
	return exitOK
}

// listIDPattern is what --lb and --server accept: IDs and IP addresses,
// never a quote that would end the query's string.
var listIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.:_-]{0,63}$`)

// query is the visibility query of the flags, at now; it returns every
// problem of the flags instead when there are some.
func (c *listCmd) query(now time.Time) (string, []clb.Problem) {
	var problems []clb.Problem
	clauses := []string{workflows.SearchAttrKind.GetName() + " IS NOT NULL", "ExecutionStatus != 'ContinuedAsNew'"}
	if c.lb != "" {
		if !listIDPattern.MatchString(c.lb) {
			problems = append(problems, clb.Problem{Field: "--lb", Value: c.lb, Reason: "must be a load balancer ID, such as lb-abc12345"})
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.SearchAttrLoadBalancers.GetName(), c.lb))
	}
	if c.server != "" {
		if !listIDPattern.MatchString(c.server) {
			problems = append(problems, clb.Problem{Field: "--server", Value: c.server, Reason: "must be an instance ID, such as ins-abc12345, or an IP address"})
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.SearchAttrServers.GetName(), c.server))
	}
	since, err := parseSince(c.since)
	if err != nil {
		problems = append(problems, clb.Problem{Field: "--since", Value: c.since, Reason: err.Error()})
	} else if since > 0 {
		clauses = append(clauses, fmt.Sprintf("StartTime >= '%s'", now.Add(-since).UTC().Format(time.RFC3339)))
	}
	if c.running {
		clauses = append(clauses, "ExecutionStatus = 'Running'")
	}
	if c.limit < 1 || c.limit > 1000 {
		problems = append(problems, clb.Problem{Field: "--limit", Value: strconv.Itoa(c.limit), Reason: "must be 1 to 1000"})
	}
	return strings.Join(clauses, " AND "), problems
}

// maxSinceDays bounds --since: ten years, far beyond any retention, and
// far below where a number of days overflows a time.Duration.
const maxSinceDays = 3650

// parseSince reads a duration as time.ParseDuration does, or a whole
// number of days such as 7d; 0 means no bound. It refuses more than
// maxSinceDays days.
func parseSince(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	var d time.Duration
	var err error
	tooLong := false
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		tooLong = n > maxSinceDays
		d = time.Duration(min(n, maxSinceDays+1)) * day
	} else {
		d, err = time.ParseDuration(s)
		tooLong = d > maxSinceDays*day
	}
	switch {
	case err != nil:
		return 0, errors.New("must be a duration such as 1h, 36h or 7d")
	case d < 0:
		return 0, errors.New("must be 0 (any time) or more")
	case tooLong:
		return 0, fmt.Errorf("must be at most %dd (ten years); 0 lists from any time", maxSinceDays)
	}
	return d, nil
}

// listExecutions pages through the query's executions, up to limit.
func listExecutions(ctx context.Context, tc client.Client, namespace, query string, limit int) ([]*workflowpb.WorkflowExecutionInfo, error) {
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		res, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, PageSize: int32(limit), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetExecutions()...)
		token = res.GetNextPageToken()
		if len(token) == 0 || len(out) >= limit {
			return out[:min(len(out), limit)], nil
		}
	}
}

// listFailed explains a failed list; a query Temporal rejects usually
// means the namespace lacks the audit search attributes.
func (a *app) listFailed(err error, query string) {
	a.errorf("list", "listing workflows: %v\n  query: %s", err, query)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		fmt.Fprintf(a.stderr, "  The namespace may lack clbdrain's audit search attributes: the worker logs\n"+
			"  the commands that register them when it starts (README, \"Audit\").\n")
	}
}

// listedOf reads one execution and its audit search attributes.
func listedOf(info *workflowpb.WorkflowExecutionInfo, namespace string) listed {
	fields := info.GetSearchAttributes().GetIndexedFields()
	l := listed{
		WorkflowID:    info.GetExecution().GetWorkflowId(),
		RunID:         info.GetExecution().GetRunId(),
		Kind:          decodeString(fields, workflows.SearchAttrKind.GetName()),
		Started:       info.GetStartTime().AsTime(),
		Status:        statusName(info.GetStatus()),
		Phase:         decodeString(fields, workflows.SearchAttrPhase.GetName()),
		Requester:     decodeString(fields, workflows.SearchAttrRequester.GetName()),
		Reason:        decodeString(fields, workflows.SearchAttrReason.GetName()),
		LoadBalancers: decodeStrings(fields, workflows.SearchAttrLoadBalancers.GetName()),
		Listeners:     decodeStrings(fields, workflows.SearchAttrListeners.GetName()),
		Servers:       decodeStrings(fields, workflows.SearchAttrServers.GetName()),
		URL:           connect.WorkflowURL(connect.UIAddress(), namespace, info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()),
	}
	if info.GetCloseTime() != nil {
		l.Closed = info.GetCloseTime().AsTime()
	}
	l.Outcome = listOutcome(info.GetStatus(), workflows.Phase(l.Phase))
	return l
}

func decodeString(fields map[string]*commonpb.Payload, name string) string {
	var s string
	if p, ok := fields[name]; ok && converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

func decodeStrings(fields map[string]*commonpb.Payload, name string) []string {
	var s []string
	if p, ok := fields[name]; ok && converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return nil
	}
	return s
}

// statusName is the execution status as the temporal CLI prints it.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(s.String())
}

// listOutcome says how a workflow ended, or where it is: its status, made
// precise by its last phase (a cancelled drain completes; a skipped
// scheduled drain fails).
func listOutcome(status enumspb.WorkflowExecutionStatus, phase workflows.Phase) string {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		if phase != "" {
			return "running: " + string(phase)
		}
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if phase == workflows.PhaseCancelled {
			return "cancelled"
		}
		return "done"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		if phase == workflows.PhaseSkipped {
			return "skipped"
		}
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	}
	out := strings.ReplaceAll(statusName(status), "timedout", "timed out")
	if phase != "" {
		out += " in " + string(phase)
	}
	return out
}

// printTable prints the rows as a table, or says there are none.
func (a *app) printTable(rows []listed) {
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "no clbdrain workflow matches")
		return
	}
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "STARTED\tKIND\tREQUESTER\tOUTCOME\tLOAD BALANCER\tLISTENERS\tREASON\tWORKFLOW ID")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Started.UTC().Format("2006-01-02 15:04:05Z"),
			orDash(r.Kind), orDash(r.Requester), r.Outcome, orDash(strings.Join(r.LoadBalancers, ",")),
			orDash(strings.Join(r.Listeners, ",")), orDash(cell(r.Reason, 40)), r.WorkflowID)
	}
	_ = w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell is s on one line, cut to n runes.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
