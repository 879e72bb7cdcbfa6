package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// workflowError wraps cause the way WorkflowRun.Get returns a failed run.
func workflowError(cause error) error {
	return fmt.Errorf("workflow execution error (type: DrainAndDeregister, workflowID: %s, runID: run-1): %w", testID, cause)
}

// activityError is an activity's failure with a Tencent error code, as the
// workflow receives it from Temporal.
func activityError(activity, code, message string) error {
	return temporal.GetDefaultFailureConverter().FailureToError(&failurepb.Failure{
		Message: "activity error",
		FailureInfo: &failurepb.Failure_ActivityFailureInfo{ActivityFailureInfo: &failurepb.ActivityFailureInfo{
			ActivityType: &commonpb.ActivityType{Name: activity}, ActivityId: "5",
			RetryState: enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE,
		}},
		Cause: &failurepb.Failure{
			Message: message,
			FailureInfo: &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{
				Type: code, NonRetryable: true,
			}},
		},
	})
}

func appInfo(errType string) *failurepb.Failure_ApplicationFailureInfo {
	return &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{Type: errType}}
}

func terminatedError() error {
	return temporal.GetDefaultFailureConverter().FailureToError(&failurepb.Failure{
		Message:     "terminated",
		FailureInfo: &failurepb.Failure_TerminatedFailureInfo{TerminatedFailureInfo: &failurepb.TerminatedFailureInfo{}},
	})
}

// leftAtZero is a failed drain's FailureDetails.LeftAtZero in these tests.
var leftAtZero = []clb.WeightedTarget{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 30}}

