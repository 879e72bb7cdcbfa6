package clb_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
)

const (
	testRegion    = "ap-guangzhou"
	testSecretID  = "AKIDclbdrainTestSecretId0001"
	testSecretKey = "clbdrainTestSecretKeyNeverSent"
)

// received is one request as the fake API saw it.
type received struct {
	Action string
	Host   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// fakeAPI is a minimal CLB API endpoint: it records every request and
// answers with answer (by default, success with a fresh RequestId).
type fakeAPI struct {
	*httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, got received)

	mu   sync.Mutex
	got  []received
	seen int
}

func newFakeAPI(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, got received)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answer: answer}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := received{Action: r.Header.Get("X-TC-Action"), Host: r.Host, Header: r.Header.Clone(), Body: body, At: time.Now()}
	f.mu.Lock()
	f.got = append(f.got, got)
	f.seen++
	n := f.seen
	f.mu.Unlock()
	if f.answer != nil {
		f.answer(w, r, got)
		return
	}
	reply(http.StatusOK, success(got.Action, "req-"+strconv.Itoa(n)))(w, r, got)
}

func (f *fakeAPI) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

// success is a minimal successful answer to action.
func success(action, requestID string) string {
	if action == clb.ActionDescribeTaskStatus {
		return `{"Response":{"Status":0,"RequestId":"` + requestID + `"}}`
	}
	return `{"Response":{"RequestId":"` + requestID + `"}}`
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request, received) {
	return func(w http.ResponseWriter, _ *http.Request, _ received) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func apiError(code, message, requestID string) string {
	return fmt.Sprintf(`{"Response":{"Error":{"Code":%q,"Message":%q},"RequestId":%q}}`, code, message, requestID)
}

// newTestClient is a Client of the fake API with a fixed credential and a
// rate limit high enough not to slow the test.
func newTestClient(t *testing.T, endpoint string, edit ...func(*clb.Config)) *clb.Client {
	t.Helper()
	cfg := clb.Config{
		Region:        testRegion,
		Endpoint:      endpoint,
		Credential:    common.NewCredential(testSecretID, testSecretKey),
		RatePerAction: 10000,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := clb.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// requireError asserts err is a *clb.Error with code and class, without the
// secret key anywhere in its text.
func requireError(t *testing.T, err error, action, code string, class clb.Class) *clb.Error {
	t.Helper()
	require.Error(t, err)
	var e *clb.Error
	require.ErrorAs(t, err, &e, "every error of the Client is a *clb.Error: %v", err)
	assert.Equal(t, action, e.Action)
	assert.Equal(t, code, e.Code, "message: %s", e.Message)
	assert.Equal(t, class, e.Class)
	assert.NotContains(t, err.Error(), testSecretKey)
	return e
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// assertSignedTC3 recomputes the TC3-HMAC-SHA256 signature of a request
// as the API does, from the secret key the test knows.
func assertSignedTC3(t *testing.T, got received, secretID, secretKey string) {
	t.Helper()
	ts := got.Header.Get("X-TC-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err, "X-TC-Timestamp")
	date := time.Unix(sec, 0).UTC().Format("2006-01-02")
	canonical := "POST\n/\n\ncontent-type:" + got.Header.Get("Content-Type") + "\nhost:" + got.Host +
		"\n\ncontent-type;host\n" + sha256hex(got.Body)
	scope := date + "/clb/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + ts + "\n" + scope + "\n" + sha256hex([]byte(canonical))
	key := hmacSHA256(hmacSHA256(hmacSHA256([]byte("TC3"+secretKey), date), "clb"), "tc3_request")
	want := "TC3-HMAC-SHA256 Credential=" + secretID + "/" + scope +
		", SignedHeaders=content-type;host, Signature=" + hex.EncodeToString(hmacSHA256(key, toSign))
	assert.Equal(t, want, got.Header.Get("Authorization"))
}

var testSelector = clb.Selector{
	LoadBalancerId: "lb-abc12345",
	ListenerId:     "lbl-abc12345",
	LocationId:     "loc-abc12345",
	Domain:         "www.example.com",
	Url:            "/api",
}

var testTargets = []clb.Target{
	{InstanceId: "ins-abc12345", Port: 80},
	{EniIp: "10.0.0.5", Port: 8080},
	{EniIp: "fd00::5", Port: 8080},
}

var testWeighted = []clb.WeightedTarget{
	{Target: testTargets[0], Weight: 30},
	{Target: testTargets[1], Weight: 10},
	{Target: testTargets[2], Weight: 0},
}

func TestClientSendsSignedRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		action   string
		call     func(*clb.Client) error
		wantBody string
	}{
		{
			action: clb.ActionDeregisterTargets,
			call: func(c *clb.Client) error {
				_, err := c.DeregisterTargets(ctx, testSelector, testTargets)
				return err
			},
			// LocationId goes with Domain and Url, as given.
			wantBody: `{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345","LocationId":"loc-abc12345",
				"Domain":"www.example.com","Url":"/api","Targets":[
				{"InstanceId":"ins-abc12345","Port":80},{"EniIp":"10.0.0.5","Port":8080},{"EniIp":"fd00::5","Port":8080}]}`,
		},
		{
			action: clb.ActionModifyTargetWeight,
			call: func(c *clb.Client) error {
				_, err := c.ModifyTargetWeight(ctx, testSelector, testWeighted)
				return err
			},
			// Each target's own weight; the call's repeats the first one's.
			wantBody: `{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345","LocationId":"loc-abc12345",
				"Domain":"www.example.com","Url":"/api","Weight":30,"Targets":[
				{"InstanceId":"ins-abc12345","Port":80,"Weight":30},{"EniIp":"10.0.0.5","Port":8080,"Weight":10},
				{"EniIp":"fd00::5","Port":8080,"Weight":0}]}`,
		},
		{
			action: clb.ActionDescribeTargets,
			call: func(c *clb.Client) error {
				_, err := c.DescribeTargets(ctx, "lb-abc12345", "lbl-abc12345")
				// The fake's answer lists no listener.
				requireError(t, err, clb.ActionDescribeTargets, "InvalidParameter.ListenerIdNotFound", clb.ClassCallerError)
				return nil
			},
			wantBody: `{"LoadBalancerId":"lb-abc12345","ListenerIds":["lbl-abc12345"]}`,
		},
		{
			action: clb.ActionDescribeTaskStatus,
			call: func(c *clb.Client) error {
				_, err := c.DescribeTaskStatus(ctx, "4d1df727-d61c-45bf-936b-cb0368fb2a7d")
				return err
			},
			wantBody: `{"TaskId":"4d1df727-d61c-45bf-936b-cb0368fb2a7d"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			api := newFakeAPI(t, nil)
			require.NoError(t, tt.call(newTestClient(t, api.URL)))
			got := api.requests()
			require.Len(t, got, 1)
			r := got[0]
			assert.Equal(t, tt.action, r.Action)
			assert.Equal(t, "2018-03-17", r.Header.Get("X-TC-Version"))
			assert.Equal(t, testRegion, r.Header.Get("X-TC-Region"))
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Contains(t, r.Header.Get("X-TC-RequestClient"), "clbdrain")
			assert.JSONEq(t, tt.wantBody, string(r.Body))
			assert.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "TC3-HMAC-SHA256 Credential="+testSecretID+"/"))
			assertSignedTC3(t, r, testSecretID, testSecretKey)
			for name, values := range r.Header {
				for _, v := range values {
					assert.NotContains(t, v, testSecretKey, "header %s", name)
				}
			}
			assert.NotContains(t, string(r.Body), testSecretKey)
		})
	}
}

func TestClientDecodesAnswers(t *testing.T) {
	ctx := context.Background()

	t.Run("DescribeTargets layer 4", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"Listeners":[
			{"ListenerId":"lbl-other001","Protocol":"UDP","Port":53,"Targets":[{"Type":"CVM","InstanceId":"ins-zzz99999","Port":53,"Weight":10}]},
			{"ListenerId":"lbl-abc12345","Protocol":"TCP","Port":80,"EndPort":0,"Rules":null,"Targets":[
				{"Type":"CVM","InstanceId":"ins-abc12345","Port":8080,"Weight":10,"PublicIpAddresses":["203.0.113.4"],
				 "PrivateIpAddresses":["10.0.0.4"],"InstanceName":"web-1","RegisteredTime":"2024-01-01 00:00:00","EniId":null,"Tag":null},
				{"Type":"ENI","InstanceId":"","Port":8080,"Weight":0,"PrivateIpAddresses":["10.0.0.5",null,"fd00::5"],"EniId":"eni-abc12345"}]}],
			"RequestId":"req-1"}}`))
		got, err := newTestClient(t, api.URL).DescribeTargets(ctx, "lb-abc12345", "lbl-abc12345")
		require.NoError(t, err)
		assert.Equal(t, clb.Listener{
			ListenerId: "lbl-abc12345",
			Protocol:   clb.ProtocolTCP,
			Port:       80,
			Targets: []clb.BoundTarget{
				{Type: "CVM", InstanceId: "ins-abc12345", PrivateIpAddresses: []string{"10.0.0.4"}, Port: 8080, Weight: 10},
				{Type: "ENI", PrivateIpAddresses: []string{"10.0.0.5", "fd00::5"}, Port: 8080, Weight: 0, EniId: "eni-abc12345"},
			},
		}, got)
	})

	t.Run("DescribeTargets layer 7", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"Listeners":[
			{"ListenerId":"lbl-http0001","Protocol":"HTTPS","Port":443,"Targets":null,"Rules":[
				{"LocationId":"loc-abc12345","Domain":"www.example.com","Url":"/api","FunctionTargets":null,
				 "Targets":[{"Type":"CVM","InstanceId":"ins-abc12345","Port":80,"Weight":10,"PrivateIpAddresses":["10.0.0.4"]}]},
				{"LocationId":"loc-empty001","Domain":"www.example.com","Url":"/static","Targets":null}]}],
			"RequestId":"req-2"}}`))
		got, err := newTestClient(t, api.URL).DescribeTargets(ctx, "lb-abc12345", "lbl-http0001")
		require.NoError(t, err)
		assert.Equal(t, clb.Listener{
			ListenerId: "lbl-http0001",
			Protocol:   clb.ProtocolHTTPS,
			Port:       443,
			Rules: []clb.Rule{
				{LocationId: "loc-abc12345", Domain: "www.example.com", Url: "/api", Targets: []clb.BoundTarget{
					{Type: "CVM", InstanceId: "ins-abc12345", PrivateIpAddresses: []string{"10.0.0.4"}, Port: 80, Weight: 10}}},
				{LocationId: "loc-empty001", Domain: "www.example.com", Url: "/static"},
			},
		}, got)
	})

	t.Run("DescribeTargets listener missing", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"Listeners":[],"RequestId":"req-3"}}`))
		_, err := newTestClient(t, api.URL).DescribeTargets(ctx, "lb-abc12345", "lbl-gone0001")
		e := requireError(t, err, clb.ActionDescribeTargets, "InvalidParameter.ListenerIdNotFound", clb.ClassCallerError)
		assert.Equal(t, "req-3", e.RequestID)
		assert.Contains(t, e.Message, "lbl-gone0001")
	})

	t.Run("DescribeTaskStatus failed task", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"Status":1,"Message":"backend ins-abc12345:80 is not bound",
			"LoadBalancerIds":["lb-abc12345"],"RequestId":"req-4"}}`))
		got, err := newTestClient(t, api.URL).DescribeTaskStatus(ctx, "task-1")
		require.NoError(t, err)
		assert.Equal(t, clb.TaskStatus{Status: clb.TaskFailed, Message: "backend ins-abc12345:80 is not bound",
			LoadBalancerIds: []string{"lb-abc12345"}, RequestID: "req-4"}, got)
	})

	t.Run("DescribeTaskStatus running", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"Status":2,"LoadBalancerIds":null,"RequestId":"req-5"}}`))
		got, err := newTestClient(t, api.URL).DescribeTaskStatus(ctx, "task-1")
		require.NoError(t, err)
		assert.Equal(t, clb.TaskStatus{Status: clb.TaskRunning, RequestID: "req-5"}, got)
	})

	t.Run("DescribeTaskStatus without Status", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"RequestId":"req-6"}}`))
		_, err := newTestClient(t, api.URL).DescribeTaskStatus(ctx, "task-1")
		e := requireError(t, err, clb.ActionDescribeTaskStatus, clb.CodeParseJSONError, clb.ClassTransient)
		assert.Equal(t, "req-6", e.RequestID)
	})

	mutations := map[string]func(*clb.Client) (string, error){
		clb.ActionDeregisterTargets: func(c *clb.Client) (string, error) {
			return c.DeregisterTargets(ctx, testSelector, testTargets)
		},
		clb.ActionModifyTargetWeight: func(c *clb.Client) (string, error) {
			return c.ModifyTargetWeight(ctx, testSelector, testWeighted)
		},
	}
	for action, call := range mutations {
		t.Run(action+" task id", func(t *testing.T) {
			api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"RequestId":"4d1df727-d61c-45bf-936b-cb0368fb2a7d"}}`))
			taskID, err := call(newTestClient(t, api.URL))
			require.NoError(t, err)
			assert.Equal(t, "4d1df727-d61c-45bf-936b-cb0368fb2a7d", taskID)
		})
		t.Run(action+" without RequestId", func(t *testing.T) {
			api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{}}`))
			taskID, err := call(newTestClient(t, api.URL))
			requireError(t, err, action, clb.CodeParseJSONError, clb.ClassTransient)
			assert.Empty(t, taskID)
		})
	}
}

func TestClientAPIErrors(t *testing.T) {
	ctx := context.Background()
	deregister := func(c *clb.Client) error {
		_, err := c.DeregisterTargets(ctx, testSelector, testTargets)
		return err
	}
	modify := func(c *clb.Client) error {
		_, err := c.ModifyTargetWeight(ctx, testSelector, testWeighted)
		return err
	}
	tests := []struct {
		name      string
		action    string
		call      func(*clb.Client) error
		status    int
		body      string
		wantCode  string
		wantClass clb.Class
		wantMsg   string
		wantReqID string
	}{
		{"busy", clb.ActionDeregisterTargets, deregister, 200,
			apiError("FailedOperation.ResourceInOperating", "Your task is working", "req-e1"),
			"FailedOperation.ResourceInOperating", clb.ClassBusy, "Your task is working", "req-e1"},
		{"not bound on deregister", clb.ActionDeregisterTargets, deregister, 200,
			apiError("InvalidParameter", "rs not bound", "req-e2"),
			"InvalidParameter", clb.ClassNotBound, "rs not bound", "req-e2"},
		{"invalid parameter reweighing", clb.ActionModifyTargetWeight, modify, 200,
			apiError("InvalidParameter", "bad weight", "req-e3"),
			"InvalidParameter", clb.ClassNotBound, "bad weight", "req-e3"},
		{"throttled", clb.ActionDeregisterTargets, deregister, 200,
			apiError("RequestLimitExceeded", "too many requests", "req-e4"),
			"RequestLimitExceeded", clb.ClassThrottled, "too many requests", "req-e4"},
		{"denied", clb.ActionModifyTargetWeight, modify, 200,
			apiError("AuthFailure.SignatureFailure", "signature mismatch", "req-e5"),
			"AuthFailure.SignatureFailure", clb.ClassDenied, "signature mismatch", "req-e5"},
		{"unknown code", clb.ActionDeregisterTargets, deregister, 200,
			apiError("SomethingNew.Sub", "something new", "req-e6"),
			"SomethingNew.Sub", clb.ClassUnknown, "something new", "req-e6"},
		{"API error with HTTP 500 keeps its code", clb.ActionDeregisterTargets, deregister, 500,
			apiError("InternalError", "internal error", "req-e7"),
			"InternalError", clb.ClassTransient, "internal error", "req-e7"},
		{"HTTP 502 page", clb.ActionDeregisterTargets, deregister, 502,
			"<html><body>" + strings.Repeat("bad gateway ", 100) + "</body></html>",
			clb.CodeHTTPStatus, clb.ClassTransient, "HTTP 502 Bad Gateway", ""},
		{"HTTP 503 empty", clb.ActionModifyTargetWeight, modify, 503, "",
			clb.CodeHTTPStatus, clb.ClassTransient, "HTTP 503 Service Unavailable", ""},
		{"HTTP 500 JSON without error", clb.ActionDeregisterTargets, deregister, 500, `{}`,
			clb.CodeHTTPStatus, clb.ClassTransient, "500", ""},
		{"not JSON with HTTP 200", clb.ActionDeregisterTargets, deregister, 200, "<html>",
			clb.CodeParseJSONError, clb.ClassTransient, "<html>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, reply(tt.status, tt.body))
			err := tt.call(newTestClient(t, api.URL))
			e := requireError(t, err, tt.action, tt.wantCode, tt.wantClass)
			assert.Contains(t, e.Message, tt.wantMsg)
			assert.Less(t, len(e.Message), 400, "a long error page is cut short")
			assert.Equal(t, tt.wantReqID, e.RequestID)
			assert.Len(t, api.requests(), 1, "the SDK's own retries stay off")
		})
	}
}

func TestClientNetworkFailures(t *testing.T) {
	t.Run("connection dropped", func(t *testing.T) {
		api := newFakeAPI(t, func(w http.ResponseWriter, _ *http.Request, _ received) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		})
		_, err := newTestClient(t, api.URL).DeregisterTargets(context.Background(), testSelector, testTargets)
		requireError(t, err, clb.ActionDeregisterTargets, clb.CodeNetworkError, clb.ClassTransient)
		assert.Len(t, api.requests(), 1, "a POST is never replayed")
	})

	t.Run("nothing listening", func(t *testing.T) {
		api := newFakeAPI(t, nil)
		endpoint := api.URL
		api.Close()
		_, err := newTestClient(t, endpoint).DescribeTaskStatus(context.Background(), "task-1")
		requireError(t, err, clb.ActionDescribeTaskStatus, clb.CodeNetworkError, clb.ClassTransient)
	})

	// hang answers when the client gives up.
	hang := func(_ http.ResponseWriter, r *http.Request, _ received) { <-r.Context().Done() }

	t.Run("request timeout", func(t *testing.T) {
		api := newFakeAPI(t, hang)
		c := newTestClient(t, api.URL, func(cfg *clb.Config) { cfg.Timeout = 50 * time.Millisecond })
		_, err := c.DeregisterTargets(context.Background(), testSelector, testTargets)
		requireError(t, err, clb.ActionDeregisterTargets, clb.CodeTimeout, clb.ClassTransient)
	})

	t.Run("caller's deadline", func(t *testing.T) {
		api := newFakeAPI(t, hang)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := newTestClient(t, api.URL).DescribeTargets(ctx, "lb-abc12345", "lbl-abc12345")
		e := requireError(t, err, clb.ActionDescribeTargets, clb.CodeTimeout, clb.ClassTransient)
		assert.ErrorIs(t, e, context.DeadlineExceeded)
	})

	t.Run("caller cancels", func(t *testing.T) {
		api := newFakeAPI(t, hang)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := newTestClient(t, api.URL).DescribeTaskStatus(ctx, "task-1")
		e := requireError(t, err, clb.ActionDescribeTaskStatus, clb.CodeCanceled, clb.ClassTransient)
		assert.ErrorIs(t, e, context.Canceled)
	})

	t.Run("deadline before the pacer's next start", func(t *testing.T) {
		api := newFakeAPI(t, nil)
		c := newTestClient(t, api.URL, func(cfg *clb.Config) { cfg.RatePerAction = 1 })
		_, err := c.DescribeTaskStatus(context.Background(), "task-1")
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.DescribeTaskStatus(ctx, "task-1")
		requireError(t, err, clb.ActionDescribeTaskStatus, clb.CodeTimeout, clb.ClassTransient)
		assert.Less(t, time.Since(start), 90*time.Millisecond, "no point waiting for a start past the deadline")
		assert.Len(t, api.requests(), 1)
	})
}

func TestClientOnCall(t *testing.T) {
	type observed struct {
		action, code string
		elapsed      time.Duration
	}
	var mu sync.Mutex
	var calls []observed
	api := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, got received) {
		if got.Action == clb.ActionDeregisterTargets {
			reply(http.StatusOK, apiError("FailedOperation.ResourceInOperating", "busy", "req-1"))(w, r, got)
			return
		}
		reply(http.StatusOK, success(got.Action, "req-2"))(w, r, got)
	})
	c := newTestClient(t, api.URL, func(cfg *clb.Config) {
		cfg.RatePerAction = 1
		cfg.OnCall = func(action, code string, elapsed time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, observed{action, code, elapsed})
		}
	})
	ctx := context.Background()
	_, err := c.DescribeTaskStatus(ctx, "task-1")
	require.NoError(t, err)
	_, err = c.DeregisterTargets(ctx, testSelector, testTargets)
	require.Error(t, err)
	// Never sent: the next DescribeTaskStatus start is a second away.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = c.DescribeTaskStatus(short, "task-1")
	require.Error(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 2)
	assert.Equal(t, clb.ActionDescribeTaskStatus, calls[0].action)
	assert.Equal(t, "", calls[0].code)
	assert.Equal(t, clb.ActionDeregisterTargets, calls[1].action)
	assert.Equal(t, "FailedOperation.ResourceInOperating", calls[1].code)
	for _, o := range calls {
		assert.Positive(t, o.elapsed)
	}
}

func TestResolveEndpoint(t *testing.T) {
	tests := map[string]string{
		"ap-shanghai-fsi":  "clb.ap-shanghai-fsi.tencentcloudapi.com",
		"ap-shenzhen-fsi":  "clb.ap-shenzhen-fsi.tencentcloudapi.com",
		"ap-guangzhou":     "clb.tencentcloudapi.com",
		"ap-shanghai":      "clb.tencentcloudapi.com",
		"ap-shenzhen":      "clb.tencentcloudapi.com",
		"ap-beijing":       "clb.tencentcloudapi.com",
		"na-siliconvalley": "clb.tencentcloudapi.com",
		"eu-frankfurt":     "clb.tencentcloudapi.com",
	}
	for region, want := range tests {
		assert.Equal(t, want, clb.ResolveEndpoint(region), region)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// rawHeader finds a header of an outgoing request whatever the case of its
// name: the SDK sets its headers without canonicalizing their names.
func rawHeader(h http.Header, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func TestNewClientResolvesTheEndpoint(t *testing.T) {
	for _, region := range []string{"ap-shanghai-fsi", "ap-shenzhen-fsi", "ap-guangzhou"} {
		t.Run(region, func(t *testing.T) {
			var got *http.Request
			c := newTestClient(t, "", func(cfg *clb.Config) {
				cfg.Region = region
				cfg.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
					got = r
					return &http.Response{
						StatusCode: http.StatusOK,
						Status:     "200 OK",
						Header:     http.Header{"Content-Type": {"application/json"}},
						Body:       io.NopCloser(strings.NewReader(success(clb.ActionDescribeTaskStatus, "req-1"))),
						Request:    r,
					}, nil
				})
			})
			want := clb.ResolveEndpoint(region)
			assert.Equal(t, "https://"+want, c.Endpoint())
			_, err := c.DescribeTaskStatus(context.Background(), "task-1")
			require.NoError(t, err)
			require.NotNil(t, got)
			assert.Equal(t, "https", got.URL.Scheme)
			assert.Equal(t, want, got.URL.Host)
			assert.Equal(t, region, rawHeader(got.Header, "X-TC-Region"))
		})
	}
}

func TestNewClientEndpointForms(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply(http.StatusOK, success(r.Header.Get("X-TC-Action"), "req-1"))(w, r, received{})
	}))
	t.Cleanup(tls.Close)
	hostPort := strings.TrimPrefix(tls.URL, "https://")
	for _, endpoint := range []string{hostPort, "https://" + hostPort, "https://" + hostPort + "/"} {
		t.Run(endpoint, func(t *testing.T) {
			c := newTestClient(t, endpoint, func(cfg *clb.Config) { cfg.Transport = tls.Client().Transport })
			assert.Equal(t, "https://"+hostPort, c.Endpoint())
			_, err := c.DescribeTaskStatus(context.Background(), "task-1")
			require.NoError(t, err)
		})
	}
	api := newFakeAPI(t, nil)
	c := newTestClient(t, api.URL)
	assert.Equal(t, api.URL, c.Endpoint())
}

func TestNewClientErrors(t *testing.T) {
	valid := func() clb.Config {
		return clb.Config{Region: testRegion, Credential: common.NewCredential(testSecretID, testSecretKey)}
	}
	tests := []struct {
		name string
		edit func(*clb.Config)
		want string
	}{
		{"no region", func(c *clb.Config) { c.Region = "" }, "Config.Region is required"},
		{"ftp endpoint", func(c *clb.Config) { c.Endpoint = "ftp://clb.example.com" }, `has scheme "ftp"`},
		{"no host", func(c *clb.Config) { c.Endpoint = "http://" }, "has no host"},
		{"port only", func(c *clb.Config) { c.Endpoint = "http://:8080" }, "has no host"},
		{"path", func(c *clb.Config) { c.Endpoint = "http://127.0.0.1:8080/clb" }, "has a path, query or fragment"},
		{"query", func(c *clb.Config) { c.Endpoint = "https://clb.example.com?x=1" }, "has a path, query or fragment"},
		{"bad port", func(c *clb.Config) { c.Endpoint = "127.0.0.1:99999" }, `has port "99999"`},
		{"port zero", func(c *clb.Config) { c.Endpoint = "http://127.0.0.1:0" }, `has port "0"`},
		{"not a port", func(c *clb.Config) { c.Endpoint = "127.0.0.1:http" }, "does not parse"},
		{"spaces", func(c *clb.Config) { c.Endpoint = "clb example com" }, "does not parse"},
		{"user information", func(c *clb.Config) { c.Endpoint = "https://admin:" + testSecretKey + "@clb.example.com" }, "must not hold user information"},
		{"negative timeout", func(c *clb.Config) { c.Timeout = -time.Second }, "Config.Timeout -1s must not be negative"},
		{"negative rate", func(c *clb.Config) { c.RatePerAction = -1 }, "Config.RatePerAction -1 must be a positive number"},
		{"NaN rate", func(c *clb.Config) { c.RatePerAction = nan() }, "Config.RatePerAction NaN"},
		{"credential without key", func(c *clb.Config) { c.Credential = common.NewCredential(testSecretID, "") }, "needs both a SecretId and a SecretKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.edit(&cfg)
			c, err := clb.NewClient(cfg)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), testSecretKey)
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// clearCredentialEnv leaves the default chain nothing but what the test
// sets: no variables, and a home without a profile file.
func clearCredentialEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{clb.EnvSecretID, clb.EnvSecretKey, clb.EnvSessionToken, common.EnvCredentialFile} {
		t.Setenv(k, "")
		require.NoError(t, os.Unsetenv(k))
	}
	t.Setenv("HOME", t.TempDir())
}

func TestNewClientDefaultCredential(t *testing.T) {
	newClient := func(t *testing.T, endpoint string) (*clb.Client, error) {
		return clb.NewClient(clb.Config{Region: testRegion, Endpoint: endpoint})
	}

	t.Run("environment", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv(clb.EnvSecretID, "AKIDfromEnvironment")
		t.Setenv(clb.EnvSecretKey, "keyFromEnvironment")
		api := newFakeAPI(t, nil)
		c, err := newClient(t, api.URL)
		require.NoError(t, err)
		_, err = c.DescribeTaskStatus(context.Background(), "task-1")
		require.NoError(t, err)
		got := api.requests()
		require.Len(t, got, 1)
		assertSignedTC3(t, got[0], "AKIDfromEnvironment", "keyFromEnvironment")
		assert.Empty(t, got[0].Header.Get("X-TC-Token"))
	})

	t.Run("environment with session token", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv(clb.EnvSecretID, "AKIDtemporary")
		t.Setenv(clb.EnvSecretKey, "temporaryKey")
		t.Setenv(clb.EnvSessionToken, "sessionToken1")
		api := newFakeAPI(t, nil)
		c, err := newClient(t, api.URL)
		require.NoError(t, err)
		_, err = c.DescribeTaskStatus(context.Background(), "task-1")
		require.NoError(t, err)
		got := api.requests()
		require.Len(t, got, 1)
		assertSignedTC3(t, got[0], "AKIDtemporary", "temporaryKey")
		assert.Equal(t, "sessionToken1", got[0].Header.Get("X-TC-Token"))
	})

	t.Run("profile file", func(t *testing.T) {
		clearCredentialEnv(t)
		file := filepath.Join(t.TempDir(), "credentials")
		require.NoError(t, os.WriteFile(file, []byte("[default]\nsecret_id = AKIDfromProfile\nsecret_key = keyFromProfile\n"), 0o600))
		t.Setenv(common.EnvCredentialFile, file)
		api := newFakeAPI(t, nil)
		c, err := newClient(t, api.URL)
		require.NoError(t, err)
		_, err = c.DescribeTaskStatus(context.Background(), "task-1")
		require.NoError(t, err)
		got := api.requests()
		require.Len(t, got, 1)
		assertSignedTC3(t, got[0], "AKIDfromProfile", "keyFromProfile")
	})

	t.Run("empty key in the environment", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv(clb.EnvSecretID, "AKIDfromEnvironment")
		t.Setenv(clb.EnvSecretKey, "")
		_, err := newClient(t, "")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no usable Tencent Cloud credential")
		var sdkErr interface{ GetCode() string }
		require.ErrorAs(t, err, &sdkErr)
		assert.Equal(t, clb.CodeNoCredential, sdkErr.GetCode())
	})

	t.Run("profile without key", func(t *testing.T) {
		clearCredentialEnv(t)
		file := filepath.Join(t.TempDir(), "credentials")
		require.NoError(t, os.WriteFile(file, []byte("[default]\nsecret_id = AKIDfromProfile\n"), 0o600))
		t.Setenv(common.EnvCredentialFile, file)
		_, err := newClient(t, "")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no usable Tencent Cloud credential")
		assert.Contains(t, err.Error(), "secret_key")
	})

	t.Run("none anywhere", func(t *testing.T) {
		clearCredentialEnv(t)
		c, err := newClient(t, "")
		if err == nil {
			require.NotNil(t, c)
			t.Skip("this machine has a CVM role, so the default chain finds a credential")
		}
		assert.Contains(t, err.Error(), "no usable Tencent Cloud credential: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY")
		assert.Equal(t, clb.CodeNoCredential, clb.Classify("", err).Code)
	})
}

// echoRequest is the whole request as the server got it: the request
// line, every header with its value, and the body.
func echoRequest(r *http.Request, got received) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.URL, r.Proto)
	_ = got.Header.Write(&b)
	b.Write(got.Body)
	return b.String()
}

// TestClientErrorsNeverHoldASecret has the server echo the whole request,
// Authorization (with the SecretId) and X-TC-Token (the session token)
// included, into its answer: an error page, a non-JSON answer, and an API
// error whose Message quotes the request. The errors the Client returns
// quote the answer, with no secret in their text, in any error they wrap,
// in what OnCall observes or in what the client logs; a secret cut by the
// abbreviation of a long page is removed whole first.
func TestClientErrorsNeverHoldASecret(t *testing.T) {
	const token = "clbdrainTestSessionToken0001"
	secrets := []string{testSecretID, testSecretKey, token}
	answers := map[string]func(w http.ResponseWriter, r *http.Request, got received){
		"HTTP 502 page": func(w http.ResponseWriter, r *http.Request, got received) {
			reply(http.StatusBadGateway, "echo: "+echoRequest(r, got))(w, r, got)
		},
		"HTTP 200 not JSON": func(w http.ResponseWriter, r *http.Request, got received) {
			reply(http.StatusOK, "echo: "+echoRequest(r, got))(w, r, got)
		},
		"API error quoting the request": func(w http.ResponseWriter, r *http.Request, got received) {
			reply(http.StatusOK, apiError("InvalidParameterValue", "echo: "+echoRequest(r, got), "req-1"))(w, r, got)
		},
		"HTTP 500 API error quoting the request": func(w http.ResponseWriter, r *http.Request, got received) {
			reply(http.StatusInternalServerError, apiError("InternalError", "echo: "+echoRequest(r, got), "req-1"))(w, r, got)
		},
	}
	// Pages that put the SecretId and the token across the point where a
	// long page is cut.
	for pad := 100; pad < 300; pad += 7 {
		answers[fmt.Sprint("HTTP 502 page, secrets after ", pad, " bytes")] = func(w http.ResponseWriter, r *http.Request, got received) {
			auth := rawHeader(got.Header, "Authorization")
			reply(http.StatusBadGateway, strings.Repeat("x", pad)+auth+" "+token+strings.Repeat("y", 300))(w, r, got)
		}
	}
	var logged strings.Builder
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			var observed []string
			api := newFakeAPI(t, answer)
			c := newTestClient(t, api.URL, func(cfg *clb.Config) {
				cfg.Credential = common.NewTokenCredential(testSecretID, testSecretKey, token)
				cfg.OnCall = func(action, code string, _ time.Duration) { observed = append(observed, action+" "+code) }
			})
			_, err := c.DeregisterTargets(context.Background(), testSelector, testTargets)
			require.Error(t, err)
			require.Equal(t, token, rawHeader(api.requests()[0].Header, "X-TC-Token"), "the request carried the token")
			texts := []string{err.Error(), fmt.Sprintf("%+v", err), strings.Join(observed, "\n"), logged.String()}
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
			}
			var ce *clb.Error
			require.ErrorAs(t, err, &ce)
			texts = append(texts, ce.Message)
			if strings.HasPrefix(name, "HTTP 502 page,") {
				assert.Contains(t, ce.Message, "xxx", "the page is quoted")
			} else {
				assert.Contains(t, ce.Message, "echo: POST", "the answer is quoted")
			}
			requireNoSecret(t, texts, secrets)
		})
	}

	t.Run("transport error quoting the request", func(t *testing.T) {
		c := newTestClient(t, "http://127.0.0.1:9", func(cfg *clb.Config) {
			cfg.Credential = common.NewTokenCredential(testSecretID, testSecretKey, token)
			cfg.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return nil, fmt.Errorf("proxy refused the request with Authorization %s and X-TC-Token %s",
					rawHeader(r.Header, "Authorization"), rawHeader(r.Header, "X-TC-Token"))
			})
		})
		_, err := c.DeregisterTargets(context.Background(), testSelector, testTargets)
		requireError(t, err, clb.ActionDeregisterTargets, clb.CodeNetworkError, clb.ClassTransient)
		texts := []string{err.Error(), fmt.Sprintf("%+v", err), logged.String()}
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
		}
		assert.Contains(t, err.Error(), "proxy refused the request with Authorization [redacted]")
		requireNoSecret(t, texts, secrets)
	})
}

// requireNoSecret fails when any text holds a secret, whole or its first
// 12 bytes.
func requireNoSecret(t *testing.T, texts, secrets []string) {
	t.Helper()
	for _, text := range texts {
		for _, secret := range secrets {
			require.NotContains(t, text, secret)
			require.NotContains(t, text, secret[:12], "a cut secret")
		}
	}
}

// TestClientReportsTheWaitForItsStart: DescribeTaskStatus says how long the
// call waited for its start from the pacer, so that a caller knows when the status held.
// The bounds are orderings of the monotonic clock, not tolerances: the
// second call cannot start before one interval after the first
// call started, nor report a wait longer than the call itself took. (A
// stall of the machine longer than the interval between the two calls
// would leave no wait to report.)
func TestClientReportsTheWaitForItsStart(t *testing.T) {
	// At 1/s, the pacer lets one request start in any 1.051 s.
	const interval = 1051 * time.Millisecond
	api := newFakeAPI(t, nil)
	c := newTestClient(t, api.URL, func(cfg *clb.Config) { cfg.RatePerAction = 1 })
	ctx := context.Background()

	before := time.Now()
	first, err := c.DescribeTaskStatus(ctx, "task-1")
	require.NoError(t, err)
	assert.Zero(t, first.Waited, "a token was there")
	between := time.Now()
	second, err := c.DescribeTaskStatus(ctx, "task-1")
	require.NoError(t, err)
	after := time.Now()
	assert.GreaterOrEqual(t, second.Waited, interval-between.Sub(before), "the wait for the second token")
	assert.LessOrEqual(t, second.Waited, after.Sub(between), "no longer than the call")

	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), interval-between.Sub(before))
}

// TestClientRefusesABackendWithoutWeight: a weight the answer leaves out is
// not taken for 0 (which would skip the target's drain and restore it to
// 0): the answer is malformed, a transient error that is retried.
func TestClientRefusesABackendWithoutWeight(t *testing.T) {
	for name, backend := range map[string]string{
		"layer 4": `"Targets":[{"Type":"CVM","InstanceId":"ins-abc12345","Port":80}]`,
		"layer 7": `"Rules":[{"LocationId":"loc-abc12345","Domain":"a.example.com","Url":"/","Targets":[
			{"Type":"CVM","InstanceId":"ins-abc12345","Port":80,"Weight":10},{"Type":"ENI","PrivateIpAddresses":["10.0.0.5"],"Port":80}]}]`,
	} {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"Listeners":[{"ListenerId":"lbl-abc12345","Protocol":"TCP","Port":80,`+
				backend+`}],"RequestId":"req-1"}}`))
			_, err := newTestClient(t, api.URL).DescribeTargets(context.Background(), "lb-abc12345", "lbl-abc12345")
			e := requireError(t, err, clb.ActionDescribeTargets, clb.CodeParseJSONError, clb.ClassTransient)
			assert.Contains(t, e.Message, "has no Weight")
		})
	}
}
