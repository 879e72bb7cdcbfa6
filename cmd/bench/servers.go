package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The work of the server drain phase: serversCount servers bound to every
// listener of serversLBs load balancers of serversListeners listeners each
// (each listener keeping serversKeep servers of its own).
const (
	serversCount     = 3
	serversLBs       = 10
	serversListeners = 4
	serversKeep      = 2
	serversLatency   = time.Second
	serversDelay     = 5 * time.Second
	// maxServersRatio is the target of the makespan over the ideal.
	maxServersRatio = 1.20
)

// serversFigures are the measures of the server drain phase.
type serversFigures struct {
	// Listeners counts the listeners the servers are bound to.
	Listeners int
	Latency   time.Duration
	Delay     time.Duration
	// Wall runs from the start of the workflow to its result.
	Wall time.Duration
	// Ideal is one weight task, the delay, and the longest load
	// balancer's deregistration tasks (one per listener).
	Ideal time.Duration
	// Removed counts the targets the manifest lists.
	Removed int
	// Busiest is, per action, the most requests in any one second.
	Busiest map[string]int
	Err     error
}

// serversFleet is the phase's fleet: every listener binds the servers
// (ins-bsrv0000..) and serversKeep others on port 80.
func serversFleet() (clbsim.State, []clb.Server) {
	var state clbsim.State
	var servers []clb.Server
	for s := range serversCount {
		servers = append(servers, clb.Server{InstanceId: fmt.Sprintf("ins-bsrv%04d", s)})
	}
	for i := range serversLBs {
		lb := clbsim.LoadBalancer{LoadBalancerId: fmt.Sprintf("lb-bsrv%04d", i)}
		for j := range serversListeners {
			l := clb.Listener{ListenerId: fmt.Sprintf("lbl-bs%02d%04d", i, j), Protocol: clb.ProtocolTCP, Port: int64(80 + j)}
			for s := range serversCount + serversKeep {
				id := fmt.Sprintf("ins-bsrv%04d", s)
				if s >= serversCount {
					id = fmt.Sprintf("ins-bk%02d%02d%02d", i, j, s)
				}
				l.Targets = append(l.Targets, clb.BoundTarget{Type: clb.TypeCVM, InstanceId: id,
					PrivateIpAddresses: []string{fmt.Sprintf("10.%d.%d.%d", i, j, s)}, Port: 80, Weight: int64(10 + s)})
			}
			lb.Listeners = append(lb.Listeners, l)
		}
		state.LoadBalancers = append(state.LoadBalancers, lb)
	}
	return state, servers
}

// measureServers runs the server drain phase. A drain that fails is no
// error: the table shows it.
func (e *env) measureServers(ctx context.Context, f *figures) error {
	progress("server drain: starting (%d servers on %d load balancers × %d listeners)", serversCount, serversLBs, serversListeners)
	s, err := e.servers(ctx)
	if err != nil {
		return err
	}
	progress("server drain: finished in %s", seconds(s.Wall))
	f.Servers = &s
	return nil
}

// servers drains serversCount servers out of serversLBs × serversListeners
// listeners with one worker, under the API's rate limit.
func (e *env) servers(ctx context.Context) (serversFigures, error) {
	f := serversFigures{Listeners: serversLBs * serversListeners, Latency: serversLatency, Delay: serversDelay,
		Ideal: serversLatency + serversDelay + serversListeners*serversLatency}
	state, servers := serversFleet()
	const queue = "bench-servers"
	s, stop, err := e.startSimWorker(state, serversLatency, queue)
	if err != nil {
		return f, err
	}
	defer stop()
	in := workflows.ServersInput{Servers: servers, DrainDelay: serversDelay, Reason: "bench: server drain"}
	start := time.Now()
	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ServersWorkflowID(servers), TaskQueue: queue},
		workflows.ServersWorkflowName, in)
	if err != nil {
		return f, err
	}
	var res workflows.ServersResult
	f.Err = run.Get(ctx, &res)
	f.Wall = time.Since(start)
	for _, b := range res.Bindings {
		f.Removed += len(b.Targets)
	}
	f.Busiest = busiestSecond(s.tap.requests())
	return f, nil
}

// serversActions are the actions a server drain calls, checked against
// the budget.
var serversActions = []string{clb.ActionDescribeLoadBalancers, clb.ActionDescribeListeners, clb.ActionDescribeTargets,
	clb.ActionBatchModifyTargetWeight, clb.ActionDeregisterTargets, clb.ActionDescribeTaskStatus}

// serversSections are the server drain's section, none when it did not run.
func serversSections(f figures) []section {
	if f.Servers == nil {
		return nil
	}
	return []section{serversSection(*f.Servers)}
}

// serversSection is the server drain's makespan against its ideal, what it
// removed, and its busiest seconds against the budget.
func serversSection(f serversFigures) section {
	r := ratio(f.Wall, f.Ideal)
	want := f.Listeners * serversCount
	done := fmt.Sprintf("%d of %d", f.Removed, want)
	if f.Err != nil {
		done = "failed: " + f.Err.Error()
	}
	sec := section{
		Title: fmt.Sprintf("server drain: %d servers on %d load balancers × %d listeners (%d bindings), tasks take %s, delay %s",
			serversCount, serversLBs, serversListeners, want, f.Latency, f.Delay),
		Rows: []row{
			checked(fmt.Sprintf("server drain makespan / ideal (%s = weight task + delay + %d tasks)", seconds(f.Ideal), serversListeners),
				fmt.Sprintf("%.3f (%s)", r, seconds(f.Wall)), fmt.Sprintf("≤ %.2f", maxServersRatio), f.Err == nil && r <= maxServersRatio),
			checked("server drain, targets removed (manifest)", done, fmt.Sprint(want), f.Err == nil && f.Removed == want),
		},
	}
	for _, a := range serversActions {
		sec.Rows = append(sec.Rows, checked("server drain, most requests in one second: "+a, fmt.Sprint(f.Busiest[a]),
			fmt.Sprintf("≤ %d", clbsim.DefaultRate), f.Busiest[a] <= clbsim.DefaultRate))
	}
	return sec
}
