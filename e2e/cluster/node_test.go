package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/workflows"
)

// nodeStartTimeout bounds how long a node may take to serve.
const nodeStartTimeout = 2 * time.Minute

// retention is the default namespace's, as docker-compose.yaml registers it.
const retention = 7 * 24 * time.Hour

// portVars are the server's port settings of its embedded config template,
// one free port each per node.
var portVars = []string{
	"FRONTEND_GRPC_PORT", "FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT",
	"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT",
	"MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
	"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT",
}

// node is one Temporal server process running all four services. It keeps
// its ports across restarts, as a container restarted in place does.
type node struct {
	number   int
	server   string
	env      []string
	frontend string
	logPath  string
	pidPath  string
	proc     *harness.Process
	logFile  *os.File
	client   client.Client
}

// newNode prepares node number: the environment the server's embedded
// config template reads, as docker-compose.yaml sets it for the
// temporalio/server image, with db as the PostgreSQL host:port and ports
// (free, one per portVars entry, the frontend's first) as its ports.
func newNode(number int, server, db, dynamicConfig, dir string, ports []int) (*node, error) {
	host, port, err := net.SplitHostPort(db)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", envDB, db, err)
	}
	if _, err := os.Stat(dynamicConfig); err != nil {
		return nil, err
	}
	if len(ports) != len(portVars) {
		return nil, fmt.Errorf("node %d: %d ports, want %d", number, len(ports), len(portVars))
	}
	n := &node{number: number, server: server,
		frontend: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		logPath:  filepath.Join(dir, fmt.Sprintf("node-%d.log", number)),
		pidPath:  filepath.Join(dir, fmt.Sprintf("node-%d.pid", number))}
	n.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"DB=postgres12", "POSTGRES_SEEDS=" + host, "DB_PORT=" + port,
		"POSTGRES_USER=temporal", "POSTGRES_PWD=temporal",
		"BIND_ON_IP=127.0.0.1", "LOG_LEVEL=warn",
		"DYNAMIC_CONFIG_FILE_PATH=" + dynamicConfig,
	}
	for i, v := range portVars {
		n.env = append(n.env, v+"="+strconv.Itoa(ports[i]))
	}
	return n, nil
}

// freePorts returns count loopback ports free now, all different, below
// 32768: the server keeps membership ports in a smallint column.
func freePorts(count int) ([]int, error) {
	var ports []int
	for try := 0; len(ports) < count; try++ {
		if try == 1000 {
			return nil, fmt.Errorf("no %d free ports between %d and %d", count, portBase, portBase+portSpan)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(portBase+rand.IntN(portSpan))))
		if err != nil {
			continue
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// The range freePorts draws from: below the kernel's ephemeral ports.
const (
	portBase = 20000
	portSpan = 12000
)

// start runs the node (appending to its log, writing its pid file for
// the script's cleanup) and waits until its frontend answers.
func (n *node) start(ctx context.Context) error {
	// The log stays open while the process runs: a closed one would end the
	// copy of its output, and the server with SIGPIPE at its next line.
	var err error
	n.logFile, err = os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(n.logFile, "---- node %d started at %s\n", n.number, time.Now().Format(time.RFC3339))
	n.proc, err = harness.Start(harness.Spec{Path: n.server, Args: []string{"start"}, Env: n.env, Log: n.logFile})
	if err != nil {
		n.logFile.Close()
		return fmt.Errorf("node %d: %w", n.number, err)
	}
	if err := os.WriteFile(n.pidPath, []byte(strconv.Itoa(n.proc.Pid())), 0o644); err != nil {
		return err
	}
	if n.client, err = n.dial(ctx); err != nil {
		return fmt.Errorf("node %d did not serve in %s: %w (its log follows)", n.number, nodeStartTimeout, err)
	}
	return nil
}

// dial connects to the node's frontend once it answers a health check.
func (n *node) dial(ctx context.Context) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, nodeStartTimeout)
	defer cancel()
	last := errNotReady
	for ctx.Err() == nil && !n.proc.Exited() {
		c, err := client.DialContext(ctx, client.Options{HostPort: n.frontend, Namespace: harness.Namespace, Logger: quietLogger})
		if err == nil {
			if _, err = c.CheckHealth(ctx, &client.CheckHealthRequest{}); err == nil {
				return c, nil
			}
			c.Close()
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	if n.proc.Exited() {
		return nil, errors.New("the server exited")
	}
	return nil, last
}

// kill is kill -9 of the node's process.
func (n *node) kill() {
	n.client.Close()
	n.proc.Kill()
	n.logFile.Close()
}

// stop ends the node with SIGTERM (killing it after 40 s).
func (n *node) stop() {
	if n.client != nil {
		n.client.Close()
	}
	if n.proc != nil {
		n.proc.Stop()
		n.logFile.Close()
	}
}

// logTail is the end of the node's log file.
func (n *node) logTail(lines int) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(string(b), lines)
}

// quietLogger keeps the SDK's retries during node kills out of the output.
var quietLogger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))

// registerNamespace registers the default namespace through the first
// node, as docker-compose.yaml's temporal-create-namespace does, and waits
// until every node serves it.
func registerNamespace(ctx context.Context, nodes []*node) error {
	nc, err := client.NewNamespaceClient(client.Options{HostPort: nodes[0].frontend, Logger: quietLogger})
	if err != nil {
		return err
	}
	defer nc.Close()
	// A node just started may not take the request yet: retry for a minute.
	var exists *serviceerror.NamespaceAlreadyExists
	registered := harness.WaitFor(time.Minute, time.Second, func() bool {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err = nc.Register(rctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: harness.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(retention)})
		return err == nil || errors.As(err, &exists)
	})
	if !registered {
		return fmt.Errorf("registering the namespace: %w", err)
	}
	for _, n := range nodes {
		if err := n.awaitNamespace(ctx); err != nil {
			return err
		}
	}
	return registerAuditAttributes(ctx, nodes[0].client)
}

// registerAuditAttributes adds clbdrain's audit search attributes to the
// namespace, once, as an operator does on a real cluster (README, "Audit").
func registerAuditAttributes(ctx context.Context, c client.Client) error {
	attrs := map[string]enumspb.IndexedValueType{}
	for _, k := range workflows.AuditSearchAttributes() {
		attrs[k.GetName()] = k.GetValueType()
	}
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: harness.Namespace, SearchAttributes: attrs})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("registering the audit search attributes: %w", err)
	}
	return nil
}

// awaitNamespace waits until the node's frontend serves the default
// namespace (its namespace cache has it).
func (n *node) awaitNamespace(ctx context.Context) error {
	ok := harness.WaitFor(time.Minute, 500*time.Millisecond, func() bool {
		_, err := n.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: harness.Namespace})
		return err == nil
	})
	if !ok {
		return fmt.Errorf("node %d does not serve namespace %s after a minute", n.number, harness.Namespace)
	}
	return nil
}
