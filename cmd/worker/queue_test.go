package main

import "testing"

func TestServerQueueRate(t *testing.T) {
	if got := serverQueueRate(20); got != 25 {
		t.Errorf("serverQueueRate(20) = %v, want 25: a quarter above the fleet's ceiling", got)
	}
}
