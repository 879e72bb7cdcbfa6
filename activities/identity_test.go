package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

// Fixture of the emulator tests below: a TCP listener with a CVM bound by
// InstanceId (private IP 10.0.0.1) and an ENI target, an HTTP listener with
// one rule and an empty one.
const (
	simLB      = "lb-sim00001"
	simTCP     = "lbl-tcp00001"
	simHTTP    = "lbl-http0001"
	simRule    = "loc-api00001"
	simEmpty   = "lbl-empty001"
	simEmpty7  = "lbl-empty701"
	simRule7   = "loc-empty701"
	simCVM     = "ins-web00001"
	simCVMIP   = "10.0.0.1"
	simENIIP   = "10.0.0.9"
	simMissing = "lbl-nothere1"
)

func simState() clbsim.State {
	cvm := clb.BoundTarget{Type: clbsim.TypeCVM, InstanceId: simCVM, PrivateIpAddresses: []string{simCVMIP}, Port: 80, Weight: 10}
	eni := clb.BoundTarget{Type: clbsim.TypeENI, PrivateIpAddresses: []string{simENIIP}, Port: 80, Weight: 20}
	return clbsim.State{LoadBalancers: []clbsim.LoadBalancer{{LoadBalancerId: simLB, Listeners: []clb.Listener{
		{ListenerId: simTCP, Protocol: clb.ProtocolTCP, Port: 80, Targets: []clb.BoundTarget{cvm, eni}},
		{ListenerId: simHTTP, Protocol: clb.ProtocolHTTP, Port: 8080, Rules: []clb.Rule{
			{LocationId: simRule, Domain: "api.example.com", Url: "/", Targets: []clb.BoundTarget{cvm}}}},
		{ListenerId: simEmpty, Protocol: clb.ProtocolTCP, Port: 81},
		{ListenerId: simEmpty7, Protocol: clb.ProtocolHTTP, Port: 8081, Rules: []clb.Rule{
			{LocationId: simRule7, Domain: "empty.example.com", Url: "/"}}},
	}}}}
}

// startSim is the activities behind the production client and the
// emulator serving simState, on a fake clock moved by the activities'
// sleeps.
func startSim(t *testing.T, d clbsim.Dialect) (*harness, *clbsim.Server) {
	simClock := clbsim.NewManualClock(time.Now())
	client, sim := clbsimtest.Start(t, clbsim.Config{State: simState(), TaskLatency: time.Second, Rate: -1,
		Clock: simClock, Seed: 1, Dialect: d})
	h := newHarness(t)
	h.acts = &activities.Activities{CLB: client, Now: simClock.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		simClock.Advance(d)
		return nil
	}}
	h.env = h.newEnv(context.Background())
	return h, sim
}

func tcpSim() clb.Selector { return clb.Selector{LoadBalancerId: simLB, ListenerId: simTCP} }

// An EniIp naming a CVM binding's private IP, and the same address
// IPv4-mapped, are sent as the binding's InstanceId: the API takes no EniIp
// for a CVM binding.
func TestEmulatorEniIPOfACVMIsSentAsItsInstance(t *testing.T) {
	for _, dialect := range []clbsim.Dialect{{}, {LowerCaseTypes: true}} {
		h, sim := startSim(t, dialect)
		asked := []clb.Target{{EniIp: simCVMIP, Port: 80}, {EniIp: "::ffff:" + simENIIP, Port: 80}}
		snap, err := h.snapshot(activities.SnapshotInput{Selector: tcpSim(), Targets: asked})
		require.NoError(t, err)
		require.Empty(t, snap.Absent, "an IPv4-mapped address is never reported absent")
		want := []clb.Target{{InstanceId: simCVM, Port: 80}, {EniIp: simENIIP, Port: 80}}
		require.Equal(t, want, clb.Unweighted(snap.Bound))
		require.Equal(t, []clb.Renamed{{Requested: asked[0], Bound: want[0]}, {Requested: asked[1], Bound: want[1]}}, snap.Renamed)

		sw, err := h.setWeight(activities.SetWeightInput{Selector: snap.Selector, Targets: []clb.WeightedTarget{
			{Target: snap.Bound[0].Target}, {Target: snap.Bound[1].Target}}})
		require.NoError(t, err)
		_, err = h.wait(h.env, sw.TaskID)
		require.NoError(t, err)
		dr, err := h.deregister(activities.DeregisterInput{Selector: snap.Selector, Targets: clb.Unweighted(snap.Bound)})
		require.NoError(t, err)
		require.Equal(t, want, dr.Sent)
		_, err = h.wait(h.env, dr.TaskID)
		require.NoError(t, err)

		var removed []string
		for _, c := range sim.Audit() {
			if c.Action == clb.ActionDeregisterTargets {
				removed = append(removed, c.Target)
			}
		}
		require.ElementsMatch(t, []string{simCVM + ":80", simENIIP + ":80"}, removed)
	}
}

