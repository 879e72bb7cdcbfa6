// Command starter is the operator's command line for clbdrain: it starts,
// watches, cancels and schedules drains, which run on the clbdrain worker.
// Every input is checked before Temporal is dialed. `starter help` prints
// every subcommand, flag and exit code; the README has the rest.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/internal/connect"
)

// Exit codes, as the usage text (exitCodes) documents them.
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
		user:         osUser,
		now:          time.Now,
		env:          os.Getenv,
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
	// user is the OS user name, the default requester of a drain; "" when
	// unknown.
	user func() string
	// now is the clock of list's --since.
	now func() time.Time
	// env reads an environment variable (nil: none is set).
	env func(key string) string
	// warned holds the warnings printed already (see warn).
	warned map[string]bool
}

// osUser is the name of the user running the starter, from the OS, else
// $USER; "" when neither tells.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
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
