package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// restoreRig is a load balancer of its own, a TCP listener and an HTTP
// rule of 30 targets each at weights from 1 to 100, served by an emulator
// and a worker of the test's own, on its own task queue.
type restoreRig struct {
	t       *testing.T
	sim     *harness.Sim
	initial clbsim.State
	queue   string
	env     harness.Env
	worker  *harness.Process
	l4, l7  clb.Selector
	targets map[clb.Selector][]clb.Target
}

func newRestoreRig(t *testing.T, queue string, latency time.Duration) *restoreRig {
	t.Helper()
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 1, Targets: 30}, 7)
	require.NoError(t, err)
	lb := &fleet.LoadBalancers[0]
	r := &restoreRig{t: t, queue: queue, targets: map[clb.Selector][]clb.Target{}}
	n := 0
	for li := range lb.Listeners {
		l := &lb.Listeners[li]
		vary := func(ts []clb.BoundTarget) {
			for i := range ts {
				n++
				ts[i].Weight = int64(1 + n*37%100)
			}
		}
		vary(l.Targets)
		for ri := range l.Rules {
			vary(l.Rules[ri].Targets)
		}
		sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
		if clb.IsLayer7(l.Protocol) {
			sel.LocationId = l.Rules[0].LocationId
			r.l7, r.targets[sel] = sel, harness.TargetsOf(l.Rules[0].Targets)
		} else {
			r.l4, r.targets[sel] = sel, harness.TargetsOf(l.Targets)
		}
	}
	r.sim, err = harness.StartSim(clbsim.Config{State: fleet, TaskLatency: latency, Seed: 7})
	require.NoError(t, err)
	t.Cleanup(r.sim.Close)
	r.initial = r.sim.State()
	r.env = harness.Env{TemporalAddress: s.dev.FrontendHostPort(), CLBEndpoint: r.sim.URL, Home: s.workDir}
	r.startWorker()
	return r
}

// startWorker starts a worker on the rig's queue, killed at the test's end.
func (r *restoreRig) startWorker() {
	w, err := harness.StartWorker(s.bin, r.env.Vars(), "--task-queue", r.queue)
	require.NoError(r.t, err)
	r.worker = w
	r.t.Cleanup(w.Kill)
}

// starter runs the starter against the rig.
func (r *restoreRig) starter(stdin string, args ...string) (int, string, string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := harness.RunStarter(ctx, s.bin, r.env.Vars(), stdin, args...)
	require.NoError(r.t, err)
	return res.Code, res.Stdout, res.Stderr
}

// drainBoth drains every target of the listener and of the rule with the
// starter, and returns the two drains' workflow IDs.
func (r *restoreRig) drainBoth() []string {
	r.t.Helper()
	var ids []string
	for _, sel := range []clb.Selector{r.l4, r.l7} {
		args := []string{"drain", "--lb", sel.LoadBalancerId, "--listener", sel.ListenerId,
			"--targets", writeTargets(r.t, r.targets[sel]), "--task-queue", r.queue, "--wait", "--reason", "release 42"}
		if sel.LocationId != "" {
			args = append(args, "--location", sel.LocationId)
		}
		code, _, stderr := r.starter("", args...)
		require.Equal(r.t, 0, code, stderr)
		require.Empty(r.t, harness.Bound(r.sim.State(), sel.LoadBalancerId, sel.ListenerId, sel.LocationId))
		ids = append(ids, workflows.WorkflowID(sel.LoadBalancerId, sel.ListenerId, sel.LocationId))
	}
	return ids
}

// manifest merges the manifests of the drains ids, as starter restore
// --print-manifest reads them.
func (r *restoreRig) manifest(ids ...string) workflows.RestoreManifest {
	r.t.Helper()
	var m workflows.RestoreManifest
	for _, id := range ids {
		code, stdout, stderr := r.starter("", "restore", id, "--print-manifest")
		require.Equal(r.t, 0, code, stderr)
		var one workflows.RestoreManifest
		require.NoError(r.t, json.Unmarshal([]byte(stdout), &one))
		m.Bindings = append(m.Bindings, one.Bindings...)
	}
	return m
}

// registeredOnce checks the audit: each binding of the rig registered
// exactly once.
func (r *restoreRig) registeredOnce() {
	r.t.Helper()
	count := map[harness.Binding]int{}
	for _, c := range r.sim.Audit() {
		if c.Action == clb.ActionRegisterTargets {
			count[harness.Binding{LB: c.LoadBalancerId, Listener: c.ListenerId, Location: c.LocationId, Target: c.Target}]++
		}
	}
	for sel, ts := range r.targets {
		for _, b := range harness.BindingsOf(sel, ts) {
			assert.Equal(r.t, 1, count[b], "%v registered once", b)
		}
	}
}

