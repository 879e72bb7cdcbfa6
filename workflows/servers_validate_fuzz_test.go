package workflows_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// serversProblemField is every field a problem of ValidateServersInput may
// name.
var serversProblemField = regexp.MustCompile(`^(Servers(\[\d+\](\.(InstanceId|Ip|Port))?)?|LoadBalancerIds(\[\d+\])?|DrainDelay|Guards\.(MinRemaining|MinRemainingPercent|AllowEmpty)|ApprovalTimeout|MaxParallel|Reason|Requester)$`)

// FuzzValidateServersInput: ValidateServersInput never panics and is
// deterministic; it rejects with a *clb.ValidationError whose problems each
// name a field of ServersInput; what it accepts has 1 to MaxServers
// servers, each with exactly one valid InstanceId or IP, a port of 0 or
// 1-65535, no two naming the same bindings, valid distinct load balancer
// IDs, guards in range and not in conflict, and an ApprovalTimeout of 0
// to MaxApprovalTimeout, given only with Approval. servers and lbs are
// JSON.
func FuzzValidateServersInput(f *testing.F) {
	f.Add(`[{"InstanceId":"ins-abc12345"}]`, `[]`, int64(0), 0, 0.0, false, 0, false, int64(0))
	f.Add(`[{"InstanceId":"ins-abc12345","Port":80},{"Ip":"10.0.0.5"},{"Ip":"fd00::5","Port":443}]`, `["lb-abc12345"]`, int64(time.Minute), 2, 50.0, false, 10, true, int64(time.Hour))
	f.Add(`[{"InstanceId":"ins-abc12345","Ip":"10.0.0.5","Port":70000},{}]`, `["lb-x","lb-x"]`, int64(-1), -1, 101.0, true, 51, true, int64(-1))
	f.Add(`[{"Ip":"10.0.0.5"},{"Ip":"::ffff:10.0.0.5","Port":80}]`, `[]`, int64(0), 0, 0.0, true, 0, false, int64(time.Hour))
	f.Add(`[{"InstanceId":"ins-abc12345"}]`, `[]`, int64(0), 0, 0.0, false, 0, true, int64(workflows.MaxApprovalTimeout+1))
	f.Fuzz(func(t *testing.T, servers, lbs string, delay int64, minRemaining int, percent float64, allowEmpty bool, maxParallel int,
		approval bool, approvalTimeout int64) {
		in := workflows.ServersInput{DrainDelay: time.Duration(delay), MaxParallel: maxParallel,
			Guards:   workflows.Guards{MinRemaining: minRemaining, MinRemainingPercent: percent, AllowEmpty: allowEmpty},
			Approval: approval, ApprovalTimeout: time.Duration(approvalTimeout)}
		if json.Unmarshal([]byte(servers), &in.Servers) != nil || json.Unmarshal([]byte(lbs), &in.LoadBalancerIds) != nil {
			return
		}
		err := workflows.ValidateServersInput(in)
		again := workflows.ValidateServersInput(in)
		require.Equal(t, err == nil, again == nil, "deterministic")
		if err != nil {
			require.Equal(t, err.Error(), again.Error(), "deterministic")
			var verr *clb.ValidationError
			require.True(t, errors.As(err, &verr), "a *clb.ValidationError: %v", err)
			for _, p := range verr.Problems {
				require.Regexp(t, serversProblemField, p.Field)
			}
			return
		}
		require.NotEmpty(t, in.Servers)
		require.LessOrEqual(t, len(in.Servers), workflows.MaxServers)
		hosts := map[string]bool{}
		for _, s := range in.Servers {
			require.True(t, (s.InstanceId == "") != (s.Ip == ""), "%+v", s)
			if s.Ip != "" {
				_, perr := netip.ParseAddr(s.Ip)
				require.NoError(t, perr)
			}
			require.True(t, s.Port == 0 || (s.Port >= 1 && s.Port <= 65535))
			require.False(t, hosts[s.Key()], "given twice: %s", s)
			hosts[s.Key()] = true
		}
		require.False(t, in.Guards.AllowEmpty && (in.Guards.MinRemaining > 0 || in.Guards.MinRemainingPercent > 0))
		require.True(t, in.Guards.MinRemainingPercent >= 0 && in.Guards.MinRemainingPercent <= 100)
		require.True(t, in.MaxParallel >= 0 && in.MaxParallel <= workflows.MaxMaxParallel)
		require.True(t, in.DrainDelay >= 0 && in.DrainDelay <= workflows.MaxDrainDelay)
		require.True(t, in.ApprovalTimeout >= 0 && in.ApprovalTimeout <= workflows.MaxApprovalTimeout)
		require.True(t, in.ApprovalTimeout == 0 || in.Approval, "ApprovalTimeout only with Approval")
	})
}
