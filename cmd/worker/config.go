package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/clbdrain/clbdrain/workflows"
)

// config is the worker's configuration: flags, each with an environment
// variable as its fallback. Cloud credentials are deliberately absent: they
// come only from the Tencent SDK's provider chain.
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

// envVar names the environment fallback of each flag.
var envVar = map[string]string{
	"task-queue":      "CLBDRAIN_TASK_QUEUE",
	"region":          "TENCENTCLOUD_REGION",
	"clb-endpoint":    "CLB_ENDPOINT",
	"api-rate":        "CLBDRAIN_API_RATE",
	"queue-rate":      "CLBDRAIN_QUEUE_RATE",
	"request-timeout": "CLBDRAIN_REQUEST_TIMEOUT",
	"metrics-addr":    "CLBDRAIN_METRICS_ADDR",
	"log-format":      "CLBDRAIN_LOG_FORMAT",
	"log-level":       "CLBDRAIN_LOG_LEVEL",
	"identity":        "CLBDRAIN_IDENTITY",
	"stop-timeout":    "CLBDRAIN_STOP_TIMEOUT",
}

// parseConfig reads flags from args, falling back to getenv for every flag
// not given, then to the defaults.
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (config, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	var (
		c         config
		logLevel  string
		apiRate   string
		queueRate string
		reqTO     string
		stopTO    string
	)
	def := func(name, fallback string) string {
		if v := strings.TrimSpace(getenv(envVar[name])); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&c.TaskQueue, "task-queue", def("task-queue", workflows.TaskQueue),
		"task queue of the workflow; the mutating activities use it with the suffix "+workflows.MutationsQueueSuffix+" [$CLBDRAIN_TASK_QUEUE]")
	fs.StringVar(&c.Region, "region", def("region", ""), "Tencent Cloud region of the load balancers, such as ap-guangzhou (required) [$TENCENTCLOUD_REGION]")
	fs.StringVar(&c.CLBEndpoint, "clb-endpoint", def("clb-endpoint", ""),
		"CLB API endpoint: host[:port] or http(s)://host[:port]; empty for the region's public endpoint (finance regions use their own) [$CLB_ENDPOINT]")
	fs.StringVar(&apiRate, "api-rate", def("api-rate", "20"),
		"requests/s per CLB action for this process (the account allows 20 per action: split it across workers) [$CLBDRAIN_API_RATE]")
	fs.StringVar(&queueRate, "queue-rate", def("queue-rate", "20"),
		"mutating activities/s on the mutations task queue for the whole fleet (the account's budget), enforced by the Temporal server with a quarter of headroom for its per-partition dispatch [$CLBDRAIN_QUEUE_RATE]")
	fs.StringVar(&reqTO, "request-timeout", def("request-timeout", "10s"),
		"timeout of one CLB API request [$CLBDRAIN_REQUEST_TIMEOUT]")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", def("metrics-addr", ""),
		"address to serve Prometheus /metrics on, such as :9090; empty for none [$CLBDRAIN_METRICS_ADDR]")
	fs.StringVar(&c.LogFormat, "log-format", def("log-format", "text"), "log format: text or json [$CLBDRAIN_LOG_FORMAT]")
	fs.StringVar(&logLevel, "log-level", def("log-level", "info"), "log level: debug, info, warn or error [$CLBDRAIN_LOG_LEVEL]")
	fs.StringVar(&c.Identity, "identity", def("identity", ""), "worker identity shown in Temporal; empty for pid@host [$CLBDRAIN_IDENTITY]")
	fs.StringVar(&stopTO, "stop-timeout", def("stop-timeout", "30s"),
		"on SIGINT/SIGTERM, how long running activities get to finish [$CLBDRAIN_STOP_TIMEOUT]")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: worker [flags]\n\nRuns the clbdrain Temporal worker. Temporal is reached as Temporal's tools do:\n"+
			"TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,\n"+
			"TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE. Tencent Cloud credentials come only from the SDK's chain:\n"+
			"TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_SESSION_TOKEN), the profile file,\n"+
			"or the CVM role.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var problems []string
	var err error
	if c.APIRate, err = positiveFloat(apiRate); err != nil {
		problems = append(problems, fmt.Sprintf("--api-rate %q: %v", apiRate, err))
	}
	if c.QueueRate, err = positiveFloat(queueRate); err != nil {
		problems = append(problems, fmt.Sprintf("--queue-rate %q: %v", queueRate, err))
	}
	if strings.TrimSpace(c.Region) == "" {
		problems = append(problems, "--region is required (or TENCENTCLOUD_REGION)")
	}
	if strings.TrimSpace(c.TaskQueue) == "" {
		problems = append(problems, "--task-queue must not be empty")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		problems = append(problems, fmt.Sprintf("--log-format %q: must be text or json", c.LogFormat))
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		problems = append(problems, fmt.Sprintf("--log-level %q: must be debug, info, warn or error", logLevel))
	}
	if c.RequestTimeout, err = positiveDuration(reqTO); err != nil {
		problems = append(problems, fmt.Sprintf("--request-timeout %q: %v", reqTO, err))
	}
	if c.StopTimeout, err = positiveDuration(stopTO); err != nil {
		problems = append(problems, fmt.Sprintf("--stop-timeout %q: %v", stopTO, err))
	}
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