func TestRestorePutsBackExactlyWhatTheDrainsRemoved(t *testing.T) {
	need(t)
	r := newRestoreRig(t, "e2e-restore-exact", 150*time.Millisecond)
	ids := r.drainBoth()

	// Someone re-adds one target by hand, at a weight of their own.
	hand := r.targets[r.l4][0]
	c, err := clb.NewClient(clb.Config{Region: harness.Region, Endpoint: r.sim.URL, RatePerAction: 1000,
		Credential: common.NewCredential(clbsim.DefaultSecretID, clbsim.DefaultSecretKey)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.RegisterTargets(ctx, r.l4, []clb.WeightedTarget{{Target: hand, Weight: 77}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, ok := harness.Bound(r.sim.State(), r.l4.LoadBalancerId, r.l4.ListenerId, "")[hand.Key()]
		return ok
	}, 10*time.Second, 50*time.Millisecond)

	for _, id := range ids {
		code, stdout, stderr := r.starter("", "restore", id, "--task-queue", r.queue, "--wait")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "restore of 1 listeners or rules done")
	}
	want := harness.Weights(r.initial)
	want[harness.Binding{LB: r.l4.LoadBalancerId, Listener: r.l4.ListenerId, Target: hand.Key()}] = 77
	assert.Equal(t, want, harness.Weights(r.sim.State()), "every binding back at its weight; the hand's target at the hand's")
	r.registeredOnce()

	// Audit: the restores are listed beside the drains, as restores.
	restoreID := "clb-restore/" + ids[1]
	out := list(t, func(out listOutput) bool {
		w, ok := byID(out, restoreID)
		return ok && w.Outcome == "done"
	}, "--lb", r.l4.LoadBalancerId, "--since", "1h")
	w, _ := byID(out, restoreID)
	assert.Equal(t, workflows.KindRestore, w.Kind)
	assert.Equal(t, "release 42", w.Reason, "the drain's reason")
	assert.Equal(t, []string{r.l7.ListenerId + "/" + r.l7.LocationId}, w.Listeners)
	assert.Len(t, out.Workflows, 4, "two drains and two restores")
}

func TestRestoreUnhealthyTargetsAreDeregisteredAndNamed(t *testing.T) {
	need(t)
	r := newRestoreRig(t, "e2e-restore-unhealthy", 150*time.Millisecond)
	ids := r.drainBoth()
	m := r.manifest(ids...)
	sick := append(append([]clb.Target{}, r.targets[r.l4][3:6]...), r.targets[r.l7][10:12]...)
	var keys []string
	for _, tg := range sick {
		keys = append(keys, tg.Key())
	}
	require.NoError(t, r.sim.SetHealthModel(clbsim.HealthModel{Unhealthy: keys}))
	data, err := json.Marshal(m)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "manifest.json")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	code, stdout, stderr := r.starter("", "restore", "--manifest", file, "--task-queue", r.queue, "--wait",
		"--wait-healthy", "3s", "--health-poll", "1s", "--on-unhealthy", "deregister", "--json")
	require.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "error type: Unhealthy")
	assert.Contains(t, stderr, "5 targets not healthy within 3s")
	for _, k := range keys {
		assert.Contains(t, stderr, k)
	}
	var res workflows.RestoreResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	removed := 0
	for _, b := range res.Bindings {
		removed += len(b.Removed)
	}
	assert.Equal(t, 5, removed)

	want := harness.Weights(r.initial)
	for _, tg := range sick {
		for _, sel := range []clb.Selector{r.l4, r.l7} {
			delete(want, harness.Binding{LB: sel.LoadBalancerId, Listener: sel.ListenerId, Location: sel.LocationId, Target: tg.Key()})
		}
	}
	assert.Equal(t, want, harness.Weights(r.sim.State()), "the 5 unbound, the 55 at their weights")
}

func TestRestoreCompletesExactlyThroughWorkerKills(t *testing.T) {
	need(t)
	r := newRestoreRig(t, "e2e-restore-kill", time.Second)
	m := r.manifest(r.drainBoth()...)
	in := workflows.RestoreInput{Manifest: m, RampSteps: 4, RampInterval: 2 * time.Second, Reason: "kill test"}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	id := workflows.RestoreWorkflowID(m)
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: r.queue},
		workflows.RestoreWorkflowName, in)
	require.NoError(t, err)
	progress := func() workflows.RestoreProgress {
		var p workflows.RestoreProgress
		if v, err := s.temporal.QueryWorkflow(ctx, id, "", workflows.QueryProgress); err == nil {
			_ = v.Get(&p)
		}
		return p
	}
	killWhen := func(what string, cond func(workflows.RestoreProgress) bool) {
		require.Eventually(t, func() bool { return cond(progress()) }, 2*time.Minute, 20*time.Millisecond, what)
		r.worker.Kill()
		r.startWorker()
	}
	killWhen("registering", func(p workflows.RestoreProgress) bool {
		return p.Phase == workflows.PhaseRegistering && p.Registered >= 20
	})
	killWhen("ramping", func(p workflows.RestoreProgress) bool {
		return p.Phase == workflows.PhaseRamping && p.RampStep >= 2
	})
	var res workflows.RestoreResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, 4, res.RampStep)
	assert.Equal(t, harness.Weights(r.initial), harness.Weights(r.sim.State()), "every binding back at its weight")
	r.registeredOnce()
}
