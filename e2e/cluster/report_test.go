package cluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// row is one scenario's line of the table. The counts come from clbsim's
// audit and from the scenario's own doings (node kills), never from what
// the workflow reports.
type row struct {
	// Number orders the rows; Scenario names the scenario.
	Number   int
	Scenario string
	// Requested counts the target bindings the scenario named;
	// RemovedOnce and RemovedTwice those clbsim's audit shows removed
	// exactly once and more than once; OtherTouched the bindings not named
	// that the audit shows changed.
	Requested, RemovedOnce, RemovedTwice, OtherTouched int
	// NodeKills counts server nodes killed with SIGKILL (and started again).
	NodeKills int
	// Elapsed is the scenario's wall-clock time.
	Elapsed time.Duration
	// Outcome says how the scenario ended; Events what happened to the
	// cluster meanwhile.
	Outcome, Events string
}

// table collects the rows of the scenarios.
type table struct {
	mu   sync.Mutex
	rows []row
}

// report is the run's table.
var report = &table{}

func (tb *table) add(r row) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.rows = append(tb.rows, r)
}

// publish prints the table to w and writes it to the file at path (when
// path is not empty). Without rows it does nothing.
func (tb *table) publish(w io.Writer, path string) error {
	tb.mu.Lock()
	rows := slices.Clone(tb.rows)
	tb.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b row) int { return a.Number - b.Number })
	var buf bytes.Buffer
	render(&buf, rows)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	if path == "" {
		return nil
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// render writes the rows as an aligned text table, then a legend.
func render(w io.Writer, rows []row) {
	fmt.Fprintln(w, "clbdrain on a Temporal cluster (2 nodes, PostgreSQL): counts measured in clbsim's audit")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tscenario\trequested\tremoved once\tremoved twice\tother touched\tnode kills\ttime\toutcome\tevents")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Number, r.Scenario, r.Requested, r.RemovedOnce,
			r.RemovedTwice, r.OtherTouched, r.NodeKills, r.Elapsed.Round(100*time.Millisecond), r.Outcome, r.Events)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "requested: target bindings named; removed once/twice: of those, removed exactly once / more than once")
	fmt.Fprintln(w, "(a cancelled drain must remove none and restore every weight); other touched: bindings not named that changed.")
}
