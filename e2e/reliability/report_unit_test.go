package reliability

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table lists a scenario's variants after it, numbered 3, 3.1, 3.2, in
// order whatever order they ended in.
func TestTableOrdersVariantsAfterTheirScenario(t *testing.T) {
	tb := &table{}
	for _, r := range []row{{Number: 3, Sub: 2, Scenario: "b"}, {Number: 4, Scenario: "d"}, {Number: 3, Scenario: "default"},
		{Number: 3, Sub: 1, Scenario: "a"}} {
		tb.add(r)
	}
	var out bytes.Buffer
	path := filepath.Join(t.TempDir(), "report.txt")
	require.NoError(t, tb.publish(&out, path))
	var labels []string
	for _, line := range strings.Split(out.String(), "\n")[2:6] {
		labels = append(labels, strings.Join(strings.Fields(line)[:2], " "))
	}
	assert.Equal(t, []string{"3 default", "3.1 a", "3.2 b", "4 d"}, labels)
}
