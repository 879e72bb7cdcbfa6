// Command starter is the operator's command line for clbdrain: it starts a
// drain that takes real servers out of a Tencent Cloud CLB listener or
// layer-7 rule, watches it, cancels it, and schedules recurring maintenance
// drains. The drain itself runs on the clbdrain worker, as the Temporal
// workflow DrainAndDeregister.
//
//	starter drain      --lb ID --listener ID [--location ID | --domain D --url U] --targets FILE [flags]
//	starter status     [--json] [--wait] WORKFLOW_ID
//	starter cancel     [--json] [--wait] WORKFLOW_ID
//	starter schedule   --schedule-id ID (--cron EXPR | --every DURATION) [--pause] [drain flags]
//	starter unschedule SCHEDULE_ID
//	starter help       [COMMAND]
//
// Every input is validated before Temporal is dialed: a bad input starts
// nothing. A drain gets the workflow ID clb-drain/<lb>/<listener>[/<rule>]
// and is started only when no drain with that ID is running, so one
// listener is never drained twice at once.
//
// Exit codes:
//
//	0  done: the drain completed (without --wait: it was started)
//	1  the drain failed or was cancelled, or the command could not finish
//	   (Temporal unreachable, no such workflow, watching interrupted)
//	2  bad input or usage: nothing was started
//	3  already running: a drain with this workflow ID, or a schedule with
//	   this ID, exists
//
// The Temporal connection comes from a temporal.toml profile
// (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) overlaid by TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY and TEMPORAL_TLS_*; links point at the
// Temporal UI at TEMPORAL_UI_ADDRESS. No secret is ever printed.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/connect"
)

// Exit codes, as documented above and in the usage text.
const (
	exitOK             = 0
	exitFailed         = 1
	exitUsage          = 2
	exitAlreadyRunning = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: args are os.Args (the program name first). It
// returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		prog:         "starter",
		stdin:        stdin,
		stdout:       stdout,
		stderr:       stderr,
		dial:         dialTemporal(stderr),
		terminal:     terminalWidth,
		pollInterval: time.Second,
		queryTimeout: 3 * time.Second,
	}
	if len(args) > 0 {
		a.prog = filepath.Base(args[0])
		args = args[1:]
	}
	return a.main(ctx, args)
}

// app holds what the subcommands share; tests build one with a fake dial.
type app struct {
	prog           string
	stdin          io.Reader
	stdout, stderr io.Writer
	// dial connects to Temporal and names the namespace, for UI links. It
	// is called only after the input is known to be good.
	dial func(ctx context.Context) (client.Client, string, error)
	// terminal reports whether w is a terminal, and its width.
	terminal func(w io.Writer) (width int, ok bool)
	// pollInterval is how often a watcher asks for progress; queryTimeout
	// bounds one progress query, which waits for a worker to answer.
	pollInterval time.Duration
	queryTimeout time.Duration
}

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, a.overview())
		return exitUsage
	}
	switch args[0] {
	case "drain":
		return a.drain(ctx, args[1:])
	case "status":
		return a.status(ctx, args[1:])
	case "cancel":
		return a.cancel(ctx, args[1:])
	case "schedule":
		return a.schedule(ctx, args[1:])
	case "unschedule":
		return a.unschedule(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		return a.help(args[1:])
	}
	fmt.Fprintf(a.stderr, "%s: unknown command %q\n\n%s\n", a.prog, args[0], a.overview())
	return exitUsage
}

// dialTemporal dials with connect.Dial, sending the SDK's own logs (warnings
// and worse) to stderr so that stdout stays clean for --json.
func dialTemporal(stderr io.Writer) func(ctx context.Context) (client.Client, string, error) {
	return func(ctx context.Context) (client.Client, string, error) {
		o := connect.Options{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		opts, err := connect.ClientOptions(o)
		if err != nil {
			return nil, "", err
		}
		c, err := connect.Dial(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return c, opts.Namespace, nil
	}
}

// connect dials Temporal, reporting a failure on stderr; ok is false then.
func (a *app) connect(ctx context.Context, cmd string) (c client.Client, namespace string, ok bool) {
	c, namespace, err := a.dial(ctx)
	if err != nil {
		a.errorf(cmd, "%v", err)
		return nil, "", false
	}
	return c, namespace, true
}

func (a *app) errorf(cmd, format string, args ...any) {
	fmt.Fprintf(a.stderr, "%s %s: %s\n", a.prog, cmd, fmt.Sprintf(format, args...))
}

// interrupted reports a watch stopped by the operator (Ctrl-C): the drain
// itself goes on, and the message says how to find it again.
func (a *app) interrupted(ctx context.Context, cmd, workflowID string) bool {
	if ctx.Err() == nil {
		return false
	}
	a.errorf(cmd, "stopped watching; the drain goes on in Temporal.\n  watch it:  %s\n  cancel it: %s",
		a.command("status", "--wait", workflowID), a.command("cancel", workflowID))
	return true
}
