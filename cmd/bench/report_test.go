package main

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// goodFigures meet every target.
func goodFigures() figures {
	return figures{
		Single: &singleFigures{Targets: 500, Chunks: 25, Latency: 2 * time.Second, Wall: 52 * time.Second,
			Polls: 75, Tasks: 25, Gaps: []taskGap{{Seen: 40 * time.Millisecond, Next: 60 * time.Millisecond}}},
		Script: &scriptFigures{Wall: 88 * time.Second, Polls: 100, Tasks: 25},
		Fleet: &fleetFigures{LoadBalancers: 40, TargetsPerLB: 100, ChunksPerLB: 5, Workers: 2, Latency: 2 * time.Second,
			Rate: 20, WorkerRate: 10, Makespan: 12900 * time.Millisecond,
			Busiest: map[string]int{clb.ActionDeregisterTargets: 19, clb.ActionDescribeTaskStatus: 20, clb.ActionDescribeTargets: 20,
				clb.ActionDescribeListeners: 20},
			Throttled: map[string]int{}, Polls: 220, Tasks: 200, PeakRSS: []int64{40 << 20, 42 << 20}},
		History: &historyFigures{PerChunk: 12, PerChunkMost: 12, Targets: 5000, Chunks: 250, Latency: 50 * time.Millisecond,
			Runs: 3, LongestRun: 1211, Wall: 50 * time.Second},
		Turns: &turnsFigures{Listeners: 4, TargetsPerListener: 60, Chunks: 12, Tasks: 12, Latency: time.Second,
			Makespan: 13400 * time.Millisecond, Exact: true},
		Jitter: &jitterFigures{Targets: 500, Chunks: 25, Latency: time.Second, Spread: 200 * time.Millisecond,
			Wall: 27 * time.Second, Tasks: 25100 * time.Millisecond, Polls: 70, TaskCount: 25},
		Delay: &delayFigures{Targets: 200, Delay: 10 * time.Second, Latency: 2 * time.Second, Wall: 33 * time.Second,
			WeightTasks: 1, DeregisterTasks: 10},
		Restore: &restoreFigures{Targets: 500, RegisterTasks: 25, WeightTasks: 1, Latency: 2 * time.Second,
			Wall: 55 * time.Second, Tasks: 26, HealthReads: 1},
		Servers: &serversFigures{Listeners: 40, Latency: time.Second, Delay: 5 * time.Second, Ideal: 10 * time.Second,
			Wall: 11 * time.Second, Removed: 120, Busiest: map[string]int{clb.ActionDescribeTargets: 20}},
	}
}

// verdicts maps each checked figure to whether it passed.
func verdicts(secs []section) map[string]bool {
	out := map[string]bool{}
	for _, s := range secs {
		for _, r := range s.Rows {
			if r.HasTarget {
				out[r.Figure] = r.OK
			}
		}
	}
	return out
}

func TestSectionsAllMet(t *testing.T) {
	v := verdicts(sections(goodFigures()))
	require.Len(t, v, 18+2+len(serversActions))
	for figure, ok := range v {
		assert.True(t, ok, figure)
	}
}

