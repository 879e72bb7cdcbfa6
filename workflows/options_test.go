package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
)

// WaitForTask's heartbeat timeout outlasts one whole poll (a token's wait
// and the client's request timeout), and the longest silence of a live
// attempt: the SDK sends a heartbeat at most every 80% of the timeout, the
// activity records one every CallHeartbeat during a call.
func TestWaitHeartbeatOutlastsAPoll(t *testing.T) {
	require.Greater(t, waitHeartbeat, paceWait+clb.DefaultTimeout)
	require.Greater(t, waitHeartbeat, waitHeartbeat*4/5+activities.CallHeartbeat)
	require.Greater(t, waitHeartbeat, 8*time.Second, "a poll of 8 s, as WaitForTask's test plays it")
}
