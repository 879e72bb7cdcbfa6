// Package clbsimtest starts the CLB emulator for a test, behind clbdrain's
// production client, as net/http/httptest does for a handler:
//
//	client, sim := clbsimtest.Start(t, clbsim.Config{State: fleet, TaskLatency: time.Second, Clock: clock})
//	taskID, err := client.DeregisterTargets(ctx, sel, clbsim.RequestTargets(bound))
//	... sim.Audit(), sim.SetFaults(...), sim.SetDialect(...)
//
// The client reaches the emulator by Endpoint only, over HTTP in process,
// so the SDK's signing and wire format are exercised; the emulator verifies
// the signatures against the test credential SecretID/SecretKey.
// Everything started is stopped by t.Cleanup.
package clbsimtest

import (
	"net/http/httptest"
	"testing"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// The credential the client signs with and the emulator accepts. They are
// for tests only.
const (
	SecretID  = "clbsimtest-id"
	SecretKey = "clbsimtest-key"
	// Region is the client's region.
	Region = "ap-guangzhou"
	// RatePerAction is the client's rate: far above the emulator's, and on
	// the wall clock, so that a test never waits for the client's limiter
	// and the emulator's limit (Config.Rate) is the one that applies.
	RatePerAction = 1000
)

// Start serves an emulator made from cfg over HTTP for the rest of the test
// and returns a production client pointed at it, and the emulator. Unless
// cfg.Credentials is set, the emulator accepts SecretID/SecretKey only.
// Each edit, in order, may change the client's configuration (Timeout,
// RatePerAction, OnCall, ...) before the client is built; Endpoint and Credential
// are already set. The emulator's Clock is the test's to choose: the
// client signs with the wall clock, so a ManualClock should start near it.
// Start fails the test if the configuration is refused.
func Start(t testing.TB, cfg clbsim.Config, edits ...func(*clb.Config)) (*clb.Client, *clbsim.Server) {
	t.Helper()
	if len(cfg.Credentials) == 0 {
		cfg.Credentials = map[string]string{SecretID: SecretKey}
	}
	sim, err := clbsim.New(cfg)
	if err != nil {
		t.Fatalf("clbsimtest: %v", err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(func() {
		ts.Close()
		sim.Close()
	})
	ccfg := clb.Config{Region: Region, Endpoint: ts.URL, RatePerAction: RatePerAction,
		Credential: common.NewCredential(SecretID, SecretKey)}
	for _, edit := range edits {
		edit(&ccfg)
	}
	client, err := clb.NewClient(ccfg)
	if err != nil {
		t.Fatalf("clbsimtest: %v", err)
	}
	return client, sim
}
