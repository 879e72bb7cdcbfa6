package clbsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/google/uuid"
)

// Protocol facts and defaults.
const (
	// APIVersion is the only X-TC-Version the emulator serves.
	APIVersion = "2018-03-17"
	// DefaultRate is the API's limit: requests per second per action.
	DefaultRate = 20
	// DefaultSecretID and DefaultSecretKey are the credentials accepted
	// when Config.Credentials is empty. They are for demos and tests only.
	DefaultSecretID  = "clbsim-demo-id"
	DefaultSecretKey = "clbsim-demo-key"

	service      = "clb"
	maxBodyBytes = 1 << 20
	adminPrefix  = "/_sim/"
)

// Config sets up a Server. The zero value serves an empty fleet with the
// demo credentials, tasks that complete at once and the API's rate limit.
type Config struct {
	// State is the initial fleet (see ReadState and Generate).
	State State
	// Credentials maps each accepted SecretId to its SecretKey; empty
	// means DefaultSecretID and DefaultSecretKey.
	Credentials map[string]string
	// Region, when set, is the only X-TC-Region accepted; any other answers
	// InvalidParameter.RegionNotFound. Empty accepts every region.
	Region string
	// TaskLatency is how long each async task runs; TaskJitter adds a
	// uniformly drawn [0, TaskJitter) on top.
	TaskLatency time.Duration
	TaskJitter  time.Duration
	// Rate is the most requests per second accepted per action (a sliding
	// one-second window): 0 means DefaultRate, a negative value no limit.
	Rate int
	// Faults are injected from the start (see ParseFaults).
	Faults Faults
	// Dialect selects the variants of undocumented API behaviour played
	// from the start (see Dialect and ParseDialect); the zero value plays
	// the default of each.
	Dialect Dialect
	// Health is how DescribeTargetHealth judges bindings (see HealthModel);
	// the zero value: every binding healthy, new ones at once.
	Health HealthModel
	// Seed makes fault draws, task jitter and the health model's unhealthy
	// share reproducible.
	Seed uint64
	// Clock is the time source; nil means the wall clock.
	Clock Clock
}

// Server is the emulator: an http.Handler serving the CLB API at "/" and
// admin routes under "/_sim/". It is safe for concurrent use. Close it to
// stop its timer.
type Server struct {
	clock       Clock
	credentials map[string]string
	region      string
	rate        int
	latency     time.Duration
	jitter      time.Duration
	seed        uint64
	initial     State

	mu          sync.Mutex
	fleet       *fleet
	instanceIPs map[string][]string
	tasks       map[string]*task
	queue       taskQueue
	stopTimer   func() bool
	timerAt     time.Time
	closed      bool
	audit       []Change
	counters    map[string]*actionCounter
	faults      Faults
	dialect     Dialect
	health      HealthModel
	// unhealthyKeys are health.Unhealthy in clb.Target.Key's spelling.
	unhealthyKeys map[string]bool
	rng           *rand.Rand
	// throttled counts the emulator's own throttled answers, for
	// ThrottleRotate.
	throttled int

	tasksCreated, tasksSucceeded, tasksFailed int
}

// New checks cfg and returns a Server holding a copy of cfg.State.
func New(cfg Config) (*Server, error) {
	if err := cfg.State.Check(); err != nil {
		return nil, err
	}
	if cfg.TaskLatency < 0 || cfg.TaskJitter < 0 {
		return nil, errors.New("clbsim: task latency and jitter must not be negative")
	}
	if err := cfg.Dialect.Check(); err != nil {
		return nil, err
	}
	if err := cfg.Health.Check(); err != nil {
		return nil, err
	}
	s := &Server{clock: cfg.Clock, credentials: map[string]string{}, region: cfg.Region, rate: cfg.Rate,
		latency: cfg.TaskLatency, jitter: cfg.TaskJitter, seed: cfg.Seed,
		initial: newFleet(cfg.State).state(), faults: append(Faults(nil), cfg.Faults...), dialect: cfg.Dialect}
	for id, key := range cfg.Credentials {
		s.credentials[id] = key
	}
	if len(s.credentials) == 0 {
		s.credentials[DefaultSecretID] = DefaultSecretKey
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.rate == 0 {
		s.rate = DefaultRate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHealthLocked(cfg.Health)
	s.resetLocked()
	return s, nil
}

// resetLocked restores the initial fleet and forgets tasks, stats and the
// audit log. Callers hold s.mu.
func (s *Server) resetLocked() {
	s.fleet = newFleet(s.initial)
	s.instanceIPs = map[string][]string{}
	for _, lb := range s.initial.LoadBalancers {
		for _, l := range lb.Listeners {
			s.learnInstances(l.Targets)
			for _, r := range l.Rules {
				s.learnInstances(r.Targets)
			}
		}
	}
	s.tasks = map[string]*task{}
	s.queue = nil
	if s.stopTimer != nil {
		s.stopTimer()
		s.stopTimer, s.timerAt = nil, time.Time{}
	}
	s.audit = nil
	s.counters = map[string]*actionCounter{}
	s.tasksCreated, s.tasksSucceeded, s.tasksFailed = 0, 0, 0
	s.throttled = 0
	s.rng = rand.New(rand.NewPCG(s.seed, s.seed^0x636c6273696d))
}

func (s *Server) learnInstances(targets []clb.BoundTarget) {
	for _, b := range targets {
		if b.InstanceId != "" && len(b.PrivateIpAddresses) > 0 {
			s.instanceIPs[b.InstanceId] = b.PrivateIpAddresses
		}
	}
}

// Close stops the task timer. Tasks still complete when the Server is
// next called or inspected.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.schedule(s.clock.Now())
}

// ServeHTTP serves the API at "/" and the admin routes under "/_sim/".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, adminPrefix):
		s.serveAdmin(w, r)
	case r.URL.Path == "/":
		s.serveAPI(w, r)
	default:
		http.NotFound(w, r)
	}
}

