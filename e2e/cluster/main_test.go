// Package cluster runs clbdrain end to end on a real Temporal cluster: two
// server nodes (frontend, history, matching and worker services each) over
// one PostgreSQL, started from the same server release, embedded config
// template and dynamic config file as docker-compose.yaml. The scenarios
// drain with the real worker and starter binaries against clbsim while a
// node is killed with SIGKILL and started again, cancel a drain in its
// drain phase, and run a drain from a schedule; clbsim's audit gives the
// verdicts. TestMain prints one table, a row per scenario.
//
// It runs only with CLBDRAIN_CLUSTER=1 and a database prepared by
// scripts/test-cluster.sh (make test-cluster), which sets:
//
//	CLBDRAIN_CLUSTER_SERVER  the temporal-server binary
//	CLBDRAIN_CLUSTER_DB      the PostgreSQL host:port (user and password temporal)
//	CLBDRAIN_CLUSTER_DIR     where the nodes' logs and pid files go
//	CLBDRAIN_REPORT          the file the table is written to (optional)
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clbdrain/clbdrain/e2e/harness"
)

// Environment variables the package reads.
const (
	envCluster = "CLBDRAIN_CLUSTER"
	envServer  = "CLBDRAIN_CLUSTER_SERVER"
	envDB      = "CLBDRAIN_CLUSTER_DB"
	envDir     = "CLBDRAIN_CLUSTER_DIR"
	envReport  = "CLBDRAIN_REPORT"
)

// dynamicConfig is the server's dynamic config, relative to the module
// root: the file docker-compose.yaml mounts.
const dynamicConfig = "deploy/temporal/dynamicconfig.yaml"

// cluster is what TestMain sets up once: the binaries, the two nodes.
var cluster struct {
	bin   string
	dir   string
	nodes [2]*node
	skip  string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(envCluster) != "1" {
		cluster.skip = envCluster + " is not 1: run `make test-cluster`, which sets up PostgreSQL and the server"
		return m.Run()
	}
	err := setUp()
	if err == nil {
		code := m.Run()
		tearDown(code != 0)
		if err := report.publish(os.Stdout, os.Getenv(envReport)); err != nil {
			fmt.Fprintln(os.Stderr, "cluster: writing the report:", err)
			code = max(code, 1)
		}
		return code
	}
	fmt.Fprintln(os.Stderr, "cluster: setting up:", err)
	tearDown(true)
	return 1
}

// setUp builds the binaries and starts both nodes, then registers the
// default namespace and waits until both nodes serve it.
func setUp() error {
	server, db, dir := os.Getenv(envServer), os.Getenv(envDB), os.Getenv(envDir)
	for k, v := range map[string]string{envServer: server, envDB: db, envDir: dir} {
		if v == "" {
			return fmt.Errorf("%s is not set (scripts/test-cluster.sh sets it)", k)
		}
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	cluster.dir = dir
	if cluster.bin, err = harness.Build(filepath.Join(dir, "bin")); err != nil {
		return err
	}
	// Every port of both nodes in one draw, so no two can be the same.
	ports, err := freePorts(len(cluster.nodes) * len(portVars))
	if err != nil {
		return err
	}
	for i := range cluster.nodes {
		own := ports[i*len(portVars) : (i+1)*len(portVars)]
		n, err := newNode(i+1, server, db, filepath.Join(root, dynamicConfig), dir, own)
		if err != nil {
			return err
		}
		cluster.nodes[i] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The first node creates the cluster's metadata; the second joins it.
	for _, n := range cluster.nodes {
		if err := n.start(ctx); err != nil {
			return err
		}
	}
	return registerNamespace(ctx, cluster.nodes[:])
}

// tearDown stops the nodes and, after a failure, shows the end of their
// logs.
func tearDown(failed bool) {
	for _, n := range cluster.nodes {
		if n == nil {
			continue
		}
		n.stop()
		if failed {
			fmt.Fprintf(os.Stderr, "cluster: node %d, last lines of its log:\n%s\n", n.number, n.logTail(40))
		}
	}
}

// need skips a test when the cluster is not set up.
func need(t *testing.T) {
	t.Helper()
	if cluster.skip != "" {
		t.Skip(cluster.skip)
	}
}

// tail returns the last n lines of s, each cut to 400 bytes (the
// server's log lines carry stack traces).
func tail(s string, n int) string {
	lines := harness.Lines(s)
	lines = lines[max(0, len(lines)-n):]
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + " [...]"
		}
	}
	return strings.Join(lines, "\n")
}

// errNotReady is what a readiness poll reports until its deadline.
var errNotReady = errors.New("not ready")
