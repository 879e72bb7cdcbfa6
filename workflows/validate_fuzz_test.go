package workflows_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// problemField is every field a problem of Validate may name.
var problemField = regexp.MustCompile(`^(LoadBalancerId|ListenerId|LocationId|Domain|Url|DrainDelay|ChunkSize|ChunksPerRun|Reason|Targets|Targets\[\d+\](\.(InstanceId|EniIp|Port|Weight))?)$`)

// FuzzValidate: Validate never panics and is deterministic; it rejects with
// a *clb.ValidationError whose problems each name a field of DrainInput (a
// target by its index); what it accepts has a valid listener and rule, 1 to
// MaxTargets valid targets and every bound respected; and what it accepts
// survives the JSON round trip that carries the input from the starter to
// the workflow unchanged. targets is a JSON array of clb.Target; extra
// appends that many distinct valid targets, except 254 and 255, which fill
// the list to MaxTargets and one more, to reach the size bound.
func FuzzValidate(f *testing.F) {
	f.Add("lb-abc12345", "lbl-abc12345", "", "", "", `[{"InstanceId":"ins-abc12345","Port":80}]`, uint8(0), int64(0), 0, 0, "")
	f.Add("lb-abc12345", "lbl-abc12345", "loc-abc12345", "", "", `[{"EniIp":"fd00::5","Port":8080,"Weight":5}]`, uint8(3), int64(time.Minute), 20, 1, "release 42")
	f.Add("lb-abc12345", "lbl-abc12345", "", "app.example.com", "/api", `[{"EniIp":"10.0.0.5","Port":1},{"EniIp":"10.0.0.5","Port":1}]`, uint8(0), int64(0), 0, 0, "")
	f.Add("lb-abc12345", "lbl-abc12345", "", "", "", `[]`, uint8(255), int64(25*time.Hour), 21, -1, strings.Repeat("r", 1025))
	f.Add("LB-abc12345", "lbl-abc1234", "loc-", "app.example.com", "", `[{"Port":0},{"InstanceId":"ins-abc12345","EniIp":"10.0.0.5","Port":65536,"Weight":101}]`, uint8(0), int64(-1), -1, 0, "")
	f.Add("lb-abc12345", "lbl-abc12345", "", "a b", "api", `[{"EniIp":"fe80::1%eth0","Port":80}]`, uint8(0), int64(0), 0, 0, "\xff")
	f.Add("lb-abc12345", "lbl-abc12345", "", "\xffexample.com", "/\xfe", `[{"InstanceId":"ins-abc12345","Port":80}]`, uint8(0), int64(0), 0, 0, strings.Repeat("\xff", 1024))
	f.Fuzz(func(t *testing.T, lb, listener, location, domain, url, targets string, extra uint8, delay int64, chunkSize, chunksPerRun int, reason string) {
		in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb, ListenerId: listener, LocationId: location, Domain: domain, Url: url},
			DrainDelay: time.Duration(delay), ChunkSize: chunkSize, ChunksPerRun: chunksPerRun, Reason: reason}
		if json.Unmarshal([]byte(targets), &in.Targets) != nil {
			return
		}
		n := int(extra)
		switch extra {
		case 254, 255:
			n = max(0, workflows.MaxTargets+int(extra)-254-len(in.Targets))
		}
		for i := range n {
			in.Targets = append(in.Targets, clb.Target{InstanceId: fmt.Sprintf("ins-%08d", i), Port: 80})
		}

		err := workflows.Validate(in)
		again := workflows.Validate(in)
		require.Equal(t, err == nil, again == nil, "deterministic")
		if err != nil {
			require.Equal(t, err.Error(), again.Error(), "deterministic")
			var verr *clb.ValidationError
			require.True(t, errors.As(err, &verr), "a *clb.ValidationError: %v", err)
			require.NotEmpty(t, verr.Problems)
			for _, p := range verr.Problems {
				require.Regexp(t, problemField, p.Field)
				require.NotEmpty(t, p.Reason)
			}
		} else {
			require.Empty(t, clb.ValidateSelector(in.Selector))
			require.NotEmpty(t, in.Targets)
			require.LessOrEqual(t, len(in.Targets), workflows.MaxTargets)
			for i, tg := range in.Targets {
				require.Empty(t, clb.ValidateTarget(fmt.Sprintf("Targets[%d]", i), tg))
			}
			require.True(t, in.DrainDelay >= 0 && in.DrainDelay <= workflows.MaxDrainDelay)
			require.True(t, in.ChunkSize >= 0 && in.ChunkSize <= workflows.MaxChunkSize)
			require.GreaterOrEqual(t, in.ChunksPerRun, 0)
			require.LessOrEqual(t, len(in.Reason), workflows.MaxReasonLen)
			require.True(t, strings.HasPrefix(workflows.WorkflowIDFor(in), workflows.WorkflowID(lb, listener, "")))
		}

		// The starter validates the input, then Temporal carries it as JSON:
		// what was accepted arrives unchanged.
		if err == nil {
			dc := converter.GetDefaultDataConverter()
			payload, perr := dc.ToPayload(in)
			require.NoError(t, perr)
			var carried workflows.DrainInput
			require.NoError(t, dc.FromPayload(payload, &carried))
			require.Equal(t, in, carried, "the workflow gets the input the starter validated")
			require.NoError(t, workflows.Validate(carried))
		}
	})
}
