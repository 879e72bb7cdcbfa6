package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// Two operators start a drain of the same listener at the same moment, with
// overlapping target lists: one starter starts it, the other exits 3
// naming the running drain; a start through the Temporal client is refused
// with WorkflowExecutionAlreadyStarted. Once the first has ended, the
// second operator's drain runs and finds the shared targets already gone.
// clbsim's audit shows every target of either list removed exactly once,
// and nothing else touched.
func TestConcurrentDrainsOfOneListener(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60, ENI: 0.1}
	sc := newScenario(t, 4, "concurrent drains of one listener", "concurrent", spec,
		clbsim.Config{TaskLatency: 50 * time.Millisecond, TaskJitter: 50 * time.Millisecond})
	lb := sc.initial.LoadBalancers[0]
	l4, _ := harness.Listener(lb, false)
	all := sample(sc.rng, harness.TargetsOf(l4.Targets), 60)
	lists := [2][]clb.Target{all[:40], all[20:]}
	id := workflows.WorkflowID(lb.LoadBalancerId, l4.ListenerId, "")
	sc.startWorker()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Both starters at once; the drain phase keeps the winner running.
	var results [2]harness.Result
	var wg sync.WaitGroup
	for i, list := range lists {
		file := filepath.Join(t.TempDir(), fmt.Sprintf("operator-%d.txt", i))
		require.NoError(t, harness.WriteTargets(file, list))
		wg.Go(func() {
			results[i] = sc.starter(ctx, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l4.ListenerId,
				"--targets", file, "--drain-delay", "3s", "--task-queue", sc.queue, "--reason", fmt.Sprintf("operator %d", i))
		})
	}
	wg.Wait()
	winner := 0
	if results[1].Code == 0 {
		winner = 1
	}
	loser := 1 - winner
	require.Equal(t, 0, results[winner].Code, "one drain starts:\n%s%s", results[winner].Stdout, results[winner].Stderr)
	assert.Equal(t, 3, results[loser].Code, "the other is refused:\n%s%s", results[loser].Stdout, results[loser].Stderr)
	for _, want := range []string{"already running", "nothing was started", id, "status --wait", "cancel"} {
		assert.Contains(t, results[loser].Stderr, want)
	}

	// A caller's code starting the same drain through the client.
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}, Targets: lists[loser]}
	_, err := sc.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowIDFor(in), TaskQueue: sc.queue,
		WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.WorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	require.True(t, errors.As(err, &already), "WorkflowExecutionAlreadyStarted, got %v", err)

	// The first drain ends having removed its own targets only: the
	// refused one changed nothing.
	require.NoError(t, sc.temporal.GetWorkflow(ctx, id, "").Get(ctx, nil))
	first := harness.TallyAudit(sc.sim.Audit(), harness.BindingsOf(in.Selector, lists[winner]))
	assert.Equal(t, harness.Tally{Requested: 40, RemovedOnce: 40}, first, "after the first drain")

	// The second operator tries again once the first has ended.
	file := filepath.Join(t.TempDir(), "again.txt")
	require.NoError(t, harness.WriteTargets(file, lists[loser]))
	again := sc.starter(ctx, "", "drain", "--lb", lb.LoadBalancerId, "--listener", l4.ListenerId,
		"--targets", file, "--task-queue", sc.queue, "--wait", "--json")
	require.Equal(t, 0, again.Code, "stderr:\n%s", again.Stderr)
	var res workflows.DrainResult
	require.NoError(t, json.Unmarshal([]byte(again.Stdout), &res))
	assert.Len(t, res.AlreadyAbsent, 20, "the shared targets were already gone")
	assert.Len(t, res.Deregistered, 20)

	sc.row.Injected = "2 starters at once on one listener (40 + 40 targets, 20 shared), a client start meanwhile, the 2nd drain again after the 1st"
	sc.row.Outcome = fmt.Sprintf("1 started, 1 refused (exit %d), client start refused (AlreadyStarted); again after: %d removed, %d already absent",
		results[loser].Code, len(res.Deregistered), len(res.AlreadyAbsent))
	sc.account(harness.BindingsOf(in.Selector, all))
}
