package clb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"golang.org/x/time/rate"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds one request to the API.
	DefaultTimeout = 10 * time.Second
	// DefaultRatePerAction is the documented limit of every action this
	// package calls: 20 requests per second per account.
	DefaultRatePerAction = 20.0
	// DefaultBurst is the only burst that keeps every 1-second window within
	// the rate; see Config.Burst.
	DefaultBurst = 1
)

// arrivalSlack is how late a request may reach the API without crowding
// the one-second window it was paced for. Each token bucket runs as if a
// second lasted this much longer (5% under its rate), so that requests
// delayed on their way, by scheduling or the network, never put one more
// than the rate into a window the API counts, even when several processes
// each pace at their exact share of the account's budget.
const arrivalSlack = 50 * time.Millisecond

// Environment variables of the default credential, read by NewClient when
// Config.Credential is nil.
const (
	EnvSecretID     = "TENCENTCLOUD_SECRET_ID"
	EnvSecretKey    = "TENCENTCLOUD_SECRET_KEY"
	EnvSessionToken = "TENCENTCLOUD_SESSION_TOKEN"
)

// financeRegions must be called on their own host; the SDK does not switch
// hosts by itself.
var financeRegions = map[string]bool{
	"ap-shanghai-fsi": true,
	"ap-shenzhen-fsi": true,
}

// ResolveEndpoint returns the CLB API host for region: the region's own
// host for the finance regions (clb.ap-shanghai-fsi.tencentcloudapi.com,
// clb.ap-shenzhen-fsi.tencentcloudapi.com), clb.tencentcloudapi.com for
// every other region (the region travels in the X-TC-Region header).
func ResolveEndpoint(region string) string {
	if financeRegions[region] {
		return "clb." + region + "." + tchttp.RootDomain
	}
	return "clb." + tchttp.RootDomain
}

// Config configures a Client.
type Config struct {
	// Region is required, such as ap-guangzhou.
	Region string
	// Endpoint overrides the host, for private endpoints and the local
	// emulator: "host[:port]" (HTTPS), "https://host[:port]" or
	// "http://host:port". Empty: ResolveEndpoint(Region) over HTTPS.
	Endpoint string
	// Credential signs the requests. Nil: the environment
	// (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and, for temporary
	// keys, TENCENTCLOUD_SESSION_TOKEN), then the rest of the SDK's default
	// chain: the profile file (~/.tencentcloud/credentials or
	// TENCENTCLOUD_CREDENTIALS_FILE), then the CVM role. Credentials come
	// from the worker's environment, never from workflow input.
	Credential common.CredentialIface
	// Timeout bounds each request, the wait for the rate limiter excluded.
	// Zero: DefaultTimeout.
	Timeout time.Duration
	// RatePerAction is each action's token bucket rate, in requests per
	// second, shared by every caller of the Client; the bucket runs 5%
	// under it, so that requests that reach the API a little late still
	// keep to it. Zero: DefaultRatePerAction. Workers that share an
	// account split the account's budget between them.
	RatePerAction float64
	// Burst is how many requests of one action may go at once after a quiet
	// spell. Zero: DefaultBurst (1), with which no 1-second window ever holds
	// more than RatePerAction requests; a burst of b lets b-1 more into some
	// windows, which the API answers with RequestLimitExceeded.
	Burst int
	// Transport carries the requests; nil: a clone of
	// http.DefaultTransport. Tests use it to stand in for the network.
	Transport http.RoundTripper
	// OnCall, when set, observes every request sent to the API, after its
	// answer: the action, the error code ("" on success) and how long the
	// request took. Calls that end while waiting for the rate limiter were
	// never sent and are not observed.
	OnCall func(action, code string, elapsed time.Duration)
}

// Client implements API (and RegisterTargets) on the official
// tencentcloud-sdk-go CLB client: the SDK builds, signs (TC3-HMAC-SHA256)
// and sends every request; the Client adds one token bucket per action, a
// per-request timeout, and turns every failure into a classified *Error.
// The SDK's own retries stay off: retrying is Temporal's job. Make one
// Client per process, so every activity shares its rate limits. A Client
// is safe for concurrent use.
type Client struct {
	sdk      *v20180317.Client
	endpoint string
	timeout  time.Duration
	limiters map[string]*rate.Limiter
	onCall   func(action, code string, elapsed time.Duration)
}

