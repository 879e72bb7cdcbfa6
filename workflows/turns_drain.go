package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/turns"
)

// watchTurns shows in the progress (WaitingFor) that a change of the drain
// waits for its turn on the load balancer, as the turns workflow tells it
// (turns.SignalWaiting), until the change's activity ends. It only reads a
// signal channel: it adds no command to the drain's history.
func (d *drain) watchTurns(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, turns.SignalWaiting)
	// Disconnected: a cancelled drain still restores weights, which may wait.
	wctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(wctx, func(ctx workflow.Context) {
		for {
			var w turns.Waiting
			if !ch.Receive(ctx, &w) {
				return
			}
			// A notice that comes after its change ended is stale.
			if d.mutating {
				d.progress.WaitingFor = w.String()
			}
		}
	})
}

// mutate runs a mutating activity (DeregisterTargets, SetWeight,
// SetWeights) with the mutation options, and clears the waiting line when
// it ends.
func (d *drain) mutate(ctx workflow.Context, activity, in, out any) error {
	d.mutating = true
	defer func() { d.mutating, d.progress.WaitingFor = false, "" }()
	return workflow.ExecuteActivity(withMutationOptions(ctx), activity, in).Get(ctx, out)
}
