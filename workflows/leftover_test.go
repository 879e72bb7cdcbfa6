package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// skipping makes SetWeights find gone unbound: skipped, the rest sent.
func (f *fleet) skipping(gone clb.Target) {
	f.env.OnActivity(a.SetWeights, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SetWeightsInput) (activities.SetWeightsResult, error) {
			res, err := f.setWeights(ctx, in)
			res.Sent, res.Skipped = nil, nil
			for _, e := range in.Entries {
				sent, skipped := clb.BatchWeightEntry{Selector: e.Selector}, clb.BatchWeightEntry{Selector: e.Selector}
				for _, tg := range e.Targets {
					if tg.Target == gone {
						skipped.Targets = append(skipped.Targets, tg)
					} else {
						sent.Targets = append(sent.Targets, tg)
					}
				}
				res.Sent, res.Skipped = append(res.Sent, sent), append(res.Skipped, skipped)
			}
			return res, err
		})
}

// A target removed by someone else during the drain phase is skipped and
// reported; the others are drained and deregistered.
func TestTargetGoneDuringDrainIsSkipped(t *testing.T) {
	f := newFleet(t)
	f.skipping(cvm(501))
	f.healthy(time.Second)
	in := layer4(503)
	in.DrainDelay = time.Minute
	f.run(in)
	res := f.result()
	require.Len(t, f.batches, 2)
	require.Equal(t, clb.TargetList{cvm(501)}, res.GoneDuringDrain)
	require.Equal(t, 502, res.Drained)
	require.Len(t, res.Deregistered, 502)
	for _, chunk := range f.deregistered() {
		require.NotContains(t, chunk, cvm(501))
	}
}

// Before batchWeightsVersion, the same with SetWeight.
func TestTargetGoneDuringDrainIsSkippedBeforeBatchWeights(t *testing.T) {
	f := newFleet(t)
	f.beforeBatches()
	f.env.OnActivity(a.SetWeight, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SetWeightInput) (activities.SetWeightResult, error) {
			res, err := f.setWeight(ctx, in)
			res.Sent, res.Skipped = nil, nil
			for _, tg := range in.Targets {
				if tg.Target == cvm(1) {
					res.Skipped = append(res.Skipped, tg)
				} else {
					res.Sent = append(res.Sent, tg)
				}
			}
			return res, err
		})
	f.healthy(time.Second)
	in := layer4(3)
	in.DrainDelay = time.Minute
	f.run(in)
	res := f.result()
	require.Equal(t, clb.TargetList{cvm(1)}, res.GoneDuringDrain)
	require.Equal(t, 2, res.Drained)
	require.Equal(t, keysOf([]clb.Target{cvm(0), cvm(2)}), keysOf(res.Deregistered))
	require.Equal(t, [][]clb.Target{{cvm(0), cvm(2)}}, f.deregistered())
}

// A drain that fails after the drain phase names, in its error's details,
// the targets it left at weight 0 with their weights from before.
func TestFailedDrainNamesWhatItLeftAtZero(t *testing.T) {
	f := newFleet(t)
	first := true
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			if first {
				first = false
				return f.deregister(ctx, in)
			}
			return activities.DeregisterResult{}, appErr("DeregisterTargets: UnauthorizedOperation: no (RequestId r)", "UnauthorizedOperation", true)
		})
	f.healthy(time.Second)
	in := layer4(25)
	in.DrainDelay = time.Minute
	f.run(in)
	ae := applicationError(t, f.env.GetWorkflowError())
	require.Equal(t, "UnauthorizedOperation", ae.Type(), "the failure keeps the code's type")
	require.Contains(t, ae.Error(), "failed leaving 5 targets at weight 0")
	require.Contains(t, ae.Error(), "UnauthorizedOperation: no")
	var fd workflows.FailureDetails
	require.NoError(t, ae.Details(&fd))
	require.Equal(t, cvms(25)[20:], snapshotWeights(t, fd.LeftAtZero))
	got, ok := workflows.LeftAtZeroOf(f.env.GetWorkflowError())
	require.True(t, ok)
	require.Equal(t, fd, got)
	require.Equal(t, lbID+"/"+lisID, got.Selector.String())
}

// A failure before any weight was set carries no such details.
func TestFailedDrainWithNothingAtZero(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		activities.DeregisterResult{}, appErr("DeregisterTargets: UnauthorizedOperation: no (RequestId r)", "UnauthorizedOperation", true))
	f.healthy(time.Second)
	f.run(layer4(5))
	_, ok := workflows.LeftAtZeroOf(f.env.GetWorkflowError())
	require.False(t, ok)
}

