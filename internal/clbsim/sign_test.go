package clbsim_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

func TestSignatureFailures(t *testing.T) {
	srv, addr := start(t, clbsim.Config{State: fixture(t), Credentials: map[string]string{"AKIDtest": "secret-1", "AKIDother": "secret-2"}})
	describe := func(c *v20180317.Client) error {
		req := v20180317.NewDescribeTargetsRequest()
		req.LoadBalancerId = common.StringPtr("lb-test0001")
		_, err := c.DescribeTargets(req)
		return err
	}
	if err := describe(sdkClient(t, addr, "AKIDtest", "secret-1")); err != nil {
		t.Fatalf("signed by the SDK: %v", err)
	}
	if err := describe(sdkClient(t, addr, "AKIDother", "secret-2")); err != nil {
		t.Fatalf("second credential: %v", err)
	}
	wantCode(t, describe(sdkClient(t, addr, "AKIDnobody", "secret-1")), "AuthFailure.SecretIdNotFound")
	wantCode(t, describe(sdkClient(t, addr, "AKIDtest", "secret-2")), "AuthFailure.SignatureFailure")
	// The default demo credentials are off when credentials are given.
	wantCode(t, describe(sdkClient(t, addr, clbsim.DefaultSecretID, clbsim.DefaultSecretKey)), "AuthFailure.SecretIdNotFound")

	body := []byte(`{"LoadBalancerId":"lb-test0001"}`)
	now := time.Now()
	for _, tc := range []struct {
		name string
		ts   time.Time
		edit func(*http.Request)
		code string
	}{
		{"signed by hand", now, nil, ""},
		{"four minutes old", now.Add(-4 * time.Minute), nil, ""},
		{"six minutes old", now.Add(-6 * time.Minute), nil, "AuthFailure.SignatureExpire"},
		{"six minutes ahead", now.Add(6 * time.Minute), nil, "AuthFailure.SignatureExpire"},
		{"timestamp changed after signing", now, func(r *http.Request) { r.Header.Set("X-TC-Timestamp", "1") }, "AuthFailure.SignatureExpire"},
		{"body changed after signing", now, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"LoadBalancerId":"lb-test0002"}`))
			r.ContentLength = int64(len(`{"LoadBalancerId":"lb-test0002"}`))
		}, "AuthFailure.SignatureFailure"},
		{"another host", now, func(r *http.Request) { r.Host = "clb.tencentcloudapi.com" }, "AuthFailure.SignatureFailure"},
		{"no Authorization", now, func(r *http.Request) { r.Header.Del("Authorization") }, "AuthFailure.InvalidAuthorization"},
		{"HmacSHA256", now, func(r *http.Request) { r.Header.Set("Authorization", "HmacSHA256 Signature=abc") }, "AuthFailure.InvalidAuthorization"},
		{"no timestamp", now, func(r *http.Request) { r.Header.Del("X-TC-Timestamp") }, "MissingParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, addr, clb.ActionDescribeTargets, clbsim.APIVersion, body, "AKIDtest", "secret-1", tc.ts)
			if tc.edit != nil {
				tc.edit(req)
			}
			a := send(t, req)
			if got := errCode(a); got != tc.code {
				t.Fatalf("code = %q, want %q (%+v)", got, tc.code, a.Response.Error)
			}
		})
	}
	errs := srv.Stats().Actions[clb.ActionDescribeTargets].Errors
	if errs["AuthFailure.SignatureExpire"] != 3 || errs["AuthFailure.SecretIdNotFound"] != 2 || errs["AuthFailure.SignatureFailure"] != 3 {
		t.Errorf("errors by code = %v", errs)
	}
}

func TestSignatureExpiresOnTheServerClock(t *testing.T) {
	clock := clbsim.NewManualClock(time.Now())
	c, _, _ := startClient(t, clbsim.Config{State: fixture(t), Clock: clock})
	if _, err := c.DescribeTargets(context.Background(), "lb-test0001", "lbl-tcp00001"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(clbsim.MaxClockSkew + time.Minute)
	_, err := c.DescribeTargets(context.Background(), "lb-test0001", "lbl-tcp00001")
	wantCode(t, err, "AuthFailure.SignatureExpire")
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestProtocol(t *testing.T) {
	_, addr := start(t, clbsim.Config{State: fixture(t), Region: testRegion})
	body := []byte(`{"LoadBalancerId":"lb-test0001"}`)
	for _, tc := range []struct {
		name    string
		action  string
		version string
		edit    func(*http.Request)
		code    string
	}{
		{"ok", clb.ActionDescribeTargets, clbsim.APIVersion, nil, ""},
		{"unknown action", "CreateLoadBalancer", clbsim.APIVersion, nil, "InvalidAction"},
		{"no action", "", clbsim.APIVersion, nil, "MissingParameter"},
		{"old version", clb.ActionDescribeTargets, "2017-03-12", nil, "NoSuchVersion"},
		{"no version", clb.ActionDescribeTargets, "", nil, "MissingParameter"},
		{"no region", clb.ActionDescribeTargets, clbsim.APIVersion, func(r *http.Request) { r.Header.Del("X-TC-Region") }, "MissingParameter"},
		{"another region", clb.ActionDescribeTargets, clbsim.APIVersion, func(r *http.Request) { r.Header.Set("X-TC-Region", "ap-shanghai") }, "InvalidParameter.RegionNotFound"},
		{"form body", clb.ActionDescribeTargets, clbsim.APIVersion, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, "UnsupportedProtocol"},
		{"GET", clb.ActionDescribeTargets, clbsim.APIVersion, func(r *http.Request) { r.Method = http.MethodGet }, "UnsupportedProtocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, addr, tc.action, tc.version, body, clbsimtest.SecretID, clbsimtest.SecretKey, time.Now())
			if tc.edit != nil {
				tc.edit(req)
			}
			a := send(t, req)
			if got := errCode(a); got != tc.code {
				t.Fatalf("code = %q, want %q (%+v)", got, tc.code, a.Response.Error)
			}
			if !uuidPattern.MatchString(a.Response.RequestId) {
				t.Errorf("RequestId %q is not a UUID", a.Response.RequestId)
			}
			if a.Response.Error != nil && a.Response.Error.Message == "" {
				t.Errorf("error without a message")
			}
		})
	}

	bad := signedRequest(t, addr, clb.ActionDescribeTargets, clbsim.APIVersion, []byte(`{"LoadBalancerId":42}`), clbsimtest.SecretID, clbsimtest.SecretKey, time.Now())
	if got := errCode(send(t, bad)); got != "InvalidParameter" {
		t.Errorf("wrong JSON type: code %q", got)
	}
	resp, err := http.Get("http://" + addr + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %d", resp.StatusCode)
	}
}
