package cluster

import (
	"context"
	"errors"
	"fmt"
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

// drainTargets is how many targets each node-kill drain removes, of the
// listener's drainTargets+100.
const drainTargets = 500

// killChunk is the deregistration chunk after which the node is killed;
// the node stays down until the drain has done moveOn chunks more.
const (
	killChunk = 5
	moveOn    = 3
)

// The scenarios run one after another, in this order: each kill leaves the
// cluster whole again for the next.

func TestDrainWhileNode1IsKilled(t *testing.T) { drainThroughNodeKill(t, 1, 0) }

func TestDrainWhileNode2IsKilled(t *testing.T) { drainThroughNodeKill(t, 2, 1) }

// drainThroughNodeKill drains 500 targets of a layer-4 listener with two
// workers, one on each node's frontend. Once the drain has removed
// killChunk chunks, node victim is killed with SIGKILL; the drain must go
// on through the other node (moveOn chunks more, asked through it) while
// the killed node is down; then the node is started again on the same
// ports, and the drain's outcome is read through it with the starter.
// Every named target is removed exactly once, nothing else touched.
func drainThroughNodeKill(t *testing.T, number, victim int) {
	const requester = "cluster-operator"
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: drainTargets + 100, ENI: 0.1}
	sc := newScenario(t, number, fmt.Sprintf("%d-target drain, node %d killed", drainTargets, victim+1), fmt.Sprint("kill-", victim+1), spec)
	dead, survivor := cluster.nodes[victim], cluster.nodes[1-victim]
	lb := sc.initial.LoadBalancers[0]
	l, _ := harness.Listener(lb, false)
	want := harness.TargetsOf(l.Targets)[:drainTargets]
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	sc.startWorker(cluster.nodes[0])
	sc.startWorker(cluster.nodes[1])
	id := sc.startDrain(ctx, survivor, sc.drainArgs(lb.LoadBalancerId, l.ListenerId, want,
		"--drain-delay", "3s", "--requester", requester, "--reason", "cluster: node killed"))
	var at workflows.Progress
	sc.awaitProgress(ctx, survivor.client, id, fmt.Sprint("chunk ", killChunk), func(p workflows.Progress) bool {
		at = p
		return p.Phase == workflows.PhaseDeregistering && p.ChunksDone >= killChunk
	})
	sc.row.Events = sc.killUntilMovedOn(ctx, dead, survivor, id, at)

	// The outcome, through the restarted node.
	res := sc.statusResult(sc.starter(ctx, dead, "status", "--wait", "--json", id))
	sc.row.Outcome = fmt.Sprintf("completed in %d run(s)", res.Runs)
	if retried := sc.retriedActivities(ctx, survivor.client, id); len(retried) > 0 {
		sc.row.Events += fmt.Sprintf("; activities retried: %v", retried)
	} else {
		sc.row.Events += "; no activity retried"
	}
	assert.Len(t, res.Deregistered, drainTargets)
	// The audit trail is in the cluster's (SQL) visibility too: the
	// starter lists the drain, whose reason holds a ':' (see textSafe).
	listedDrain := sc.listed(ctx, survivor, id, "--lb", lb.LoadBalancerId, "--since", "1h")
	assert.Equal(t, requester, listedDrain.Requester, "the requester, through the cluster's visibility")
	assert.Equal(t, "done", listedDrain.Outcome, "the outcome, through the cluster's visibility")
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}}
	sc.account(harness.BindingsOf(in.Selector, want), true)
}

// killUntilMovedOn kills node dead with SIGKILL, waits until the drain id,
// asked through survivor, has done moveOn chunks more than at, starts the
// node again, and returns what happened, for the table.
func (sc *scenario) killUntilMovedOn(ctx context.Context, dead, survivor *node, id string, at workflows.Progress) string {
	sc.t.Helper()
	elapsed := func() time.Duration { return time.Since(sc.begun).Round(time.Millisecond) }
	dead.kill()
	sc.row.NodeKills++
	killed := time.Now()
	sc.t.Logf("%s: killed node %d (kill -9) after chunk %d/%d", elapsed(), dead.number, at.ChunksDone, at.ChunksTotal)
	var moved workflows.Progress
	sc.awaitProgress(ctx, survivor.client, id, fmt.Sprintf("the drain to go on through node %d", survivor.number), func(p workflows.Progress) bool {
		moved = p
		return p.ChunksDone >= min(at.ChunksDone+moveOn, p.ChunksTotal)
	})
	failover := time.Since(killed)
	sc.t.Logf("%s: the drain goes on through node %d: chunk %d/%d, %s after the kill", elapsed(), survivor.number,
		moved.ChunksDone, moved.ChunksTotal, failover.Round(100*time.Millisecond))
	require.NoError(sc.t, dead.start(ctx))
	require.NoError(sc.t, dead.awaitNamespace(ctx))
	back := time.Since(killed)
	sc.t.Logf("%s: node %d started again and serving, %s after the kill", elapsed(), dead.number, back.Round(100*time.Millisecond))
	return fmt.Sprintf("node %d killed -9 after chunk %d/%d; drain at chunk %d through node %d %s later; node %d back after %s",
		dead.number, at.ChunksDone, at.ChunksTotal, moved.ChunksDone, survivor.number, failover.Round(100*time.Millisecond),
		dead.number, back.Round(100*time.Millisecond))
}

