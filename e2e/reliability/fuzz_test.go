package reliability

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/e2e/harness"
)

// fuzzFunc finds the fuzz targets of a test file.
var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)

// findFuzzTargets lists the fuzz targets under root by package directory
// (relative, such as ./internal/clb), as `make fuzz` finds them.
func findFuzzTargets(root string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, "_test.go"):
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := "./" + filepath.ToSlash(rel)
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			out[pkg] = append(out[pkg], m[1])
		}
		return nil
	})
	return out, err
}

// fuzzInput is a seed input's result line in go test -v output.
var fuzzInput = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL): (Fuzz\w+)/`)

// The seed corpora of every fuzz target of the module (their f.Add seeds
// and testdata/fuzz files) run as part of go test in their packages; here
// they run once more to count the inputs for the campaign's table, every
// one of which must pass.
func TestFuzzSeedCorpora(t *testing.T) {
	if campaign.skip != "" {
		t.Skip(campaign.skip)
	}
	t.Parallel()
	begun := time.Now()
	r := row{Number: 7, Scenario: "fuzzing"}
	t.Cleanup(func() {
		r.Elapsed = time.Since(begun)
		if t.Failed() {
			r.Outcome = "FAILED " + r.Outcome
		}
		report.add(r)
	})
	root, err := harness.ModuleRoot()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	found, err := findFuzzTargets(root)
	require.NoError(t, err)
	passed, failed := map[string]int{}, 0
	var names []string
	for pkg, targets := range found {
		names = append(names, targets...)
		// -race shares the build of the campaign's own go test run.
		cmd := exec.CommandContext(ctx, "go", "test", "-race", "-count=1", "-v", "-run", "^("+strings.Join(targets, "|")+")$", pkg)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "go test %s:\n%s", pkg, out)
		for _, m := range fuzzInput.FindAllStringSubmatch(string(out), -1) {
			if m[1] == "PASS" {
				passed[m[2]]++
			} else {
				failed++
			}
		}
	}
	slices.Sort(names)
	require.Subset(t, names, []string{"FuzzParse", "FuzzValidate", "FuzzValidateSelector", "FuzzValidateTarget"})
	total := 0
	for _, name := range names {
		assert.Positive(t, passed[name], "%s ran its seed corpus", name)
		total += passed[name]
	}
	assert.Zero(t, failed)
	r.Injected = fmt.Sprintf("seed corpora of %d fuzz targets (%s); make fuzz runs each for FUZZTIME", len(names), strings.Join(names, ", "))
	r.Outcome = fmt.Sprintf("%d seed inputs passed, %d failed", total, failed)
}