// resumedInput is the input of a drain's second run: 5 targets left, all
// drained in the first run (their weights are at 0 now).
func resumedInput() workflows.DrainInput {
	in := layer4(45)
	in.Targets = nil
	in.DrainDelay = time.Minute
	withWeights := func(ts []clb.Target) clb.WeightedList {
		var out clb.WeightedList
		for _, tg := range ts {
			out = append(out, weighted(tg, weightOf(tg)))
		}
		return out
	}
	in.Resume = &workflows.ResumeState{Drained: true, Remaining: withWeights(cvms(45)[40:]),
		Result: workflows.DrainResult{Requested: 45, Drained: 45, Deregistered: withWeights(cvms(40)), Runs: 1, Started: start}}
	return in
}

// A cancel that lands while a continued run takes its snapshot restores
// the weights the first run set to 0, from the resume state.
func TestCancelDuringResumedSnapshotRestores(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).After(10 * time.Second).Return(f.snapshot)
	f.healthy(time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, time.Second)
	f.run(resumedInput())
	res := f.result()
	require.True(t, res.Cancelled)
	require.Equal(t, 2, res.Runs)
	require.Equal(t, cvms(45)[40:], restoredBatches(t, f.batches))
	require.Equal(t, cvms(45)[40:], snapshotWeights(t, res.Restored))
	f.env.AssertActivityNumberOfCalls(t, "DeregisterTargets", 0)
}

// A continued run whose snapshot fails names the targets the first run
// left at weight 0.
func TestResumedSnapshotFailureNamesWhatIsAtZero(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(
		activities.SnapshotResult{}, appErr("DescribeTargets: UnauthorizedOperation: no (RequestId r)", "UnauthorizedOperation", true))
	f.healthy(time.Second)
	f.run(resumedInput())
	fd, ok := workflows.LeftAtZeroOf(f.env.GetWorkflowError())
	require.True(t, ok)
	require.Equal(t, cvms(45)[40:], snapshotWeights(t, fd.LeftAtZero))
}

// A cancel that lands in the retry backoff of a DeregisterTargets whose
// answer was lost learns the chunk's outcome: the chunk is re-checked and
// finished on a disconnected context, and what the lost call removed counts
// as deregistered.
func TestCancelInRetryBackoffLearnsTheChunksOutcome(t *testing.T) {
	f := newFleet(t)
	var calls []activities.DeregisterInput
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			calls = append(calls, in)
			if len(calls) == 1 { // applied, but the answer is lost
				return activities.DeregisterResult{}, temporal.NewApplicationErrorWithOptions(
					"DeregisterTargets: ClientError.Timeout: no answer", "ClientError.Timeout",
					temporal.ApplicationErrorOptions{NextRetryDelay: time.Minute})
			}
			return f.deregister(ctx, in)
		})
	var rechecks []activities.RecheckInput
	f.env.OnActivity(a.Recheck, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RecheckInput) (activities.RecheckResult, error) {
			rechecks = append(rechecks, in)
			return activities.RecheckResult{Gone: in.Targets}, nil // the lost call removed the chunk
		})
	f.healthy(time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Second)
	f.run(layer4(25))
	res := f.result()
	require.True(t, res.Cancelled)
	require.Len(t, calls, 1, "nothing is sent after the cancel; the next chunk is not started")
	require.Len(t, rechecks, 1, "the chunk is re-checked once, read-only")
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered), "what the lost call removed is reported")
	require.Len(t, res.Chunks, 1)
	require.Equal(t, workflows.OutcomeDeregistered, res.Chunks[0].Outcome)
	require.Equal(t, 20, res.Chunks[0].Gone)
	require.Empty(t, res.Restored, "what is gone is not restored")
}

// A target found unbound by a weight change and again by its re-sending
// after the task failed is listed once in GoneDuringDrain.
func TestTargetGoneDuringDrainIsListedOnce(t *testing.T) {
	f := newFleet(t)
	f.skipping(cvm(1))
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(activities.WaitResult{}, taskFailed("task-1", "busy")).Once()
	f.healthy(time.Second)
	in := layer4(3)
	in.DrainDelay = time.Minute
	f.run(in)
	res := f.result()
	require.Len(t, f.batches, 2, "the weight change is sent again after its task failed")
	require.True(t, f.batches[1].Recheck)
	require.Equal(t, clb.TargetList{cvm(1)}, res.GoneDuringDrain)
}

// When the re-check after a cancel finds the chunk still bound (the call
// cut short applied nothing), nothing is sent again: the chunk is
// abandoned and the cancel restores its weights.
func TestCancelInRetryBackoffSendsNothingMore(t *testing.T) {
	f := newFleet(t)
	n := 0
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			n++
			if n == 1 { // not applied, answer lost
				return activities.DeregisterResult{}, temporal.NewApplicationErrorWithOptions(
					"DeregisterTargets: ClientError.Timeout: no answer", "ClientError.Timeout",
					temporal.ApplicationErrorOptions{NextRetryDelay: time.Minute})
			}
			return f.deregister(ctx, in)
		})
	f.healthy(time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Second)
	in := layer4(25)
	in.DrainDelay = time.Second
	f.run(in)
	res := f.result()
	require.True(t, res.Cancelled)
	require.Equal(t, 1, n, "no DeregisterTargets is sent after the cancel")
	require.Empty(t, f.deregs)
	require.Empty(t, res.Deregistered)
	require.Len(t, res.Chunks, 1)
	require.Equal(t, workflows.OutcomeAbandoned, res.Chunks[0].Outcome)
	require.Equal(t, keysOf(cvms(25)), keysOf(res.Restored), "the cancel restores the whole drain")
}

