package activities

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/turns"
)

// SetWeightsInput is the input of SetWeights.
type SetWeightsInput struct {
	// LoadBalancerId is the load balancer every entry is on.
	LoadBalancerId string `json:"LoadBalancerId"`
	// Entries are the listeners and rules (selectors with their LocationId
	// resolved, as SnapshotResult.Selector), each with its targets and the
	// weight each is set to: at most clb.MaxBatchTargets targets in all,
	// each at most once per listener or rule.
	Entries []clb.BatchWeightEntry `json:"Entries"`
	// Recheck, when true, first reads what is bound (DescribeTargets, once
	// per listener) and changes only the targets still bound and not at
	// their weight already, as SetWeightInput.Recheck does.
	Recheck bool `json:"Recheck,omitempty"`
}

// SetWeightsResult is the result of SetWeights. Its entries keep the order
// and selectors of the input's, each with only the targets it lists.
type SetWeightsResult struct {
	// TaskID is the BatchModifyTargetWeight task to wait for; empty when
	// no target was left to change.
	TaskID string `json:"TaskId,omitempty"`
	// Sent are the targets sent to BatchModifyTargetWeight, with their
	// weights.
	Sent []clb.BatchWeightEntry `json:"Sent,omitempty"`
	// Skipped are the targets found not bound any more, by Recheck or
	// after a not-bound answer; nothing was sent for them.
	Skipped []clb.BatchWeightEntry `json:"Skipped,omitempty"`
	// AlreadySet are the targets Recheck found at their weight already;
	// nothing was sent for them, and they count as done.
	AlreadySet []clb.BatchWeightEntry `json:"AlreadySet,omitempty"`
	// Turn is the turn on the load balancer held for the task, for
	// WaitForTask to release; nil when none is held.
	Turn *turns.Turn `json:"Turn,omitempty"`
}

// SetWeights sets the weights of targets across listeners and rules of one
// load balancer with one BatchModifyTargetWeight call and returns its task
// id, for WaitForTask (Action clb.ActionBatchModifyTargetWeight). It follows
// SetWeight's rules: setting a weight twice is harmless, so a retried
// attempt sends the call again; Recheck sends only the targets still bound
// and not at their weight already; a not-bound answer is checked with
// DescribeTargets, the targets gone are Skipped and the others sent once
// more, and when every target is still bound the answer is a caller error.
// The input is checked before any call (ErrInvalidInput). It first waits
// for its turn on the load balancer (takeTurn), which the result carries
// to WaitForTask. The CLB client must implement clb.BatchWeighter.
func (a *Activities) SetWeights(ctx context.Context, in SetWeightsInput) (res SetWeightsResult, err error) {
	n, err := checkSetWeights(in)
	if err != nil {
		return SetWeightsResult{}, err
	}
	bw, ok := a.CLB.(clb.BatchWeighter)
	if !ok {
		return SetWeightsResult{}, invalidInput(fmt.Sprintf("SetWeights: the CLB client (%T) has no BatchModifyTargetWeight", a.CLB))
	}
	turn, err := a.takeTurn(ctx, in.LoadBalancerId, fmt.Sprintf("%s %s (%d targets)", clb.ActionBatchModifyTargetWeight, in.LoadBalancerId, n))
	if err != nil {
		return res, err
	}
	defer func() { res.Turn = a.handOver(ctx, turn, res.TaskID, err) }()
	send := in.Entries
	if in.Recheck {
		now, err := a.batchWeightsNow(ctx, in.LoadBalancerId, send)
		if err != nil {
			return res, err
		}
		send, res.Skipped, res.AlreadySet = sortEntriesByWeightNow(send, now)
		if len(send) == 0 {
			return res, nil
		}
	}
	var gone []clb.BatchWeightEntry
	res.TaskID, send, gone, err = a.sendWeights(ctx, bw, in.LoadBalancerId, send)
	res.Skipped = append(res.Skipped, gone...)
	if err != nil || res.TaskID == "" {
		return res, err
	}
	activity.GetMetricsHandler(ctx).Counter(MetricTargetsWeightSet).Inc(int64(countTargets(send)))
	res.Sent = send
	return res, nil
}

