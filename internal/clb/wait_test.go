package clb_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// TestClientReportsTheWaitForAToken: DescribeTaskStatus says how long the
// call waited for its token, so that a caller knows when the status held;
// and the bucket paces its requests 5% under the rate.
func TestClientReportsTheWaitForAToken(t *testing.T) {
	const paced = 105 * time.Millisecond // at 10/s, each second 5% longer
	api := newFakeAPI(t, nil)
	c := newTestClient(t, api.URL, func(cfg *clb.Config) { cfg.RatePerAction, cfg.Burst = 10, 1 })
	ctx := context.Background()

	first, err := c.DescribeTaskStatus(ctx, "task-1")
	require.NoError(t, err)
	assert.Zero(t, first.Waited, "a token was there")
	second, err := c.DescribeTaskStatus(ctx, "task-1")
	require.NoError(t, err)
	assert.InDelta(t, paced, second.Waited, float64(20*time.Millisecond))

	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), paced-10*time.Millisecond)
}
