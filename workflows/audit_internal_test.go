package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFitListAndFitJSONMatchEncodingJSON: every audit value, as
// encoding/json writes it, stays within the limit, and as much as fits is
// kept.
func TestFitListAndFitJSONMatchEncodingJSON(t *testing.T) {
	var listeners []string
	for i := range 500 {
		listeners = append(listeners, fmt.Sprintf("lbl-%08d/loc-%08d", i, i))
	}
	for _, values := range [][]string{listeners, {strings.Repeat("<&>", 200), "x"}, {"a\"b\\c\n", "é", "\u2028"}, nil} {
		got := fitList(values, MaxAuditValueBytes)
		data, err := json.Marshal(got)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), MaxAuditValueBytes)
		assert.Equal(t, values[:len(got)], got, "a prefix")
		if len(got) < len(values) {
			more, err := json.Marshal(values[:len(got)+1])
			require.NoError(t, err)
			assert.Greater(t, len(more), MaxAuditValueBytes, "one more would not fit")
		}
	}
	for _, s := range []string{strings.Repeat("<", 2000), strings.Repeat("é", 2000), strings.Repeat("\x01", 700), "short"} {
		got := fitJSON(s, MaxAuditValueBytes)
		data, err := json.Marshal(got)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), MaxAuditValueBytes)
		if s == "short" {
			assert.Equal(t, s, got)
		} else {
			assert.GreaterOrEqual(t, len(data), MaxAuditValueBytes-6, "as much as fits")
		}
	}
}

// TestTextSafeRemovesTsvectorSyntax: a Text value never holds a character
// that breaks the PostgreSQL visibility store's tsvector write; the rest of
// it, words and length, stays.
func TestTextSafeRemovesTsvectorSyntax(t *testing.T) {
	for in, want := range map[string]string{
		"CHG-42: kernel upgrade":  "CHG-42  kernel upgrade",
		`it's C:\temp`:            "it s C  temp",
		"plain words, no problem": "plain words, no problem",
		"é:ü":                     "é ü",
		"":                        "",
	} {
		got := textSafe(in)
		assert.Equal(t, want, got, "%q", in)
		assert.False(t, strings.ContainsAny(got, tsvectorSyntax), "%q", in)
	}
	u := text(SearchAttrReason, "CHG-42: it's done")
	assert.False(t, u.skip)
	assert.True(t, text(SearchAttrReason, "::").skip, "nothing left to search")
}
