package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// a refers to the activities by method value; the worker registers the real
// value, so no activity name is spelled as a string.
var a *activities.Activities

// DrainAndDeregister removes in.Targets from the listener or rule that
// in.Selector names: it validates the input, snapshots what is bound, sets
// weight 0 and waits DrainDelay when DrainDelay > 0, then deregisters chunk
// by chunk, continuing as new every ChunksPerRun chunks. It answers
// QueryProgress with a Progress. Before changing anything it holds, with a
// DrainClaim child each, the conventional IDs of its listener or rule that
// it does not run under (a layer-7 rule's other spelling). It fails
// with ErrInvalidInput (details: the []clb.Problem), ErrNoRule,
// ErrNoListener, ErrAlreadyRunning, ErrTaskFailed, ErrTaskUnknown, or the Tencent code of an
// API error that is not retried, leaving drained targets at weight 0 and
// naming them in a FailureDetails first detail. Cancelled, it restores the
// drained weights and completes with Cancelled set. Register it as
// WorkflowName, and DrainClaim as ClaimWorkflowName; the README tells the
// procedure in full.
func DrainAndDeregister(ctx workflow.Context, in DrainInput) (DrainResult, error) {
	d := newDrain(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, d.queryProgress); err != nil {
		return DrainResult{}, err
	}
	d.turns = watchTurns(ctx, &d.progress.WaitingFor)
	d.audit = startAudit(ctx, drainAudit(in))
	return d.run(ctx)
}

// drain is the state of one run of DrainAndDeregister.
type drain struct {
	in  DrainInput
	log log.Logger
	// targets are the input's targets with duplicates merged.
	targets []clb.Target
	// sel is the input's selector, with the rule resolved once
	// snapshotted (a continued run's input has it resolved already).
	sel clb.Selector
	// toGo are the targets still to deregister, in order, each with its
	// weight before the drain.
	toGo []clb.WeightedTarget
	// drained holds the keys of targets whose weight this drain set to 0
	// (or may have: a call is marked before it is sent).
	drained map[string]bool
	// drainDone is true once the drain phase is over, in this run or an
	// earlier one.
	drainDone    bool
	chunkSize    int
	chunksPerRun int
	// runChunks counts the chunks done in this run.
	runChunks int
	// chunksDone counts the chunks done over the whole drain.
	chunksDone int
	result     DrainResult
	progress   Progress
	// turns shows in the progress for whom a change waits (turns_drain.go).
	turns *turnWatcher
	// audit upserts the search attributes and current details.
	audit *auditor
	// claims are the DrainClaim children holding the other IDs of the
	// listener or rule (claim.go).
	claims []workflow.ChildWorkflowFuture
}

func newDrain(ctx workflow.Context, in DrainInput) *drain {
	d := &drain{
		in:           in,
		sel:          in.Selector,
		log:          workflow.GetLogger(ctx),
		drained:      map[string]bool{},
		chunkSize:    in.ChunkSize,
		chunksPerRun: in.ChunksPerRun,
	}
	if d.chunkSize == 0 {
		d.chunkSize = MaxChunkSize
	}
	if d.chunksPerRun == 0 {
		d.chunksPerRun = DefaultChunksPerRun
	}
	if in.Resume != nil {
		d.result = in.Resume.Result
		d.drainDone = in.Resume.Drained
		d.chunksDone = len(d.result.Chunks)
		if len(in.Resume.Remaining) > 0 {
			d.in.Targets = clb.Unweighted(in.Resume.Remaining)
		}
	} else {
		d.result = DrainResult{Reason: in.Reason, Started: workflow.Now(ctx)}
	}
	d.result.Runs++
	d.progress = Progress{Phase: PhaseValidating, CurrentChunk: -1, Run: d.result.Runs, Warnings: d.result.Warnings}
	return d
}

