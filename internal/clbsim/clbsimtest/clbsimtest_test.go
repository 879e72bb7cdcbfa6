package clbsimtest_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

func fleet(t *testing.T) clbsim.State {
	t.Helper()
	s, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 10, ENI: 0.3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartServesTheRealClient(t *testing.T) {
	state := fleet(t)
	clock := clbsim.NewManualClock(time.Now())
	var mu sync.Mutex
	var actions []string
	client, sim := clbsimtest.Start(t, clbsim.Config{State: state, Clock: clock, TaskLatency: time.Second},
		func(c *clb.Config) {
			c.OnCall = func(action, _ string, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				actions = append(actions, action)
			}
		})
	lb, l := state.LoadBalancers[0], state.LoadBalancers[0].Listeners[0]
	targets := clbsim.RequestTargets(l.Targets)
	if len(targets) != 10 {
		t.Fatalf("Targets = %v", targets)
	}
	eni := 0
	for i, tg := range targets {
		if (tg.EniIp != "") != (l.Targets[i].Type == clbsim.TypeENI) {
			t.Errorf("target %d = %+v for %+v", i, tg, l.Targets[i])
		}
		if tg.EniIp != "" {
			eni++
		}
	}
	if eni == 0 {
		t.Fatal("the fleet has no ENI target to name")
	}

	ctx := context.Background()
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
	task, err := client.DeregisterTargets(ctx, sel, targets[:3])
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if st, err := client.DescribeTaskStatus(ctx, task); err != nil || st.Status != clb.TaskSucceeded {
		t.Fatalf("task = %+v, %v", st, err)
	}
	if audit := sim.Audit(); len(audit) != 3 || audit[0].Target != targets[0].Key() || audit[2].Target != targets[2].Key() {
		t.Fatalf("audit = %+v", audit)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(actions) != 2 || actions[0] != clb.ActionDeregisterTargets {
		t.Errorf("the client edit was not applied: OnCall saw %v", actions)
	}
}

func TestStartVerifiesTheTestCredential(t *testing.T) {
	client, _ := clbsimtest.Start(t, clbsim.Config{State: fleet(t)})
	other, err := clb.NewClient(clb.Config{Region: clbsimtest.Region, Endpoint: client.Endpoint(),
		Credential: common.NewCredential(clbsimtest.SecretID, "not-the-key")})
	if err != nil {
		t.Fatal(err)
	}
	state := fleet(t)
	lb, l := state.LoadBalancers[0].LoadBalancerId, state.LoadBalancers[0].Listeners[0].ListenerId
	if _, err := client.DescribeTargets(context.Background(), lb, l); err != nil {
		t.Fatalf("the test credential: %v", err)
	}
	_, err = other.DescribeTargets(context.Background(), lb, l)
	var ce *clb.Error
	if !errors.As(err, &ce) || ce.Code != "AuthFailure.SignatureFailure" {
		t.Fatalf("a wrong key: %v", err)
	}

	demo, _ := clbsimtest.Start(t, clbsim.Config{State: state, Credentials: map[string]string{clbsim.DefaultSecretID: clbsim.DefaultSecretKey}})
	if _, err := demo.DescribeTargets(context.Background(), lb, l); !errors.As(err, &ce) || ce.Code != "AuthFailure.SecretIdNotFound" {
		t.Fatalf("Config.Credentials is not kept: %v", err)
	}
}

func TestStartCleansUp(t *testing.T) {
	var endpoint string
	t.Run("inner", func(t *testing.T) {
		client, _ := clbsimtest.Start(t, clbsim.Config{State: fleet(t)})
		endpoint = client.Endpoint()
	})
	resp, err := http.Get(endpoint + "/_sim/state")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the emulator still serves after its test ended: %s", resp.Status)
	}
}
