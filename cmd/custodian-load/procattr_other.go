//go:build !linux

package main

import "syscall"

// childAttrs: only Linux kills children with their parent; elsewhere the harness's
// deferred stop is all there is (and /proc, which the harness reads, is Linux's).
func childAttrs() *syscall.SysProcAttr { return nil }
