package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/clbdrain/clbdrain/internal/cliflag"
)

func init() {
	// The overview lists the subcommands in the order they are added.
	cobra.EnableCommandSorting = false
}

// exitError carries a subcommand's exit code out of cobra; what went wrong
// has been printed already.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// exit is RunE's error for a subcommand's exit code: nil for exitOK.
func exit(code int) error {
	if code == exitOK {
		return nil
	}
	return exitError{code}
}

// main runs one command line (args without the program name) and returns
// its exit code. Any error but a subcommand's exit code is cobra's, about
// the command line: exit 2.
func (a *app) main(ctx context.Context, args []string) int {
	root := a.rootCommand()
	// The subcommand's flags tell which -flag takes a value.
	target, _, _ := root.Find(args)
	root.SetArgs(cliflag.NormalizeArgs(target.Flags(), args))
	cmd, err := root.ExecuteContextC(ctx)
	var code exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return code.code
	}
	a.usageFailed(cmd, err)
	return exitUsage
}

// rootCommand is the starter with every subcommand; without one it prints
// the overview and exits 2.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           a.prog,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprintln(a.stderr, a.overview(cmd))
			} else {
				fmt.Fprintf(a.stderr, "%s: unknown command %q\n\n%s\n", a.prog, args[0], a.overview(cmd))
			}
			return exit(exitUsage)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cliflag.ParseError(err) })
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		if cmd.HasParent() {
			fmt.Fprint(a.stdout, cmd.UsageString())
			return
		}
		a.fullHelp(cmd)
	})
	root.AddCommand(a.drainCommand(), a.statusCommand(), a.cancelCommand(), a.scheduleCommand(), a.unscheduleCommand(), a.listCommand(),
		a.restoreCommand())
	root.AddCommand(a.serversCommands()...)
	root.SetHelpCommand(a.helpCommand(root))
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		c.DisableFlagsInUseLine = true
		c.InitDefaultHelpFlag()
	}
	return root
}

// helpCommand is "starter help [COMMAND]": every command's usage, or one's.
func (a *app) helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:                "help [COMMAND]",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				a.fullHelp(root)
				return nil
			}
			for _, c := range subcommands(root) {
				if c.Name() == args[0] {
					fmt.Fprint(a.stdout, c.UsageString())
					return nil
				}
			}
			fmt.Fprintf(a.stderr, "%s help: unknown command %q\n\n%s\n", a.prog, args[0], a.overview(root))
			return exit(exitUsage)
		},
	}
}

// subcommands are the commands the overview lists, help aside.
func subcommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			out = append(out, c)
		}
	}
	return out
}

// usageFailed reports a bad command line with the synopsis of its command.
func (a *app) usageFailed(cmd *cobra.Command, err error) {
	if !cmd.HasParent() {
		fmt.Fprintf(a.stderr, "%s: %v\n\n%s\n", a.prog, err, a.overview(cmd))
		return
	}
	a.errorf(cmd.Name(), "%v", err)
	fmt.Fprintf(a.stderr, "Usage: %s\nRun '%s help %s' for every flag.\n", cmd.UseLine(), a.prog, cmd.Name())
}

// noArgs refuses positional arguments: everything is given by flags.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: everything is given by flags", args[0])
	}
	return nil
}

// oneArg wants exactly one positional argument, called name in messages.
func oneArg(name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return fmt.Errorf("needs %s", name)
		case len(args) > 1:
			return fmt.Errorf("takes one %s, but got %d arguments: %q", name, len(args), args)
		}
		return nil
	}
}
