package activities

import "github.com/clbdrain/clbdrain/internal/clb"

// TransientMaxAttempts is the bound of the transient class, for the
// package's external tests.
var TransientMaxAttempts = classPolicies[clb.ClassTransient].maxAttempts
