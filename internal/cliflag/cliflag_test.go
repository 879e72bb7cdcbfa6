package cliflag

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("lb", "", "")
	fs.String("reason", "", "")
	fs.Int("chunk-size", 0, "")
	fs.Duration("drain-delay", 0, "")
	fs.Bool("wait", false, "")
	fs.BoolP("help", "h", false, "")
	return fs
}

func TestNormalizeArgs(t *testing.T) {
	fs := newFlagSet()
	for _, tc := range []struct{ in, want []string }{
		{nil, []string{}},
		{[]string{"-lb", "lb-1", "-wait"}, []string{"--lb", "lb-1", "--wait"}},
		{[]string{"-lb=lb-1", "--wait=false", "-h"}, []string{"--lb=lb-1", "--wait=false", "-h"}},
		// A flag's value is never rewritten, even when it looks like a flag.
		{[]string{"--reason", "-wait", "-lb", "-x"}, []string{"--reason", "-wait", "--lb", "-x"}},
		{[]string{"ID", "-", "-wait"}, []string{"ID", "-", "--wait"}},
		// A bool flag takes no value: the next word is read on its own.
		{[]string{"-wait", "-lb", "x"}, []string{"--wait", "--lb", "x"}},
		{[]string{"-wait", "--", "-lb", "-x"}, []string{"--wait", "--", "-lb", "-x"}},
		{[]string{"-bogus", "v"}, []string{"--bogus", "v"}},
		{[]string{"-reason"}, []string{"--reason"}},
	} {
		assert.Equal(t, tc.want, NormalizeArgs(fs, tc.in), "%q", tc.in)
	}
}

func TestNormalizedArgsParseAsGoFlagDid(t *testing.T) {
	args := []string{"-lb", "lb-1", "-reason=-x", "-chunk-size", "-3", "-drain-delay", "1m", "-wait", "ID"}
	fs := newFlagSet()
	require.NoError(t, fs.Parse(NormalizeArgs(fs, args)))

	gfs := flag.NewFlagSet("go", flag.ContinueOnError)
	lb, reason := gfs.String("lb", "", ""), gfs.String("reason", "", "")
	chunk, delay, wait := gfs.Int("chunk-size", 0, ""), gfs.Duration("drain-delay", 0, ""), gfs.Bool("wait", false, "")
	require.NoError(t, gfs.Parse(args))

	for name, want := range map[string]string{"lb": *lb, "reason": *reason, "chunk-size": "-3", "drain-delay": delay.String(), "wait": "true"} {
		assert.Equal(t, want, fs.Lookup(name).Value.String(), name)
	}
	assert.Equal(t, -3, *chunk)
	assert.Equal(t, time.Minute, *delay)
	assert.True(t, *wait)
	assert.Equal(t, gfs.Args(), fs.Args())
}

func TestParseErrorKeepsGoFlagWording(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-x"}, "flag provided but not defined: -x"},
		{[]string{"--lb"}, "flag needs an argument: -lb"},
		{[]string{"--chunk-size", "ten"}, `invalid value "ten" for flag -chunk-size: parse error`},
		{[]string{"--chunk-size", "99999999999999999999"}, `invalid value "99999999999999999999" for flag -chunk-size: value out of range`},
		{[]string{"--drain-delay", "soon"}, `invalid value "soon" for flag -drain-delay: parse error`},
		{[]string{"--wait=maybe"}, `invalid boolean value "maybe" for -wait: parse error`},
	} {
		fs := newFlagSet()
		err := fs.Parse(tc.args)
		require.Error(t, err, "%q", tc.args)
		assert.EqualError(t, ParseError(err), tc.want, "%q", tc.args)

		gfs := flag.NewFlagSet("go", flag.ContinueOnError)
		gfs.SetOutput(io.Discard)
		gfs.String("lb", "", "")
		gfs.Int("chunk-size", 0, "")
		gfs.Duration("drain-delay", 0, "")
		gfs.Bool("wait", false, "")
		assert.EqualError(t, gfs.Parse(tc.args), tc.want, "Go's flag package, %q", tc.args)
	}
	other := pflag.ErrHelp
	assert.Equal(t, other, ParseError(other))
}
