package clbsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// State returns what is bound now, after completing every task that is due.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	return s.fleet.state()
}

// Stats returns the counts since start or the last Reset.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	st := Stats{Actions: make(map[string]ActionStats, len(s.counters)), TasksCreated: s.tasksCreated,
		TasksSucceeded: s.tasksSucceeded, TasksFailed: s.tasksFailed, TasksRunning: len(s.queue)}
	for name, c := range s.counters {
		st.Actions[name] = c.snapshot()
	}
	return st
}

// Audit returns every change applied so far, in the order applied.
func (s *Server) Audit() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	return slices.Clone(s.audit)
}

// Task reports an async task by id, and whether it exists, whatever the
// dialect's task expiry (DescribeTaskStatus answers an error for an
// expired task).
func (s *Server) Task(id string) (clb.TaskStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock.Now())
	t := s.tasks[id]
	if t == nil {
		return clb.TaskStatus{}, false
	}
	return clb.TaskStatus{Status: t.status, Message: t.message, LoadBalancerIds: []string{t.lbID}}, true
}

// Faults returns the fault spec in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.faults)
}

// SetFaults replaces the fault spec; nil removes every fault.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = slices.Clone(f)
}

// Dialect returns the dialect in force.
func (s *Server) Dialect() Dialect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialect
}

// SetDialect replaces the dialect in force, from the next call on; the zero
// Dialect plays the default of every variant. A lingering lock applies to
// tasks that end after the change.
func (s *Server) SetDialect(d Dialect) error {
	if err := d.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialect = d
	return nil
}

// HoldLock makes a competing writer hold a load balancer's lock for d from
// now (or longer, if it is held longer already): mutating calls on it answer
// FailedOperation.ResourceInOperating until then. It returns the time the
// hold ends.
func (s *Server) HoldLock(loadBalancerID string, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("clbsim: hold duration %s is not positive", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.fleet.lbByID[loadBalancerID]
	if lb == nil {
		return time.Time{}, fmt.Errorf("clbsim: load balancer %q is not found", loadBalancerID)
	}
	if until := s.clock.Now().Add(d); until.After(lb.heldUntil) {
		lb.heldUntil = until
	}
	return lb.heldUntil, nil
}

// Reset restores the initial fleet and forgets tasks, locks, stats and the
// audit log; the fault spec and the dialect stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// adminMethods are the methods of each admin route.
var adminMethods = map[string][]string{
	"state":   {http.MethodGet},
	"stats":   {http.MethodGet},
	"audit":   {http.MethodGet},
	"faults":  {http.MethodGet, http.MethodPut},
	"dialect": {http.MethodGet, http.MethodPut},
	"lock":    {http.MethodPost},
	"health":  {http.MethodPut},
	// health-model is the model in force (GET) or a new one (PUT).
	"health-model": {http.MethodGet, http.MethodPut},
	"reset":        {http.MethodPost},
}

// serveAdmin serves the /_sim/ routes (see the package documentation).
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := strings.TrimPrefix(r.URL.Path, adminPrefix)
	allowed, ok := adminMethods[route]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !slices.Contains(allowed, r.Method) {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case route == "state":
		writeJSON(w, s.State())
	case route == "stats":
		writeJSON(w, s.Stats())
	case route == "audit":
		writeJSON(w, s.Audit())
	case route == "faults" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, s.Faults())
	case route == "faults":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := ParseFaults(string(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	case route == "dialect" && r.Method == http.MethodGet:
		writeJSON(w, s.Dialect())
	case route == "dialect":
		s.serveSetDialect(w, r)
	case route == "lock":
		s.serveLock(w, r)
	case route == "health":
		s.serveSetHealth(w, r)
	case route == "health-model" && r.Method == http.MethodGet:
		writeJSON(w, s.HealthModel())
	case route == "health-model":
		s.serveSetHealthModel(w, r)
	case route == "reset":
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	}
}

// serveSetDialect replaces the dialect with the body of PUT /_sim/dialect:
// a Dialect's JSON object, or a JSON string holding a spec such as "all".
func (s *Server) serveSetDialect(w http.ResponseWriter, r *http.Request) {
	var d Dialect
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes)).Decode(&d); err != nil {
		http.Error(w, `want a JSON object such as {"LockCode": "InternalError", "TaskExpiry": "30s"} or a spec string such as "all": `+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.SetDialect(d); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, d)
}

// LockRequest is the body of POST /_sim/lock.
type LockRequest struct {
	LoadBalancerId string `json:"LoadBalancerId"`
	// Duration is a Go duration, such as "5s".
	Duration string `json:"Duration"`
}

// LockResponse is the answer of POST /_sim/lock.
type LockResponse struct {
	LoadBalancerId string    `json:"LoadBalancerId"`
	HeldUntil      time.Time `json:"HeldUntil"`
}

func (s *Server) serveLock(w http.ResponseWriter, r *http.Request) {
	var req LockRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes)).Decode(&req); err != nil {
		http.Error(w, "want {\"LoadBalancerId\": \"lb-...\", \"Duration\": \"5s\"}: "+err.Error(), http.StatusBadRequest)
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		http.Error(w, "Duration: "+err.Error(), http.StatusBadRequest)
		return
	}
	until, err := s.HoldLock(req.LoadBalancerId, d)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, LockResponse{LoadBalancerId: req.LoadBalancerId, HeldUntil: until})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// serveSetHealth sets a target's health with the body of PUT /_sim/health,
// a HealthSetting, and answers a HealthSet.
func (s *Server) serveSetHealth(w http.ResponseWriter, r *http.Request) {
	var h HealthSetting
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		http.Error(w, `want {"Target": "ins-abc12345:80", "Healthy": false} and optionally LoadBalancerId, ListenerId, LocationId: `+err.Error(), http.StatusBadRequest)
		return
	}
	n, err := s.SetTargetHealth(h)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, HealthSet{Bindings: n})
}

// serveSetHealthModel replaces the health model with the body of PUT
// /_sim/health-model and answers the new one.
func (s *Server) serveSetHealthModel(w http.ResponseWriter, r *http.Request) {
	var m HealthModel
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		http.Error(w, `want {"Delay": "5s", "Unhealthy": ["ins-abc12345:80"], "UnhealthyShare": 0.1}: `+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.SetHealthModel(m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, s.HealthModel())
}
