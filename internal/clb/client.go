package clb

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds one request to the API.
	DefaultTimeout = 10 * time.Second
	// DefaultRatePerAction is the documented limit of every action this
	// package calls: 20 requests per second per account.
	DefaultRatePerAction = 20.0
)

// arrivalSlack is how late a request may reach the API after it starts:
// pacers count a second's requests over a second and this much more
// (pacingWindow), so that late arrivals never crowd a second at the API.
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
	// RatePerAction is each action's rate, in requests per second, shared
	// by every caller of the Client. Zero: DefaultRatePerAction. At most
	// its whole part (one, below 1/s) of an action's requests start in any
	// window of a second and arrivalSlack, so no second at the API (late
	// arrivals included) holds more: 6.67 lets 6 into any second, as 6
	// would. Requests that find room in that window start at once; those
	// that queue start evenly spread over it (newPacer). Workers that share an account split the
	// budget between them; rates that add up to at most the budget keep
	// the fleet within it.
	RatePerAction float64
	// Transport carries the requests; nil: a clone of
	// http.DefaultTransport. Tests use it to stand in for the network.
	Transport http.RoundTripper
	// OnCall, when set, observes every request sent to the API, after its
	// answer: the action, the error code ("" on success) and how long the
	// request took. Calls that end while waiting for the rate limiter were
	// never sent and are not observed.
	OnCall func(action, code string, elapsed time.Duration)
}

// Client implements API, and TargetRegistrar, BatchWeighter,
// ListenerReader, HealthReader and LoadBalancerReader, on the official CLB
// SDK, which builds, signs and sends every request with its own retries off. It
// adds a pacer per action (its share of the budget), a per-request timeout and a classified
// *Error for every failure. Make one per process so that every activity
// shares its pacers; it is safe for concurrent use.
type Client struct {
	sdk      *v20180317.Client
	cred     common.CredentialIface
	endpoint string
	timeout  time.Duration
	pacers   map[string]*pacer
	onCall   func(action, code string, elapsed time.Duration)
}

var _ API = (*Client)(nil)

// NewClient checks cfg, finds the credential, and builds a Client. Its
// errors name what is wrong and never hold a secret.
func NewClient(cfg Config) (*Client, error) {
	set, err := settingsOf(cfg)
	if err != nil {
		return nil, err
	}
	cred, err := credentialOf(cfg.Credential)
	if err != nil {
		return nil, err
	}
	sdk, err := newSDK(cred, cfg.Region, set.scheme, set.host, cfg.Transport)
	if err != nil {
		return nil, err
	}
	return &Client{
		sdk:      sdk,
		cred:     cred,
		endpoint: set.scheme + "://" + set.host,
		timeout:  set.timeout,
		pacers:   newPacers(set.perSecond),
		onCall:   cfg.OnCall,
	}, nil
}

// settings are the checked values of a Config, defaults filled in.
type settings struct {
	scheme, host string
	timeout      time.Duration
	perSecond    float64
}

// settingsOf checks cfg's region, endpoint, timeout and rate.
func settingsOf(cfg Config) (settings, error) {
	var set settings
	if cfg.Region == "" {
		return set, errors.New("clb: Config.Region is required, such as ap-guangzhou")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = ResolveEndpoint(cfg.Region)
	}
	var err error
	if set.scheme, set.host, err = parseEndpoint(endpoint); err != nil {
		return set, err
	}
	switch set.timeout = cfg.Timeout; {
	case set.timeout < 0:
		return set, fmt.Errorf("clb: Config.Timeout %v must not be negative", set.timeout)
	case set.timeout == 0:
		set.timeout = DefaultTimeout
	}
	switch set.perSecond = cfg.RatePerAction; {
	case math.IsNaN(set.perSecond) || math.IsInf(set.perSecond, 0) || set.perSecond < 0:
		return set, fmt.Errorf("clb: Config.RatePerAction %v must be a positive number of requests per second", set.perSecond)
	case set.perSecond == 0:
		set.perSecond = DefaultRatePerAction
	}
	return set, nil
}

// credentialOf is cred, or the default credential when cred is nil,
// checked to have both its halves.
func credentialOf(cred common.CredentialIface) (common.CredentialIface, error) {
	if cred == nil {
		var err error
		if cred, err = defaultCredential(); err != nil {
			return nil, fmt.Errorf("clb: no usable Tencent Cloud credential: set %s and %s, a profile file, or a CVM role: %w",
				EnvSecretID, EnvSecretKey, err)
		}
	}
	if c, ok := cred.(*common.Credential); ok && (c.SecretId == "" || c.SecretKey == "") {
		return nil, errors.New("clb: the credential needs both a SecretId and a SecretKey")
	}
	return cred, nil
}

