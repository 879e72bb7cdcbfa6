package clbsim_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
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

const testRegion = clbsimtest.Region

// fixture is testdata/fleet.json.
func fixture(t *testing.T) clbsim.State {
	t.Helper()
	s, err := clbsim.LoadStateFile("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start serves an emulator for the test with clbsimtest and returns it
// with its address (host:port), for tests that call it by hand or with the
// official SDK.
func start(t *testing.T, cfg clbsim.Config) (*clbsim.Server, string) {
	t.Helper()
	_, srv, addr := startClient(t, cfg)
	return srv, addr
}

// startClient serves an emulator for the test with clbsimtest and returns
// clbdrain's own client pointed at it, with a rate far above the
// emulator's so that the emulator's limit is what is tested, the emulator
// and its address (host:port).
func startClient(t *testing.T, cfg clbsim.Config) (*clb.Client, *clbsim.Server, string) {
	t.Helper()
	c, srv := clbsimtest.Start(t, cfg, func(cc *clb.Config) {
		cc.RatePerAction, cc.Timeout = 10000, 5*time.Second
	})
	return c, srv, strings.TrimPrefix(c.Endpoint(), "http://")
}

// sdkClient is the official SDK client pointed at the emulator.
func sdkClient(t *testing.T, addr, secretID, secretKey string) *v20180317.Client {
	t.Helper()
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = addr
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.DisableRegionBreaker = true
	c, err := v20180317.NewClient(common.NewCredential(secretID, secretKey), testRegion, cpf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// codeOf is the Tencent error code of an SDK or clb error, "" for nil.
func codeOf(err error) string {
	var sdk *tcerr.TencentCloudSDKError
	var ce *clb.Error
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

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := codeOf(err); got != code {
		t.Fatalf("error code = %q, want %q (error: %v)", got, code, err)
	}
}

// signedRequest builds an API request signed by hand at time ts, for what
// the SDK will not send (an old timestamp, an unknown action).
func signedRequest(t *testing.T, addr, action, version string, body []byte, secretID, secretKey string, ts time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", version)
	req.Header.Set("X-TC-Region", testRegion)
	req.Header.Set("X-TC-Timestamp", stamp)
	payload := sha256.Sum256(body)
	canonical := "POST\n/\n\ncontent-type:application/json\nhost:" + addr + "\n\ncontent-type;host\n" + hex.EncodeToString(payload[:])
	date := ts.UTC().Format("2006-01-02")
	scope := date + "/clb/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + sha256Hex(canonical)
	k := hmacSHA256(hmacSHA256(hmacSHA256([]byte("TC3"+secretKey), date), "clb"), "tc3_request")
	sig := hex.EncodeToString(hmacSHA256(k, toSign))
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+secretID+"/"+scope+", SignedHeaders=content-type;host, Signature="+sig)
	return req
}

// apiAnswer is the envelope of any answer.
type apiAnswer struct {
	Response struct {
		Error *struct {
			Code    string
			Message string
		}
		RequestId string
	}
}

// send sends a raw request and decodes the envelope; the status must be 200.
func send(t *testing.T, req *http.Request) apiAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d, want 200", resp.StatusCode)
	}
	var a apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func errCode(a apiAnswer) string {
	if a.Response.Error == nil {
		return ""
	}
	return a.Response.Error.Code
}

// deregister unbinds targets through the team's client and returns the
// task id.
func deregister(t *testing.T, c *clb.Client, sel clb.Selector, targets ...clb.Target) string {
	t.Helper()
	id, err := c.DeregisterTargets(context.Background(), sel, targets)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ins(id string, port int64) clb.Target { return clb.Target{InstanceId: id, Port: port} }

// bound is the keys of what is bound to a listener or rule now, with
// weights.
func bound(s clbsim.State, lbID, listenerID, locationID string) map[string]int64 {
	out := map[string]int64{}
	for _, lb := range s.LoadBalancers {
		for _, l := range lb.Listeners {
			if lb.LoadBalancerId != lbID || l.ListenerId != listenerID {
				continue
			}
			targets := l.Targets
			for _, r := range l.Rules {
				if r.LocationId == locationID {
					targets = r.Targets
				}
			}
			for _, b := range targets {
				out[clbsim.RequestTargets([]clb.BoundTarget{b})[0].Key()] = b.Weight
			}
		}
	}
	return out
}

var (
	tcpSel  = clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-tcp00001"}
	ruleSel = clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-http0001", LocationId: "loc-rule0001"}
	udpSel  = clb.Selector{LoadBalancerId: "lb-test0002", ListenerId: "lbl-udp00001"}
)

func ptr[T any](v T) *T { return &v }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
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
		cfg.State = fixture(t)
	}
	if cfg.TaskLatency == 0 {
		cfg.TaskLatency = time.Second
	}
	clock := clbsim.NewManualClock(time.Now())
	cfg.Clock = clock
	client, sim := clbsimtest.Start(t, cfg)
	sdk := sdkClient(t, strings.TrimPrefix(client.Endpoint(), "http://"), clbsimtest.SecretID, clbsimtest.SecretKey)
	return &emulator{client: client, sim: sim, clock: clock, sdk: sdk}
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
