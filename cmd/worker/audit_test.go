package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/clbdrain/clbdrain/workflows"
)

// fakeNamespace answers the audit check with its attributes, or err.
func fakeNamespace(attrs map[string]enumspb.IndexedValueType, err error) auditCheck {
	return auditCheck{namespace: "ops", list: func(context.Context) (map[string]enumspb.IndexedValueType, error) {
		return attrs, err
	}}
}

// everyAuditAttribute is a namespace with all of them registered.
func everyAuditAttribute() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{"CustomerId": enumspb.INDEXED_VALUE_TYPE_KEYWORD}
	for _, k := range workflows.AuditSearchAttributes() {
		out[k.GetName()] = k.GetValueType()
	}
	return out
}

func wanted() workflows.AuditAttributesInput {
	var in workflows.AuditAttributesInput
	for _, k := range workflows.AuditSearchAttributes() {
		in.Attributes = append(in.Attributes, workflows.AuditAttribute{Name: k.GetName(), Type: k.GetValueType()})
	}
	return in
}

func TestAuditActivityNamesTheRegisteredAttributesOfTheRightType(t *testing.T) {
	attrs := everyAuditAttribute()
	delete(attrs, "ClbServers")
	attrs["ClbReason"] = enumspb.INDEXED_VALUE_TYPE_KEYWORD

	res, err := fakeNamespace(attrs, nil).attributes(context.Background(), wanted())

	require.NoError(t, err)
	assert.Equal(t, []string{"ClbKind", "ClbLoadBalancers", "ClbListeners", "ClbRequester", "ClbPhase"}, res.Registered)
}

func TestAuditActivityFailsWhenTheNamespaceCannotBeRead(t *testing.T) {
	_, err := fakeNamespace(nil, errors.New("permission denied")).attributes(context.Background(), wanted())
	require.ErrorContains(t, err, "listing the search attributes of namespace ops: permission denied")
}

func TestAuditReportLogsTheExactCommandsForMissingAttributes(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	fakeNamespace(map[string]enumspb.IndexedValueType{
		"ClbKind":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ClbReason": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}, nil).report(context.Background(), log)

	logged := out.String()
	assert.Contains(t, logged, "audit search attributes missing")
	assert.Contains(t, logged, `missing=ClbLoadBalancers,ClbListeners,ClbServers,ClbRequester,ClbPhase`)
	assert.Contains(t, logged, `command="temporal operator search-attribute create --namespace ops`+
		` --name ClbLoadBalancers --type KeywordList --name ClbListeners --type KeywordList --name ClbServers --type KeywordList"`)
	assert.Contains(t, logged, `command="temporal operator search-attribute create --namespace ops`+
		` --name ClbRequester --type Keyword --name ClbPhase --type Keyword"`)
	assert.Contains(t, logged, "ClbReason is registered as Keyword, clbdrain wants Text")
}

func TestAuditReportWhenEverythingIsRegisteredOrTheCheckFails(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	fakeNamespace(everyAuditAttribute(), nil).report(context.Background(), log)
	assert.Contains(t, out.String(), "audit search attributes registered")
	assert.NotContains(t, out.String(), "WARN")

	out.Reset()
	fakeNamespace(nil, errors.New("unavailable")).report(context.Background(), log)
	assert.Contains(t, out.String(), "cannot check the audit search attributes")
	assert.Contains(t, out.String(), "unavailable")
}

// TestRunMakesTheWorkerLoggerTheDefault: whatever logs through slog's
// default (or the standard log package) lands in the worker's log, in its
// format.
func TestRunMakesTheWorkerLoggerTheDefault(t *testing.T) {
	before := slog.Default()
	t.Cleanup(func() { slog.SetDefault(before) })
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.toml"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out bytes.Buffer
	code := run(ctx, []string{"--region", "ap-guangzhou", "--log-format", "json"}, env(nil), &out)
	require.Equal(t, 1, code, "no Temporal to connect to: %s", out.String())

	slog.Info("probe from a library")
	last := strings.TrimSpace(out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:])
	assert.Contains(t, last, `"msg":"probe from a library"`)
}

func TestConcurrentAuditChecksShareOneCall(t *testing.T) {
	var calls, waiting atomic.Int32
	release := make(chan struct{})
	list := sharedListWith(func(context.Context) (map[string]enumspb.IndexedValueType, error) {
		calls.Add(1)
		<-release
		return everyAuditAttribute(), nil
	}, func() { waiting.Add(1) })
	const n = 5
	var wg sync.WaitGroup
	results := make([]map[string]enumspb.IndexedValueType, n)
	for i := range n {
		wg.Go(func() {
			var err error
			results[i], err = list(context.Background())
			assert.NoError(t, err)
		})
	}
	// Every caller waits on the one call before it is let go.
	require.Eventually(t, func() bool { return waiting.Load() == n }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load(), "one call for callers that came while it was in flight")
	for _, r := range results {
		assert.Equal(t, everyAuditAttribute(), r)
	}
	_, err := list(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 2, calls.Load(), "a check after the call ended asks again")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	blocked := sharedList(func(ctx context.Context) (map[string]enumspb.IndexedValueType, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err = blocked(ctx)
	assert.ErrorIs(t, err, context.Canceled, "a caller whose context ends stops waiting")
}
