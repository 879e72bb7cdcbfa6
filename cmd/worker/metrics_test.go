package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsServesAPICallsAndSDKMetrics(t *testing.T) {
	m, err := newMetrics("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.close(context.Background()) })

	m.onAPICall("DeregisterTargets", "", 30*time.Millisecond)
	m.onAPICall("DeregisterTargets", "RequestLimitExceeded", 5*time.Millisecond)
	m.handler.WithTags(map[string]string{"activity_type": "WaitForTask"}).Counter("clbdrain_tasks_waited").Inc(1)

	body := get(t, "http://"+m.ln.Addr().String()+"/metrics")
	assert.Contains(t, body, `clbdrain_api_calls_total{action="DeregisterTargets",code="OK"} 1`)
	assert.Contains(t, body, `clbdrain_api_calls_total{action="DeregisterTargets",code="RequestLimitExceeded"} 1`)
	assert.Contains(t, body, `clbdrain_tasks_waited_total{activity_type="WaitForTask"} 1`)
	assert.Contains(t, body, `clbdrain_api_call_latency_seconds_bucket{action="DeregisterTargets",code="OK",le="0.05"} 1`)
	assert.Contains(t, body, `clbdrain_api_call_latency_seconds_bucket{action="DeregisterTargets",code="OK",le="0.025"} 0`)
	assert.Contains(t, body, "go_goroutines")
	assert.Equal(t, "ok\n", get(t, "http://"+m.ln.Addr().String()+"/healthz"))
}

func TestMetricsOffWithoutAddress(t *testing.T) {
	m, err := newMetrics("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	assert.Nil(t, m.server)
	m.onAPICall("DescribeTargets", "", time.Millisecond) // the no-op handler accepts it
	require.NoError(t, m.close(context.Background()))
}

func TestMetricsRejectsBadAddress(t *testing.T) {
	_, err := newMetrics("not-an-address", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.ErrorContains(t, err, `--metrics-addr "not-an-address"`)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
