// Command clbsim serves the CLB API emulator (internal/clbsim) over HTTP,
// for the demo, compose and the benchmark. Point clbdrain at it with an
// endpoint override (the worker's endpoint flag set to the URL it prints)
// and the credentials it accepts.
//
// Usage:
//
//	clbsim [--listen 127.0.0.1:9000] [--state FILE | --generate SPEC] [flags]
//
// It prints one line to standard output, "clbsim listening on
// http://HOST:PORT" (the real port when --listen asks for port 0), logs to
// standard error, and stops cleanly on SIGINT or SIGTERM. -h lists the
// flags, the dialects and the admin routes; the README tells the rest.
//
// The default credentials, clbsim-demo-id and clbsim-demo-key, are for demos
// and tests only; CLBSIM_SECRET_ID and CLBSIM_SECRET_KEY override them, and
// the flags override both. The admin routes under /_sim/ need no signature:
// serve clbsim on a loopback or private address only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// Environment variables that set the accepted credential.
const (
	envSecretID  = "CLBSIM_SECRET_ID"
	envSecretKey = "CLBSIM_SECRET_KEY"
)

// shutdownTimeout bounds how long answers in flight may take at shutdown.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		// -h asked for the usage, which was printed.
	case err != nil:
		fmt.Fprintln(os.Stderr, "clbsim:", err)
		os.Exit(2)
	}
}

// routesHelp lists the admin routes, for -h.
const routesHelp = `
Admin routes, unsigned (serve clbsim on a loopback or private address only):
  GET  /_sim/state         the fleet bound now, in the --state format
  GET  /_sim/stats         requests, errors by code, throttled answers, tasks
  GET  /_sim/audit         every applied change, in order
  GET  /_sim/faults        the fault spec in force; PUT replaces it (text, as --faults)
  GET  /_sim/dialect       the dialect in force (JSON); PUT replaces it: {"LockCode": "InternalError"} or "all"
  POST /_sim/lock          hold a load balancer's lock: {"LoadBalancerId": "lb-abc12345", "Duration": "5s"}
  PUT  /_sim/health        set a target's health until it is unbound: {"Target": "ins-abc12345:80", "Healthy": false}
  GET  /_sim/health-model  the health model in force; PUT replaces it: {"Delay": "5s", "Unhealthy": ["10.0.0.5:80"], "UnhealthyShare": 0.1}
  POST /_sim/reset         back to the initial fleet (the faults, dialect and health model stay)
`

// options are the command line.
type options struct {
	listen, stateFile, generate, faults string
	dialect, unhealthy                  string
	unhealthyShare                      float64
	healthDelay                         time.Duration
	secretID, secretKey, region, dumpTo string
	seed                                uint64
	taskLatency, taskJitter             time.Duration
	rate                                int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{secretID: clbsim.DefaultSecretID, secretKey: clbsim.DefaultSecretKey}
	if v := os.Getenv(envSecretID); v != "" {
		o.secretID = v
	}
	if v := os.Getenv(envSecretKey); v != "" {
		o.secretKey = v
	}
	fs := flag.NewFlagSet("clbsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9000", "address to serve on; port 0 picks a free port")
	fs.StringVar(&o.stateFile, "state", "", "JSON fleet to serve (the format of GET /_sim/state)")
	fs.StringVar(&o.generate, "generate", "", "generate a fleet: lbs=N,listeners=N,l7=N,rules=N,targets=N[,eni=SHARE][,rst=SHARE][,idle=SECONDS]\n"+
		"(default "+clbsim.DefaultGenerateSpec.String()+" when --state is not given); rst is the share of TCP listeners\n"+
		"with DeregisterTargetRst on, idle their IdleConnectTimeout (default 900)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated fleet, the injected faults and the task jitter")
	fs.DurationVar(&o.taskLatency, "task-latency", time.Second, "how long each async task runs")
	fs.DurationVar(&o.taskJitter, "task-jitter", 0, "random extra task time, uniform in [0, jitter)")
	fs.IntVar(&o.rate, "rate", clbsim.DefaultRate, "requests per second accepted per action; 0 for no limit")
	fs.StringVar(&o.faults, "faults", "", "faults to inject, such as DeregisterTargets:InternalError:0.1,*:drop:0.05,*:taskfail:0.05,*:latency:200ms")
	fs.StringVar(&o.dialect, "dialect", "", "API variants to play, such as all or lingering-lock=2s,lock-code=InternalError (see below)")
	fs.DurationVar(&o.healthDelay, "health-delay", 0, "how long after its RegisterTargets task ends a new binding becomes healthy\n"+
		"(DescribeTargetHealth answers Unknown until then); the fleet's own bindings are healthy from the start")
	fs.StringVar(&o.unhealthy, "unhealthy", "", "targets that stay unhealthy (Dead) wherever they are bound, comma-separated keys\n"+
		"such as ins-abc12345:80,10.0.0.5:8080,[fd00::5]:80")
	fs.Float64Var(&o.unhealthyShare, "unhealthy-share", 0, "share, 0-1, of bindings that stay unhealthy, drawn per binding from --seed")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of clbsim:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\n--dialect takes %s\n", clbsim.DialectHelp)
		fmt.Fprint(fs.Output(), routesHelp)
	}
	fs.StringVar(&o.secretID, "secret-id", o.secretID, "SecretId accepted (env "+envSecretID+"; the default is a demo-only credential)")
	fs.StringVar(&o.secretKey, "secret-key", o.secretKey, "SecretKey of --secret-id (env "+envSecretKey+"; the default is a demo-only credential)")
	fs.StringVar(&o.region, "region", "", "the only X-TC-Region accepted; empty accepts any")
	fs.StringVar(&o.dumpTo, "dump-state", "", "write the initial fleet as JSON to this file before serving")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.stateFile != "" && o.generate != "":
		return o, errors.New("give --state or --generate, not both")
	case o.rate < 0:
		return o, errors.New("--rate must not be negative")
	case o.secretID == "" || o.secretKey == "":
		return o, errors.New("the secret id and key must not be empty")
	}
	return o, nil
}

