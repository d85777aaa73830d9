//go:build linux

package main

import "syscall"

// childAttrs puts a server in its own process group (a Ctrl-C reaches the harness,
// which stops it in order) and has the kernel kill it should the harness die first.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
