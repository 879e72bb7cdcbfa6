package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

func TestSchedule(t *testing.T) {
	t.Setenv("TEMPORAL_UI_ADDRESS", "http://ui")
	sc := &fakeScheduleClient{next: []time.Time{t0, t0.Add(24 * time.Hour), t0.Add(48 * time.Hour), t0.Add(72 * time.Hour)}}
	fc := &fakeClient{schedules: sc}
	res := runWith(t, fc, "ins-abc12345:80\n", "schedule", "--schedule-id", "nightly-web", "--cron", "0 3 * * *", "--cron", "30 4 * * SUN",
		"--every", "36h", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-", "--drain-delay", "1m",
		"--reason", "weekly patching", "--timeout", "1h", "--requester", "ops-team")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Len(t, sc.created, 1)
	opts := sc.created[0]
	assert.Equal(t, "nightly-web", opts.ID)
	assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, opts.Overlap, "never two drains of one listener at once")
	assert.False(t, opts.Paused)
	assert.Equal(t, client.ScheduleSpec{CronExpressions: []string{"0 3 * * *", "30 4 * * SUN"},
		Intervals: []client.ScheduleIntervalSpec{{Every: 36 * time.Hour}}}, opts.Spec)
	assert.Equal(t, "clbdrain: drain of lb-abc12345/lbl-abc12345: weekly patching", opts.Note)
	assert.Equal(t, &client.ScheduleWorkflowAction{
		ID:       "clb-drain-schedule/nightly-web",
		Workflow: workflows.ScheduledWorkflowName,
		Args: []any{workflows.ScheduledDrainInput{
			Drain: workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
				Targets: []clb.Target{{InstanceId: "ins-abc12345", Port: 80}}, DrainDelay: time.Minute, Reason: "weekly patching",
				Requester: "ops-team"},
			DrainWorkflowID: testID,
		}},
		TaskQueue:                workflows.TaskQueue,
		WorkflowExecutionTimeout: time.Hour,
		StaticSummary:            "scheduled drain 1 targets from lb-abc12345/lbl-abc12345 by ops-team: weekly patching",
		StaticDetails: "**Load balancer:** lb-abc12345  \n**Listener:** lbl-abc12345  \n**Targets:** 1  \n" +
			"**Servers:** ins-abc12345  \n**Drain delay:** 1m0s  \n**Requester:** ops-team  \n**Reason:** weekly patching\n",
	}, opts.Action, "the schedule runs the drain as a child under the conventional ID")
	assert.Contains(t, res.stdout, "created schedule nightly-web: drain of lb-abc12345/lbl-abc12345, 1 targets\n")
	assert.Contains(t, res.stdout, "  each run:      clb-drain-schedule/nightly-web-<start time>, which runs the drain as "+testID+"\n")
	assert.Equal(t, 3, strings.Count(res.stdout, "\n  next drain:    "), "the next three times")
	assert.Contains(t, res.stdout, "  UI:            http://ui/namespaces/ops/schedules/nightly-web\n")
	assert.Contains(t, res.stdout, "  delete it:     starter unschedule nightly-web\n")
}

func TestSchedulePaused(t *testing.T) {
	sc := &fakeScheduleClient{}
	res := runWith(t, &fakeClient{schedules: sc}, "ins-abc12345:80", "schedule", "--schedule-id", "s", "--every", "24h", "--pause",
		"--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.True(t, sc.created[0].Paused)
	assert.Contains(t, res.stdout, "paused:        no drain runs until it is unpaused")
}

func TestScheduleProblems(t *testing.T) {
	res := runWith(t, nil, "ins-abc12345:80", "schedule", "--schedule-id", " ", "--every", "10ms", "--cron", "",
		"--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-")
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "3 problems")
	assert.Contains(t, res.stderr, "--schedule-id = \" \": is required")
	assert.Contains(t, res.stderr, "--cron: must not be empty")
	assert.Contains(t, res.stderr, `--every = "10ms": must be 1s or more`)
	assert.False(t, res.dialed)
}

func TestScheduleAlreadyExists(t *testing.T) {
	fc := &fakeClient{schedules: &fakeScheduleClient{createErr: temporal.ErrScheduleAlreadyRunning}}
	res := runWith(t, fc, "ins-abc12345:80", "schedule", "--schedule-id", "nightly", "--every", "24h",
		"--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-")
	assert.Equal(t, exitAlreadyRunning, res.code)
	assert.Contains(t, res.stderr, `a schedule with ID "nightly" already exists; nothing was changed.`)
	assert.Contains(t, res.stderr, "delete it first: starter unschedule nightly")
}

func TestScheduleBadCron(t *testing.T) {
	fc := &fakeClient{schedules: &fakeScheduleClient{createErr: serviceerror.NewInvalidArgument("invalid cron string")}}
	res := runWith(t, fc, "ins-abc12345:80", "schedule", "--schedule-id", "nightly", "--cron", "61 * * * *",
		"--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-")
	assert.Equal(t, exitUsage, res.code)
	assert.Contains(t, res.stderr, "invalid cron string")
}

func TestUnschedule(t *testing.T) {
	sc := &fakeScheduleClient{}
	res := runWith(t, &fakeClient{schedules: sc}, "", "unschedule", "nightly")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{"nightly"}, sc.deleted)
	assert.Contains(t, res.stdout, "deleted schedule nightly; drains it already started keep running")

	sc = &fakeScheduleClient{deleteErr: serviceerror.NewNotFound("schedule not found")}
	res = runWith(t, &fakeClient{schedules: sc}, "", "unschedule", "nightly")
	assert.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.stderr, `no schedule with ID "nightly" in namespace ops`)
}

func TestScheduleKeepsACronWithCommasWhole(t *testing.T) {
	sc := &fakeScheduleClient{}
	res := runWith(t, &fakeClient{schedules: sc}, "ins-abc12345:80", "schedule", "--schedule-id", "s", "--cron", "0 3 * * MON,WED",
		"--cron=CRON_TZ=Asia/Shanghai 0 4 1,15 * *", "--pause", "--lb", "lb-abc12345", "--listener", "lbl-abc12345", "--targets", "-")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, []string{"0 3 * * MON,WED", "CRON_TZ=Asia/Shanghai 0 4 1,15 * *"}, sc.created[0].Spec.CronExpressions)
}