var _ API = (*Client)(nil)

// NewClient checks cfg, finds the credential, and builds a Client. Its
// errors name what is wrong and never hold a secret.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("clb: Config.Region is required, such as ap-guangzhou")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = ResolveEndpoint(cfg.Region)
	}
	scheme, host, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("clb: Config.Timeout %v must not be negative", timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}
	perSecond := cfg.RatePerAction
	switch {
	case math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond < 0:
		return nil, fmt.Errorf("clb: Config.RatePerAction %v must be a positive number of requests per second", perSecond)
	case perSecond == 0:
		perSecond = DefaultRatePerAction
	}
	burst := cfg.Burst
	switch {
	case burst < 0:
		return nil, fmt.Errorf("clb: Config.Burst %d must not be negative", burst)
	case burst == 0:
		burst = DefaultBurst
	}
	cred := cfg.Credential
	if cred == nil {
		if cred, err = defaultCredential(); err != nil {
			return nil, fmt.Errorf("clb: no usable Tencent Cloud credential: set %s and %s, a profile file, or a CVM role: %w",
				EnvSecretID, EnvSecretKey, err)
		}
	}
	if c, ok := cred.(*common.Credential); ok && (c.SecretId == "" || c.SecretKey == "") {
		return nil, errors.New("clb: the credential needs both a SecretId and a SecretKey")
	}

	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = host
	cpf.HttpProfile.Scheme = strings.ToUpper(scheme)
	// The per-request timeout travels in the request context, where its
	// expiry can be told apart from a network fault.
	cpf.HttpProfile.ReqTimeout = 0
	// The breaker would send requests to another region's host.
	cpf.DisableRegionBreaker = true
	cpf.NetworkFailureMaxRetries = 0
	cpf.RateLimitExceededMaxRetries = 0
	// Error messages end up in operators' logs and workflow histories.
	cpf.Language = "en-US"
	sdk, err := v20180317.NewClient(cred, cfg.Region, cpf)
	if err != nil {
		return nil, fmt.Errorf("clb: building the SDK client: %w", err)
	}
	transport := cfg.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection per concurrent caller instead of redialling.
		t.MaxIdleConnsPerHost = 32
		transport = t
	}
	sdk.WithHttpTransport(observingTransport{next: transport})
	sdk.WithRequestClient("clbdrain")

	limiters := make(map[string]*rate.Limiter)
	for _, action := range []string{ActionDeregisterTargets, ActionDescribeTaskStatus, ActionDescribeTargets,
		ActionModifyTargetWeight, ActionRegisterTargets} {
		limiters[action] = rate.NewLimiter(rate.Limit(perSecond*float64(time.Second)/float64(time.Second+arrivalSlack)), burst)
	}
	return &Client{
		sdk:      sdk,
		endpoint: scheme + "://" + host,
		timeout:  timeout,
		limiters: limiters,
		onCall:   cfg.OnCall,
	}, nil
}

// Endpoint is where the Client sends its requests, such as
// "https://clb.tencentcloudapi.com".
func (c *Client) Endpoint() string { return c.endpoint }

