package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

var listening = regexp.MustCompile(`^clbsim listening on (http://127\.0\.0\.1:(\d+))$`)

// serve runs the command until the test ends and returns its URL.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), w, io.Discard)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("clbsim did not stop")
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v (run: %v)", err, <-done)
	}
	m := listening.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil || m[2] == "0" {
		t.Fatalf("listening line %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return m[1]
}

func client(t *testing.T, url, id, key string) *clb.Client {
	t.Helper()
	c, err := clb.NewClient(clb.Config{Region: "ap-guangzhou", Endpoint: url, Credential: common.NewCredential(id, key)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServesAGeneratedFleet(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "fleet.json")
	url := serve(t, "--generate", "lbs=1,listeners=1,l7=0,targets=5", "--seed", "9", "--task-latency", "20ms", "--dump-state", dump)
	fleet, err := clbsim.LoadStateFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 1, Targets: 5}, 9)
	if fleet.LoadBalancers[0].LoadBalancerId != want.LoadBalancers[0].LoadBalancerId || fleet.Count().Targets != 5 {
		t.Fatalf("dumped fleet %+v", fleet.Count())
	}
	lb, l := fleet.LoadBalancers[0], fleet.LoadBalancers[0].Listeners[0]
	c := client(t, url, clbsim.DefaultSecretID, clbsim.DefaultSecretKey)
	ctx := context.Background()
	b := l.Targets[0]
	task, err := c.DeregisterTargets(ctx, clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}, clbsim.RequestTargets([]clb.BoundTarget{b}))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := c.DescribeTaskStatus(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == clb.TaskSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task still %v", st.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, err := c.DescribeTargets(ctx, lb.LoadBalancerId, l.ListenerId)
	if err != nil || len(got.Targets) != 4 {
		t.Fatalf("after deregistering: %+v, %v", got, err)
	}
}

func TestCredentialsFromEnvironmentAndFlags(t *testing.T) {
	t.Setenv(envSecretID, "env-id")
	t.Setenv(envSecretKey, "env-key")
	url := serve(t, "--rate", "0")
	ctx := context.Background()
	fleet, _ := clbsim.Generate(clbsim.DefaultGenerateSpec, 1)
	lb, l := fleet.LoadBalancers[0].LoadBalancerId, fleet.LoadBalancers[0].Listeners[0].ListenerId
	if _, err := client(t, url, "env-id", "env-key").DescribeTargets(ctx, lb, l); err != nil {
		t.Fatalf("environment credentials: %v", err)
	}
	_, err := client(t, url, clbsim.DefaultSecretID, clbsim.DefaultSecretKey).DescribeTargets(ctx, lb, l)
	if ce := clb.Classify("", err); ce == nil || ce.Code != "AuthFailure.SecretIdNotFound" {
		t.Fatalf("demo credentials with the environment set: %v", err)
	}

	url = serve(t, "--secret-id", "flag-id", "--secret-key", "flag-key")
	if _, err := client(t, url, "flag-id", "flag-key").DescribeTargets(ctx, lb, l); err != nil {
		t.Fatalf("flag credentials: %v", err)
	}
}

func TestServesAStateFile(t *testing.T) {
	url := serve(t, "--state", "../../internal/clbsim/testdata/fleet.json", "--region", "ap-guangzhou")
	got, err := client(t, url, clbsim.DefaultSecretID, clbsim.DefaultSecretKey).DescribeTargets(context.Background(), "lb-test0001", "lbl-http0001")
	if err != nil || len(got.Rules) != 2 {
		t.Fatalf("DescribeTargets: %+v, %v", got, err)
	}
}

func TestBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		{"--state", "a.json", "--generate", "lbs=1"},
		{"--generate", "lbs=x"},
		{"--faults", "Nothing:drop:1"},
		{"--dialect", "nonsense"},
		{"--dialect", "lock-code=Busy"},
		{"--generate", "rst=2"},
		{"--state", "nothere.json"},
		{"--rate", "-1"},
		{"--secret-id", ""},
		{"--task-latency", "-1s"},
		{"--health-delay", "-1s"},
		{"--unhealthy", "ins-abc12345"},
		{"--unhealthy", "host:80"},
		{"--unhealthy-share", "1.5"},
		{"--listen", "256.0.0.1:0"},
		{"extra"},
		{"--nonsense"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

func TestDialectFlag(t *testing.T) {
	url := serve(t, "--dialect", "plain-not-found,lock-code=FailedOperation.InvalidLBStatus", "--task-latency", "1h")
	c := client(t, url, clbsim.DefaultSecretID, clbsim.DefaultSecretKey)
	ctx := context.Background()
	_, err := c.DescribeTargets(ctx, "lb-nothere1", "lbl-nothere1")
	if ce := clb.Classify("", err); ce == nil || ce.Code != "InvalidParameter" {
		t.Fatalf("plain-not-found: %v", err)
	}
	fleet, _ := clbsim.Generate(clbsim.DefaultGenerateSpec, 1)
	lb, l := fleet.LoadBalancers[0], fleet.LoadBalancers[0].Listeners[0]
	sel := clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}
	if _, err := c.DeregisterTargets(ctx, sel, []clb.Target{{InstanceId: l.Targets[0].InstanceId, Port: l.Targets[0].Port}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeregisterTargets(ctx, sel, []clb.Target{{InstanceId: l.Targets[1].InstanceId, Port: l.Targets[1].Port}})
	if ce := clb.Classify("", err); ce == nil || ce.Code != "FailedOperation.InvalidLBStatus" {
		t.Fatalf("lock-code: %v", err)
	}
	resp, err := http.Get(url + "/_sim/dialect")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d clbsim.Dialect
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || !d.PlainNotFound || d.LockCode != "FailedOperation.InvalidLBStatus" || d.LowerCaseTypes {
		t.Errorf("GET /_sim/dialect = %+v, %v", d, err)
	}
}

func TestHelpDocumentsTheDialects(t *testing.T) {
	var help strings.Builder
	if err := run(context.Background(), []string{"-h"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v", err)
	}
	for _, key := range clbsim.DialectKeys {
		if !strings.Contains(help.String(), "  "+key) {
			t.Errorf("-h does not document the dialect %s", key)
		}
	}
	for _, want := range []string{"-dialect", "/_sim/dialect", "rst=SHARE", "idle=SECONDS", "-faults",
		"-health-delay", "-unhealthy", "-unhealthy-share",
		"/_sim/state", "/_sim/stats", "/_sim/audit", "/_sim/faults", "/_sim/lock", "/_sim/health ", "/_sim/health-model", "/_sim/reset"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
}

func TestHealthFlags(t *testing.T) {
	url := serve(t, "--state", "../../internal/clbsim/testdata/fleet.json", "--task-latency", "10ms",
		"--health-delay", "1h", "--unhealthy", " ins-aaaa0002:8080 ,10.0.1.5:8080")
	c := client(t, url, clbsim.DefaultSecretID, clbsim.DefaultSecretKey)
	ctx := context.Background()
	task, err := c.RegisterTargets(ctx, clb.Selector{LoadBalancerId: "lb-test0002", ListenerId: "lbl-udp00001"},
		[]clb.WeightedTarget{{Target: clb.Target{InstanceId: "ins-aaaa0001", Port: 53}, Weight: 10}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st, _ := c.DescribeTaskStatus(ctx, task); st.Status != clb.TaskSucceeded; st, _ = c.DescribeTaskStatus(ctx, task) {
		if time.Now().After(deadline) {
			t.Fatalf("task still %v", st.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	hs, err := c.DescribeTargetHealth(ctx, "lb-test0001", "lb-test0002")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range hs {
		got[h.ListenerId+" "+h.IP+" "+h.TargetId] = h.Detail
	}
	for k, want := range map[string]string{
		"lbl-tcp00001 10.0.0.1 ins-aaaa0001": clb.HealthAlive,
		"lbl-tcp00001 10.0.0.2 ins-aaaa0002": clb.HealthDead,
		"lbl-udp00001 10.0.0.1 ins-aaaa0001": clb.HealthUnknown,
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
	resp, err := http.Get(url + "/_sim/health-model")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m clbsim.HealthModel
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.Delay != time.Hour || len(m.Unhealthy) != 2 {
		t.Errorf("GET /_sim/health-model = %+v, %v", m, err)
	}
}