// roundTrip is err as a client reads it back from Temporal, details
// encoded.
func roundTrip(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

func TestOutcome(t *testing.T) {
	busy := activityError("DeregisterTargets", "FailedOperation.ResourceInOperating", "The load balancer is being modified")
	cancelledResult := doneResult
	cancelledResult.Cancelled = true
	cases := []struct {
		name       string
		res        workflows.DrainResult
		err        error
		cancelling bool
		code       int
		text       []string
		failure    failure
	}{
		{name: "completed", res: doneResult, code: exitOK, text: []string{"drain of lb-abc12345/lbl-abc12345 done in 1m35s"}},
		{name: "completed with Cancelled, from drain --wait", res: cancelledResult, code: exitFailed, text: []string{"cancelled after 1m35s"}},
		{name: "completed with Cancelled, from cancel --wait", res: cancelledResult, cancelling: true, code: exitOK, text: []string{"cancelled after"}},
		{name: "the workflow's own error type",
			err:  workflowError(temporal.NewNonRetryableApplicationError("Targets[0].Port = \"0\": must be 1-65535", workflows.ErrInvalidInput, nil)),
			code: exitFailed, text: []string{"failed: Targets[0].Port = \"0\": must be 1-65535", "error type: InvalidInput"},
			failure: failure{Type: "InvalidInput", Message: "Targets[0].Port = \"0\": must be 1-65535"}},
		{name: "layer-7 listener without a rule",
			err:  workflowError(temporal.NewNonRetryableApplicationError("listener lbl-abc12345 is HTTP: name a rule", workflows.ErrNoRule, nil)),
			code: exitFailed, text: []string{"error type: RuleRequired"},
			failure: failure{Type: "RuleRequired", Message: "listener lbl-abc12345 is HTTP: name a rule"}},
		{name: "an activity's Tencent error code, returned as is",
			err:  workflowError(busy),
			code: exitFailed, text: []string{"failed: The load balancer is being modified", "error type: FailedOperation.ResourceInOperating", "in activity: DeregisterTargets"},
			failure: failure{Type: "FailedOperation.ResourceInOperating", Message: "The load balancer is being modified", Activity: "DeregisterTargets"}},
		{name: "an activity's Tencent error code, wrapped by fmt.Errorf in the workflow",
			err:     workflowError(temporal.NewApplicationErrorWithCause("deregistering chunk 3: activity error", "wrapError", busy)),
			failure: failure{Type: "FailedOperation.ResourceInOperating", Message: "The load balancer is being modified", Activity: "DeregisterTargets"},
			code:    exitFailed},
		{name: "the activity's code, not its cause's: the SDK's raw error",
			err: workflowError(temporal.GetDefaultFailureConverter().FailureToError(&failurepb.Failure{
				Message:     "snapshot of lb-abc12345/lbl-abc12345: DescribeTargets: InvalidParameter.LBIdNotFound: lb-abc12345 is not found",
				FailureInfo: appInfo("InvalidParameter.LBIdNotFound"),
				Cause: &failurepb.Failure{
					Message: "activity error",
					FailureInfo: &failurepb.Failure_ActivityFailureInfo{ActivityFailureInfo: &failurepb.ActivityFailureInfo{
						ActivityType: &commonpb.ActivityType{Name: "Snapshot"}}},
					Cause: &failurepb.Failure{
						Message:     "DescribeTargets: InvalidParameter.LBIdNotFound: lb-abc12345 is not found",
						FailureInfo: appInfo("InvalidParameter.LBIdNotFound"),
						Cause: &failurepb.Failure{Message: "[TencentCloudSDKError] Code=InvalidParameter.LBIdNotFound",
							FailureInfo: appInfo("TencentCloudSDKError")},
					},
				},
			})),
			failure: failure{Type: "InvalidParameter.LBIdNotFound", Message: "DescribeTargets: InvalidParameter.LBIdNotFound: lb-abc12345 is not found", Activity: "Snapshot"},
			code:    exitFailed, text: []string{"error type: InvalidParameter.LBIdNotFound\n  in activity: Snapshot"}},
		{name: "the workflow's type wins over the activity's code it wraps",
			err:     workflowError(temporal.NewNonRetryableApplicationError("task 9f2c failed 3 times", workflows.ErrTaskFailed, activityError("WaitForTask", "FailedOperation", "task failed"))),
			failure: failure{Type: "TaskFailed", Message: "task 9f2c failed 3 times", Activity: "WaitForTask"},
			code:    exitFailed, text: []string{"error type: TaskFailed"}},
		{name: "a failure that left targets at weight 0: what failed, and those targets",
			err: workflowError(roundTrip(temporal.NewNonRetryableApplicationError("drain of lb-abc12345/lbl-abc12345 failed leaving 1 targets at weight 0",
				workflows.ErrTaskFailed, temporal.NewNonRetryableApplicationError("task 9f2c failed 3 times", workflows.ErrTaskFailed,
					activityError("WaitForTask", "FailedOperation", "task failed")),
				workflows.FailureDetails{LeftAtZero: leftAtZero}))),
			failure: failure{Type: "TaskFailed", Message: "task 9f2c failed 3 times", Activity: "WaitForTask", LeftAtZero: leftAtZero},
			code:    exitFailed, text: []string{"failed: task 9f2c failed 3 times", "left at weight 0: 1 targets"}},
		{name: "cancelled, from drain --wait", err: workflowError(temporal.NewCanceledError()), code: exitFailed,
			text: []string{"drain " + testID + " was cancelled"}, failure: failure{Cancelled: true, Message: "the drain was cancelled"}},
		{name: "cancelled, from cancel --wait", err: workflowError(temporal.NewCanceledError()), cancelling: true, code: exitOK,
			text: []string{"was cancelled"}, failure: failure{Cancelled: true, Message: "the drain was cancelled"}},
		{name: "the workflow's --timeout", err: workflowError(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)),
			code: exitFailed, text: []string{"did not finish within its --timeout", "may still have weight 0"}},
		{name: "an activity's timeout is a cause, not the drain's timeout",
			err: workflowError(temporal.GetDefaultFailureConverter().FailureToError(&failurepb.Failure{
				Message: "activity error",
				FailureInfo: &failurepb.Failure_ActivityFailureInfo{ActivityFailureInfo: &failurepb.ActivityFailureInfo{
					ActivityType: &commonpb.ActivityType{Name: "WaitForTask"}}},
				Cause: &failurepb.Failure{Message: "activity Heartbeat timeout",
					FailureInfo: &failurepb.Failure_TimeoutFailureInfo{TimeoutFailureInfo: &failurepb.TimeoutFailureInfo{TimeoutType: enumspb.TIMEOUT_TYPE_HEARTBEAT}}},
			})),
			failure: failure{Activity: "WaitForTask", Message: "activity Heartbeat timeout (type: Heartbeat)"},
			code:    exitFailed, text: []string{"failed: activity Heartbeat timeout", "in activity: WaitForTask"}},
		{name: "terminated", err: workflowError(terminatedError()), code: exitFailed, text: []string{"was terminated in Temporal"}},
		{name: "no ApplicationError at all", err: errors.New("rpc error: connection reset"), code: exitFailed,
			text: []string{"failed: rpc error: connection reset"}, failure: failure{Message: "rpc error: connection reset"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, text := outcome(testID, tc.res, tc.err, tc.cancelling)
			assert.Equal(t, tc.code, code)
			for _, want := range tc.text {
				assert.Contains(t, text, want)
			}
			if !reflect.DeepEqual(tc.failure, failure{}) {
				assert.Equal(t, tc.failure, explain(tc.err))
			}
		})
	}
}