// call is one API request being handled.
type call struct {
	id, action string
	body       []byte
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	c := &call{id: uuid.NewString(), action: r.Header.Get("X-TC-Action")}
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	c.body = body
	spec, plan, e := s.accept(r, c, readErr)
	if e == nil && plan.latency > 0 {
		time.Sleep(plan.latency)
	}
	var resp any
	if e == nil {
		resp, e = spec.handle(s, c, plan)
	}
	drop := e == nil && plan.drop
	s.mu.Lock()
	if counter := s.counter(c.action); counter != nil {
		switch {
		case e != nil:
			counter.countError(e.Code)
		case drop:
			counter.stats.Dropped++
		}
	}
	s.mu.Unlock()
	if drop {
		dropConnection(w)
		return
	}
	writeAnswer(w, c.id, resp, e)
}

// accept runs the checks every call goes through before its action:
// protocol, signature, rate limit and injected faults.
func (s *Server) accept(r *http.Request, c *call, readErr error) (*actionSpec, faultPlan, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	counter := s.counter(c.action)
	if counter != nil {
		counter.stats.Requests++
	}
	if r.Method != http.MethodPost {
		return nil, faultPlan{}, fail(codeUnsupportedProto, "clbsim accepts POST requests with a JSON body only, not %s.", r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, faultPlan{}, fail(codeUnsupportedProto, "clbsim accepts Content-Type application/json only, not %q.", r.Header.Get("Content-Type"))
	}
	if readErr != nil {
		return nil, faultPlan{}, fail(codeInvalidParameter, "The request body could not be read: %v.", readErr)
	}
	if c.action == "" {
		return nil, faultPlan{}, missing("X-TC-Action")
	}
	switch v := r.Header.Get("X-TC-Version"); {
	case v == "":
		return nil, faultPlan{}, missing("X-TC-Version")
	case v != APIVersion:
		return nil, faultPlan{}, fail(codeNoSuchVersion, "The API version %s of service %s does not exist; use %s.", v, service, APIVersion)
	}
	spec := actions[c.action]
	if spec == nil {
		return nil, faultPlan{}, fail(codeInvalidAction, "The action %s does not exist.", c.action)
	}
	switch region := r.Header.Get("X-TC-Region"); {
	case region == "":
		return nil, faultPlan{}, missing("X-TC-Region")
	case s.region != "" && region != s.region:
		return nil, faultPlan{}, fail(codeRegionNotFound, "The region %s is not served here; this endpoint serves %s.", region, s.region)
	}
	if e := s.authenticate(r, c.body, now); e != nil {
		return nil, faultPlan{}, e
	}
	if !counter.admit(now, s.rate) {
		s.throttled++
		return nil, faultPlan{}, fail(s.dialect.throttleCode(s.throttled-1), "Your current request frequency of %s has reached the limit of %d per second; retry later.", c.action, s.rate)
	}
	plan := s.faults.plan(c.action, spec.mutating, s.rng)
	if plan.code != "" {
		return nil, faultPlan{}, fail(plan.code, "clbsim: injected fault %s for %s.", plan.code, c.action)
	}
	return spec, plan, nil
}

// counter is the counts of an action, created on first use; nil for a
// request without an action. Callers hold s.mu.
func (s *Server) counter(action string) *actionCounter {
	if action == "" {
		return nil
	}
	c := s.counters[action]
	if c == nil {
		c = &actionCounter{}
		s.counters[action] = c
	}
	return c
}

// decode reads the JSON body of a call into req.
func decode(c *call, req any) *apiError {
	if len(c.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, req); err != nil {
		return fail(codeInvalidParameter, "The request body of %s is not valid: %v.", c.action, err)
	}
	return nil
}

type errorResponse struct {
	Error     *apiError `json:"Error"`
	RequestId string    `json:"RequestId"`
}

// writeAnswer writes {"Response": ...} with HTTP 200, as the API does for
// errors too.
func writeAnswer(w http.ResponseWriter, requestID string, resp any, e *apiError) {
	if e != nil {
		resp = errorResponse{Error: e, RequestId: requestID}
	}
	b, err := json.Marshal(struct {
		Response any `json:"Response"`
	}{resp})
	if err != nil {
		b = fmt.Appendf(nil, `{"Response":{"Error":{"Code":"InternalError","Message":%q},"RequestId":%q}}`, err.Error(), requestID)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-TC-RequestId", requestID)
	_, _ = w.Write(b)
}

// dropConnection closes the connection without an answer: the client
// cannot tell whether its call took effect.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
