package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// exitCodes documents the exit codes in every usage text.
const exitCodes = `Exit codes:
  0  done: the drain completed (without --wait: it was started)
  1  the drain failed or was cancelled, or the command could not finish
     (Temporal unreachable, no such workflow, watching interrupted)
  2  bad input or usage: nothing was started
  3  already running: a drain with this workflow ID, or a schedule with
     this ID, exists`

// environment documents the Temporal connection settings.
const environment = `Temporal connection: a temporal.toml profile (TEMPORAL_CONFIG_FILE,
TEMPORAL_PROFILE) overlaid by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY and TEMPORAL_TLS_*; by default localhost:7233, namespace
"default". Links point at the Temporal UI at TEMPORAL_UI_ADDRESS (default
http://localhost:8233). No secret is ever printed.`

// subcommand describes one subcommand for its usage text.
type subcommand struct {
	name     string
	synopsis string
	about    string
	// flags builds the subcommand's flag set, bound to throwaway values,
	// to list its flags.
	flags func() *flag.FlagSet
}

func (a *app) subcommands() []subcommand {
	return []subcommand{
		{name: "drain", synopsis: "drain --lb ID --listener ID [--location ID | --domain HOST --url PATH] --targets FILE [flags]",
			about: `Starts a drain on the clbdrain worker: the targets listed in FILE are taken
out of the listener (or layer-7 rule), first drained when --drain-delay is set
(weight 0, then the delay), then deregistered in chunks of at most 20, each
waited for until the CLB reports it done. Targets not bound are reported,
not an error, and nothing else is ever touched.

The input is checked before Temporal is dialed: every problem is listed and
nothing is started (exit 2). The workflow ID is clb-drain/<lb>/<listener>[/<rule>],
so a second drain of one listener or rule is refused while the first runs
(exit 3). Without --wait, the command exits once the drain is started.

FILE (- for standard input) lists one target a line, as InstanceId:port or
IP:port (no @weight: targets keep theirs until they are removed); blank
lines and # comments are ignored:
    ins-abc12345:80
    10.0.0.5:8080      # ENI IP
    [fd00::5]:8080     # IPv6 in brackets
or is a JSON array:
    [{"InstanceId":"ins-abc12345","Port":80},{"EniIp":"10.0.0.5","Port":8080}]`,
			flags: func() *flag.FlagSet { return (&drainCmd{}).flagSet(a.prog) }},
		{name: "status", synopsis: "status [--json] [--wait] WORKFLOW_ID",
			about: `Shows a drain: its workflow status (running, completed, failed, cancelled,
terminated, timed out), its progress while it runs (the progress query,
answered by a worker), and its result once it has ended. Exits 0 when the
drain runs or completed, 1 when it failed or was cancelled.`,
			flags: func() *flag.FlagSet { return (&watchCmd{}).flagSet(a.prog, "status") }},
		{name: "cancel", synopsis: "cancel [--json] [--wait] WORKFLOW_ID",
			about: `Asks a running drain to stop. The chunk in flight finishes (or is abandoned
cleanly), the targets drained to weight 0 but not yet deregistered get their
original weights back, and the drain reports what it did. Targets already
deregistered stay deregistered.`,
			flags: func() *flag.FlagSet { return (&watchCmd{}).flagSet(a.prog, "cancel") }},
		{name: "schedule", synopsis: "schedule --schedule-id ID (--cron EXPR... | --every DURATION) [--pause] [drain flags]",
			about: `Creates a Temporal Schedule that starts the same drain at every time given by
--cron or --every (both may be given: the drain runs at each time either
names), for recurring maintenance. The input is checked first, as for drain.
A time that comes while the previous scheduled drain still runs is skipped
(overlap policy SKIP). Each run is a ScheduledDrain workflow that runs the
drain as a child under the drain's workflow ID, so a scheduled drain is also
skipped (failing with DrainAlreadyRunning) while a drain of the same listener
started by hand runs: one listener is never drained twice at once. The
targets file is read now and kept in the schedule.`,
			flags: func() *flag.FlagSet { return (&scheduleCmd{}).flagSet(a.prog) }},
		{name: "unschedule", synopsis: "unschedule SCHEDULE_ID",
			about: `Deletes a schedule made by "schedule". Drains it already started keep
running; cancel them with "cancel".`,
			flags: func() *flag.FlagSet { return newFlagSet(a.prog, "unschedule") }},
	}
}