// config turns the options into the emulator's configuration.
func (o options) config() (clbsim.Config, error) {
	cfg := clbsim.Config{Credentials: map[string]string{o.secretID: o.secretKey}, Region: o.region, Seed: o.seed,
		TaskLatency: o.taskLatency, TaskJitter: o.taskJitter, Rate: o.rate}
	if o.rate == 0 {
		cfg.Rate = -1
	}
	var err error
	if cfg.Faults, err = clbsim.ParseFaults(o.faults); err != nil {
		return cfg, err
	}
	if cfg.Dialect, err = clbsim.ParseDialect(o.dialect); err != nil {
		return cfg, err
	}
	cfg.Health = clbsim.HealthModel{Delay: o.healthDelay, UnhealthyShare: o.unhealthyShare}
	for key := range strings.SplitSeq(o.unhealthy, ",") {
		if key = strings.TrimSpace(key); key != "" {
			cfg.Health.Unhealthy = append(cfg.Health.Unhealthy, key)
		}
	}
	if err := cfg.Health.Check(); err != nil {
		return cfg, fmt.Errorf("--health-delay, --unhealthy, --unhealthy-share: %w", err)
	}
	if o.stateFile != "" {
		cfg.State, err = clbsim.LoadStateFile(o.stateFile)
		return cfg, err
	}
	spec := clbsim.DefaultGenerateSpec
	if o.generate != "" {
		if spec, err = clbsim.ParseGenerateSpec(o.generate); err != nil {
			return cfg, err
		}
	}
	cfg.State, err = clbsim.Generate(spec, o.seed)
	return cfg, err
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	sim, err := clbsim.New(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	if o.dumpTo != "" {
		if err := dumpState(o.dumpTo, sim); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	counts := cfg.State.Count()
	log.Info("clbsim fleet", "load_balancers", counts.LoadBalancers, "listeners", counts.Listeners, "rules", counts.Rules,
		"targets", counts.Targets, "secret_id", o.secretID, "task_latency", o.taskLatency, "task_jitter", o.taskJitter,
		"rate", o.rate, "faults", cfg.Faults.String(), "dialect", cfg.Dialect.String(),
		"health_delay", cfg.Health.Delay, "unhealthy", len(cfg.Health.Unhealthy), "unhealthy_share", cfg.Health.UnhealthyShare)
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "clbsim listening on http://%s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("clbsim stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func dumpState(path string, sim *clbsim.Server) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := clbsim.WriteState(f, sim.State()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
