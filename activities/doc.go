// Package activities holds the activities of DrainAndDeregister and
// RestoreTargets: the only code of clbdrain that talks to the CLB API.
//
// They are methods of Activities, which holds the dependencies (the API,
// the polling settings, a clock), registered once on a worker:
//
//	w.RegisterActivity(&activities.Activities{CLB: client})
//
// and referred to from workflow code through a nil pointer, so that no
// activity name is ever spelled as a string:
//
//	var a *activities.Activities
//	workflow.ExecuteActivity(ctx, a.DeregisterTargets, in)
//
// Every error of the CLB API leaves an activity as a
// temporal.ApplicationError whose Type is the Tencent error code, marked
// non-retryable or given a NextRetryDelay by the retry policy of its class
// (retry.go; the code's class comes from the table of internal/clb). A
// class's bound and backoff count the failures of that class only, over the
// activity's attempts (FailureCounts, carried in the heartbeat details). The
// few errors of clbdrain's own have the types ErrInvalidInput, ErrNoListener,
// ErrNoRule, ErrTaskFailed and ErrTaskUnknown, all non-retryable,
// ErrInterrupted: an attempt cut short by its worker's shutdown rather than
// cancelled by the workflow, always retried (retry.go, interrupted), and
// ErrTurnUnavailable: no turn on the load balancer to be had, retried unless
// the turns workflow refused the request for good.
//
// With a TurnTaker (Activities.Turns), the mutating activities change a load
// balancer only while they hold its turn, and WaitForTask releases it when
// the task ends (turns.go; the README's "Turn-taking on a load balancer").
//
// The activities emit these metrics through the SDK's metrics handler:
// MetricTargetsDeregistered, MetricTargetsWeightSet, MetricTargetsRegistered,
// MetricTasksWaited,
// MetricTaskPolls, MetricTaskWaitDuration and MetricAPIErrors.
package activities