// Two spellings of one binding are one target.
func TestSnapshotMergesSpellingsOfOneBinding(t *testing.T) {
	h := newHarness(t)
	asked := []clb.Target{cvm(0), {EniIp: "::ffff:10.0.0.7", Port: 8080}, {EniIp: "10.0.0.7", Port: 8080}}
	h.clb.listeners[tcpID].Targets[0].PrivateIpAddresses = []string{"10.0.0.100"}
	asked = append(asked, clb.Target{EniIp: "10.0.0.100", Port: 80})
	snap, err := h.snapshot(activities.SnapshotInput{Selector: tcpSel(), Targets: asked})
	require.NoError(t, err)
	require.Equal(t, []clb.Target{cvm(0), eni("10.0.0.7")}, clb.Unweighted(snap.Bound))
	require.Equal(t, 2, snap.Merged)
	require.Empty(t, snap.Absent)
}

// DescribeTargets may leave out a listener with no targets left: it has
// nothing bound, a layer-7 one still resolves its rules, and a listener
// that does not exist still fails clearly.
func TestEmulatorListenerLeftOutWhenEmpty(t *testing.T) {
	h, _ := startSim(t, clbsim.Dialect{OmitEmptyListeners: true, LowerCaseTypes: true})
	asked := []clb.Target{{InstanceId: simCVM, Port: 80}}

	snap, err := h.snapshot(activities.SnapshotInput{Selector: clb.Selector{LoadBalancerId: simLB, ListenerId: simEmpty}, Targets: asked})
	require.NoError(t, err)
	require.Equal(t, clb.ProtocolTCP, snap.Protocol)
	require.Empty(t, snap.Bound)
	require.Equal(t, asked, snap.Absent)

	for _, sel := range []clb.Selector{
		{LoadBalancerId: simLB, ListenerId: simEmpty7, LocationId: simRule7},
		{LoadBalancerId: simLB, ListenerId: simEmpty7, Domain: "EMPTY.example.com", Url: "/"},
	} {
		snap, err = h.snapshot(activities.SnapshotInput{Selector: sel, Targets: asked})
		require.NoError(t, err, sel.String())
		require.Equal(t, simRule7, snap.Selector.LocationId)
		require.Equal(t, asked, snap.Absent)
	}
	_, err = h.snapshot(activities.SnapshotInput{Selector: clb.Selector{LoadBalancerId: simLB, ListenerId: simEmpty7, LocationId: "loc-nothere1"}, Targets: asked})
	require.Equal(t, activities.ErrNoRule, applicationError(t, err).Type())

	_, err = h.snapshot(activities.SnapshotInput{Selector: clb.Selector{LoadBalancerId: simLB, ListenerId: simMissing}, Targets: asked})
	ae := applicationError(t, err)
	require.Equal(t, activities.ErrNoListener, ae.Type())
	require.True(t, ae.NonRetryable())
	require.Contains(t, ae.Error(), simMissing)

	// The re-check after the drain emptied the listener finds it all gone.
	all := []clb.Target{{InstanceId: simCVM, Port: 80}, {EniIp: simENIIP, Port: 80}}
	dr, err := h.deregister(activities.DeregisterInput{Selector: tcpSim(), Targets: all})
	require.NoError(t, err)
	_, err = h.wait(h.env, dr.TaskID)
	require.NoError(t, err)
	dr, err = h.deregister(activities.DeregisterInput{Selector: tcpSim(), Targets: all, Recheck: true})
	require.NoError(t, err)
	require.Empty(t, dr.TaskID)
	require.Equal(t, all, dr.AlreadyGone)
	sw, err := h.setWeight(activities.SetWeightInput{Selector: tcpSim(), Targets: []clb.WeightedTarget{{Target: all[0], Weight: 10}}, Recheck: true})
	require.NoError(t, err)
	require.Len(t, sw.Skipped, 1)
}