// parseEndpoint splits an endpoint into a scheme and a host[:port].
func parseEndpoint(endpoint string) (scheme, host string, err error) {
	// User information could hold a password: refuse it without echoing it.
	if strings.Contains(endpoint, "@") {
		return "", "", errors.New("clb: Config.Endpoint must not hold user information")
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	bad := func(why string) error {
		return fmt.Errorf("clb: Config.Endpoint %q %s; want host[:port], https://host[:port] or http://host:port", endpoint, why)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", "", bad("does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", bad("has scheme " + strconv.Quote(u.Scheme))
	case u.Hostname() == "":
		return "", "", bad("has no host")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return "", "", bad("has a path, query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", bad("has port " + strconv.Quote(p))
		}
	}
	return u.Scheme, u.Host, nil
}

// defaultCredential reads the environment itself, because the SDK's
// default chain ignores TENCENTCLOUD_SESSION_TOKEN, then falls back on
// that chain.
func defaultCredential() (common.CredentialIface, error) {
	id, key := os.Getenv(EnvSecretID), os.Getenv(EnvSecretKey)
	if id != "" && key != "" {
		return common.NewTokenCredential(id, key, os.Getenv(EnvSessionToken)), nil
	}
	return common.DefaultProviderChain().GetCredential()
}

// DescribeTargets returns one listener of a load balancer and what is
// bound to it now. A listener missing from the answer is an *Error with
// code InvalidParameter.ListenerIdNotFound.
func (c *Client) DescribeTargets(ctx context.Context, loadBalancerID, listenerID string) (Listener, error) {
	req := v20180317.NewDescribeTargetsRequest()
	req.LoadBalancerId = common.StringPtr(loadBalancerID)
	req.ListenerIds = []*string{common.StringPtr(listenerID)}
	resp := v20180317.NewDescribeTargetsResponse()
	var out Listener
	_, err := c.do(ctx, ActionDescribeTargets, req, resp, func() error {
		if resp.Response == nil {
			return malformed(ActionDescribeTargets, "", "the answer has no Response")
		}
		for _, l := range resp.Response.Listeners {
			if l != nil && value(l.ListenerId) == listenerID {
				out = listenerOf(l)
				return nil
			}
		}
		e := NewError(ActionDescribeTargets, "InvalidParameter.ListenerIdNotFound",
			"load balancer "+loadBalancerID+" has no listener "+listenerID)
		e.RequestId = value(resp.Response.RequestId)
		return e
	})
	if err != nil {
		return Listener{}, err
	}
	return out, nil
}

// DeregisterTargets unbinds targets from the listener or rule sel names, and returns the task id. LocationId, Domain
// and Url are sent as given: the API ignores Domain and Url when
// LocationId is set.
func (c *Client) DeregisterTargets(ctx context.Context, sel Selector, targets []Target) (string, error) {
	req := v20180317.NewDeregisterTargetsRequest()
	req.LoadBalancerId = common.StringPtr(sel.LoadBalancerId)
	req.ListenerId = common.StringPtr(sel.ListenerId)
	req.LocationId, req.Domain, req.Url = optional(sel.LocationId), optional(sel.Domain), optional(sel.Url)
	req.Targets = sdkTargets(targets)
	resp := v20180317.NewDeregisterTargetsResponse()
	return c.mutate(ctx, ActionDeregisterTargets, req, resp, func() *string {
		if resp.Response == nil {
			return nil
		}
		return resp.Response.RequestId
	})
}

// ModifyTargetWeight sets each target's own Weight, and returns the task
// id. The call's Weight, which the API requires, repeats the first one's.
func (c *Client) ModifyTargetWeight(ctx context.Context, sel Selector, targets []WeightedTarget) (string, error) {
	req := v20180317.NewModifyTargetWeightRequest()
	req.LoadBalancerId = common.StringPtr(sel.LoadBalancerId)
	req.ListenerId = common.StringPtr(sel.ListenerId)
	req.LocationId, req.Domain, req.Url = optional(sel.LocationId), optional(sel.Domain), optional(sel.Url)
	req.Targets = sdkWeightedTargets(targets)
	if len(targets) > 0 {
		req.Weight = common.Int64Ptr(targets[0].Weight)
	}
	resp := v20180317.NewModifyTargetWeightResponse()
	return c.mutate(ctx, ActionModifyTargetWeight, req, resp, func() *string {
		if resp.Response == nil {
			return nil
		}
		return resp.Response.RequestId
	})
}

// RegisterTargets binds targets with their weights to the listener or rule
// sel names, and returns the task id. It is not part of API: clbdrain never
// binds targets; tests and the demo do.
func (c *Client) RegisterTargets(ctx context.Context, sel Selector, targets []WeightedTarget) (string, error) {
	req := v20180317.NewRegisterTargetsRequest()
	req.LoadBalancerId = common.StringPtr(sel.LoadBalancerId)
	req.ListenerId = common.StringPtr(sel.ListenerId)
	req.LocationId, req.Domain, req.Url = optional(sel.LocationId), optional(sel.Domain), optional(sel.Url)
	req.Targets = sdkWeightedTargets(targets)
	resp := v20180317.NewRegisterTargetsResponse()
	return c.mutate(ctx, ActionRegisterTargets, req, resp, func() *string {
		if resp.Response == nil {
			return nil
		}
		return resp.Response.RequestId
	})
}

// taskStatusResponse is the answer of DescribeTaskStatus with the Message
// that the API gives for a failed task and SDK v1.0.1000 does not declare.
type taskStatusResponse struct {
	*tchttp.BaseResponse
	Response *struct {
		Status          *int64    `json:"Status"`
		Message         *string   `json:"Message"`
		LoadBalancerIds []*string `json:"LoadBalancerIds"`
		RequestId       *string   `json:"RequestId"`
	} `json:"Response"`
}

// DescribeTaskStatus reports the state of an async task, with the API's
// Message for a failed one.
func (c *Client) DescribeTaskStatus(ctx context.Context, taskID string) (TaskStatus, error) {
	req := v20180317.NewDescribeTaskStatusRequest()
	req.TaskId = common.StringPtr(taskID)
	resp := &taskStatusResponse{BaseResponse: &tchttp.BaseResponse{}}
	var out TaskStatus
	waited, err := c.do(ctx, ActionDescribeTaskStatus, req, resp, func() error {
		r := resp.Response
		if r == nil {
			return malformed(ActionDescribeTaskStatus, "", "the answer has no Response")
		}
		if r.Status == nil {
			return malformed(ActionDescribeTaskStatus, value(r.RequestId), "the answer has no Status")
		}
		out = TaskStatus{
			Status:          TaskState(*r.Status),
			Message:         value(r.Message),
			LoadBalancerIds: stringValues(r.LoadBalancerIds),
			RequestId:       value(r.RequestId),
		}
		return nil
	})
	if err != nil {
		return TaskStatus{}, err
	}
	out.Waited = waited
	return out, nil
}

// mutate runs an async action and returns its task id, the RequestId of
// its answer.
func (c *Client) mutate(ctx context.Context, action string, req tchttp.Request, resp tchttp.Response, requestID func() *string) (string, error) {
	var taskID string
	_, err := c.do(ctx, action, req, resp, func() error {
		taskID = value(requestID())
		if taskID == "" {
			return malformed(action, "", "the answer has no RequestId, the id of the task")
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return taskID, nil
}

// do waits for the action's token, sends req through the SDK within the
// per-request timeout, decodes the answer, reports the call to OnCall, and
// returns how long the request waited for the token, and any failure as a
// classified *Error.
func (c *Client) do(ctx context.Context, action string, req tchttp.Request, resp tchttp.Response, decode func() error) (time.Duration, error) {
	waited, err := waitForToken(ctx, c.limiters[action])
	if err != nil {
		return 0, Classify(action, err)
	}
	start := time.Now()
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{}
	req.SetContext(context.WithValue(callCtx, exchangeKey{}, ex))
	var failure *Error
	if err := c.sdk.Send(req, resp); err != nil {
		failure = classifySend(callCtx, action, err, ex)
	} else if err := decode(); err != nil {
		failure = Classify(action, err)
	}
	if c.onCall != nil {
		code := ""
		if failure != nil {
			code = failure.Code
		}
		c.onCall(action, code, time.Since(start))
	}
	if failure != nil {
		return waited, failure
	}
	return waited, nil
}

// waitForToken takes a token from lim, waiting for it as long as it takes,
// and returns how long that was: zero when a token was there. A wait that
// would outlast ctx's deadline is refused at once with an error wrapping
// context.DeadlineExceeded, and the token is given back.
func waitForToken(ctx context.Context, lim *rate.Limiter) (time.Duration, error) {
	r := lim.Reserve()
	delay := r.Delay()
	if delay == 0 {
		return 0, nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
		r.Cancel()
		return 0, fmt.Errorf("the rate limiter's next token is %v away, past the deadline: %w", delay, context.DeadlineExceeded)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return delay, nil
	case <-ctx.Done():
		r.Cancel()
		return 0, ctx.Err()
	}
}

// classifySend classifies an error of the SDK's Send. The SDK reports every
// failed round trip as ClientError.NetworkError with the cause flattened
// into its message, and reads a non-JSON answer (an HTTP 5xx from a proxy)
// as ClientError.ParseJsonError whatever its status; what the call's
// context and transport saw restores the cause: ClientError.Timeout,
// ClientError.Canceled, or ClientError.HttpStatusCodeError.
func classifySend(ctx context.Context, action string, err error, ex *exchange) *Error {
	var sdkErr *tcerr.TencentCloudSDKError
	if !errors.As(err, &sdkErr) || sdkErr.RequestId != "" || !strings.HasPrefix(sdkErr.Code, "ClientError.") {
		return Classify(action, err)
	}
	switch {
	case ctx.Err() != nil:
		return Classify(action, &roundTripError{message: sdkErr.Message, cause: ctx.Err()})
	case ex.err != nil:
		return Classify(action, &roundTripError{message: sdkErr.Message, cause: ex.err})
	case ex.status != 0 && ex.status != http.StatusOK:
		return Classify(action, tcerr.NewTencentCloudSDKError(CodeHTTPStatus,
			"the API answered HTTP "+ex.statusLine+": "+abbreviate(sdkErr.Message, 200), ""))
	}
	return Classify(action, err)
}

// roundTripError is a failed round trip: the SDK's message, and the cause
// that the message flattened.
type roundTripError struct {
	message string
	cause   error
}

func (e *roundTripError) Error() string { return e.message }
func (e *roundTripError) Unwrap() error { return e.cause }

// exchangeKey carries a call's *exchange in its request context.
type exchangeKey struct{}

// exchange is what the transport saw of one call.
type exchange struct {
	status     int
	statusLine string
	err        error
}

// observingTransport records each round trip's status or error in the
// exchange of its call.
type observingTransport struct{ next http.RoundTripper }

func (t observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		ex.err = err
		if resp != nil {
			ex.status, ex.statusLine = resp.StatusCode, resp.Status
		}
	}
	return resp, err
}

// malformed is an answer that lacks what the action must return.
func malformed(action, requestID, message string) *Error {
	e := NewError(action, CodeParseJSONError, message)
	e.RequestId = requestID
	return e
}

// abbreviate cuts s to at most n bytes on a rune boundary: an HTML error
// page does not belong in a workflow history.
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func sdkTarget(t Target) *v20180317.Target {
	return &v20180317.Target{InstanceId: optional(t.InstanceId), EniIp: optional(t.EniIp), Port: common.Int64Ptr(t.Port)}
}

func sdkTargets(targets []Target) []*v20180317.Target {
	out := make([]*v20180317.Target, 0, len(targets))
	for _, t := range targets {
		out = append(out, sdkTarget(t))
	}
	return out
}

func sdkWeightedTargets(targets []WeightedTarget) []*v20180317.Target {
	out := make([]*v20180317.Target, 0, len(targets))
	for _, t := range targets {
		st := sdkTarget(t.Target)
		st.Weight = common.Int64Ptr(t.Weight)
		out = append(out, st)
	}
	return out
}

func listenerOf(l *v20180317.ListenerBackend) Listener {
	out := Listener{
		ListenerId: value(l.ListenerId),
		Protocol:   value(l.Protocol),
		Port:       value(l.Port),
		Targets:    boundTargets(l.Targets),
	}
	for _, r := range l.Rules {
		if r == nil {
			continue
		}
		out.Rules = append(out.Rules, Rule{
			LocationId: value(r.LocationId),
			Domain:     value(r.Domain),
			Url:        value(r.Url),
			Targets:    boundTargets(r.Targets),
		})
	}
	return out
}

func boundTargets(in []*v20180317.Backend) []BoundTarget {
	var out []BoundTarget
	for _, b := range in {
		if b == nil {
			continue
		}
		out = append(out, BoundTarget{
			Type:               value(b.Type),
			InstanceId:         value(b.InstanceId),
			PrivateIpAddresses: stringValues(b.PrivateIpAddresses),
			Port:               value(b.Port),
			Weight:             value(b.Weight),
		})
	}
	return out
}

// value dereferences an optional field of the SDK: nil is the zero value.
func value[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// stringValues dereferences a list of the SDK, skipping nil entries.
func stringValues(in []*string) []string {
	var out []string
	for _, s := range in {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// optional is nil for "", so that empty fields are not sent.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