func TestSectionsMissed(t *testing.T) {
	cases := []struct {
		name   string
		change func(*figures)
		missed string
	}{
		{"slow single drain", func(f *figures) { f.Single.Wall = 53 * time.Second }, "wall time / ideal (25"},
		{"too many polls", func(f *figures) { f.Single.Polls = 101 }, "DescribeTaskStatus calls per task"},
		{"no faster than the script", func(f *figures) { f.Script.Wall = 67 * time.Second }, "speed-up"},
		{"slow fleet", func(f *figures) { f.Fleet.Makespan = 13100 * time.Millisecond }, "makespan / lower bound"},
		{"a failed drain", func(f *figures) { f.Fleet.Failed = 1 }, "drains failed"},
		{"over the budget", func(f *figures) { f.Fleet.Busiest[clb.ActionDescribeTargets] = 21 }, "most requests in any one second: DescribeTargets"},
		{"listeners over the budget", func(f *figures) { f.Fleet.Busiest[clb.ActionDescribeListeners] = 21 }, "most requests in any one second: DescribeListeners"},
		{"long chunks", func(f *figures) { f.History.PerChunkMost = 12.5 }, "events per chunk"},
		{"long run", func(f *figures) { f.History.LongestRun = 10001 }, "5000 targets"},
		{"large drain failed", func(f *figures) { f.History.Err = errors.New("timed out") }, "5000 targets"},
		{"slow restore", func(f *figures) { f.Restore.Wall = 58 * time.Second }, "restore wall time / ideal"},
		{"restore tasks", func(f *figures) { f.Restore.Tasks = 27 }, "restore tasks"},
		{"slow server drain", func(f *figures) { f.Servers.Wall = 12100 * time.Millisecond }, "server drain makespan"},
		{"server drain over the budget", func(f *figures) { f.Servers.Busiest[clb.ActionDescribeTargets] = 21 },
			"server drain, most requests in one second: DescribeTargets"},
		{"slow turns", func(f *figures) { f.Turns.Makespan = 13900 * time.Millisecond }, "makespan / 12 tasks"},
		{"a lock answer", func(f *figures) { f.Turns.LockAnswers = 1 }, "lock answers"},
		{"a target removed twice", func(f *figures) { f.Turns.Exact = false }, "every target removed once"},
		{"slow uneven drain", func(f *figures) { f.Jitter.Wall = 27700 * time.Millisecond }, "starter's wall time"},
		{"slow drain delay", func(f *figures) { f.Delay.Wall = 34300 * time.Millisecond }, "wall time / ideal (1 weight task"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := goodFigures()
			c.change(&f)
			for figure, ok := range verdicts(sections(f)) {
				assert.Equal(t, !strings.HasPrefix(figure, c.missed), ok, figure)
			}
		})
	}
}

func TestPrintTable(t *testing.T) {
	var b strings.Builder
	assert.True(t, printTable(&b, "machine: test", sections(goodFigures())))
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "machine: test\n"))
	assert.NotContains(t, out, "MISSED")
	assert.Contains(t, out, "1.040 (52.0 s)")
	assert.Contains(t, out, "40 / 42 MiB")

	// The measured column starts at the same place on every row.
	lines := strings.Split(out, "\n")
	col := -1
	for _, sec := range sections(goodFigures()) {
		for _, r := range sec.Rows {
			found := false
			for _, line := range lines {
				rest, ok := strings.CutPrefix(line, "  "+r.Figure)
				if !ok || !strings.HasPrefix(strings.TrimLeft(rest, " "), r.Measured) {
					continue
				}
				found = true
				n := utf8.RuneCountInString(line) - utf8.RuneCountInString(strings.TrimLeft(rest, " "))
				if col < 0 {
					col = n
				}
				assert.Equal(t, col, n, line)
			}
			assert.True(t, found, r.Figure)
		}
	}

	assert.Contains(t, out, "\n4. drain delay: ", "the sections are numbered in the order of the phases")

	f := goodFigures()
	f.Fleet.Failed = 2
	b.Reset()
	assert.False(t, printTable(&b, "machine: test", sections(f)))
	assert.Contains(t, b.String(), "MISSED")
}

func TestSectionsOfPhasesThatRan(t *testing.T) {
	f := goodFigures()
	f.Single, f.History, f.Restore, f.Servers = nil, nil, nil, nil
	secs := sections(f)
	require.Len(t, secs, 4)
	assert.True(t, strings.HasPrefix(secs[0].Title, "uneven tasks"))
	assert.True(t, strings.HasPrefix(secs[3].Title, "fleet"))
	assert.Empty(t, sections(figures{}))
}

func TestPickPhases(t *testing.T) {
	all, err := pickPhases("")
	require.NoError(t, err)
	assert.Len(t, all, len(phases))
	some, err := pickPhases("fleet, turns")
	require.NoError(t, err)
	require.Len(t, some, 2)
	assert.Equal(t, "fleet", some[0].name)
	assert.Equal(t, "turns", some[1].name)
	_, err = pickPhases("fleet,nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"nope"`)
	assert.Contains(t, err.Error(), "single, jitter")
}

func TestStalls(t *testing.T) {
	var s stalls
	_, ok := s.record(stallTick + 10*time.Millisecond)
	assert.False(t, ok, "a tick a little late is no stall")
	assert.Equal(t, "none of 500ms or more", s.String())
	late, ok := s.record(stallTick + 2*time.Second)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, late)
	_, ok = s.record(stallTick + 700*time.Millisecond)
	assert.True(t, ok)
	assert.Equal(t, "2, 2.7 s in all, the longest 2.0 s", s.String())
}
