package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/clbdrain/clbdrain/workflows"
)

// composeFile is the part of docker-compose.yaml the structure test reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Profiles    []string                     `yaml:"profiles"`
	Ports       []string                     `yaml:"ports"`
	Environment map[string]string            `yaml:"environment"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Entrypoint []string `yaml:"entrypoint"`
	Command    any      `yaml:"command"`
	Volumes    []string `yaml:"volumes"`
}

// The compose file cannot run here (no container registry), so its structure
// is checked: the services, their images, ports, health checks and the
// worker's environment.
func TestDockerComposeStructure(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yaml")
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))

	for name, image := range map[string]string{
		"postgresql":                "postgres:",
		"temporal-admin-tools":      "temporalio/admin-tools:",
		"temporal":                  "temporalio/server:",
		"temporal-create-namespace": "temporalio/admin-tools:",
		"temporal-ui":               "temporalio/ui:",
	} {
		require.Contains(t, c.Services, name)
		assert.True(t, strings.HasPrefix(c.Services[name].Image, image), "%s runs %s", name, image)
		assert.Empty(t, c.Services[name].Profiles, "%s runs by default", name)
	}
	for name, want := range map[string]string{"temporal": "7233:7233", "temporal-ui": "8080:8080", "worker": "9090:9090"} {
		assert.Contains(t, c.Services[name].Ports, want, name)
	}
	for _, name := range []string{"postgresql", "temporal", "worker", "worker-demo", "clbsim"} {
		require.NotNil(t, c.Services[name].Healthcheck, "%s has a health check", name)
		assert.NotEmpty(t, c.Services[name].Healthcheck.Test)
	}

	// Start order: schema before server, namespace before workers.
	assert.Equal(t, "service_healthy", c.Services["temporal-admin-tools"].DependsOn["postgresql"]["condition"])
	assert.Equal(t, "service_completed_successfully", c.Services["temporal"].DependsOn["temporal-admin-tools"]["condition"])
	assert.Equal(t, "service_completed_successfully", c.Services["worker"].DependsOn["temporal-create-namespace"]["condition"])
	assert.Equal(t, "service_healthy", c.Services["demo-drain"].DependsOn["worker-demo"]["condition"])

	// The worker is built here and configured by environment only; credentials are
	// passed through from the caller, never written in the file.
	w := c.Services["worker"]
	assert.NotNil(t, w.Build)
	assert.Equal(t, "temporal:7233", w.Environment["TEMPORAL_ADDRESS"])
	assert.Equal(t, "clb-drain", w.Environment["CLBDRAIN_TASK_QUEUE"])
	assert.Equal(t, ":9090", w.Environment["CLBDRAIN_METRICS_ADDR"])
	for _, k := range []string{"TENCENTCLOUD_REGION", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "CLB_ENDPOINT"} {
		assert.Equal(t, "${"+k+":-}", w.Environment[k], "%s comes from the caller's environment", k)
	}
	assert.Contains(t, w.Healthcheck.Test, "http://127.0.0.1:9090/healthz")

	// The demo profile: clbsim with the fixture, a worker on its own task queue
	// pointed at it, and a one-shot drain of that queue.
	for _, name := range []string{"clbsim", "worker-demo", "demo-drain"} {
		assert.Equal(t, []string{"demo"}, c.Services[name].Profiles, name)
	}
	assert.Equal(t, "http://clbsim:9000", c.Services["worker-demo"].Environment["CLB_ENDPOINT"])
	assert.Equal(t, "clb-drain-demo", c.Services["worker-demo"].Environment["CLBDRAIN_TASK_QUEUE"])
	cmd, _ := c.Services["demo-drain"].Command.([]any)
	joined := strings.Join(toStrings(cmd), " ")
	assert.Contains(t, joined, "--task-queue clb-drain-demo")
	assert.Contains(t, joined, "--targets /demo/l4-targets.txt")
	assert.Contains(t, joined, "--wait")
	assert.Contains(t, c.Services["clbsim"].Command, "/demo/fleet.json")

	// What make test-cluster runs: the server release pinned in the Makefile (the
	// admin tools of the same release), PostgreSQL 15, and the dynamic config file.
	version := makeVariable(t, "TEMPORAL_SERVER_VERSION")
	for _, name := range []string{"temporal", "temporal-admin-tools", "temporal-create-namespace"} {
		image := c.Services[name].Image
		assert.Equal(t, strings.TrimPrefix(version, "v"), image[strings.LastIndex(image, ":")+1:], "%s runs the release make test-cluster tests", name)
	}
	assert.Equal(t, "postgres:15", c.Services["postgresql"].Image)
	dynamic := c.Services["temporal"].Environment["DYNAMIC_CONFIG_FILE_PATH"]
	assert.Contains(t, c.Services["temporal"].Volumes, "./deploy/temporal/dynamicconfig.yaml:"+dynamic+":ro")

	// The files the images and the demo use exist.
	for _, f := range []string{"../deploy/temporal/dynamicconfig.yaml", "../Dockerfile", "../demo/fleet.json", "../demo/l4-targets.txt", "../demo/l7-targets.json"} {
		_, err := os.Stat(f)
		assert.NoError(t, err, f)
	}
}

// makeVariable returns the value the Makefile gives name (NAME := value).
func makeVariable(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)`).FindSubmatch(raw)
	require.NotNil(t, m, "the Makefile sets %s", name)
	return string(m[1])
}

func toStrings(in []any) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// The compose deployment is the one make test-cluster proves: its namespace
// gets the audit search attributes (every one of
// workflows.AuditSearchAttributes, each --name with its own --type), and its
// PostgreSQL the max_connections the test's has.
func TestDockerComposeRegistersAuditAndConnections(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yaml")
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))

	cmd, _ := c.Services["temporal-create-namespace"].Command.([]any)
	script := strings.Join(strings.Fields(strings.ReplaceAll(strings.Join(toStrings(cmd), " "), "\\\n", " ")), " ")
	assert.Contains(t, script, "temporal operator search-attribute create -n default")
	for _, k := range workflows.AuditSearchAttributes() {
		assert.Contains(t, script, "--name "+k.GetName()+" --type "+k.GetValueType().String(), "compose registers %s", k.GetName())
	}

	pg, _ := c.Services["postgresql"].Command.([]any)
	assert.Equal(t, []string{"postgres", "-c", "max_connections=300"}, toStrings(pg))
	testScript, err := os.ReadFile("../scripts/test-cluster.sh")
	require.NoError(t, err)
	assert.Contains(t, string(testScript), "-c max_connections=300", "the same as make test-cluster's PostgreSQL")
}
