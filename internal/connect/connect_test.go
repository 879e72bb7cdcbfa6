package connect

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientOptionsDefaults(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", t.TempDir()+"/absent.toml")
	unsetenv(t, "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE")
	opts, err := ClientOptions(Options{Identity: "test"})
	require.NoError(t, err)
	assert.Equal(t, DefaultAddress, opts.HostPort)
	assert.Equal(t, DefaultNamespace, opts.Namespace)
	assert.Equal(t, "test", opts.Identity)
}

func TestClientOptionsFromEnvironment(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", t.TempDir()+"/absent.toml")
	t.Setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "ops")
	t.Setenv("TEMPORAL_API_KEY", "secret-api-key")
	opts, err := ClientOptions(Options{})
	require.NoError(t, err)
	assert.Equal(t, "temporal.example:7233", opts.HostPort)
	assert.Equal(t, "ops", opts.Namespace)
	assert.NotNil(t, opts.Credentials, "an API key becomes client credentials")
}

func TestClientOptionsFromProfile(t *testing.T) {
	file := t.TempDir() + "/temporal.toml"
	require.NoError(t, os.WriteFile(file, []byte("[profile.prod]\naddress = \"prod.example:7233\"\nnamespace = \"drains\"\n"), 0o600))
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	unsetenv(t, "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")
	t.Setenv("TEMPORAL_PROFILE", "prod")
	opts, err := ClientOptions(Options{})
	require.NoError(t, err)
	assert.Equal(t, "prod.example:7233", opts.HostPort)
	assert.Equal(t, "drains", opts.Namespace)
}

func TestWorkflowURL(t *testing.T) {
	assert.Equal(t, "http://localhost:8233/namespaces/default/workflows/clb-drain%2Flb-abc12345%2Flbl-abc12345/run-1",
		WorkflowURL("http://localhost:8233/", "default", "clb-drain/lb-abc12345/lbl-abc12345", "run-1"))
	t.Setenv(UIAddressEnv, "https://ui.example/")
	assert.Equal(t, "https://ui.example", UIAddress())
}

// unsetenv removes variables for the test, restoring them afterwards.
func unsetenv(t *testing.T, keys ...string) {
	for _, k := range keys {
		t.Setenv(k, "")
		_ = os.Unsetenv(k)
	}
}
