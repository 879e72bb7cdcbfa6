package clbsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

const testRegion = "ap-guangzhou"

// fixture is testdata/fleet.json.
func fixture(t *testing.T) State {
	t.Helper()
	s, err := LoadStateFile("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start serves a Server over HTTP for the test and returns it with its
// address (host:port).
func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return srv, ts.Listener.Addr().String()
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

// teamClient is clbdrain's own client pointed at the emulator, with a rate
// far above the emulator's so that the emulator's limit is what is tested.
func teamClient(t *testing.T, addr string) *clb.Client {
	t.Helper()
	c, err := clb.NewClient(clb.Config{Region: testRegion, Endpoint: "http://" + addr,
		Credential: common.NewCredential(DefaultSecretID, DefaultSecretKey), RatePerAction: 10000, Burst: 100, Timeout: 5 * time.Second})
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

func weighted(t clb.Target, w int64) clb.WeightedTarget {
	return clb.WeightedTarget{Target: t, Weight: w}
}

// bound is the keys of what is bound to a listener or rule now, with
// weights.
func bound(s State, lbID, listenerID, locationID string) map[string]int64 {
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
				out[boundKey(normalizeBound(b))] = b.Weight
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