func TestSummary(t *testing.T) {
	res := doneResult
	res.Drained = 2
	res.DuplicatesMerged = 1
	res.Runs = 2
	res.Reason = "release 42"
	res.Chunks = append(res.Chunks, workflows.ChunkResult{Index: 2, Outcome: workflows.OutcomeAbandoned, Error: "cancelled while\nwaiting"})
	assert.Equal(t, "drain of lb-abc12345/lbl-abc12345 done in 1m35s\n"+
		"  deregistered:      2 targets in 3 chunks\n"+
		"  already absent:    1 targets\n"+
		"  drained first:     2 targets set to weight 0\n"+
		"  duplicates merged: 1\n"+
		"  workflow runs:     2 (continued as new)\n"+
		"  reason:            release 42\n"+
		"  chunk 2 abandoned: cancelled while waiting", summary(res))

	res = workflows.DrainResult{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", LocationId: "loc-abc12345"},
		Requested: 5, Cancelled: true, Deregistered: clb.WeightedList{{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10}},
		Restored:        []clb.WeightedTarget{{Target: clb.Target{InstanceId: "ins-def67890", Port: 80}, Weight: 10}},
		GoneDuringDrain: clb.TargetList{{InstanceId: "ins-gone0001", Port: 80}},
		Renamed:         []clb.Renamed{{Requested: clb.Target{EniIp: "10.0.0.5", Port: 80}, Bound: clb.Target{InstanceId: "ins-def67890", Port: 80}}}}
	assert.Equal(t, "drain of lb-abc12345/lbl-abc12345/loc-abc12345 cancelled\n"+
		"  deregistered:      1 targets in 0 chunks\n"+
		"  already absent:    0 targets\n"+
		"  gone meanwhile:    1 targets (unbound by someone else during the drain phase)\n"+
		"  named as bound:    1 targets asked for in another spelling (Renamed)\n"+
		"  left bound:        3 targets\n"+
		"  weights restored:  1 targets", summary(res))
}

func TestProgressLine(t *testing.T) {
	now := t0.Add(65 * time.Second)
	deregistering := workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksDone: 9, ChunksTotal: 20,
		TargetsDone: 90, TargetsTotal: 200, AlreadyAbsent: 3, CurrentChunk: 9, CurrentTaskID: "1a2b-3c4d", Run: 1}
	cases := []struct {
		name  string
		p     workflows.Progress
		tty   bool
		width int
		want  string
	}{
		{name: "plain", p: deregistering,
			want: "[1m5s] deregistering, chunks 9/20, targets 90/200, 3 already absent, task 1a2b-3c4d"},
		{name: "terminal", p: deregistering, tty: true, width: 200,
			want: "[==========              ]  45%  1m5s  deregistering  chunks 9/20  targets 90/200  3 already absent  task 1a2b-3c4d"},
		{name: "terminal, cut to its width", p: deregistering, tty: true, width: 40,
			want: "[==========              ]  45%  1m5s …"},
		{name: "before any total is known", p: workflows.Progress{Phase: workflows.PhaseSnapshot, CurrentChunk: -1, Run: 1}, tty: true, width: 80,
			want: "[                        ]   0%  1m5s  snapshot"},
		{name: "by chunks when targets are not counted", p: workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksDone: 1, ChunksTotal: 4},
			tty: true, width: 80, want: "[======                  ]  25%  1m5s  deregistering  chunks 1/4"},
		{name: "done is full", p: workflows.Progress{Phase: workflows.PhaseDone, ChunksDone: 2, ChunksTotal: 2, AlreadyAbsent: 5, Run: 3},
			tty: true, width: 100, want: "[========================] 100%  1m5s  done  chunks 2/2  5 already absent  run 3"},
		{name: "drain timer", p: workflows.Progress{Phase: workflows.PhaseDrainWait, TargetsTotal: 10, DrainUntil: now.Add(4 * time.Minute)},
			want: "[1m5s] drain-wait (4m0s left), targets 0/10"},
		{name: "last error on one line", p: workflows.Progress{Phase: workflows.PhaseDeregistering, TargetsDone: 5, TargetsTotal: 10,
			LastError: "RequestLimitExceeded:\n  too many requests"},
			want: "[1m5s] deregistering, targets 5/10, last error: RequestLimitExceeded: too many requests"},
		{name: "waiting for the turn", p: workflows.Progress{Phase: workflows.PhaseDeregistering, TargetsTotal: 60, CurrentChunk: 1,
			WaitingFor: "waiting for lb-1 held by clb-drain/lb-1/lbl-2"},
			want: "[1m5s] deregistering, targets 0/60, waiting for lb-1 held by clb-drain/lb-1/lbl-2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := progressLine(tc.p, t0, now, tc.tty, tc.width)
			assert.Equal(t, tc.want, got)
			if tc.tty {
				assert.LessOrEqual(t, len([]rune(got)), tc.width-1, "a line that wraps cannot be redrawn in place")
			}
		})
	}
}

