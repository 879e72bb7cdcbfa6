package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clbdrain/clbdrain/internal/cliflag"
	"github.com/clbdrain/clbdrain/workflows"
)

// config is the worker's configuration. Cloud credentials are deliberately
// absent: they come only from the Tencent SDK's provider chain.
type config struct {
	TaskQueue      string
	Region         string
	CLBEndpoint    string
	APIRate        float64
	QueueRate      float64
	RequestTimeout time.Duration
	MetricsAddr    string
	LogFormat      string
	LogLevel       slog.Level
	Identity       string
	StopTimeout    time.Duration
}

// flagSpec is one flag: its environment variable, read when the flag is
// not given, and its default, used when neither is.
type flagSpec struct {
	name, env, def, usage string
}

// flagSpecs are the worker's flags: the README's "Worker flags" table.
var flagSpecs = []flagSpec{
	{"task-queue", "CLBDRAIN_TASK_QUEUE", workflows.TaskQueue,
		"task queue of the workflow; the mutating activities use it with the suffix " + workflows.MutationsQueueSuffix},
	{"region", "TENCENTCLOUD_REGION", "", "Tencent Cloud region of the load balancers, such as ap-guangzhou (required)"},
	{"clb-endpoint", "CLB_ENDPOINT", "",
		"CLB API endpoint: host[:port] or http(s)://host[:port]; empty for the region's public endpoint (finance regions use their own)"},
	{"api-rate", "CLBDRAIN_API_RATE", "20",
		"requests/s per CLB action for this process (the account allows 20 per action: split it across workers)"},
	{"queue-rate", "CLBDRAIN_QUEUE_RATE", "20",
		"mutating activities/s on the mutations task queue for the whole fleet (the account's budget), enforced by the Temporal server with a quarter of headroom for its per-partition dispatch"},
	{"request-timeout", "CLBDRAIN_REQUEST_TIMEOUT", "10s", "timeout of one CLB API request"},
	{"metrics-addr", "CLBDRAIN_METRICS_ADDR", "", "address to serve Prometheus /metrics on, such as :9090; empty for none"},
	{"log-format", "CLBDRAIN_LOG_FORMAT", "text", "log format: text or json"},
	{"log-level", "CLBDRAIN_LOG_LEVEL", "info", "log level: debug, info, warn or error"},
	{"identity", "CLBDRAIN_IDENTITY", "", "worker identity shown in Temporal; empty for pid@host"},
	{"stop-timeout", "CLBDRAIN_STOP_TIMEOUT", "30s", "on SIGINT/SIGTERM, how long running activities get to finish"},
}

// about heads the usage text.
const about = `Runs the clbdrain Temporal worker. Temporal is reached as Temporal's tools do:
TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE. Tencent Cloud credentials come only from the SDK's chain:
TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_SESSION_TOKEN), the profile file,
or the CVM role.`

// usageTemplate is the usage text, in cobra's template language.
const usageTemplate = `Usage: {{.UseLine}}

{{.Long}}

Flags:
{{.LocalFlags.FlagUsagesWrapped 100}}`

// errHelp is parseConfig's error after -h: the usage is printed.
var errHelp = pflag.ErrHelp

// parseConfig reads flags from args; each flag not given falls back to its
// environment variable (getenv), then to its default. Help and usage go to
// out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var (
		c   config
		ran bool
	)
	cmd := newCommand(getenv, func(got config) { c, ran = got, true })
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(cliflag.NormalizeArgs(cmd.Flags(), args))
	if err := cmd.Execute(); err != nil {
		return config{}, err
	}
	if !ran {
		return config{}, errHelp
	}
	return c, nil
}

// newCommand is the worker's command line; done gets the checked config.
func newCommand(getenv func(string) string, done func(config)) *cobra.Command {
	values := make(map[string]*string, len(flagSpecs))
	cmd := &cobra.Command{
		Use:           "worker [flags]",
		Long:          about,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments: %s", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error {
			c, err := newConfig(func(name string) string { return *values[name] })
			if err == nil {
				done(c)
			}
			return err
		},
	}
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetUsageTemplate(usageTemplate)
	cmd.SetHelpTemplate(usageTemplate)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprint(c.ErrOrStderr(), c.UsageString())
		return cliflag.ParseError(err)
	})
	for _, f := range flagSpecs {
		def := f.def
		if v := strings.TrimSpace(getenv(f.env)); v != "" {
			def = v
		}
		values[f.name] = cmd.Flags().String(f.name, def, f.usage+" [$"+f.env+"]")
	}
	return cmd
}

// newConfig checks the flags' values, given by flag name, and reports
// every problem at once.
func newConfig(value func(name string) string) (config, error) {
	c := config{
		TaskQueue:   value("task-queue"),
		Region:      value("region"),
		CLBEndpoint: value("clb-endpoint"),
		MetricsAddr: value("metrics-addr"),
		LogFormat:   value("log-format"),
		Identity:    value("identity"),
	}
	var problems []string
	check := func(name string, err error) {
		if err != nil {
			problems = append(problems, fmt.Sprintf("--%s %q: %v", name, value(name), err))
		}
	}
	var err error
	c.APIRate, err = positiveFloat(value("api-rate"))
	check("api-rate", err)
	c.QueueRate, err = positiveFloat(value("queue-rate"))
	check("queue-rate", err)
	if strings.TrimSpace(c.Region) == "" {
		problems = append(problems, "--region is required (or TENCENTCLOUD_REGION)")
	}
	if strings.TrimSpace(c.TaskQueue) == "" {
		problems = append(problems, "--task-queue must not be empty")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		check("log-format", errors.New("must be text or json"))
	}
	if c.LogLevel.UnmarshalText([]byte(value("log-level"))) != nil {
		check("log-level", errors.New("must be debug, info, warn or error"))
	}
	c.RequestTimeout, err = positiveDuration(value("request-timeout"))
	check("request-timeout", err)
	c.StopTimeout, err = positiveDuration(value("stop-timeout"))
	check("stop-timeout", err)
	if len(problems) > 0 {
		return config{}, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

func positiveFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	if v <= 0 {
		return 0, errors.New("must be above zero")
	}
	return v, nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration such as 10s")
	}
	if d <= 0 {
		return 0, errors.New("must be above zero")
	}
	return d, nil
}
