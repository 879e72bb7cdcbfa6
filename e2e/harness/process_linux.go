package harness

import "syscall"

// dieWithParent makes the kernel kill the child with SIGKILL when the
// process that started it dies, so that a test killed by its timeout
// leaves no worker or server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
