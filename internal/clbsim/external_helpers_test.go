package clbsim_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

// The tests of this file's package stand up the emulator with clbsimtest
// (which the package's internal tests cannot import: it imports clbsim).

// testFleet is testdata/fleet.json.
func testFleet(t *testing.T) clbsim.State {
	t.Helper()
	s, err := clbsim.LoadStateFile("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// emulator is the emulator of a test on a manual clock, with the production
// client and the official SDK client pointed at it.
type emulator struct {
	client *clb.Client
	sim    *clbsim.Server
	clock  *clbsim.ManualClock
	sdk    *v20180317.Client
}

// startWith serves cfg (the test fleet when cfg.State is empty, tasks of
// 1s unless set) on a manual clock near the wall clock.
func startWith(t *testing.T, cfg clbsim.Config) *emulator {
	t.Helper()
	if len(cfg.State.LoadBalancers) == 0 {
		cfg.State = testFleet(t)
	}
	if cfg.TaskLatency == 0 {
		cfg.TaskLatency = time.Second
	}
	clock := clbsim.NewManualClock(time.Now())
	cfg.Clock = clock
	client, sim := clbsimtest.Start(t, cfg)
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = strings.TrimPrefix(client.Endpoint(), "http://")
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.DisableRegionBreaker = true
	sdk, err := v20180317.NewClient(common.NewCredential(clbsimtest.SecretID, clbsimtest.SecretKey), clbsimtest.Region, cpf)
	if err != nil {
		t.Fatal(err)
	}
	return &emulator{client: client, sim: sim, clock: clock, sdk: sdk}
}

// apiCode is the Tencent error code of a clb or SDK error, "" for nil.
func apiCode(err error) string {
	var ce *clb.Error
	var sdk *tcerr.TencentCloudSDKError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.Code
	case errors.As(err, &sdk):
		return sdk.Code
	}
	return "not an API error: " + err.Error()
}

func wantAPICode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error code = %q, want %q (error: %v)", got, code, err)
	}
}

// describeTargets is DescribeTargets through the SDK, as on the wire.
func (e *emulator) describeTargets(t *testing.T, lbID string, listenerIDs ...string) []*v20180317.ListenerBackend {
	t.Helper()
	req := v20180317.NewDescribeTargetsRequest()
	req.LoadBalancerId = common.StringPtr(lbID)
	req.ListenerIds = common.StringPtrs(listenerIDs)
	resp, err := e.sdk.DescribeTargets(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Response.Listeners
}

// admin sends a request to an admin route and returns the status and body.
func (e *emulator) admin(t *testing.T, method, route, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.client.Endpoint()+"/_sim/"+route, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var (
	tcpListener = clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-tcp00001"}
	udpListener = clb.Selector{LoadBalancerId: "lb-test0002", ListenerId: "lbl-udp00001"}
)

func cvm(id string, port int64) clb.Target { return clb.Target{InstanceId: id, Port: port} }