// newSDK builds the SDK client for one host, with its own retries, region
// breaker and debug dumps off, over transport (nil: a clone of
// http.DefaultTransport) observed for classifySend.
func newSDK(cred common.CredentialIface, region, scheme, host string, transport http.RoundTripper) (*v20180317.Client, error) {
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
	// The debug dump logs every request with its Authorization header.
	cpf.Debug = false
	sdk, err := v20180317.NewClient(cred, region, cpf)
	if err != nil {
		return nil, fmt.Errorf("clb: building the SDK client: %w", err)
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection per concurrent caller instead of redialling.
		t.MaxIdleConnsPerHost = 32
		transport = t
	}
	// What little the SDK logs goes where the program's own log goes.
	sdk.WithLogger(log.Default())
	sdk.WithHttpTransport(observingTransport{next: transport})
	sdk.WithRequestClient("clbdrain")
	return sdk, nil
}

// newPacers builds the pacer of each action the Client calls (newPacer):
// the requests of a quiet spell start at once, those that queue evenly
// spread.
func newPacers(perSecond float64) map[string]*pacer {
	pacers := make(map[string]*pacer)
	for _, action := range append([]string{ActionDeregisterTargets, ActionDescribeTaskStatus, ActionDescribeTargets,
		ActionModifyTargetWeight, ActionRegisterTargets}, moreActions...) {
		pacers[action] = newPacer(perSecond)
	}
	return pacers
}

// pacingWindow is the span in which a pacer lets one second's requests
// start: the second, arrivalSlack for requests that reach the API late,
// and a millisecond of margin.
const pacingWindow = time.Second + arrivalSlack + time.Millisecond

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
				if b := withoutWeight(l); b != nil {
					return malformed(ActionDescribeTargets, value(resp.Response.RequestId),
						"backend "+value(b.InstanceId)+strings.Join(stringValues(b.PrivateIpAddresses), ",")+" has no Weight")
				}
				out = listenerOf(l)
				return nil
			}
		}
		e := NewError(ActionDescribeTargets, "InvalidParameter.ListenerIdNotFound",
			"load balancer "+loadBalancerID+" has no listener "+listenerID)
		e.RequestID = value(resp.Response.RequestId)
		return e
	})
	if err != nil {
		return Listener{}, err
	}
	return out, nil
}