// sendWeights sends entries with one BatchModifyTargetWeight call. A
// not-bound answer is checked with DescribeTargets: the targets gone come
// back as gone and the others are sent once more; nothing is sent when
// none is left, and when every target is still bound the answer is a
// caller error. It returns the task id (empty when nothing was sent) and
// what the accepted call sent.
func (a *Activities) sendWeights(ctx context.Context, bw clb.BatchWeighter, lb string, entries []clb.BatchWeightEntry) (taskID string, sent, gone []clb.BatchWeightEntry, err error) {
	taskID, err = bw.BatchModifyTargetWeight(ctx, lb, entries)
	if err == nil {
		return taskID, entries, nil, nil
	}
	ce := clb.Classify(clb.ActionBatchModifyTargetWeight, err)
	if ce.Class != clb.ClassNotBound {
		return "", nil, nil, apiError(ctx, clb.ActionBatchModifyTargetWeight, err)
	}
	countAPIError(ctx, ce)
	now, err := a.batchWeightsNow(ctx, lb, entries)
	if err != nil {
		return "", nil, nil, err
	}
	var bound []clb.BatchWeightEntry
	for i, e := range entries {
		still, left := splitEntry(e, now[i], func(w, _ int64) bool { return w >= 0 })
		bound, gone = appendEntry(bound, still), appendEntry(gone, left)
	}
	switch {
	case len(bound) == 0:
		return "", nil, gone, nil
	case len(gone) == 0:
		return "", nil, nil, newAPIError(ce, true, 0)
	}
	activity.GetLogger(ctx).Info("targets unbound meanwhile, skipped", "loadBalancer", lb, "gone", countTargets(gone))
	if taskID, err = bw.BatchModifyTargetWeight(ctx, lb, bound); err != nil {
		return "", nil, gone, apiError(ctx, clb.ActionBatchModifyTargetWeight, err)
	}
	return taskID, bound, gone, nil
}

// checkSetWeights refuses an input the API would refuse, or that names
// another load balancer, before any call; it returns how many targets the
// input has.
func checkSetWeights(in SetWeightsInput) (int, error) {
	if in.LoadBalancerId == "" {
		return 0, invalidInput("SetWeights: LoadBalancerId is required")
	}
	if len(in.Entries) == 0 {
		return 0, invalidInput("SetWeights: Entries is empty: a call sets at least one target")
	}
	n := 0
	for i, e := range in.Entries {
		where := "SetWeights: Entries[" + strconv.Itoa(i) + "]"
		switch {
		case e.Selector.LoadBalancerId != "" && e.Selector.LoadBalancerId != in.LoadBalancerId:
			return 0, invalidInput(fmt.Sprintf("%s: Selector.LoadBalancerId %q is not the call's LoadBalancerId %q",
				where, e.Selector.LoadBalancerId, in.LoadBalancerId))
		case e.Selector.ListenerId == "":
			return 0, invalidInput(where + ": Selector.ListenerId is required")
		case len(e.Targets) == 0:
			return 0, invalidInput(where + " (" + e.Selector.String() + "): Targets is empty")
		}
		n += len(e.Targets)
	}
	if n > clb.MaxBatchTargets {
		return 0, invalidInput(fmt.Sprintf("SetWeights: a call takes 1 to %d targets in all, got %d", clb.MaxBatchTargets, n))
	}
	return n, checkBatchDuplicates(in.Entries)
}