func (a *app) overview() string {
	var b strings.Builder
	fmt.Fprintf(&b, `%[1]s starts, watches, cancels and schedules clbdrain drains, which take real
servers out of a Tencent Cloud CLB listener or layer-7 rule safely.

Usage:
`, a.prog)
	for _, c := range a.subcommands() {
		fmt.Fprintf(&b, "  %s %s\n", a.prog, c.synopsis)
	}
	fmt.Fprintf(&b, "  %s help [COMMAND]\n\nRun '%s help' for every command's flags, '%s help COMMAND' for one's.\n\n%s\n\n%s",
		a.prog, a.prog, a.prog, exitCodes, environment)
	return b.String()
}

// usage is the full usage text of one subcommand, with every flag.
func (a *app) usage(c subcommand) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s %s\n\n%s\n", a.prog, c.synopsis, c.about)
	if fs := c.flags(); hasFlags(fs) {
		b.WriteString("\nFlags:\n")
		writeFlags(&b, fs)
	}
	fmt.Fprintf(&b, "\n%s\n\n%s", exitCodes, environment)
	return b.String()
}

func (a *app) usageOf(name string) string {
	for _, c := range a.subcommands() {
		if c.name == name {
			return a.usage(c)
		}
	}
	return a.overview()
}

// help prints the overview and every subcommand's usage, or one
// subcommand's usage.
func (a *app) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(a.stdout, a.overview())
		for _, c := range a.subcommands() {
			fmt.Fprintf(a.stdout, "\n%s\n%s\n", strings.Repeat("-", 72), a.usage(c))
		}
		return exitOK
	}
	for _, c := range a.subcommands() {
		if c.name == args[0] {
			fmt.Fprintln(a.stdout, a.usage(c))
			return exitOK
		}
	}
	fmt.Fprintf(a.stderr, "%s help: unknown command %q\n\n%s\n", a.prog, args[0], a.overview())
	return exitUsage
}

// newFlagSet is a flag set that leaves the printing to parse.
func newFlagSet(prog, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(prog+" "+name, flag.ContinueOnError)
	fs.Usage = func() {}
	return fs
}

// parse parses args into fs and checks the positional arguments: one,
// named arg, or none when arg is "". Flags may come before or after it
// ("cancel ID --wait"); after "--" everything is positional. It returns -1
// to go on, or the exit code to return: 0 after -h (the usage is printed),
// 2 after a usage error (printed with the synopsis).
func (a *app) parse(fs *flag.FlagSet, name string, args []string, arg string) (int, []string) {
	// The flag package's own messages lack the command; ours say it.
	fs.SetOutput(io.Discard)
	var positional []string
	err := fs.Parse(args)
	for err == nil && fs.NArg() > 0 {
		rest := fs.Args()
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
		err = fs.Parse(args)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(a.stdout, a.usageOf(name))
		return exitOK, nil
	case err != nil:
		a.errorf(name, "%v", err)
	case arg == "" && len(positional) > 0:
		a.errorf(name, "unexpected argument %q: everything is given by flags", positional[0])
	case arg != "" && len(positional) == 0:
		a.errorf(name, "needs %s", arg)
	case arg != "" && len(positional) > 1:
		a.errorf(name, "takes one %s, but got %d arguments: %q", arg, len(positional), positional)
	default:
		return -1, positional
	}
	fmt.Fprintf(a.stderr, "Usage: %s %s\nRun '%s help %s' for every flag.\n", a.prog, a.synopsisOf(name), a.prog, name)
	return exitUsage, nil
}

func (a *app) synopsisOf(name string) string {
	for _, c := range a.subcommands() {
		if c.name == name {
			return c.synopsis
		}
	}
	return name
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// writeFlags lists flags as --name VALUE with their usage and any default
// other than the zero value, like flag.PrintDefaults with GNU-style dashes.
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if value != "" {
			fmt.Fprintf(w, " %s", value)
		}
		fmt.Fprintf(w, "\n      %s", strings.ReplaceAll(usage, "\n", "\n      "))
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// command is a command line for the operator to copy: the program and its
// arguments, each quoted for a POSIX shell when it needs to be.
func (a *app) command(args ...string) string {
	parts := []string{a.prog}
	for _, arg := range args {
		parts = append(parts, shellQuote(arg))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
