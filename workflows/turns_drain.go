package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/turns"
)

// turnWatcher keeps a workflow's progress line WaitingFor: while any of its
// mutating activities runs, it shows for whom the change waits, as the turns
// workflow tells it (turns.SignalWaiting); when the last one ends, the line
// is cleared. It only reads a signal channel: it adds no command to the
// workflow's history.
type turnWatcher struct {
	// waitingFor is the progress field it keeps.
	waitingFor *string
	// mutating counts the mutating activities in flight.
	mutating int
}

// watchTurns starts a turnWatcher keeping *waitingFor. It listens on a
// disconnected context: a cancelled drain still restores weights, which
// may wait for their turn.
func watchTurns(ctx workflow.Context, waitingFor *string) *turnWatcher {
	t := &turnWatcher{waitingFor: waitingFor}
	ch := workflow.GetSignalChannel(ctx, turns.SignalWaiting)
	wctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(wctx, func(ctx workflow.Context) {
		for {
			var w turns.Waiting
			if !ch.Receive(ctx, &w) {
				return
			}
			// A notice that comes after its change ended is stale.
			if t.mutating > 0 {
				*t.waitingFor = w.String()
			}
		}
	})
	return t
}

// mutate runs a mutating activity (DeregisterTargets, SetWeight,
// SetWeights, RegisterTargets) with the mutation options, and clears the
// waiting line when the last one in flight ends.
func (t *turnWatcher) mutate(ctx workflow.Context, activity, in, out any) error {
	t.mutating++
	defer func() {
		if t.mutating--; t.mutating == 0 {
			*t.waitingFor = ""
		}
	}()
	return workflow.ExecuteActivity(withMutationOptions(ctx), activity, in).Get(ctx, out)
}
