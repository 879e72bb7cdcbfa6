package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig([]string{"--region", "ap-guangzhou"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "clb-drain", c.TaskQueue)
	assert.Equal(t, 20.0, c.APIRate)
	assert.Equal(t, 20.0, c.QueueRate)
	assert.Equal(t, 10*time.Second, c.RequestTimeout)
	assert.Equal(t, 30*time.Second, c.StopTimeout)
	assert.Equal(t, "text", c.LogFormat)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
	assert.Empty(t, c.MetricsAddr)
	assert.Empty(t, c.CLBEndpoint)
}

func TestParseConfigEnvironmentFallbackAndFlagPrecedence(t *testing.T) {
	e := env(map[string]string{
		"TENCENTCLOUD_REGION":   "ap-shanghai-fsi",
		"CLB_ENDPOINT":          "http://127.0.0.1:9000",
		"CLBDRAIN_API_RATE":     "10",
		"CLBDRAIN_LOG_FORMAT":   "json",
		"CLBDRAIN_LOG_LEVEL":    "debug",
		"CLBDRAIN_TASK_QUEUE":   "drains",
		"CLBDRAIN_METRICS_ADDR": ":9090",
	})
	c, err := parseConfig([]string{"--api-rate", "5"}, e, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "ap-shanghai-fsi", c.Region)
	assert.Equal(t, "http://127.0.0.1:9000", c.CLBEndpoint)
	assert.Equal(t, 5.0, c.APIRate, "a flag wins over its environment variable")
	assert.Equal(t, "json", c.LogFormat)
	assert.Equal(t, slog.LevelDebug, c.LogLevel)
	assert.Equal(t, "drains", c.TaskQueue)
	assert.Equal(t, ":9090", c.MetricsAddr)
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := parseConfig([]string{"--api-rate", "0", "--queue-rate", "x", "--log-format", "xml",
		"--log-level", "loud", "--request-timeout", "soon", "--stop-timeout", "-1s"}, env(nil), io.Discard)
	require.Error(t, err)
	for _, want := range []string{
		`--api-rate "0": must be above zero`,
		`--queue-rate "x": not a number`,
		"--region is required",
		`--log-format "xml"`,
		`--log-level "loud"`,
		`--request-timeout "soon": not a duration`,
		`--stop-timeout "-1s": must be above zero`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestParseConfigRejectsBadEnvironmentValue(t *testing.T) {
	_, err := parseConfig(nil, env(map[string]string{"TENCENTCLOUD_REGION": "ap-guangzhou", "CLBDRAIN_REQUEST_TIMEOUT": "ten"}), io.Discard)
	require.ErrorContains(t, err, `--request-timeout "ten"`)
}

func TestParseConfigAcceptsSingleDashFlags(t *testing.T) {
	c, err := parseConfig([]string{"-region", "ap-guangzhou", "-api-rate=5", "--stop-timeout", "5s"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "ap-guangzhou", c.Region)
	assert.Equal(t, 5.0, c.APIRate)
	assert.Equal(t, 5*time.Second, c.StopTimeout)
}

func TestRunHelpExits0(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out bytes.Buffer
		assert.Equal(t, 0, run(context.Background(), []string{arg}, env(nil), &out), arg)
		assert.True(t, strings.HasPrefix(out.String(), "Usage: worker [flags]\n"), out.String())
		for _, want := range []string{"--region string", "[$TENCENTCLOUD_REGION]", `(default "20")`, "TEMPORAL_ADDRESS"} {
			assert.Contains(t, out.String(), want, arg)
		}
	}
}

func TestRunBadCommandLineExits2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "worker: flag provided but not defined: -bogus\n"},
		{[]string{"--region"}, "worker: flag needs an argument: -region\n"},
		{[]string{"--region", "ap-guangzhou", "serve", "now"}, "worker: unexpected arguments: serve now\n"},
		{[]string{"--log-level", "loud"}, `worker: --region is required (or TENCENTCLOUD_REGION); --log-level "loud": must be debug, info, warn or error` + "\n"},
	} {
		var out bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), tc.args, env(nil), &out), "%q", tc.args)
		assert.True(t, strings.HasSuffix(out.String(), tc.want), "%q: %s", tc.args, out.String())
	}
}
