package harness

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a log file stand-in safe for the process's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStartWaitsForReadyThenKillEndsTheProcess(t *testing.T) {
	var log lockedBuffer
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "echo booting; echo all ready; exec sleep 60"},
		Env: []string{"PATH=/usr/bin:/bin"}, Log: &log, Ready: "all ready"})
	require.NoError(t, err)
	assert.Contains(t, p.Output(), "all ready")
	assert.Positive(t, p.Pid())
	assert.False(t, p.Exited())
	p.Kill()
	assert.True(t, p.Exited())
	assert.Equal(t, "booting\nall ready\n", log.String(), "the log file gets the output too")
}

func TestStartReportsAProcessThatExitsOrNeverGetsReady(t *testing.T) {
	_, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "echo no luck; exit 3"}, Ready: "ready"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the sh exited")
	assert.Contains(t, err.Error(), "no luck")

	_, err = Start(Spec{Path: "/bin/sh", Args: []string{"-c", "echo slow; exec sleep 60"}, Ready: "ready", ReadyTimeout: 200 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not start in 200ms")
	assert.Contains(t, err.Error(), "slow")
}

func TestStopEndsAProcessWithSIGTERM(t *testing.T) {
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done"}, Ready: "up"})
	require.NoError(t, err)
	p.Stop()
	assert.True(t, p.Exited())
	assert.Contains(t, p.Output(), "bye")
}