func TestProgressChanged(t *testing.T) {
	base := workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksDone: 1, ChunksTotal: 3, TargetsDone: 20, CurrentTaskID: "a", Run: 1}
	same := base
	same.TargetsDone, same.CurrentTaskID = 25, "b"
	assert.False(t, progressChanged(base, same), "a new task alone is not worth a log line")
	for name, change := range map[string]func(*workflows.Progress){
		"phase":      func(p *workflows.Progress) { p.Phase = workflows.PhaseRestoring },
		"chunk":      func(p *workflows.Progress) { p.ChunksDone++ },
		"run":        func(p *workflows.Progress) { p.Run++ },
		"last error": func(p *workflows.Progress) { p.LastError = "RequestLimitExceeded" },
	} {
		p := base
		change(&p)
		assert.True(t, progressChanged(base, p), name)
	}
}

func TestProgressPrinterOnATerminal(t *testing.T) {
	var out bytes.Buffer
	pp := &progressPrinter{w: &out, tty: true, width: 70, since: t0}
	pp.show(workflows.Progress{}, errors.New("workflow task not completed"), t0.Add(time.Second))
	pp.show(workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksTotal: 2}, nil, t0.Add(2*time.Second))
	pp.show(workflows.Progress{}, errors.New("deadline"), t0.Add(3*time.Second))
	pp.finish()
	frames := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\r")[1:]
	require.Len(t, frames, 3, "%q", out.String())
	assert.Equal(t, "[1s] waiting for the drain's progress: workflow task not completed\x1b[K", frames[0])
	assert.Equal(t, "[                        ]   0%  2s  deregistering  chunks 0/2\x1b[K", frames[1])
	assert.Equal(t, "[                        ]   0%  3s  deregistering  chunks 0/2\x1b[K", frames[2],
		"a failed query keeps the last progress on screen")
	assert.True(t, strings.HasSuffix(out.String(), "\n"), "the bar ends its line when done")
}

func TestProgressPrinterInALog(t *testing.T) {
	var out bytes.Buffer
	pp := &progressPrinter{w: &out, since: t0}
	step := func(p workflows.Progress, err error, s int) { pp.show(p, err, t0.Add(time.Duration(s)*time.Second)) }
	noWorker := fmt.Errorf("query: %w", context.DeadlineExceeded)
	step(workflows.Progress{}, noWorker, 1)
	step(workflows.Progress{}, noWorker, 2)
	step(workflows.Progress{Phase: workflows.PhaseSnapshot}, nil, 3)
	step(workflows.Progress{Phase: workflows.PhaseSnapshot}, nil, 4)
	step(workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksTotal: 2}, nil, 5)
	step(workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksTotal: 2, CurrentTaskID: "t1"}, nil, 6)
	step(workflows.Progress{Phase: workflows.PhaseDeregistering, ChunksDone: 1, ChunksTotal: 2}, nil, 7)
	pp.finish()
	assert.Equal(t, "[1s] waiting for the drain's progress: no worker answered (is a clbdrain worker polling the task queue?)\n"+
		"[3s] snapshot\n"+
		"[5s] deregistering, chunks 0/2\n"+
		"[7s] deregistering, chunks 1/2\n", out.String())
}

func TestTerminalWidthIsFalseOffATerminal(t *testing.T) {
	_, tty := terminalWidth(&bytes.Buffer{})
	assert.False(t, tty)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	_, tty = terminalWidth(w)
	assert.False(t, tty, "a pipe gets plain lines")
}
