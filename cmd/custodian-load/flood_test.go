package main

import (
	"bytes"
	"context"
	"testing"
)

// TestFloodRefusesWhatItMustNotDo: flood needs a target and a process, and loads
// loopback only.
func TestFloodRefusesWhatItMustNotDo(t *testing.T) {
	for name, args := range map[string][]string{
		"no target":        {"flood"},
		"no process":       {"flood", "-url", "http://127.0.0.1:1"},
		"not loopback":     {"flood", "-url", "http://192.0.2.1:80", "-pid", "1"},
		"unknown kind":     {"flood", "-url", "http://127.0.0.1:1", "-pid", "1", "-kind", "refresh"},
		"too long a flood": {"flood", "-url", "http://127.0.0.1:1", "-pid", "1", "-for", "1h"},
	} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), args, func(string) string { return "" }, &out, &errs); code != exitUsage {
			t.Errorf("%s: exit %d, stderr %s", name, code, errs.String())
		}
	}
}
