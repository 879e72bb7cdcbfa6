package clb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/clbdrain/clbdrain/internal/clb"
)

func TestDrainWarnings(t *testing.T) {
	on, off := true, false
	idle, session, zero := int64(900), int64(3600), int64(0)
	rst := clb.ListenerAttributes{ListenerId: "lbl-abc12345", DeregisterTargetRst: &on, IdleConnectTimeout: &idle}
	got := clb.DrainWarnings(rst, 0)
	assert.Equal(t, []string{"listener lbl-abc12345 resets connections on unbind (DeregisterTargetRst) and the drain delay 0s " +
		"is shorter than its idle timeout 900s: live connections will be cut"}, got)
	assert.Len(t, clb.DrainWarnings(rst, 5*time.Minute), 1, "a delay shorter than the idle timeout")
	assert.Empty(t, clb.DrainWarnings(rst, 15*time.Minute), "a delay as long as the idle timeout")

	noIdle := clb.ListenerAttributes{ListenerId: "lbl-abc12345", DeregisterTargetRst: &on}
	assert.Equal(t, []string{"listener lbl-abc12345 resets connections on unbind (DeregisterTargetRst) and there is no drain delay: " +
		"live connections will be cut"}, clb.DrainWarnings(noIdle, 0))
	want := []string{"listener lbl-abc12345 resets connections on unbind (DeregisterTargetRst) and the drain delay 1s " +
		"is shorter than its idle timeout 900s (the API's default: not reported): live connections will be cut"}
	assert.Equal(t, want, clb.DrainWarnings(noIdle, time.Second), "no idle timeout reported: the API's default")
	noIdle.IdleConnectTimeout = &zero
	assert.Equal(t, want, clb.DrainWarnings(noIdle, time.Second), "an idle timeout of 0: the API's default")
	assert.Empty(t, clb.DrainWarnings(noIdle, 15*time.Minute))

	assert.Empty(t, clb.DrainWarnings(clb.ListenerAttributes{ListenerId: "lbl-abc12345", DeregisterTargetRst: &off, IdleConnectTimeout: &idle}, 0),
		"no reset on unbind")
	assert.Empty(t, clb.DrainWarnings(clb.ListenerAttributes{ListenerId: "lbl-abc12345"}, 0), "attributes unknown")

	sticky := clb.ListenerAttributes{ListenerId: "lbl-abc12345", SessionExpireTime: &session}
	assert.Equal(t, []string{"listener lbl-abc12345 keeps sessions on one target for 3600s (SessionExpireTime), longer than " +
		"the drain delay 30s: clients whose session sticks to a removed target may lose it"}, clb.DrainWarnings(sticky, 30*time.Second))
	assert.Empty(t, clb.DrainWarnings(sticky, time.Hour))
	assert.Empty(t, clb.DrainWarnings(clb.ListenerAttributes{ListenerId: "lbl-abc12345", SessionExpireTime: &zero}, 0), "sessions off")
}
