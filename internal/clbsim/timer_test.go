package clbsim

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// This test reads the emulator's internals, so it lives in the package
// itself, which cannot use clbsimtest (clbsimtest imports clbsim).

// serveInternal serves the test fleet over HTTP and deregisters one target
// through clbdrain's client.
func serveInternal(t *testing.T, cfg Config) *Server {
	t.Helper()
	state, err := LoadStateFile("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.State = state
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	c, err := clb.NewClient(clb.Config{Region: "ap-guangzhou", Endpoint: ts.URL,
		Credential: common.NewCredential(DefaultSecretID, DefaultSecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	sel := clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-tcp00001"}
	if _, err := c.DeregisterTargets(context.Background(), sel, []clb.Target{{InstanceId: "ins-aaaa0001", Port: 8080}}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestTaskCompletesWithoutPolling(t *testing.T) {
	t.Run("manual clock", func(t *testing.T) {
		clock := NewManualClock(time.Now())
		srv := serveInternal(t, Config{Clock: clock, TaskLatency: time.Second, TaskJitter: time.Second})
		clock.Advance(2 * time.Second)
		// Read the log directly: Audit would complete due tasks itself.
		srv.mu.Lock()
		n, locked := len(srv.audit), srv.fleet.lbByID["lb-test0001"].task != nil
		srv.mu.Unlock()
		if n != 1 || locked {
			t.Fatalf("after the timer: %d changes, locked %v", n, locked)
		}
	})
	t.Run("wall clock", func(t *testing.T) {
		start := time.Now()
		srv := serveInternal(t, Config{TaskLatency: 20 * time.Millisecond})
		for {
			srv.mu.Lock()
			audit := append([]Change(nil), srv.audit...)
			srv.mu.Unlock()
			if len(audit) == 1 {
				if d := audit[0].Time.Sub(start); d < 20*time.Millisecond {
					t.Errorf("applied %v after the call, before the task's latency", d)
				}
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("the change never landed")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
