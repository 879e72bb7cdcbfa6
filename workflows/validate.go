package workflows

import (
	"strconv"
	"unicode/utf8"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Validate checks a DrainInput as DrainAndDeregister does before any API
// call: the listener and rule names, every target (at most MaxTargets),
// DrainDelay (0 to MaxDrainDelay), ChunkSize (0 to MaxChunkSize),
// ChunksPerRun (0 or more), Reason (UTF-8 text of at most MaxReasonLen
// bytes) and Requester (UTF-8 text of at most MaxRequesterLen characters).
// It returns nil, or a
// *clb.ValidationError listing every problem at once. Exact duplicate
// targets are not a problem: the workflow merges them. The starter calls it
// before starting anything.
func Validate(in DrainInput) error {
	problems := clb.ValidateSelector(in.Selector)
	problems = append(problems, clb.ValidateTargets("Targets", in.Targets, MaxTargets)...)
	if in.DrainDelay < 0 || in.DrainDelay > MaxDrainDelay {
		problems = append(problems, clb.Problem{Field: "DrainDelay", Value: in.DrainDelay.String(),
			Reason: "must be 0 (no drain) to " + MaxDrainDelay.String()})
	}
	if in.ChunkSize < 0 || in.ChunkSize > MaxChunkSize {
		problems = append(problems, clb.Problem{Field: "ChunkSize", Value: strconv.Itoa(in.ChunkSize),
			Reason: "must be 0 (the default, " + strconv.Itoa(MaxChunkSize) + ") to " + strconv.Itoa(MaxChunkSize)})
	}
	if in.ChunksPerRun < 0 {
		problems = append(problems, clb.Problem{Field: "ChunksPerRun", Value: strconv.Itoa(in.ChunksPerRun),
			Reason: "must be 0 (the default, " + strconv.Itoa(DefaultChunksPerRun) + ") or more"})
	}
	problems = append(problems, validateAudit(in.Reason, in.Requester)...)
	return clb.Err(problems)
}

// validateAudit checks the Reason and Requester every workflow records in
// its audit: a reason of at most MaxReasonLen bytes of UTF-8 (JSON would
// replace other bytes, and the workflow would record another reason,
// possibly over the bound), and the requester as validateRequester does.
func validateAudit(reason, requester string) []clb.Problem {
	var out []clb.Problem
	switch {
	case len(reason) > MaxReasonLen:
		out = append(out, clb.Problem{Field: "Reason", Value: strconv.Itoa(len(reason)) + " bytes",
			Reason: "must be at most " + strconv.Itoa(MaxReasonLen) + " bytes"})
	case !utf8.ValidString(reason):
		out = append(out, clb.Problem{Field: "Reason", Value: reason, Reason: "must be UTF-8 text"})
	}
	return append(out, validateRequester(requester)...)
}
