//go:build !linux

package harness

import "syscall"

// dieWithParent has no portable equivalent outside Linux: the children of
// a test killed by its timeout may outlive it there.
func dieWithParent() *syscall.SysProcAttr { return nil }
