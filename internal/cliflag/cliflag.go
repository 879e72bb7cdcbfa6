// Package cliflag keeps the command lines of clbdrain's commands as they
// were when Go's flag package read them, now that cobra and pflag do:
// single-dash long flags (-lb) still work, and parse errors keep their
// wording.
package cliflag

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// NormalizeArgs rewrites each single-dash long flag (-lb, -lb=x) as
// --lb, which pflag would otherwise read as shorthands. Flag values, other
// words and everything after "--" are left as they are; fs tells which
// flags take a value. The result is never nil.
func NormalizeArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(out, args[i:]...)
		}
		if len(arg) > 2 && arg[0] == '-' && arg[1] != '-' {
			arg = "-" + arg
		}
		out = append(out, arg)
		name, _, hasValue := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !strings.HasPrefix(arg, "--") || hasValue || i+1 == len(args) {
			continue
		}
		if f := fs.Lookup(name); f != nil && f.NoOptDefVal == "" {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// ParseError words a pflag parse error as Go's flag package did ("flag
// provided but not defined: -bogus"); other errors come back unchanged.
func ParseError(err error) error {
	var (
		notExist *pflag.NotExistError
		noValue  *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &notExist):
		return fmt.Errorf("flag provided but not defined: -%s", notExist.GetSpecifiedName())
	case errors.As(err, &noValue):
		return fmt.Errorf("flag needs an argument: -%s", noValue.GetSpecifiedName())
	case errors.As(err, &invalid):
		reason := "parse error"
		if errors.Is(invalid, strconv.ErrRange) {
			reason = "value out of range"
		}
		if invalid.GetFlag().Value.Type() == "bool" {
			return fmt.Errorf("invalid boolean value %q for -%s: %s", invalid.GetValue(), invalid.GetFlag().Name, reason)
		}
		return fmt.Errorf("invalid value %q for flag -%s: %s", invalid.GetValue(), invalid.GetFlag().Name, reason)
	}
	return err
}
