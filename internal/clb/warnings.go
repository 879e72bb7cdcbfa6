package clb

import (
	"strconv"
	"time"
)

// DefaultIdleConnectTimeout is the idle timeout, in seconds, a listener
// has when DescribeListeners reports none (or 0): the API's default.
const DefaultIdleConnectTimeout int64 = 900

// DrainWarnings says what removing targets from listener l, after a drain
// delay of drainDelay (0: none), will do to the connections they carry.
// It warns when unbinding resets live connections (DeregisterTargetRst
// on) and there is no drain delay, or the delay is shorter than the
// listener's IdleConnectTimeout (DefaultIdleConnectTimeout when not
// reported or 0); and notes, more softly, a delay shorter
// than the listener's session persistence (SessionExpireTime). Nil when
// there is nothing to say, or the attributes are unknown. It is pure: the
// workflow and the starter both call it, so they say the same.
func DrainWarnings(l ListenerAttributes, drainDelay time.Duration) []string {
	var out []string
	name := "listener " + l.ListenerId
	if l.DeregisterTargetRst != nil && *l.DeregisterTargetRst {
		idle, assumed := DefaultIdleConnectTimeout, " (the API's default: not reported)"
		if l.IdleConnectTimeout != nil && *l.IdleConnectTimeout > 0 {
			idle, assumed = *l.IdleConnectTimeout, ""
		}
		switch {
		case drainDelay < seconds(idle) && (drainDelay > 0 || assumed == ""):
			out = append(out, name+" resets connections on unbind (DeregisterTargetRst) and the drain delay "+
				drainDelay.String()+" is shorter than its idle timeout "+strconv.FormatInt(idle, 10)+
				"s"+assumed+": live connections will be cut")
		case drainDelay <= 0:
			out = append(out, name+" resets connections on unbind (DeregisterTargetRst) and there is no drain delay: "+
				"live connections will be cut")
		}
	}
	if l.SessionExpireTime != nil && *l.SessionExpireTime > 0 && drainDelay < seconds(*l.SessionExpireTime) {
		out = append(out, name+" keeps sessions on one target for "+strconv.FormatInt(*l.SessionExpireTime, 10)+
			"s (SessionExpireTime), longer than the drain delay "+drainDelay.String()+
			": clients whose session sticks to a removed target may lose it")
	}
	return out
}

// seconds is n seconds as a Duration, saturating rather than overflowing.
func seconds(n int64) time.Duration {
	const most = int64(1<<63-1) / int64(time.Second)
	return time.Duration(min(n, most)) * time.Second
}
