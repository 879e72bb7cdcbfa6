package workflows_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lbID, ListenerId: lisID}, Targets: targets,
		Reason: "largest drain", DrainDelay: time.Minute}
	var res workflows.DrainResult
	for run := 1; ; run++ {
		f := newFleet(t)
		// Validating and snapshotting 10,000 targets takes about 0.1 s of a
		// workflow task; under the race detector on a loaded machine it can
		// pass the default 1 s deadlock detection.
		f.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 20 * time.Second})
		f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.SnapshotInput) (activities.SnapshotResult, error) {
			res, err := snapshot(ctx, in)
			if run == 1 {
				// The first run sees the weights before the drain.
				for i := range res.Bound {
					res.Bound[i].Weight = weights[res.Bound[i].Key()]
				}
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
