package clbsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestRateLimit(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Clock: clock, Rate: 3})
	ctx := context.Background()
	describe := func() error {
		_, err := c.DescribeTargets(ctx, "lb-test0001", "lbl-tcp00001")
		return err
	}
	for i := range 3 {
		if err := describe(); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	wantCode(t, describe(), "RequestLimitExceeded")
	// Per action: another action has its own budget.
	if _, err := c.DescribeTaskStatus(ctx, "nothere"); codeOf(err) != "InvalidParameter" {
		t.Fatalf("DescribeTaskStatus: %v", err)
	}
	// The window slides: calls leave it one second after they were made.
	clock.Advance(999 * time.Millisecond)
	wantCode(t, describe(), "RequestLimitExceeded")
	clock.Advance(time.Millisecond)
	for i := range 3 {
		if err := describe(); err != nil {
			t.Fatalf("next second, call %d: %v", i+1, err)
		}
	}
	wantCode(t, describe(), "RequestLimitExceeded")

	a := srv.Stats().Actions[clb.ActionDescribeTargets]
	if a.Requests != 9 || a.Throttled != 3 || a.Errors["RequestLimitExceeded"] != 3 || a.MaxPerSecond != 3 {
		t.Errorf("stats = %+v", a)
	}
}

func TestMaxPerSecondWithoutLimit(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, srv, _ := startClient(t, clbsim.Config{State: fixture(t), Clock: clock, Rate: -1})
	for i := range 30 {
		if _, err := c.DescribeTargets(context.Background(), "lb-test0001", "lbl-tcp00001"); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			clock.Advance(400 * time.Millisecond)
		}
	}
	// Ten calls at 0, 0.4 s and 0.8 s: all 30 fall within one second.
	if a := srv.Stats().Actions[clb.ActionDescribeTargets]; a.MaxPerSecond != 30 || a.Throttled != 0 {
		t.Errorf("stats = %+v", a)
	}
}
