package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
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

// usageTemplate is a subcommand's usage (cobra's template language).
const usageTemplate = `Usage: {{.UseLine}}

{{.Long}}
{{if .HasAvailableLocalFlags}}
Flags:
{{.LocalFlags.FlagUsagesWrapped 100}}{{end}}
` + exitCodes + "\n\n" + environment + "\n"

// overview names every subcommand, the exit codes and the environment.
func (a *app) overview(root *cobra.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%[1]s starts, watches, cancels, schedules and lists clbdrain drains, which take
real servers out of a Tencent Cloud CLB listener or layer-7 rule safely.

Usage:
`, a.prog)
	for _, c := range subcommands(root) {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	fmt.Fprintf(&b, "  %s help [COMMAND]\n\nRun '%s help' for every command's flags, '%s help COMMAND' for one's.\n\n%s\n\n%s",
		a.prog, a.prog, a.prog, exitCodes, environment)
	return b.String()
}

// fullHelp prints the overview and every subcommand's usage.
func (a *app) fullHelp(root *cobra.Command) {
	fmt.Fprintln(a.stdout, a.overview(root))
	for _, c := range subcommands(root) {
		fmt.Fprintf(a.stdout, "\n%s\n%s", strings.Repeat("-", 72), c.UsageString())
	}
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