// DeregisterTargets unbinds targets from the listener or rule sel names,
// and returns the task id. LocationId, Domain and Url are sent as given:
// the API ignores Domain and Url when LocationId is set.
func (c *Client) DeregisterTargets(ctx context.Context, sel Selector, targets []Target) (string, error) {
	req := v20180317.NewDeregisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url = selectorFields(sel)
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
	req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url = selectorFields(sel)
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
			RequestID:       value(r.RequestId),
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

// do waits for the action's pacer (a request made IfSpare does not wait:
// it starts at once or fails with ErrNoSpare), sends req through the SDK
// within the per-request timeout, decodes the answer, reports the call to
// OnCall, and returns how long the request waited for its start, and any
// failure as a classified *Error.
func (c *Client) do(ctx context.Context, action string, req tchttp.Request, resp tchttp.Response, decode func() error) (time.Duration, error) {
	var waited time.Duration
	if IsSpare(ctx) {
		if err := ctx.Err(); err != nil {
			return 0, Classify(action, err)
		}
		if !c.pacers[action].spareStart(time.Now()) {
			return 0, ErrNoSpare
		}
	} else {
		var err error
		if waited, err = waitForStart(ctx, c.pacers[action]); err != nil {
			return 0, Classify(action, err)
		}
	}
	start := time.Now()
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{}
	req.SetContext(context.WithValue(callCtx, exchangeKey{}, ex))
	var failure *Error
	if err := c.sdk.Send(req, resp); err != nil {
		secrets := c.secrets(ex)
		ex.err = redactError(ex.err, secrets)
		failure = classifySend(callCtx, action, redactError(err, secrets), ex)
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

// IfSpare marks the requests made with the context it returns as sent
// only on spare budget: a request that its action's pacer would hold, or
// that, counting it, would leave more than half of a window's requests
// taken, is not sent and fails at once with ErrNoSpare; below 2
// requests/s, where a window holds one, none is sent. One whose context
// is already done fails with the context's error and takes no start. A
// poll that may well come too early (a task's end is not expected yet)
// goes this way: it never goes before a request that waits, and leaves
// the requests that must go at least half of every window.
func IfSpare(ctx context.Context) context.Context {
	return context.WithValue(ctx, spareKey{}, true)
}

// IsSpare reports whether ctx's requests go only on spare budget
// (IfSpare): an API other than the Client's (a test's) may honour it.
func IsSpare(ctx context.Context) bool {
	return ctx.Value(spareKey{}) != nil
}

type spareKey struct{}

// ErrNoSpare is the error of a request made with IfSpare that was not
// sent: its action's budget had nothing to spare.
var ErrNoSpare = errors.New("clb: not sent, the action's rate limit has no spare request")

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
	case sdkErr.Code == CodeParseJSONError:
		return Classify(action, tcerr.NewTencentCloudSDKError(CodeParseJSONError, abbreviate(sdkErr.Message, 300), ""))
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

// redacted stands for a secret removed from an error.
const redacted = "[redacted]"

// secrets are the values an answer may echo that must never reach an
// error: the credential's, and the Authorization (with its SecretId and
// Signature) and X-TC-Token (the session token) headers as sent.
func (c *Client) secrets(ex *exchange) []string {
	out := slices.Clone(ex.secrets)
	if cred, ok := c.cred.(*common.Credential); ok {
		out = append(out, cred.SecretId, cred.SecretKey, cred.Token)
	}
	return out
}

// requestSecrets are the credential-bearing header values of h, whatever
// the case of their names.
func requestSecrets(h http.Header) []string {
	var out []string
	for name, values := range h {
		switch strings.ToLower(name) {
		case "authorization":
			for _, v := range values {
				out = append(out, v)
				for field := range strings.SplitSeq(v, ",") {
					field = strings.TrimSpace(field)
					if id, ok := strings.CutPrefix(field, "TC3-HMAC-SHA256 Credential="); ok {
						id, _, _ = strings.Cut(id, "/")
						out = append(out, id)
					} else if sig, ok := strings.CutPrefix(field, "Signature="); ok {
						out = append(out, sig)
					}
				}
			}
		case "x-tc-token":
			out = append(out, values...)
		}
	}
	return out
}

// redact replaces every secret in s, as it is and URL-escaped, longest
// first, so that a header's value goes whole before its parts.
func redact(s string, secrets []string) string {
	var forms []string
	for _, secret := range secrets {
		if secret != "" {
			forms = append(forms, secret, url.QueryEscape(secret), url.PathEscape(secret))
		}
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, redacted)
	}
	return s
}

// redactError is err with every secret removed from its text and from the
// text of what it wraps, before anything quotes or cuts it. An SDK error
// stays an SDK error with the same code; an error whose text holds no
// secret is kept as it is, so that errors.Is still finds a context's
// error in it.
func redactError(err error, secrets []string) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *tcerr.TencentCloudSDKError:
		return tcerr.NewTencentCloudSDKError(e.Code, redact(e.Message, secrets), e.RequestId)
	case *roundTripError:
		return &roundTripError{message: redact(e.message, secrets), cause: redactError(e.cause, secrets)}
	}
	text := fmt.Sprintf("%+v", err)
	if clean := redact(text, secrets); clean != text {
		return errors.New(clean)
	}
	return err
}

// exchangeKey carries a call's *exchange in its request context.
type exchangeKey struct{}

// exchange is what the transport saw of one call.
type exchange struct {
	status     int
	statusLine string
	err        error
	// secrets are the request's credential-bearing header values.
	secrets []string
}

// observingTransport records each round trip's status or error in the
// exchange of its call.
type observingTransport struct{ next http.RoundTripper }

func (t observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		ex.secrets = requestSecrets(req.Header)
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
	e.RequestID = requestID
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

// withoutWeight is the first backend of l that the answer gives no Weight:
// a weight taken for 0 would skip its drain and restore it to 0.
func withoutWeight(l *v20180317.ListenerBackend) *v20180317.Backend {
	all := l.Targets
	for _, r := range l.Rules {
		if r != nil {
			all = append(all[:len(all):len(all)], r.Targets...)
		}
	}
	for _, b := range all {
		if b != nil && b.Weight == nil {
			return b
		}
	}
	return nil
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
			EniId:              value(b.EniId),
		})
	}
	return out
}

// selectorFields are the request fields that name a listener or rule:
// LoadBalancerId, ListenerId, and LocationId, Domain and Url when set.
func selectorFields(sel Selector) (lb, listener, location, domain, url *string) {
	return common.StringPtr(sel.LoadBalancerId), common.StringPtr(sel.ListenerId),
		optional(sel.LocationId), optional(sel.Domain), optional(sel.Url)
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