// queryProgress answers the progress query. Totals are known once the
// snapshot is taken.
func (d *drain) queryProgress() (Progress, error) {
	p := d.progress
	p.ChunksDone = d.chunksDone
	p.TargetsDone = len(d.result.Deregistered)
	p.AlreadyAbsent = len(d.result.AlreadyAbsent)
	p.TargetsTotal = p.TargetsDone + len(d.toGo)
	p.ChunksTotal = p.ChunksDone + (len(d.toGo)+d.chunkSize-1)/d.chunkSize
	return p, nil
}

// run is the procedure.
func (d *drain) run(ctx workflow.Context) (DrainResult, error) {
	if err := d.validate(); err != nil {
		return d.stop(ctx, err)
	}
	early := d.claimsEarly(ctx)
	if early {
		if err := d.claim(ctx); err != nil {
			return d.stop(ctx, err)
		}
	}
	if err := d.snapshot(ctx); err != nil {
		return d.stop(ctx, err)
	}
	if !early {
		if err := d.claim(ctx); err != nil {
			return d.stop(ctx, err)
		}
	}
	if d.in.DrainDelay > 0 && !d.drainDone && !cancelledBeforeDrain(ctx) {
		if err := d.drain(ctx); err != nil {
			return d.stop(ctx, err)
		}
	}
	if err := d.deregister(ctx); err != nil {
		return d.stop(ctx, err)
	}
	return d.finish(ctx, PhaseDone), nil
}

// cancelSkipsDrainVersion is the workflow.GetVersion change after which a
// cancel that landed before the drain phase (while the claims started)
// skips it: before it, the drain phase ran on the cancelled context and the
// cancel then restored weights it never set.
const cancelSkipsDrainVersion = "cancel-skips-drain"

