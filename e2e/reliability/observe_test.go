package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// The holders a lock answer names (see seen.Locks).
const (
	// heldByWriter is a competing writer's hold (clbsim's HoldLock).
	heldByWriter = "another writer"
	// heldByTask is a task still running on the load balancer.
	heldByTask = "task"
	// heldLingering is the lock a lingering-lock dialect leaves after a
	// task ended.
	heldLingering = "lingering after a task"
	// heldUnsaid is a lock answered InternalError, which names no holder.
	heldUnsaid = "unsaid"
)

// seen counts, from the answers clbsim gave, the signs that each variant of
// its dialect was played: they show in a row that a dialect was met, not
// only selected. Injected faults are left out of every count.
type seen struct {
	// Locks counts the answers of calls refused on a locked load balancer,
	// by what held the lock (heldByWriter, heldByTask, heldLingering,
	// heldUnsaid), and LockCodes the same answers by error code.
	Locks, LockCodes map[string]int
	// ExpiredTasks counts DescribeTaskStatus answers that the task is
	// unknown or expired (clbdrain asks only about tasks it created).
	ExpiredTasks int
	// OmittedListeners counts listeners a DescribeTargets call asked for
	// that its answer left out, although they exist.
	OmittedListeners int
	// LowerCaseTypes counts backends served with a lower-case Type, and
	// EniIDs the ENI backends served with an EniId.
	LowerCaseTypes, EniIDs int
	// Throttled counts the emulator's own throttled answers (its rate
	// limit, not an injected fault) by code.
	Throttled map[string]int
	// PlainNotFound counts unknown load balancers or listeners answered
	// with plain InvalidParameter.
	PlainNotFound int
}

// observer watches the API calls an emulator answers (harness.StartSimWith)
// and counts what it sees.
type observer struct {
	mu sync.Mutex
	// listeners are the listener ids of the emulator's fleet.
	listeners map[string]bool
	seen      seen
}

func newObserver() *observer {
	return &observer{seen: seen{Locks: map[string]int{}, LockCodes: map[string]int{}, Throttled: map[string]int{}}}
}

// know records the listeners that exist, so that a DescribeTargets answer
// leaving one out is told from a request naming an unknown one.
func (o *observer) know(listenerIDs ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.listeners == nil {
		o.listeners = map[string]bool{}
	}
	for _, id := range listenerIDs {
		o.listeners[id] = true
	}
}

// Seen returns the counts so far.
func (o *observer) Seen() seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.seen
	s.Locks, s.LockCodes, s.Throttled = maps.Clone(s.Locks), maps.Clone(s.LockCodes), maps.Clone(s.Throttled)
	return s
}

// locksHeldByWriter counts the answers that met a competing writer's
// hold; under a lock code that names no holder, every lock answer.
func (s seen) locksHeldByWriter() int { return s.Locks[heldByWriter] + s.Locks[heldUnsaid] }

// wrap passes every request on to next and notes each API call's request
// and answer. A dropped answer (the connection hijacked and closed) is not
// noted.
func (o *observer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		tee := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tee, r)
		if !tee.hijacked {
			o.note(r.Header.Get("X-TC-Action"), body, tee.buf.Bytes())
		}
	})
}

// teeWriter keeps a copy of what is written, and lets the handler hijack
// the connection.
type teeWriter struct {
	http.ResponseWriter
	buf      bytes.Buffer
	hijacked bool
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.buf.Write(b)
	return t.ResponseWriter.Write(b)
}

func (t *teeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := t.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	t.hijacked = true
	return hj.Hijack()
}

// answerSeen is what the observer reads of an answer.
type answerSeen struct {
	Response struct {
		Error *struct {
			Code, Message string
		}
		Listeners []struct {
			ListenerId string
			Targets    []backendSeen
			Rules      []struct{ Targets []backendSeen }
		}
	}
}

type backendSeen struct {
	Type, EniId string
}

// injectedPrefix starts the message of every error a fault injected.
const injectedPrefix = "clbsim: injected fault"

// note counts what one call's request and answer show.
func (o *observer) note(action string, request, answer []byte) {
	var ans answerSeen
	if json.Unmarshal(answer, &ans) != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := ans.Response.Error; e != nil {
		if !strings.HasPrefix(e.Message, injectedPrefix) {
			o.noteError(action, e.Code, e.Message)
		}
		return
	}
	if action != clb.ActionDescribeTargets {
		return
	}
	var req struct{ ListenerIds []string }
	_ = json.Unmarshal(request, &req)
	answered := map[string]bool{}
	for _, l := range ans.Response.Listeners {
		answered[l.ListenerId] = true
		o.noteBackends(l.Targets)
		for _, r := range l.Rules {
			o.noteBackends(r.Targets)
		}
	}
	for _, id := range req.ListenerIds {
		if o.listeners[id] && !answered[id] {
			o.seen.OmittedListeners++
		}
	}
}

func (o *observer) noteBackends(bs []backendSeen) {
	for _, b := range bs {
		if b.Type != "" && b.Type == strings.ToLower(b.Type) {
			o.seen.LowerCaseTypes++
		}
		if b.EniId != "" {
			o.seen.EniIDs++
		}
	}
}

// Messages of clbsim's answers that the observer tells apart.
var (
	// lockMessages start or hold the text of each lock code's answer.
	lockMessages = []string{"is not in normal desState", "is not normal (", "Your task is working:",
		"An internal error has occurred. Retry your request later."}
	taskGoneMessages = []string{"does not exist or has expired.", "is not found."}
)

// noteError counts an error answer that no fault injected.
func (o *observer) noteError(action, code, message string) {
	switch {
	case code == "RequestLimitExceeded" || strings.HasPrefix(code, "RequestLimitExceeded."):
		o.seen.Throttled[code]++
	case action == clb.ActionDescribeTaskStatus && slices.ContainsFunc(taskGoneMessages, func(m string) bool {
		return strings.HasSuffix(message, m)
	}):
		o.seen.ExpiredTasks++
	case code == "InvalidParameter" && strings.Contains(message, " not exist: "):
		o.seen.PlainNotFound++
	case slices.ContainsFunc(lockMessages, func(m string) bool { return strings.Contains(message, m) }):
		o.seen.LockCodes[code]++
		switch {
		case strings.Contains(message, "(settling after task "):
			o.seen.Locks[heldLingering]++
		case strings.Contains(message, "("+heldByWriter+")"):
			o.seen.Locks[heldByWriter]++
		case strings.Contains(message, "(task "):
			o.seen.Locks[heldByTask]++
		default:
			o.seen.Locks[heldUnsaid]++
		}
	}
}
