package clb_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

func TestWeightedListRoundTrip(t *testing.T) {
	list := clb.WeightedList{
		{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 10},
		{Target: clb.Target{EniIp: "10.0.3.7", Port: 80}, Weight: 10},
		{Target: clb.Target{InstanceId: "ins-abc12346", Port: 80}, Weight: 10},
		{Target: clb.Target{EniIp: "10.0.3.70", Port: 80}, Weight: 10},
		{Target: clb.Target{EniIp: "fd00::5", Port: 8080}, Weight: 0},
		{Target: clb.Target{InstanceId: "ins-abc12347", Port: 80}, Weight: 100},
	}
	b, err := json.Marshal(list)
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"Port":80,"Weight":10,"InstancePrefix":"ins-abc1234","InstanceIds":["5","6"],"Prefix":"10.0.3.","EniIps":["7","70"]},
		{"Port":8080,"Weight":0,"EniIps":["fd00::5"]},
		{"Port":80,"Weight":100,"InstanceIds":["ins-abc12347"]}]`, string(b))
	var back clb.WeightedList
	require.NoError(t, json.Unmarshal(b, &back))
	// Grouped: instances before addresses within a group, groups in order
	// of first appearance.
	assert.Equal(t, clb.WeightedList{list[0], list[2], list[1], list[3], list[4], list[5]}, back)
}

func TestFactorNeverEmptiesAHost(t *testing.T) {
	list := clb.TargetList{{EniIp: "10.0.3.7", Port: 80}, {EniIp: "10.0.3.70", Port: 80}}
	b, err := json.Marshal(list)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"Port":80,"Prefix":"10.0.3.","EniIps":["7","70"]}]`, string(b))
}

func TestListsReadTheOldForm(t *testing.T) {
	var w clb.WeightedList
	require.NoError(t, json.Unmarshal([]byte(`[{"InstanceId":"ins-abc12345","Port":80,"Weight":7},{"EniIp":"10.0.0.5","Port":8080}]`), &w))
	assert.Equal(t, clb.WeightedList{
		{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 7},
		{Target: clb.Target{EniIp: "10.0.0.5", Port: 8080}},
	}, w)
	var l clb.TargetList
	require.NoError(t, json.Unmarshal([]byte(`[{"InstanceId":"ins-abc12345","Port":80}]`), &l))
	assert.Equal(t, clb.TargetList{{InstanceId: "ins-abc12345", Port: 80}}, l)
	require.NoError(t, json.Unmarshal([]byte(`null`), &l))
	assert.Nil(t, l)
	assert.Error(t, json.Unmarshal([]byte(`{"Port":80}`), &l))
}

// TestListSizeOfLargestInput: 10,000 IPv6 ENI targets of one VPC (a /56,
// random subnets and interface IDs, the longest textual form) cost about a
// quarter of their plain JSON.
func TestListSizeOfLargestInput(t *testing.T) {
	list := IPv6Targets(10000, 1)
	plain, err := json.Marshal([]clb.WeightedTarget(list))
	require.NoError(t, err)
	compact, err := json.Marshal(list)
	require.NoError(t, err)
	t.Logf("10,000 IPv6 targets: %d bytes plain, %d compact", len(plain), len(compact))
	assert.Less(t, len(compact), 300*1024)
	var back clb.WeightedList
	require.NoError(t, json.Unmarshal(compact, &back))
	want := map[clb.WeightedTarget]bool{}
	for _, w := range list {
		want[w] = true
	}
	require.Len(t, back, len(list))
	for _, w := range back {
		require.True(t, want[w], w.String())
	}
}

// IPv6Targets makes n ENI targets with full-length IPv6 addresses in one
// VPC's /56, on port 65535, weights 1-100.
func IPv6Targets(n int, seed uint64) clb.WeightedList {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make(clb.WeightedList, n)
	for i := range out {
		ip := fmt.Sprintf("240d:c000:2010:2f%02x:%04x:%04x:%04x:%04x", r.IntN(256),
			0x1000+r.IntN(0xf000), 0x1000+r.IntN(0xf000), 0x1000+r.IntN(0xf000), 0x1000+r.IntN(0xf000))
		out[i] = clb.WeightedTarget{Target: clb.Target{EniIp: ip, Port: 65535}, Weight: int64(1 + i%100)}
	}
	return out
}
