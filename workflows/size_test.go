package workflows_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// payloadLimit is Temporal's warning size for one payload: results and
// continue-as-new inputs stay under it.
const payloadLimit = 512 * 1024

// blobLimit is Temporal's default limit for one payload: an activity result
// over it fails the activity.
const blobLimit = 2 * 1024 * 1024

// ipv6Targets makes n ENI targets with full-length IPv6 addresses in one
// VPC's /56 (random subnets and interface IDs), on port 65535.
func ipv6Targets(n int) []clb.Target {
	r := rand.New(rand.NewPCG(7, 7))
	out := make([]clb.Target, n)
	for i := range out {
		out[i] = clb.Target{Port: 65535, EniIp: fmt.Sprintf("240d:c000:2010:2f%02x:%04x:%04x:%04x:%04x", r.IntN(256),
			0x1000+r.IntN(0xf000), 0x1000+r.IntN(0xf000), 0x1000+r.IntN(0xf000), 0x1000+r.IntN(0xf000))}
	}
	return out
}

func payloadSize(t *testing.T, v any) int {
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	require.NoError(t, err)
	return len(p.GetPayloads()[0].GetData())
}

// TestLargestDrainStaysSmall: the largest valid input, 10,000 IPv6 ENI
// targets (100 not bound, every chunk finding 2 of its targets already
// gone), gives every continue-as-new input and the result under 512 KiB,
// and the result lists each target once, every removed one with its weight.
func TestLargestDrainStaysSmall(t *testing.T) {
	targets := ipv6Targets(workflows.MaxTargets)
	weights := map[string]int64{}
	absent := map[string]bool{}
	for i, tg := range targets {
		weights[tg.Key()] = int64(1 + i%100)
		if i%100 == 99 {
			absent[tg.Key()] = true
		}
	}
	snapshot := func(_ context.Context, in activities.SnapshotInput) (activities.SnapshotResult, error) {
		res := activities.SnapshotResult{Protocol: clb.ProtocolTCP, Selector: in.Selector}
		for _, tg := range in.Targets {
			if absent[tg.Key()] {
				res.Absent = append(res.Absent, tg)
			} else {
				res.Bound = append(res.Bound, weighted(tg, 0))
			}
		}
		return res, nil
	}
	deregister := func(_ context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
		return activities.DeregisterResult{TaskID: "task", Sent: in.Targets[2:], AlreadyGone: in.Targets[:2], Attempt: 1}, nil
	}
	// Every other target is asked for in upper case, which Validate
	// accepts: run 1's Snapshot (the activity itself) renames them.
	asked := make([]clb.Target, len(targets))
	bound := clb.Listener{ListenerId: lisID, Protocol: clb.ProtocolTCP, Port: 80}
	for i, tg := range targets {
		asked[i] = tg
		if i%2 == 0 {
			asked[i].EniIp = strings.ToUpper(tg.EniIp)
		}
		if !absent[tg.Key()] {
			bound.Targets = append(bound.Targets, clb.BoundTarget{Type: "ENI", PrivateIpAddresses: []string{tg.EniIp},
				Port: tg.Port, Weight: weights[tg.Key()]})
		}
	}
	first := &activities.Activities{CLB: oneListener{l: bound}}
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: lisID}, Targets: asked,
		Reason: "largest drain", DrainDelay: time.Minute}
	var res workflows.DrainResult
	for run := 1; ; run++ {
		f := newFleet(t)
		// Validating and snapshotting 10,000 targets takes about 0.1 s of a
		// workflow task; under the race detector on a loaded machine it can
		// pass the default 1 s deadlock detection.
		f.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 20 * time.Second})
		f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.SnapshotInput) (activities.SnapshotResult, error) {
			if run > 1 {
				return snapshot(ctx, in)
			}
			// The first run sees the weights before the drain.
			res, err := first.Snapshot(ctx, in)
			if err == nil {
				size := payloadSize(t, res)
				t.Logf("snapshot result: %d bytes", size)
				require.Less(t, size, blobLimit, "the Snapshot result")
			}
			return res, err
		})
		f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(deregister)
		f.healthy(time.Second)
		f.run(in)
		if f.env.GetWorkflowError() == nil {
			res = f.result()
			break
		}
		in = decodeContinueAsNew(t, f.env.GetWorkflowError())
		size := payloadSize(t, in)
		t.Logf("continue-as-new input of run %d: %d bytes", run+1, size)
		require.Less(t, size, payloadLimit, "continue-as-new input of run %d", run+1)
	}
	size := payloadSize(t, res)
	t.Logf("result: %d bytes, %d runs, %d chunks", size, res.Runs, len(res.Chunks))
	require.Less(t, size, payloadLimit)

	require.Equal(t, workflows.MaxTargets/2, res.RenamedCount, "the upper-case targets bound")
	require.Len(t, res.Renamed, activities.MaxRenamedListed)
	require.Len(t, res.AlreadyAbsent, 100)
	require.Len(t, res.Deregistered, workflows.MaxTargets-100)
	seen := map[string]bool{}
	for _, tg := range res.AlreadyAbsent {
		require.False(t, seen[tg.Key()], "listed twice: %s", tg)
		seen[tg.Key()] = true
	}
	for _, w := range res.Deregistered {
		require.False(t, seen[w.Key()], "listed twice: %s", w)
		seen[w.Key()] = true
		require.Equal(t, weights[w.Key()], w.Weight, "the weight before the drain: %s", w)
	}
}
