package reliability

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// row is one scenario's line of the campaign table. The counts come from
// clbsim (audit, stats) and from the scenario's own doings (kills,
// restarts), never from what the workflow reports.
type row struct {
	// Number and Sub order the rows: Sub numbers the variants of a
	// scenario that has several, from 0. Scenario names the scenario.
	Number, Sub int
	Scenario    string
	// Injected says what was broken, and Outcome how the scenario ended.
	Injected string
	Outcome  string
	// Requested counts the targets the scenario asked to remove (bindings:
	// a target on a listener or rule).
	Requested int
	// RemovedOnce and RemovedTwice count requested bindings that clbsim's
	// audit shows removed exactly once, and more than once.
	RemovedOnce, RemovedTwice int
	// OtherTouched counts bindings not requested that the audit shows
	// changed in any way.
	OtherTouched int
	// APICalls counts every request clbsim received.
	APICalls int
	// Faults counts the faults clbsim injected: error answers of the
	// scenario's injected codes, dropped answers and failed tasks.
	Faults int
	// Kills counts worker processes killed with SIGKILL; Restarts counts
	// processes started again (workers or the Temporal server).
	Kills, Restarts int
	// Elapsed is the scenario's wall-clock time.
	Elapsed time.Duration
}

// table collects the rows of the scenarios, which run in parallel.
type table struct {
	mu   sync.Mutex
	rows []row
}

// report is the campaign's table.
var report = &table{}

func (tb *table) add(r row) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.rows = append(tb.rows, r)
}

// publish prints the table to w and writes it to the file at path (when
// path is not empty). Without rows (the campaign was skipped) it does
// nothing.
func (tb *table) publish(w io.Writer, path string) error {
	tb.mu.Lock()
	rows := slices.Clone(tb.rows)
	tb.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(a.Number-b.Number, a.Sub-b.Sub) })
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
	fmt.Fprintln(w, "clbdrain reliability campaign: counts measured in clbsim (audit, stats)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tscenario\trequested\tremoved once\tremoved twice\tother touched\tAPI calls\tfaults\tkills\trestarts\ttime\toutcome\tinjected")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
			r.label(), r.Scenario, r.Requested, r.RemovedOnce, r.RemovedTwice, r.OtherTouched, r.APICalls, r.Faults,
			r.Kills, r.Restarts, r.Elapsed.Round(100*time.Millisecond), r.Outcome, r.Injected)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "requested: target bindings asked to be removed; removed once/twice: requested bindings clbsim's audit shows removed")
	fmt.Fprintln(w, "exactly once / more than once; other touched: bindings not requested that the audit shows changed;")
	fmt.Fprintln(w, "faults: injected error answers, dropped answers and failed tasks; restarts: workers or Temporal started again.")
}

// label is the row's number, with its variant number after a dot when
// it has one: 3, 3.1, 3.2.
func (r row) label() string {
	if r.Sub == 0 {
		return strconv.Itoa(r.Number)
	}
	return fmt.Sprintf("%d.%d", r.Number, r.Sub)
}

// apiCalls counts every request an emulator received.
func apiCalls(st clbsim.Stats) int {
	n := 0
	for _, a := range st.Actions {
		n += a.Requests
	}
	return n
}

// injected counts the faults an emulator injected: error answers with one
// of codes, dropped answers, and failed tasks.
func injected(st clbsim.Stats, codes ...string) int {
	n := st.TasksFailed
	for _, a := range st.Actions {
		n += a.Dropped
		for _, c := range codes {
			n += a.Errors[c]
		}
	}
	return n
}
