package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
	"github.com/clbdrain/clbdrain/workflows"
)

// rstWarning is what a drain without delay of the emulated listener
// (resets on unbind, idle timeout 900s) is warned of.
var rstWarning = clb.DrainWarnings(rstListener(), 0)[0]

func rstListener() clb.ListenerAttributes {
	rst, idle := true, int64(900)
	return clb.ListenerAttributes{ListenerId: "lbl-abc12345", DeregisterTargetRst: &rst, IdleConnectTimeout: &idle}
}

// startCLB serves an emulated CLB whose listener lbl-abc12345 resets
// connections on unbind, and returns the environment that reaches it.
func startCLB(t *testing.T) (map[string]string, *clbsim.Server) {
	a := rstListener()
	state := clbsim.State{LoadBalancers: []clbsim.LoadBalancer{{LoadBalancerId: "lb-abc12345",
		Listeners: []clb.Listener{{ListenerId: "lbl-abc12345", Protocol: clb.ProtocolTCP, Port: 80}},
		ListenerAttributes: map[string]clbsim.ListenerAttributes{"lbl-abc12345": {
			DeregisterTargetRst: a.DeregisterTargetRst, IdleConnectTimeout: a.IdleConnectTimeout}},
	}}}
	client, sim := clbsimtest.Start(t, clbsim.Config{State: state, Rate: -1})
	return map[string]string{
		clb.EnvSecretID: clbsimtest.SecretID, clb.EnvSecretKey: clbsimtest.SecretKey,
		envRegion: clbsimtest.Region, envCLBEndpoint: client.Endpoint(),
	}, sim
}

func TestDrainWarnsBeforeItStarts(t *testing.T) {
	env, sim := startCLB(t)
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWithEnv(t, env, fc, "ins-abc12345:80\n", drainArgs("-")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "starter drain: warning: "+rstWarning+"\n", res.stderr)
	assert.Equal(t, 1, sim.Stats().Actions[clb.ActionDescribeListeners].Requests)
	assert.NotContains(t, res.stderr+res.stdout, clbsimtest.SecretKey)
	assert.NotContains(t, res.stderr+res.stdout, clbsimtest.SecretID)

	// A delay as long as the idle timeout: nothing to say. The flags win
	// over the environment.
	fc = &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	endpoint := env[envCLBEndpoint]
	env[envRegion], env[envCLBEndpoint] = "", "http://127.0.0.1:1"
	res = runWithEnv(t, env, fc, "ins-abc12345:80\n", drainArgs("-", "--drain-delay", "15m",
		"--region", clbsimtest.Region, "--clb-endpoint", endpoint)...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Empty(t, res.stderr)
	assert.Equal(t, 2, sim.Stats().Actions[clb.ActionDescribeListeners].Requests)
}

// A listener that cannot be read, or no region, is a note; the drain
// starts all the same. Without credentials nothing is read.
func TestDrainStartsWhenTheListenerCannotBeRead(t *testing.T) {
	env, sim := startCLB(t)
	fc := &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res := runWithEnv(t, env, fc, "ins-abc12345:80\n", "drain", "--lb", "lb-abc12345", "--listener", "lbl-nothere1", "--targets", "-")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Len(t, fc.starts, 1)
	assert.Equal(t, 1, strings.Count(res.stderr, "\n"), res.stderr)
	assert.Contains(t, res.stderr, "starter drain: note: could not read the attributes of listener lbl-nothere1: ")
	assert.Contains(t, res.stderr, "ListenerIdNotFound")
	assert.NotContains(t, res.stderr, clbsimtest.SecretKey)
	assert.NotContains(t, res.stderr, clbsimtest.SecretID)

	delete(env, envRegion)
	fc = &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}
	res = runWithEnv(t, env, fc, "ins-abc12345:80\n", drainArgs("-")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Len(t, fc.starts, 1)
	assert.Equal(t, "starter drain: note: not checking the listener's attributes: no --region (or TENCENTCLOUD_REGION)\n", res.stderr)

	delete(env, clb.EnvSecretKey)
	res = runWithEnv(t, env, &fakeClient{run: newRun("run-1", workflows.DrainResult{}, nil)}, "ins-abc12345:80\n", drainArgs("-")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Empty(t, res.stderr)
	assert.Equal(t, 1, sim.Stats().Actions[clb.ActionDescribeListeners].Requests, "no credentials: nothing read")
}

// The warnings the workflow reports are printed once, however many
// progress answers and the result carry them, and are in the JSON.
func TestWaitPrintsTheDrainsWarningsOnce(t *testing.T) {
	steps := append([]workflows.Progress(nil), progressSteps...)
	for i := 1; i < len(steps); i++ {
		steps[i].Warnings = []string{rstWarning}
	}
	result := doneResult
	result.Warnings = []string{rstWarning}
	for _, args := range [][]string{drainArgs("-", "--wait"), drainArgs("-", "--wait", "--json")} {
		env, _ := startCLB(t)
		fc := &fakeClient{run: newRun("run-1", result, nil), answers: steps}
		res := runWithEnv(t, env, fc, "ins-abc12345:80\n", args...)
		require.Equal(t, exitOK, res.code, res.stderr)
		assert.Equal(t, 1, strings.Count(res.stderr, rstWarning), "before the start, then never again: %s", res.stderr)
	}
	// Without the check before the start, the progress brings it.
	fc := &fakeClient{run: newRun("run-1", result, nil), answers: steps}
	res := runWith(t, fc, "ins-abc12345:80\n", drainArgs("-", "--wait", "--json")...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, 1, strings.Count(res.stderr, "starter drain: warning: "+rstWarning+"\n"), res.stderr)
	var got workflows.DrainResult
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &got))
	assert.Equal(t, []string{rstWarning}, got.Warnings)

	// Only the result has it (an old worker's progress): printed from there.
	fc = &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: progressSteps[3:], run: newRun("run-2", result, nil)}
	res = runWith(t, fc, "", "cancel", "--wait", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, 1, strings.Count(res.stderr, "starter cancel: warning: "+rstWarning+"\n"), res.stderr)
}

func TestStatusPrintsTheDrainsWarnings(t *testing.T) {
	running := progressSteps[3]
	running.Warnings = []string{rstWarning}
	fc := &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), answers: []workflows.Progress{running}}
	res := runWith(t, fc, "", "status", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "starter status: warning: "+rstWarning+"\n", res.stderr)

	result := doneResult
	result.Warnings = []string{rstWarning}
	fc = &fakeClient{desc: description(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED), run: newRun("run-2", result, nil)}
	fc.run.release()
	res = runWith(t, fc, "", "status", "--json", testID)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Equal(t, "starter status: warning: "+rstWarning+"\n", res.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	assert.Equal(t, []string{rstWarning}, rep.Result.Warnings)
}
