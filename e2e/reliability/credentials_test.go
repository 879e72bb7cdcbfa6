package reliability

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The credentials of the scenario: the emulator accepts secret for
// secretID; one worker gets wrong instead. Both must stay out of every text.
const (
	secretID = "AKIDclbdrainReliability"
	secret   = "clbdrain-known-secret-5f1c0a9e7b2d4c8f"
	wrong    = "clbdrain-wrong-secret-93e4b7a1c6d05f28"
)

// A worker whose SecretKey is wrong fails a drain at once with the
// AuthFailure code and clbsim's message, after a single call; and neither
// the right SecretKey nor the wrong one appears anywhere a drain leaves
// text: its workflow history (every payload and failure, read back through
// the client), the workers' logs (at debug level), the starter's output, or
// any error. A drain on a worker with the right key runs meanwhile, with
// faults, so that its history holds failures too.
func TestCredentials(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60, ENI: 0.1}
	faults, err := clbsim.ParseFaults("*:InternalError:0.2")
	require.NoError(t, err)
	sc := newScenario(t, 6, "credentials", "credentials", spec,
		clbsim.Config{TaskLatency: 50 * time.Millisecond, Credentials: map[string]string{secretID: secret}, Faults: faults})
	sc.env.SecretID, sc.env.SecretKey = secretID, secret
	lb := sc.initial.LoadBalancers[0]
	l4, _ := harness.Listener(lb, false)
	l7, _ := harness.Listener(lb, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	good := sc.startWorker("CLBDRAIN_LOG_LEVEL=debug")
	badQueue := sc.queue + "-wrong-key"
	bad := sc.startWorkerOn(badQueue, "CLBDRAIN_LOG_LEVEL=debug", "TENCENTCLOUD_SECRET_KEY="+wrong)
	var texts []string // every error text and command output, to scan

	// The wrong key: one call, then the code and message, at once.
	want := harness.TargetsOf(l4.Targets)[:40]
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l4.ListenerId}, Targets: want, Reason: "reliability: credentials"}
	sc.sim.SetFaults(nil)
	before := apiCalls(sc.sim.Stats())
	began := time.Now()
	run, err := sc.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "reliability-wrong-key", TaskQueue: badQueue},
		workflows.WorkflowName, in)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	took := time.Since(began)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "an ApplicationError, got %v", err)
	assert.Equal(t, "AuthFailure.SignatureFailure", app.Type())
	assert.Contains(t, app.Message(), "AuthFailure.SignatureFailure: The signature does not match")
	assert.Less(t, took, 15*time.Second, "it fails fast")
	assert.Equal(t, 1, apiCalls(sc.sim.Stats())-before, "after one call")
	texts = append(texts, err.Error())
	status := sc.starter(ctx, "", "status", run.GetID())
	assert.Equal(t, 1, status.Code)
	assert.Contains(t, status.Stdout+status.Stderr, "AuthFailure.SignatureFailure")
	texts = append(texts, status.Stdout, status.Stderr)

	// The right key, with faults, and a drain that fails on a rule.
	sc.sim.SetFaults(faults)
	ok := sc.start(ctx, in, "")
	var res workflows.DrainResult
	require.NoError(t, ok.Get(ctx, &res))
	noRule := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l7.ListenerId, LocationId: "loc-zzzzzzzz"},
		Targets: want[:1], Reason: "reliability: credentials"}
	failed := sc.start(ctx, noRule, "reliability-credentials-no-rule")
	err = failed.Get(ctx, nil)
	require.Error(t, err)
	texts = append(texts, err.Error())
	sc.sim.SetFaults(nil)

	// Scan everything for both keys. The scan reads the reason back, to
	// show that it reads the payloads.
	ids := []string{run.GetID(), ok.GetID(), failed.GetID()}
	events, sawReason := 0, false
	for _, wid := range ids {
		iter := sc.temporal.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			events++
			for _, s := range protoTexts(ev) {
				assert.NotContains(t, s, secret, "history of %s, event %d", wid, ev.GetEventId())
				assert.NotContains(t, s, wrong, "history of %s, event %d", wid, ev.GetEventId())
				sawReason = sawReason || strings.Contains(s, "reliability: credentials")
			}
		}
	}
	assert.True(t, sawReason, "the scan reads payloads")
	texts = append(texts, good.Output(), bad.Output())
	for i, s := range texts {
		assert.NotContains(t, s, secret, "text %d", i)
		assert.NotContains(t, s, wrong, "text %d", i)
	}
	assert.Contains(t, bad.Output(), "AuthFailure.SignatureFailure", "the worker logs the code")

	sc.row.Injected = fmt.Sprintf("wrong SecretKey on one worker; InternalError 20%% beside it; both keys scanned for in %d history events of %d drains, 2 worker logs (debug), %d outputs and errors",
		events, len(ids), len(texts)-2)
	sc.row.Outcome = fmt.Sprintf("AuthFailure.SignatureFailure after 1 call in %s; no key anywhere", took.Round(10*time.Millisecond))
	sc.account(harness.BindingsOf(in.Selector, want), "InternalError", "AuthFailure.SignatureFailure")
}

// protoTexts returns every string and byte string of a protobuf message, its
// nested messages, lists and maps included: payload data, failure messages
// and stack traces, names.
func protoTexts(m proto.Message) []string {
	var out []string
	var walk func(protoreflect.Message)
	value := func(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
		switch {
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			walk(v.Message())
		case fd.Kind() == protoreflect.StringKind:
			out = append(out, v.String())
		case fd.Kind() == protoreflect.BytesKind:
			out = append(out, string(v.Bytes()))
		}
	}
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList():
				for i := range v.List().Len() {
					value(fd, v.List().Get(i))
				}
			case fd.IsMap():
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					out = append(out, k.String())
					value(fd.MapValue(), mv)
					return true
				})
			default:
				value(fd, v)
			}
			return true
		})
	}
	walk(m.ProtoReflect())
	return out
}
