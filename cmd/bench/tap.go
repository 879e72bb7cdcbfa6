package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// request is one API call as it reached the emulator.
type request struct {
	// At is when the call arrived.
	At time.Time
	// Action is the X-TC-Action header.
	Action string
	// RequestID is the answer's RequestId: for an accepted mutating call,
	// the id of its task.
	RequestID string
	// TaskID is the task a DescribeTaskStatus call asked about.
	TaskID string
}

// tap sits in front of the emulator and records when each API call
// arrived, so that a task's completion (in the emulator's audit) can be set
// against the calls that followed it.
type tap struct {
	next http.Handler

	mu   sync.Mutex
	reqs []request
}

func (t *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		t.next.ServeHTTP(w, r)
		return
	}
	rec := request{At: time.Now(), Action: r.Header.Get("X-TC-Action")}
	if rec.Action == clb.ActionDescribeTaskStatus {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			var req struct{ TaskId string }
			if json.Unmarshal(body, &req) == nil {
				rec.TaskID = req.TaskId
			}
		}
		// The emulator reads what was read here, or fails on it as the
		// API would.
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	t.next.ServeHTTP(w, r)
	rec.RequestID = w.Header().Get("X-TC-RequestId")
	t.mu.Lock()
	t.reqs = append(t.reqs, rec)
	t.mu.Unlock()
}

// requests returns the calls recorded so far, in arrival order.
func (t *tap) requests() []request {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.reqs)
	slices.SortStableFunc(out, func(a, b request) int { return a.At.Compare(b.At) })
	return out
}