// cancelledBeforeDrain reports whether the drain was cancelled before its
// drain phase, and so skips it (from cancelSkipsDrainVersion on).
func cancelledBeforeDrain(ctx workflow.Context) bool {
	return ctx.Err() != nil &&
		workflow.GetVersion(ctx, cancelSkipsDrainVersion, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// validate rejects a bad input before any API call and merges duplicates.
func (d *drain) validate() error {
	if err := Validate(d.in); err != nil {
		var ve *clb.ValidationError
		var problems []clb.Problem
		if errors.As(err, &ve) {
			problems = ve.Problems
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err, problems)
	}
	targets, merged := clb.MergeDuplicates(d.in.Targets)
	d.targets = targets
	if d.in.Resume == nil {
		d.result.Requested = len(targets)
		d.result.DuplicatesMerged = merged
	}
	d.resumed()
	return nil
}

// snapshot reads what is bound and sets the targets to go with their
// weights; a resumed run takes the weights from before the drain.
func (d *drain) snapshot(ctx workflow.Context) error {
	d.progress.Phase = PhaseSnapshot
	d.noteAudit(ctx)
	sel := d.in.Selector
	if d.in.Resume != nil && sel.LocationId != "" {
		// A continued run follows the rule run 1 resolved by its
		// LocationId: its Domain and Url may have been changed since.
		sel.Domain, sel.Url = "", ""
	}
	var snap activities.SnapshotResult
	err := workflow.ExecuteActivity(withSnapshotOptions(ctx), a.Snapshot,
		activities.SnapshotInput{Selector: sel, Targets: d.targets}).Get(ctx, &snap)
	if err != nil {
		return d.activityFailed("snapshot of "+sel.String(), err)
	}
	d.sel = snap.Selector
	d.result.Selector, d.result.Protocol = snap.Selector, snap.Protocol
	d.result.AlreadyAbsent = append(d.result.AlreadyAbsent, snap.Absent...)
	d.renamed(snap)
	// Two spellings of one binding are one target asked for.
	d.result.DuplicatesMerged += snap.Merged
	d.result.Requested -= snap.Merged
	d.listenerRead(snap)
	original := d.in.Resume.weights()
	// The resume state's view gives way to what is bound now.
	d.toGo, d.drained = nil, map[string]bool{}
	for _, t := range snap.Bound {
		if w, ok := original[t.Key()]; ok {
			t.Weight = w
		}
		d.toGo = append(d.toGo, t)
		if d.drainDone && t.Weight > 0 {
			d.drained[t.Key()] = true
		}
	}
	d.log.Info("snapshot taken", "selector", d.sel.String(), "protocol", snap.Protocol,
		"toDeregister", len(d.toGo), "alreadyAbsent", len(snap.Absent), "run", d.result.Runs)
	d.noteAudit(ctx)
	return nil
}

// renamed records the renamed targets snap found: all in RenamedCount,
// the first activities.MaxRenamedListed over the drain in Renamed.
func (d *drain) renamed(snap activities.SnapshotResult) {
	count := snap.RenamedCount
	if count == 0 {
		// An earlier version's activity listed them all.
		count = len(snap.Renamed)
	}
	d.result.RenamedCount += count
	room := max(0, activities.MaxRenamedListed-len(d.result.Renamed))
	d.result.Renamed = append(d.result.Renamed, snap.Renamed[:min(room, len(snap.Renamed))]...)
}

// listenerRead records the listener's attributes the snapshot read, and
// the warnings they call for, in the result and the progress. Without
// them (unreadable, or an earlier version's activity) what an earlier run
// recorded stands.
func (d *drain) listenerRead(snap activities.SnapshotResult) {
	if snap.ListenerError != "" {
		d.log.Warn("listener attributes unread: no warning about live connections", "error", snap.ListenerError)
	}
	if snap.Listener == nil {
		return
	}
	d.result.Listener = snap.Listener
	d.result.Warnings = clb.DrainWarnings(*snap.Listener, d.in.DrainDelay)
	d.progress.Warnings = d.result.Warnings
	for _, w := range d.result.Warnings {
		d.log.Warn("live connections", "warning", w)
	}
}

// drain sets weight 0 on the targets to go, then waits DrainDelay so that
// their connections end.
func (d *drain) drain(ctx workflow.Context) error {
	d.progress.Phase = PhaseDraining
	d.noteAudit(ctx)
	var weighted []clb.WeightedTarget
	for _, t := range d.toGo {
		if t.Weight > 0 {
			weighted = append(weighted, clb.WeightedTarget{Target: t.Target})
		}
	}
	for _, batch := range chunks(weighted, weightChunkSize(ctx)) {
		// A cancel that came while the last batch's task was waited for
		// stops here: nothing more is sent, nor counted as drained.
		if err := ctx.Err(); err != nil {
			return err
		}
		// Marked before the call: a call cut short by cancellation may
		// still have been applied, and restoring a weight is harmless.
		for _, t := range batch {
			d.drained[t.Key()] = true
		}
		sent, gone, err := d.setWeights(ctx, batch, false)
		// Found unbound even when the batch then failed: not left at
		// weight 0, nothing to restore.
		d.goneDuringDrain(gone)
		if err != nil {
			return err
		}
		d.result.Drained += len(sent)
	}
	until := workflow.Now(ctx).Add(d.in.DrainDelay)
	d.progress.Phase, d.progress.DrainUntil = PhaseDrainWait, until
	d.noteAudit(ctx)
	d.log.Info("drained, waiting", "selector", d.sel.String(), "targets", len(weighted), "until", until)
	if err := workflow.Sleep(ctx, d.in.DrainDelay); err != nil {
		return err
	}
	d.progress.DrainUntil = time.Time{}
	d.drainDone = true
	return nil
}

// deregister removes the targets to go, one chunk at a time, and continues
// as new when this run has done its share.
func (d *drain) deregister(ctx workflow.Context) error {
	d.progress.Phase = PhaseDeregistering
	d.noteAudit(ctx)
	for len(d.toGo) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.runChunks >= d.chunksPerRun || (d.runChunks > 0 && workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			return d.continueAsNew(ctx)
		}
		n := min(d.chunkSize, len(d.toGo))
		if err := d.deregisterChunk(ctx, d.toGo[:n]); err != nil {
			return err
		}
		d.toGo = d.toGo[n:]
		d.runChunks++
		d.noteAudit(ctx)
	}
	return nil
}

// deregisterChunk unbinds one chunk and waits for its task, sending what is
// still bound again when the task fails.
func (d *drain) deregisterChunk(ctx workflow.Context, chunk []clb.WeightedTarget) error {
	cr := ChunkResult{Index: d.chunksDone, Size: len(chunk), Started: workflow.Now(ctx)}
	d.progress.CurrentChunk = cr.Index
	defer func() { d.progress.CurrentChunk, d.progress.CurrentTaskID = -1, "" }()
	pending := clb.Unweighted(chunk)
	// sent is true once a call of this chunk may have been applied: one
	// was accepted, or an attempt was retried after an error that may have
	// hidden an applied call (a lost answer).
	sent := false
	// finishing is true once a cancel cut the sending short (see
	// finishOnCancel).
	finishing := false
	for {
		dr, err := d.sendChunk(ctx, &cr, pending, finishing || cr.TaskRetries > 0)
		if err != nil && !finishing && ctx.Err() != nil {
			if readOnlyAfterCancel(ctx) {
				return d.learnOutcome(ctx, &cr, chunk, err)
			}
			var cancel workflow.CancelFunc
			ctx, cancel = d.finishOnCancel(ctx, &cr)
			defer cancel()
			finishing, sent = true, true
			continue
		}
		if err != nil {
			return d.chunkFailed(ctx, &cr, err)
		}
		sent = sent || dr.TaskID != "" || dr.Attempt > 1
		if dr.TaskID == "" {
			break
		}
		done, err := d.waitChunk(ctx, &cr, dr)
		if err != nil && ctx.Err() != nil && readOnlyAfterCancel(ctx) {
			return d.learnOutcome(ctx, &cr, chunk, err)
		}
		if err != nil {
			return d.chunkFailed(ctx, &cr, err)
		}
		if done {
			break
		}
		pending = dr.Sent
	}
	cr.Finished = workflow.Now(ctx)
	cr.Outcome = OutcomeDeregistered
	if !sent {
		cr.Outcome = OutcomeAlreadyAbsent
	}
	d.result.Chunks = append(d.result.Chunks, cr)
	d.result.Deregistered = append(d.result.Deregistered, chunk...)
	d.chunksDone++
	d.log.Info("chunk deregistered", "chunk", cr.Index, "targets", cr.Size, "taskId", cr.RequestID,
		"alreadyGone", cr.Gone, "polls", cr.Polls, "taskRetries", cr.TaskRetries)
	return nil
}

// cancelRecheckVersion is the workflow.GetVersion change after which a
// chunk a cancel cut short (its call, or the wait for its task) is only
// re-checked with the read-only Recheck, never sent again; before it, the
// chunk was sent again (finishOnCancel), or abandoned unchecked after a
// failed wait.
const cancelRecheckVersion = "cancel-recheck-read-only"

// readOnlyAfterCancel reports whether this drain learns the outcome of a
// chunk a cancel cut short read-only (learnOutcome), as drains from
// before cancelRecheckVersion did not.
func readOnlyAfterCancel(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, cancelRecheckVersion, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// learnOutcome ends a chunk a cancel cut short, cause being why: a call may
// have been applied with its answer lost, or a task it waited on removed
// targets before the wait failed. Nothing is sent again (the operator
// asked to stop): Recheck reads, on a context the cancel does not reach,
// which of the chunk's targets are gone; those count as deregistered, and
// the others stay to go, for the cancel's restore. When none is gone, or
// the read fails, the chunk is abandoned. It returns cause.
func (d *drain) learnOutcome(ctx workflow.Context, cr *ChunkResult, chunk []clb.WeightedTarget, cause error) error {
	d.log.Info("cancelled with a chunk in flight: re-checking it, sending nothing", "chunk", cr.Index)
	rctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var rr activities.RecheckResult
	err := workflow.ExecuteActivity(withSnapshotOptions(rctx), a.Recheck,
		activities.RecheckInput{Selector: d.sel, Targets: clb.Unweighted(chunk)}).Get(rctx, &rr)
	if err != nil {
		d.noteError(err)
		d.log.Error("re-checking the chunk failed", "chunk", cr.Index, "error", err)
	}
	if err != nil || len(rr.Gone) == 0 {
		return d.chunkFailed(ctx, cr, cause)
	}
	gone := make(map[string]bool, len(rr.Gone))
	for _, t := range rr.Gone {
		gone[t.Key()] = true
	}
	var removed, left []clb.WeightedTarget
	for _, t := range chunk {
		if gone[t.Key()] {
			removed = append(removed, t)
		} else {
			left = append(left, t)
		}
	}
	d.toGo = append(left, d.toGo[len(chunk):]...)
	cr.Gone += len(removed)
	cr.Finished, cr.Outcome, cr.Error = workflow.Now(ctx), OutcomeDeregistered, errorMessage(cause)
	d.result.Chunks = append(d.result.Chunks, *cr)
	d.result.Deregistered = append(d.result.Deregistered, removed...)
	d.chunksDone++
	d.log.Info("chunk re-checked after cancel", "chunk", cr.Index, "gone", len(removed), "stillBound", len(left))
	return cause
}

// finishOnCancel is how, before cancelRecheckVersion, a chunk whose
// sending a cancel cut short ended: an
// attempt may have been applied with its answer lost (the cancel landing in
// the retry's backoff), so its outcome is unknown. The chunk in flight
// finishes, as on any cancel: it is sent again on a context the cancel does
// not reach, re-checking first, so that what is gone counts as deregistered,
// only what is still bound is sent, and the task is waited for.
func (d *drain) finishOnCancel(ctx workflow.Context, cr *ChunkResult) (workflow.Context, workflow.CancelFunc) {
	d.log.Info("cancelled while sending a chunk: re-checking it and finishing it", "chunk", cr.Index)
	return workflow.NewDisconnectedContext(ctx)
}

// sendChunk runs DeregisterTargets on the targets of cr still pending, a
// re-check first when recheck is set, and records it in cr.
func (d *drain) sendChunk(ctx workflow.Context, cr *ChunkResult, pending []clb.Target, recheck bool) (activities.DeregisterResult, error) {
	called := workflow.Now(ctx)
	var dr activities.DeregisterResult
	err := d.turns.mutate(ctx, a.DeregisterTargets,
		activities.DeregisterInput{Selector: d.sel, Targets: pending, Recheck: recheck}, &dr)
	cr.DeregisterDuration += workflow.Now(ctx).Sub(called)
	if err != nil {
		return dr, d.activityFailed(fmt.Sprintf("chunk %d of %s", cr.Index, d.sel), err)
	}
	cr.Attempts += dr.Attempt
	cr.Gone += len(dr.AlreadyGone)
	return dr, nil
}

// waitChunk waits for the chunk's task and records it in cr. It reports
// whether the chunk is done; false means its task failed and the chunk is
// to be sent again (at most MaxTaskRetries times).
func (d *drain) waitChunk(ctx workflow.Context, cr *ChunkResult, dr activities.DeregisterResult) (bool, error) {
	taskID := dr.TaskID
	cr.RequestID = taskID
	d.progress.CurrentTaskID = taskID
	waited := workflow.Now(ctx)
	wr, err := d.waitForTask(ctx, taskID, clb.ActionDeregisterTargets, dr.Turn, dr.TaskCreated)
	cr.WaitDuration += workflow.Now(ctx).Sub(waited)
	cr.Polls += wr.Polls
	if err == nil {
		return true, nil
	}
	failure, msg, typ := taskFailure(err)
	cr.Polls += failure.Polls
	switch {
	case typ == "" || ctx.Err() != nil:
		return false, d.activityFailed(fmt.Sprintf("chunk %d of %s: task %s", cr.Index, d.sel, taskID), err)
	case cr.TaskRetries >= MaxTaskRetries:
		return false, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("chunk %d of %s: %s (after %d task retries)", cr.Index, d.sel, msg, cr.TaskRetries),
			typ, err, failure)
	}
	cr.TaskRetries++
	d.noteError(err)
	d.log.Warn("task failed or unknown, re-checking and sending the chunk again", "chunk", cr.Index, "taskId", taskID,
		"error", typ, "message", failure.Message, "taskRetry", cr.TaskRetries)
	return false, nil
}

// chunkFailed records a chunk that did not complete: abandoned when the
// drain was cancelled, failed otherwise.
func (d *drain) chunkFailed(ctx workflow.Context, cr *ChunkResult, err error) error {
	cr.Finished = workflow.Now(ctx)
	cr.Outcome = OutcomeFailed
	if ctx.Err() != nil {
		cr.Outcome = OutcomeAbandoned
	}
	cr.Error = errorMessage(err)
	d.result.Chunks = append(d.result.Chunks, *cr)
	return err
}

// batchWeightsVersion is the workflow.GetVersion change after which the
// drain phase and the restore of a cancelled drain set weights with
// SetWeights (BatchModifyTargetWeight), up to clb.MaxBatchTargets targets a
// task; before it, with SetWeight (ModifyTargetWeight), MaxChunkSize a task.
const batchWeightsVersion = "batch-weights"

// batchWeights reports whether this drain sets weights in batches
// (from batchWeightsVersion on).
func batchWeights(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, batchWeightsVersion, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// weightChunkSize is how many targets one weight task takes.
func weightChunkSize(ctx workflow.Context) int {
	if batchWeights(ctx) {
		return clb.MaxBatchTargets
	}
	return MaxChunkSize
}

// weightCall is what one weight-setting activity (SetWeight or SetWeights)
// did: the task to wait for, with the action that made it and the turn it
// holds, and the targets sent, skipped as unbound, and found set already.
type weightCall struct {
	taskID, action            string
	turn                      *turns.Turn
	sent, skipped, alreadySet []clb.WeightedTarget
}

// sendWeights sets each target's own weight with one activity: SetWeights
// from batchWeightsVersion on, SetWeight before.
func (d *drain) sendWeights(ctx workflow.Context, targets []clb.WeightedTarget, recheck bool) (weightCall, error) {
	if !batchWeights(ctx) {
		var res activities.SetWeightResult
		err := d.turns.mutate(ctx, a.SetWeight, activities.SetWeightInput{Selector: d.sel, Targets: targets, Recheck: recheck}, &res)
		return weightCall{taskID: res.TaskID, action: clb.ActionModifyTargetWeight, turn: res.Turn,
			sent: res.Sent, skipped: res.Skipped, alreadySet: res.AlreadySet}, err
	}
	var res activities.SetWeightsResult
	err := d.turns.mutate(ctx, a.SetWeights, activities.SetWeightsInput{LoadBalancerId: d.sel.LoadBalancerId,
		Entries: []clb.BatchWeightEntry{{Selector: d.sel, Targets: targets}}, Recheck: recheck}, &res)
	return weightCall{taskID: res.TaskID, action: clb.ActionBatchModifyTargetWeight, turn: res.Turn,
		sent: entryTargets(res.Sent), skipped: entryTargets(res.Skipped), alreadySet: entryTargets(res.AlreadySet)}, err
}

// entryTargets are the targets of entries, in order.
func entryTargets(entries []clb.BatchWeightEntry) []clb.WeightedTarget {
	var out []clb.WeightedTarget
	for _, e := range entries {
		out = append(out, e.Targets...)
	}
	return out
}

// setWeights sets each target's own weight and waits for the task, sending
// the call again when the task fails. It returns the targets changed, and
// those found unbound (skipped).
func (d *drain) setWeights(ctx workflow.Context, targets []clb.WeightedTarget, recheck bool) (sent, skipped []clb.WeightedTarget, err error) {
	for retry := 0; ; retry++ {
		res, err := d.sendWeights(ctx, targets, recheck || retry > 0)
		if err != nil {
			return nil, skipped, d.activityFailed("setting weights on "+d.sel.String(), err)
		}
		skipped = append(skipped, res.skipped...)
		// What a lost or failed earlier task had set already counts as
		// set: a change sent again sends only the rest.
		done := append(res.alreadySet, res.sent...)
		if res.taskID == "" {
			return done, skipped, nil
		}
		d.progress.CurrentTaskID = res.taskID
		_, err = d.waitForTask(ctx, res.taskID, res.action, res.turn, time.Time{})
		d.progress.CurrentTaskID = ""
		if err == nil {
			return done, skipped, nil
		}
		failure, _, typ := taskFailure(err)
		if typ == "" || retry >= MaxTaskRetries || ctx.Err() != nil {
			return nil, skipped, d.activityFailed("setting weights on "+d.sel.String()+": task "+res.taskID, err)
		}
		d.noteError(err)
		d.log.Warn("weight task failed or unknown, sending it again", "taskId", res.taskID, "error", typ, "message", failure.Message)
	}
}

// waitForTask waits for the task that action made on the drain's load
// balancer (waitTask), releasing turn, if any, when it ends; created, when
// not zero, is when the task was made (activities.WaitInput.TaskCreated).
func (d *drain) waitForTask(ctx workflow.Context, taskID, action string, turn *turns.Turn, created time.Time) (activities.WaitResult, error) {
	return waitTask(ctx, activities.WaitInput{TaskID: taskID, LoadBalancerID: d.sel.LoadBalancerId, Action: action, Turn: turn, TaskCreated: created})
}

// waitTask runs WaitForTask on a disconnected context: the task runs
// whatever happens to the workflow, and a cancelled workflow must still
// learn how its last change ended. The wait releases in.Turn, if any, when
// the task ends. Drains, restores and server drains wait their tasks so.
func waitTask(ctx workflow.Context, in activities.WaitInput) (activities.WaitResult, error) {
	wctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var res activities.WaitResult
	err := workflow.ExecuteActivity(withWaitOptions(wctx), a.WaitForTask, in).Get(wctx, &res)
	return res, err
}

// continueAsNew hands the remaining targets and the result so far to a new
// run, keeping the history of each run bounded.
func (d *drain) continueAsNew(ctx workflow.Context) error {
	next := d.in
	next.LocationId = d.sel.LocationId
	// The remaining targets travel once, with their weights, in the
	// compact JSON of Resume.Remaining, so that the input stays small.
	next.Targets = nil
	next.Resume = &ResumeState{Result: d.result, Remaining: d.toGo, Drained: d.drainDone}
	d.log.Info("continuing as new", "selector", d.sel.String(), "remaining", len(d.toGo),
		"chunksDone", d.chunksDone, "run", d.result.Runs)
	d.releaseClaims(ctx)
	return workflow.NewContinueAsNewError(ctx, WorkflowName, next)
}

// stop ends the run after err: a cancelled drain restores and reports, a
// continue-as-new goes on, anything else fails the workflow.
func (d *drain) stop(ctx workflow.Context, err error) (DrainResult, error) {
	if ctx.Err() != nil {
		return d.cancel(ctx)
	}
	if workflow.IsContinueAsNewError(err) {
		return DrainResult{}, err
	}
	d.noteError(err)
	d.progress.Phase = PhaseFailed
	d.noteAudit(ctx)
	d.log.Error("drain failed", "selector", d.in.Selector.String(), "error", err)
	return DrainResult{}, d.withLeftAtZero(err)
}

// cancel restores the weights of the targets drained but not deregistered,
// on a disconnected context, and reports. Restoring re-checks what is
// bound, so a target of an abandoned chunk that is gone is skipped.
func (d *drain) cancel(ctx workflow.Context) (DrainResult, error) {
	d.result.Cancelled = true
	var restore []clb.WeightedTarget
	for _, t := range d.toGo {
		if d.drained[t.Key()] {
			restore = append(restore, t)
		}
	}
	d.log.Info("drain cancelled", "selector", d.sel.String(), "deregistered", len(d.result.Deregistered), "toRestore", len(restore))
	if len(restore) > 0 {
		d.progress.Phase = PhaseRestoring
		d.noteAudit(ctx)
		rctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		for _, batch := range chunks(restore, weightChunkSize(rctx)) {
			sent, _, err := d.setWeights(rctx, batch, true)
			if err != nil {
				d.noteError(err)
				d.result.RestoreError = errorMessage(err)
				d.log.Error("restoring weights failed", "selector", d.sel.String(), "targets", len(batch), "error", err)
				continue
			}
			d.result.Restored = append(d.result.Restored, sent...)
		}
	}
	return d.finish(ctx, PhaseCancelled), nil
}

// finish closes the result.
func (d *drain) finish(ctx workflow.Context, phase Phase) DrainResult {
	d.releaseClaims(ctx)
	d.result.Finished = workflow.Now(ctx)
	d.progress.Phase = phase
	d.noteAudit(ctx)
	d.log.Info("drain finished", "selector", d.sel.String(), "phase", string(phase),
		"deregistered", len(d.result.Deregistered), "alreadyAbsent", len(d.result.AlreadyAbsent),
		"restored", len(d.result.Restored), "runs", d.result.Runs)
	return d.result
}

// activityFailed turns an activity's failure into the workflow's error: an
// ApplicationError of the same type (the Tencent code, or one of ours),
// prefixed with what was being done, with the activity's error as cause.
// Cancellations and timeouts are returned as they are.
func (d *drain) activityFailed(what string, err error) error {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(what+": "+appErr.Message(), appErr.Type(), err)
}

// noteError records err as the last error seen.
func (d *drain) noteError(err error) {
	d.progress.LastError = errorMessage(err)
}

// errorMessage is the type and message of the first ApplicationError in
// err's chain, which name the code, or else the error's own text.
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type() + ": " + appErr.Message()
	}
	return err.Error()
}

// taskFailure reports whether err is a task that ended with Status 1
// (ErrTaskFailed) or that DescribeTaskStatus did not know (ErrTaskUnknown):
// either way the change is re-checked and sent again. It returns the
// details, the activity's message, which names the task and quotes its
// Message, and the error's type; an empty type for any other error.
func taskFailure(err error) (activities.TaskFailure, string, string) {
	var appErr *temporal.ApplicationError
	var tf activities.TaskFailure
	if !errors.As(err, &appErr) || (appErr.Type() != ErrTaskFailed && appErr.Type() != ErrTaskUnknown) {
		return tf, "", ""
	}
	if !appErr.HasDetails() || appErr.Details(&tf) != nil {
		// Without readable details, the message still carries the task's.
		tf.Message = appErr.Message()
	}
	return tf, appErr.Message(), appErr.Type()
}

// chunks splits targets into consecutive slices of at most size.
func chunks[T any](targets []T, size int) [][]T {
	var out [][]T
	for len(targets) > 0 {
		n := min(size, len(targets))
		out = append(out, targets[:n])
		targets = targets[n:]
	}
	return out
}
