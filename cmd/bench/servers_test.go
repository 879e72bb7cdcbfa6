package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

func TestServersFleet(t *testing.T) {
	state, servers := serversFleet()
	require.Len(t, servers, serversCount)
	require.Len(t, state.LoadBalancers, serversLBs)
	bindings := 0
	for _, lb := range state.LoadBalancers {
		require.Len(t, lb.Listeners, serversListeners)
		for _, l := range lb.Listeners {
			require.Empty(t, clb.ValidateSelector(clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}))
			for _, b := range l.Targets {
				for _, s := range servers {
					if s.Matches(b) {
						bindings++
					}
				}
			}
		}
	}
	assert.Equal(t, 120, bindings)
}

func TestServersSection(t *testing.T) {
	f := serversFigures{Listeners: 40, Latency: time.Second, Delay: 5 * time.Second, Ideal: 10 * time.Second,
		Wall: 11 * time.Second, Removed: 120, Busiest: map[string]int{clb.ActionDescribeTargets: 20}}
	sec := serversSection(f)
	for _, r := range sec.Rows {
		assert.True(t, r.OK, "%+v", r)
	}
	f.Wall, f.Busiest[clb.ActionDescribeTargets] = 13*time.Second, 21
	sec = serversSection(f)
	assert.False(t, sec.Rows[0].OK, "1.3 × the ideal misses")
	missed := 0
	for _, r := range sec.Rows {
		if !r.OK {
			missed++
		}
	}
	assert.Equal(t, 2, missed)
	f.Wall, f.Busiest[clb.ActionDescribeTargets], f.Err = 11*time.Second, 1, errors.New("boom")
	assert.Contains(t, serversSection(f).Rows[1].Measured, "failed: boom")
}