// A cancel while a chunk's task is waited on, the task id then expiring:
// the chunk is re-checked read-only, and what the task removed is
// reported as deregistered.
func TestCancelDuringWaitThenTaskUnknownReportsWhatIsGone(t *testing.T) {
	f := newFleet(t)
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).After(time.Minute).Return(activities.WaitResult{}, taskUnknown("task-1")).Once()
	f.env.OnActivity(a.Recheck, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RecheckInput) (activities.RecheckResult, error) {
			return activities.RecheckResult{Gone: in.Targets}, nil
		})
	f.healthy(time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Second)
	f.run(layer4(25))
	res := f.result()
	require.True(t, res.Cancelled)
	require.Len(t, f.deregs, 1, "nothing is sent after the cancel")
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered))
	require.Equal(t, workflows.OutcomeDeregistered, res.Chunks[0].Outcome)
	require.Empty(t, res.Restored)
}

// Targets asked for in another spelling than their binding's are drained
// as bound, counted once, and reported with both spellings.
func TestTargetsAreDrainedAsBound(t *testing.T) {
	f := newFleet(t)
	l := clb.Listener{ListenerId: lisID, Protocol: clb.ProtocolTCP, Port: 80, Targets: []clb.BoundTarget{
		{Type: "cvm", InstanceId: cvm(0).InstanceId, PrivateIpAddresses: []string{"10.0.0.1"}, Port: 80, Weight: 10},
		{Type: "eni", PrivateIpAddresses: []string{"10.0.0.2"}, Port: 80, Weight: 20, EniId: "eni-abc12345"},
	}}
	snap := &activities.Activities{CLB: oneListener{l: l}}
	f.env.OnActivity(a.Snapshot, mock.Anything, mock.Anything).Return(snap.Snapshot)
	f.healthy(time.Second)
	in := layer4(1)
	in.Targets = []clb.Target{cvm(0), {EniIp: "10.0.0.1", Port: 80}, {EniIp: "::ffff:10.0.0.2", Port: 80}}
	f.run(in)
	res := f.result()
	bound := []clb.Target{cvm(0), {EniIp: "10.0.0.2", Port: 80}}
	require.Equal(t, [][]clb.Target{bound}, f.deregistered())
	require.Equal(t, keysOf(bound), keysOf(res.Deregistered))
	require.Equal(t, 2, res.Requested)
	require.Equal(t, 1, res.DuplicatesMerged)
	require.Equal(t, []clb.Renamed{{Requested: in.Targets[2], Bound: bound[1]}}, res.Renamed)
}

// Histories from before cancel-recheck-read-only keep their path: the
// chunk a cancel cut short is sent again with a re-check.
func TestCancelInRetryBackoffBeforeReadOnlyRecheck(t *testing.T) {
	f := newFleet(t)
	f.env.OnGetVersion("cancel-recheck-read-only", workflow.DefaultVersion, workflow.Version(1)).Return(workflow.DefaultVersion)
	n := 0
	f.env.OnActivity(a.DeregisterTargets, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.DeregisterInput) (activities.DeregisterResult, error) {
			n++
			if n == 1 {
				return activities.DeregisterResult{}, temporal.NewApplicationErrorWithOptions(
					"DeregisterTargets: ClientError.Timeout: no answer", "ClientError.Timeout",
					temporal.ApplicationErrorOptions{NextRetryDelay: time.Minute})
			}
			return f.deregister(ctx, in)
		})
	f.healthy(time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Second)
	f.run(layer4(25))
	res := f.result()
	require.True(t, res.Cancelled)
	require.Equal(t, 2, n, "the old path sends the chunk again")
	require.Equal(t, keysOf(cvms(20)), keysOf(res.Deregistered))
}

// A drain phase that fails after its batch found a target unbound leaves
// that target out of LeftAtZero: its weight was never set, and it is not
// bound to put back.
func TestTargetGoneBeforeTheDrainPhaseFailsIsNotLeftAtZero(t *testing.T) {
	f := newFleet(t)
	f.skipping(cvm(1))
	f.env.OnActivity(a.WaitForTask, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WaitInput) (activities.WaitResult, error) {
			return activities.WaitResult{}, taskFailed(in.TaskID, "rs not healthy")
		})
	f.healthy(time.Second)
	in := layer4(3)
	in.DrainDelay = time.Minute
	f.run(in)
	fd, ok := workflows.LeftAtZeroOf(f.env.GetWorkflowError())
	require.True(t, ok)
	require.Equal(t, []clb.Target{cvm(0), cvm(2)}, snapshotWeights(t, fd.LeftAtZero))
}