// A drain with a two-minute drain phase is cancelled with the starter
// while it waits: every weight is restored and nothing is removed.
func TestCancelInDrainPhaseRestoresWeights(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 60, ENI: 0.1}
	sc := newScenario(t, 3, "cancel in the drain phase", "cancel", spec)
	lb := sc.initial.LoadBalancers[0]
	l, _ := harness.Listener(lb, false)
	want := harness.TargetsOf(l.Targets)[:40]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	sc.startWorker(cluster.nodes[0])
	sc.startWorker(cluster.nodes[1])
	id := sc.startDrain(ctx, cluster.nodes[0], sc.drainArgs(lb.LoadBalancerId, l.ListenerId, want,
		"--drain-delay", "2m", "--reason", "cluster: cancelled"))
	sc.awaitProgress(ctx, cluster.nodes[1].client, id, "the drain phase", func(p workflows.Progress) bool {
		return p.Phase == workflows.PhaseDrainWait
	})
	res := sc.result(sc.starter(ctx, cluster.nodes[1], "cancel", "--wait", "--json", id))
	assert.True(t, res.Cancelled)
	assert.Empty(t, res.Deregistered)
	assert.Len(t, res.Restored, len(want))
	sc.row.Outcome = fmt.Sprintf("cancelled, %d weights restored", len(res.Restored))
	sc.row.Events = "weights at 0, cancelled in the 2m drain phase"
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}}
	sc.account(harness.BindingsOf(in.Selector, want), false)
}

// A schedule made with the starter fires (triggered now), its
// ScheduledDrain drains, and the starter removes the schedule.
func TestScheduledDrainThenUnschedule(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 60, ENI: 0.1}
	sc := newScenario(t, 4, "schedule, scheduled drain, unschedule", "schedule", spec)
	lb := sc.initial.LoadBalancers[0]
	l, _ := harness.Listener(lb, false)
	want := harness.TargetsOf(l.Targets)[:30]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const scheduleID = "cluster-nightly"

	sc.startWorker(cluster.nodes[0])
	sc.startWorker(cluster.nodes[1])
	res := sc.starter(ctx, cluster.nodes[0], append([]string{"schedule", "--schedule-id", scheduleID, "--every", "24h"},
		sc.drainArgs(lb.LoadBalancerId, l.ListenerId, want, "--reason", "cluster: nightly")...)...)
	require.Equal(t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	c := cluster.nodes[1].client
	h := c.ScheduleClient().GetHandle(ctx, scheduleID)
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var id, runID string
	require.True(t, harness.WaitFor(time.Minute, 100*time.Millisecond, func() bool {
		d, err := h.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) == 0 {
			return false
		}
		started := d.Info.RecentActions[0].StartWorkflowResult
		id, runID = started.WorkflowID, started.FirstExecutionRunID
		return true
	}), "the schedule started a drain")
	var out workflows.DrainResult
	require.NoError(t, c.GetWorkflow(ctx, id, runID).Get(ctx, &out))
	assert.Len(t, out.Deregistered, len(want))
	assert.Equal(t, "cluster: nightly", out.Reason)

	res = sc.starter(ctx, cluster.nodes[1], "unschedule", scheduleID)
	require.Equal(t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	_, err := h.Describe(ctx)
	var notFound *serviceerror.NotFound
	assert.True(t, errors.As(err, &notFound), "the schedule is gone: %v", err)
	sc.row.Outcome = fmt.Sprintf("completed (%s), schedule removed", id)
	sc.row.Events = "schedule made through node 1, triggered and removed through node 2"
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}}
	sc.account(harness.BindingsOf(in.Selector, want), true)
}
