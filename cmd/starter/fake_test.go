package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/clbdrain/clbdrain/workflows"
)

// fakeClient stands in for Temporal: it records what the starter asks and
// answers from its fields. Methods the starter does not call are left to
// the embedded nil interface.
type fakeClient struct {
	client.Client

	mu       sync.Mutex
	starts   []startCall
	startErr error
	run      *fakeRun
	answers  []workflows.Progress // successive progress answers; the last repeats
	// anyAnswers, when set, are the answers instead, of any type.
	anyAnswers []any
	// runByID, when it has the ID, is the run GetWorkflow returns.
	runByID  map[string]*fakeRun
	queries  int
	queryErr error
	desc     *client.WorkflowExecutionDescription
	descErr  error
	// descByID, when it has the ID, answers its description first.
	descByID  map[string]*client.WorkflowExecutionDescription
	describes int
	// describeAfterWait, when set, answers every description but the first.
	describeAfterWait *client.WorkflowExecutionDescription
	cancelled         []string
	cancelErr         error
	schedules         *fakeScheduleClient
	closed            bool
	// lists records each ListWorkflow request; pages answer them in turn.
	lists   []*workflowservice.ListWorkflowExecutionsRequest
	pages   []*workflowservice.ListWorkflowExecutionsResponse
	listErr error
}

type startCall struct {
	opts     client.StartWorkflowOptions
	workflow any
	args     []any
}

func (f *fakeClient) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, startCall{opts, wf, args})
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.run.id = opts.ID
	return f.run, nil
}

func (f *fakeClient) GetWorkflow(_ context.Context, id, _ string) client.WorkflowRun {
	if r, ok := f.runByID[id]; ok {
		return r
	}
	f.run.id = id
	return f.run
}

func (f *fakeClient) QueryWorkflow(_ context.Context, _, _, queryType string, _ ...any) (converter.EncodedValue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if queryType != workflows.QueryProgress {
		panic("unexpected query " + queryType)
	}
	f.queries++
	if f.queries >= max(len(f.answers), len(f.anyAnswers)) && f.run != nil {
		f.run.release()
	}
	if f.queryErr != nil {
		return nil, f.queryErr
	}
	if len(f.anyAnswers) > 0 {
		return encoded{f.anyAnswers[min(f.queries, len(f.anyAnswers))-1]}, nil
	}
	if len(f.answers) == 0 {
		return encoded{workflows.Progress{}}, nil
	}
	return encoded{f.answers[min(f.queries, len(f.answers))-1]}, nil
}

func (f *fakeClient) DescribeWorkflow(_ context.Context, id, _ string) (*client.WorkflowExecutionDescription, error) {
	if d, ok := f.descByID[id]; ok {
		return d, nil
	}
	f.describes++
	if f.describes > 1 && f.describeAfterWait != nil {
		return f.describeAfterWait, nil
	}
	return f.desc, f.descErr
}

func (f *fakeClient) CancelWorkflow(_ context.Context, id, _ string) error {
	f.cancelled = append(f.cancelled, id)
	return f.cancelErr
}

func (f *fakeClient) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.lists = append(f.lists, req)
	if f.listErr != nil {
		return nil, f.listErr
	}
	if len(f.lists) > len(f.pages) {
		return &workflowservice.ListWorkflowExecutionsResponse{}, nil
	}
	return f.pages[len(f.lists)-1], nil
}

func (f *fakeClient) ScheduleClient() client.ScheduleClient { return f.schedules }

func (f *fakeClient) Close() { f.closed = true }

// encoded is a query answer, encoded as the default converter does.
type encoded struct{ v any }

func (e encoded) HasValue() bool { return true }

func (e encoded) Get(ptr any) error {
	data, err := json.Marshal(e.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, ptr)
}

// fakeRun ends with result or err once released: after the last progress
// answer has been given, so that a watcher sees every answer first.
type fakeRun struct {
	client.WorkflowRun
	id, runID string
	result    workflows.DrainResult
	// value, when set, is the result instead, of any type.
	value any
	err   error
	once  sync.Once
	done  chan struct{}
}

func newRun(runID string, result workflows.DrainResult, err error) *fakeRun {
	return &fakeRun{runID: runID, result: result, err: err, done: make(chan struct{})}
}

func (r *fakeRun) release() { r.once.Do(func() { close(r.done) }) }

func (r *fakeRun) GetID() string    { return r.id }
func (r *fakeRun) GetRunID() string { return r.runID }

func (r *fakeRun) Get(ctx context.Context, ptr any) error {
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.err != nil {
		return r.err
	}
	if p, ok := ptr.(*workflows.DrainResult); ok && r.value == nil {
		*p = r.result
		return nil
	}
	v := r.value
	if v == nil {
		v = r.result
	}
	return encoded{v}.Get(ptr)
}

type fakeScheduleClient struct {
	client.ScheduleClient
	created   []client.ScheduleOptions
	createErr error
	deleted   []string
	deleteErr error
	next      []time.Time
}

func (s *fakeScheduleClient) Create(_ context.Context, opts client.ScheduleOptions) (client.ScheduleHandle, error) {
	s.created = append(s.created, opts)
	if s.createErr != nil {
		return nil, s.createErr
	}
	return &fakeScheduleHandle{s: s, id: opts.ID}, nil
}

func (s *fakeScheduleClient) GetHandle(_ context.Context, id string) client.ScheduleHandle {
	return &fakeScheduleHandle{s: s, id: id}
}

type fakeScheduleHandle struct {
	client.ScheduleHandle
	s  *fakeScheduleClient
	id string
}

func (h *fakeScheduleHandle) Delete(context.Context) error {
	h.s.deleted = append(h.s.deleted, h.id)
	return h.s.deleteErr
}

func (h *fakeScheduleHandle) Describe(context.Context) (*client.ScheduleDescription, error) {
	return &client.ScheduleDescription{Info: client.ScheduleInfo{NextActionTimes: h.s.next}}, nil
}

// result is what one run of the starter printed and returned.
type result struct {
	code           int
	stdout, stderr string
	dialed         bool
}

// runWith runs the starter with fc as Temporal (nil: dialing fails the
// test), stdin as standard input, and neither output a terminal.
func runWith(t *testing.T, fc *fakeClient, stdin string, args ...string) result {
	t.Helper()
	return runWithEnv(t, nil, fc, stdin, args...)
}

// runWithEnv is runWith with env as the whole environment.
func runWithEnv(t *testing.T, env map[string]string, fc *fakeClient, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var res result
	a := &app{
		prog:   "starter",
		stdin:  strings.NewReader(stdin),
		stdout: &stdout,
		stderr: &stderr,
		dial: func(context.Context) (client.Client, string, error) {
			res.dialed = true
			if fc == nil {
				t.Errorf("dialed Temporal for %q", args)
				return nil, "", io.ErrUnexpectedEOF
			}
			return fc, "ops", nil
		},
		terminal:     func(io.Writer) (int, bool) { return 0, false },
		pollInterval: time.Millisecond,
		queryTimeout: time.Second,
		user:         func() string { return "tester" },
		now:          func() time.Time { return listNow },
		env:          func(key string) string { return env[key] },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res.code = a.main(ctx, args)
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}
