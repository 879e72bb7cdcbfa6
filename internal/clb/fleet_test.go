package clb_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

func TestDescribeListenersTargets(t *testing.T) {
	state, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 21, Targets: 3}, 1)
	require.NoError(t, err)
	client, _ := clbsimtest.Start(t, clbsim.Config{State: state, Rate: -1})
	lb := state.LoadBalancers[0]
	var ids []string
	for _, l := range lb.Listeners {
		ids = append(ids, l.ListenerId)
	}
	ctx := context.Background()
	ls, err := client.DescribeListenersTargets(ctx, lb.LoadBalancerId, ids[:20])
	require.NoError(t, err)
	require.Len(t, ls, 20)
	for i, l := range ls {
		require.Equal(t, ids[i], l.ListenerId)
		require.Len(t, l.Targets, 3, fmt.Sprint(l))
	}
	for _, n := range []int{0, 21} {
		_, err = client.DescribeListenersTargets(ctx, lb.LoadBalancerId, ids[:n])
		var ce *clb.Error
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "InvalidParameterValue.Length", ce.Code)
	}
}
