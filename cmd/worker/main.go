// Command worker runs the clbdrain Temporal worker: the drain workflows and
// the activities that call the Tencent Cloud CLB API, on the workflow's task
// queue and on its "-mutations" queue, which the Temporal server rate-limits
// for the whole fleet. `worker -h` lists the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/activities"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/connect"
	"github.com/clbdrain/clbdrain/internal/turns"
	"github.com/clbdrain/clbdrain/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run starts the worker and blocks until ctx is done; it returns the exit
// code: 0 after a clean stop, 2 for bad flags, 1 for any other failure.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	// The SDK, the libraries and the standard log package log through it.
	slog.SetDefault(log)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("worker stopped", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve connects, registers and runs both workers until ctx is done.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	m, err := newMetrics(cfg.MetricsAddr, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := m.close(context.Background()); err != nil {
			log.Warn("stopping the metrics server", "error", err)
		}
	}()

	api, err := clb.NewClient(clb.Config{
		Region:        cfg.Region,
		Endpoint:      cfg.CLBEndpoint,
		Timeout:       cfg.RequestTimeout,
		RatePerAction: cfg.APIRate,
		OnCall:        m.onAPICall,
	})
	if err != nil {
		return err
	}

	copts := connect.Options{Logger: log, MetricsHandler: m.handler, Identity: cfg.Identity}
	topts, err := connect.ClientOptions(copts)
	if err != nil {
		return err
	}
	c, err := connect.Dial(ctx, copts)
	if err != nil {
		return err
	}
	defer c.Close()
	audit := newAuditCheck(c.OperatorService(), topts.Namespace)
	audit.report(ctx, log)

	acts := &activities.Activities{CLB: api, Turns: &turns.Client{Temporal: c, TaskQueue: cfg.TaskQueue, Log: log}}
	main, mut := newWorkers(c, cfg, acts, audit)
	mutations := cfg.TaskQueue + workflows.MutationsQueueSuffix
	if err := main.Start(); err != nil {
		return fmt.Errorf("starting the worker on %s: %w", cfg.TaskQueue, err)
	}
	defer main.Stop()
	if err := mut.Start(); err != nil {
		return fmt.Errorf("starting the worker on %s: %w", mutations, err)
	}
	defer mut.Stop()

	log.Info("worker started", "task_queue", cfg.TaskQueue, "mutations_task_queue", mutations,
		"region", cfg.Region, "clb_endpoint", api.Endpoint(), "api_rate", cfg.APIRate, "queue_rate", cfg.QueueRate)
	<-ctx.Done()
	log.Info("stopping: running activities get up to the stop timeout to finish", "stop_timeout", cfg.StopTimeout)
	return nil
}

// turnHeartbeatThrottle is the longest the mutations worker holds back the
// heartbeats of activities waiting for their turn on a load balancer.
const turnHeartbeatThrottle = 2 * time.Second

// newWorkers are the worker of the task queue (the workflows, the
// read-only activities, the audit check and the load balancers' turns) and
// the worker of its mutations queue, rate-limited for the whole fleet.
func newWorkers(c client.Client, cfg config, acts *activities.Activities, audit auditCheck) (main, mut worker.Worker) {
	main = worker.New(c, cfg.TaskQueue, mainOptions(cfg))
	main.RegisterWorkflowWithOptions(workflows.DrainAndDeregister, workflow.RegisterOptions{Name: workflows.WorkflowName})
	main.RegisterWorkflowWithOptions(workflows.ScheduledDrain, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
	main.RegisterWorkflowWithOptions(workflows.DrainServers, workflow.RegisterOptions{Name: workflows.ServersWorkflowName})
	main.RegisterWorkflowWithOptions(workflows.DrainClaim, workflow.RegisterOptions{Name: workflows.ClaimWorkflowName})
	main.RegisterWorkflowWithOptions(workflows.RestoreTargets, workflow.RegisterOptions{Name: workflows.RestoreWorkflowName})
	main.RegisterWorkflowWithOptions(workflows.LoadBalancerTurns, workflow.RegisterOptions{Name: turns.WorkflowName})
	main.RegisterActivity(acts)
	main.RegisterActivityWithOptions(audit.attributes, activity.RegisterOptions{Name: workflows.AuditAttributesActivity})

	mut = worker.New(c, cfg.TaskQueue+workflows.MutationsQueueSuffix, mutationOptions(cfg))
	mut.RegisterActivity(acts)
	return main, mut
}

// workflowPollers is how many long polls the worker keeps open for
// workflow tasks. The SDK splits them between the task queue and the
// worker's sticky queue (at least half on the sticky one, all of them
// while it has a backlog), so eight keep four on the task queue, one per
// partition of its four by default: a task that finds no poll waiting on
// its partition goes to that partition's backlog, picked up later. With
// the SDK's two (one on the task queue), the child drains of a server
// drain, ten started at once, waited up to 3 s for their first workflow
// task on a dev server; with eight, at most 0.25 s. More activity polls
// were measured too, and slowed a fleet of drains.
const workflowPollers = 8

// mainOptions are the options of the worker of the task queue.
func mainOptions(cfg config) worker.Options {
	return worker.Options{WorkerStopTimeout: cfg.StopTimeout,
		MaxConcurrentWorkflowTaskPollers: workflowPollers}
}

// mutationOptions are the options of the worker of the mutations queue.
func mutationOptions(cfg config) worker.Options {
	return worker.Options{
		WorkerStopTimeout:            cfg.StopTimeout,
		TaskQueueActivitiesPerSecond: serverQueueRate(cfg.QueueRate),
		DisableWorkflowWorker:        true,
		// A mutation waiting for its turn heartbeats every second: it
		// learns of its cancellation within this interval.
		MaxHeartbeatThrottleInterval: turnHeartbeatThrottle,
	}
}

// queueRateHeadroom is how much more than --queue-rate the worker asks the
// Temporal server to dispatch on the mutations task queue: the server splits
// the rate among the queue's partitions, so an exact ceiling would delay
// mutations while the fleet is under it (README, "Running a fleet").
const queueRateHeadroom = 1.25

// serverQueueRate is the TaskQueueActivitiesPerSecond that enforces the
// fleet's ceiling of queueRate mutating activities per second.
func serverQueueRate(queueRate float64) float64 {
	return queueRate * queueRateHeadroom
}