// checkBatchDuplicates refuses a target named twice on one listener or
// rule, in one entry or in two that name it alike (a rule by the same
// LocationId, or by the same Domain, in any case, and Url): the API
// refuses such a call, and two weights for one target have no meaning.
func checkBatchDuplicates(entries []clb.BatchWeightEntry) error {
	first := map[string]string{}
	for i, e := range entries {
		where := e.Selector.ListenerId + "/"
		if e.Selector.LocationId != "" {
			where += e.Selector.LocationId
		} else if e.Selector.HasRule() {
			where += strings.ToLower(e.Selector.Domain) + e.Selector.Url
		}
		for j, t := range e.Targets {
			field := "Entries[" + strconv.Itoa(i) + "].Targets[" + strconv.Itoa(j) + "]"
			k := where + " " + t.Key()
			if f, dup := first[k]; dup {
				return invalidInput(fmt.Sprintf("SetWeights: %s: %s is named again (%s): one weight per target and listener or rule",
					field, t.Key(), f))
			}
			first[k] = field
		}
	}
	return nil
}

// batchWeightsNow reads what is bound to each entry's listener or rule now,
// with one DescribeTargets per listener: for each entry, each target's
// current weight, or -1 when it is not bound. It heartbeats after each
// read (keeping the earlier attempts' failure counts): the heartbeat
// timeout bounds the calls made once the turn is held, and a batch may
// name many listeners.
func (a *Activities) batchWeightsNow(ctx context.Context, lb string, entries []clb.BatchWeightEntry) ([][]int64, error) {
	listeners := map[string]clb.Listener{}
	counts := earlierCounts(ctx)
	out := make([][]int64, len(entries))
	for i, e := range entries {
		sel := e.Selector
		sel.LoadBalancerId = lb
		l, ok := listeners[sel.ListenerId]
		if !ok {
			var err error
			if l, _, err = a.listener(ctx, sel); err != nil {
				return nil, err
			}
			listeners[sel.ListenerId] = l
			activity.RecordHeartbeat(ctx, counts)
		}
		_, bound, err := bindings(l, byLocation(sel))
		if err != nil {
			return nil, err
		}
		idx := indexBound(bound)
		out[i] = make([]int64, len(e.Targets))
		for j, t := range e.Targets {
			out[i][j] = -1
			if b, ok := idx.find(t.Target); ok {
				out[i][j] = b.Weight
			}
		}
	}
	return out, nil
}

// sortEntriesByWeightNow splits each entry by its targets' weights now
// (-1: not bound): to send, gone, and at their weight already. Entries
// left with no target are dropped.
func sortEntriesByWeightNow(entries []clb.BatchWeightEntry, now [][]int64) (send, gone, already []clb.BatchWeightEntry) {
	for i, e := range entries {
		s, g, a := sortByWeightNow(e.Targets, now[i])
		send = appendEntry(send, clb.BatchWeightEntry{Selector: e.Selector, Targets: s})
		gone = appendEntry(gone, clb.BatchWeightEntry{Selector: e.Selector, Targets: g})
		already = appendEntry(already, clb.BatchWeightEntry{Selector: e.Selector, Targets: a})
	}
	return send, gone, already
}

// splitEntry splits e's targets by keep(weight now, weight wanted): the
// kept ones, and the others, each under e's selector.
func splitEntry(e clb.BatchWeightEntry, now []int64, keep func(now, want int64) bool) (kept, others clb.BatchWeightEntry) {
	kept.Selector, others.Selector = e.Selector, e.Selector
	for i, t := range e.Targets {
		if keep(now[i], t.Weight) {
			kept.Targets = append(kept.Targets, t)
		} else {
			others.Targets = append(others.Targets, t)
		}
	}
	return kept, others
}

// appendEntry appends e unless it has no target.
func appendEntry(entries []clb.BatchWeightEntry, e clb.BatchWeightEntry) []clb.BatchWeightEntry {
	if len(e.Targets) == 0 {
		return entries
	}
	return append(entries, e)
}

// countTargets counts the targets of entries.
func countTargets(entries []clb.BatchWeightEntry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Targets)
	}
	return n
}
