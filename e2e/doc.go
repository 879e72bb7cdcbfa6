// Package e2e holds clbdrain's end-to-end tests: the real worker and starter
// binaries against a real Temporal dev server (the temporal CLI) and the
// clbsim emulator, verified against clbsim's state and audit rather than
// against what clbdrain says about itself.
//
// They need the temporal CLI: CLBDRAIN_TEMPORAL_CLI, else temporal on PATH,
// else ./bin/temporal (make test builds it). Without it a plain go test skips
// them; with CLBDRAIN_E2E=1 (make test, CI) a missing CLI is a failure.
package e2e
