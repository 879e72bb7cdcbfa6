package workflows_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// restoreProblemField is every field a problem of ValidateRestore may name.
var restoreProblemField = regexp.MustCompile(`^(Manifest\.Bindings(\[\d+\](\.Selector(\.(LoadBalancerId|ListenerId|LocationId|Domain|Url))?|\.Targets(\[\d+\](\.(InstanceId|EniIp|Port|Weight))?)?))?|WaitHealthy|OnUnhealthy|HealthPoll|RampSteps|RampInterval|Reason|Requester)$`)

// FuzzValidateRestore: ValidateRestore never panics and is deterministic;
// it rejects with a *clb.ValidationError whose problems each name a field
// of RestoreInput; what it accepts has bindings with valid selectors, each
// named once, targets listed once each at weights 0-100, and settings in
// their bounds. bindings is the JSON of the manifest's bindings.
func FuzzValidateRestore(f *testing.F) {
	f.Add(`[{"Selector":{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345"},"Targets":[{"InstanceId":"ins-abc12345","Port":80,"Weight":10}]}]`,
		int64(0), "", int64(0), 0, int64(0), "")
	f.Add(`[{"Selector":{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345","LocationId":"loc-abc12345"},"Targets":[{"EniIp":"fd00::5","Port":8080,"Weight":100}]}]`,
		int64(time.Minute), "deregister", int64(time.Second), 4, int64(time.Minute), "release 42")
	f.Add(`[{"Selector":{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345"},"Targets":[{"InstanceId":"ins-abc12345","Port":80,"Weight":101},{"InstanceId":"ins-abc12345","Port":80}]},{"Selector":{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345"},"Targets":[]}]`,
		int64(-1), "drop", int64(time.Millisecond), 101, int64(-1), "\xff")
	f.Add(`[]`, int64(48*time.Hour), "deregister", int64(0), 3, int64(0), "")
	f.Fuzz(func(t *testing.T, bindings string, wait int64, onUnhealthy string, poll int64, steps int, interval int64, reason string) {
		in := workflows.RestoreInput{WaitHealthy: time.Duration(wait), OnUnhealthy: onUnhealthy, HealthPoll: time.Duration(poll),
			RampSteps: steps, RampInterval: time.Duration(interval), Reason: reason}
		if json.Unmarshal([]byte(bindings), &in.Manifest.Bindings) != nil {
			return
		}
		err := workflows.ValidateRestore(in)
		again := workflows.ValidateRestore(in)
		require.Equal(t, err == nil, again == nil, "deterministic")
		if err != nil {
			require.Equal(t, err.Error(), again.Error(), "deterministic")
			var verr *clb.ValidationError
			require.True(t, errors.As(err, &verr), "a *clb.ValidationError: %v", err)
			for _, p := range verr.Problems {
				require.Regexp(t, restoreProblemField, p.Field)
				require.NotEmpty(t, p.Reason)
			}
			return
		}
		require.NotEmpty(t, in.Manifest.Bindings)
		seen := map[string]bool{}
		for _, b := range in.Manifest.Bindings {
			require.Empty(t, clb.ValidateSelector(b.Selector))
			require.False(t, seen[b.Selector.String()], "a selector once")
			seen[b.Selector.String()] = true
			keys := map[string]bool{}
			for _, tg := range b.Targets {
				require.Empty(t, clb.ValidateTarget("t", tg.Target))
				require.True(t, tg.Weight >= 0 && tg.Weight <= workflows.MaxWeight)
				require.False(t, keys[tg.Key()], "a target once")
				keys[tg.Key()] = true
			}
		}
		require.True(t, in.WaitHealthy >= 0 && in.WaitHealthy <= workflows.MaxWaitHealthy)
		require.True(t, in.RampSteps >= 0 && in.RampSteps <= workflows.MaxRampSteps)
		require.Equal(t, in.RampSteps > 1, in.RampInterval > 0)
		require.True(t, in.OnUnhealthy != workflows.OnUnhealthyDeregister || in.WaitHealthy > 0)
	})
}
