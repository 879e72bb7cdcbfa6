// Package connect dials Temporal the way Temporal's own tools do, for both
// clbdrain binaries: a temporal.toml profile (TEMPORAL_CONFIG_FILE,
// TEMPORAL_PROFILE) overlaid by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY and the TEMPORAL_TLS_* variables, defaulting to
// localhost:7233 and the "default" namespace.
package connect

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
)

// Defaults when neither a profile nor the environment sets them.
const (
	DefaultAddress   = "localhost:7233"
	DefaultNamespace = "default"
	// DefaultUIAddress is the Temporal UI of a local dev server.
	DefaultUIAddress = "http://localhost:8233"
	// UIAddressEnv overrides the Temporal UI base address used in links.
	UIAddressEnv = "TEMPORAL_UI_ADDRESS"
)

// Options adds clbdrain's own settings to what envconfig loads.
type Options struct {
	// Logger receives the SDK's logs; nil keeps the SDK default.
	Logger *slog.Logger
	// MetricsHandler receives the SDK's metrics; nil for none.
	MetricsHandler client.MetricsHandler
	// Identity names this process in Temporal; empty for the SDK default.
	Identity string
}

// ClientOptions loads the client options from the profile and environment
// and applies o. It never logs the options: they may hold an API key.
func ClientOptions(o Options) (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return client.Options{}, fmt.Errorf("loading Temporal client configuration: %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = DefaultAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if o.Logger != nil {
		opts.Logger = tlog.NewStructuredLogger(o.Logger)
	}
	if o.MetricsHandler != nil {
		opts.MetricsHandler = o.MetricsHandler
	}
	if o.Identity != "" {
		opts.Identity = o.Identity
	}
	return opts, nil
}

// Dial connects to Temporal with ClientOptions(o), checking that the server
// answers before it returns.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts, err := ClientOptions(o)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}

// UIAddress is the base address of the Temporal UI: TEMPORAL_UI_ADDRESS, else
// the local dev server's.
func UIAddress() string {
	if v := strings.TrimRight(os.Getenv(UIAddressEnv), "/"); v != "" {
		return v
	}
	return DefaultUIAddress
}

// WorkflowURL is the Temporal UI page of one workflow run.
func WorkflowURL(uiAddress, namespace, workflowID, runID string) string {
	u := strings.TrimRight(uiAddress, "/") + "/namespaces/" + url.PathEscape(namespace) +
		"/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID)
	}
	return u
}
