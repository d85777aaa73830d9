package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveLogs runs serve with env and args until a request to /healthz has been answered,
// then stops it and returns its standard output and its log.
func serveLogs(t *testing.T, env map[string]string, args ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := newLineWriter(regexp.MustCompile(`(?s)listening on (http://\S+).*Operations and administration on (http://\S+)`))
	var errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...), mapEnv(env), out, &errs)
	}()
	select {
	case base := <-out.found:
		res, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	case code := <-done:
		t.Fatalf("serve ended with status %d\n%s\n%s", code, out.String(), errs.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exited with status %d\n%s", code, errs.String())
		}
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatal("serve did not stop")
	}
	return out.String(), errs.String()
}

// TestJSONLogs: with JSON logs every line of the log is a JSON record, durations are
// milliseconds under a key that says so, the demo is a record with fields (nothing of
// it on standard output), and a server without SMTP warns that mail, reset tokens and
// codes go to the log.
func TestJSONLogs(t *testing.T) {
	env := map[string]string{
		"CUSTODIAN_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "custodian.db"),
		"CUSTODIAN_LOG_FORMAT":   "json",
	}
	stdout, log := serveLogs(t, env, "--demo")
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		records = append(records, rec)
	}
	find := func(pred func(map[string]any) bool) map[string]any {
		for _, r := range records {
			if pred(r) {
				return r
			}
		}
		return nil
	}
	demo := find(func(r map[string]any) bool { _, ok := r["backend_secret"]; return ok })
	if demo == nil || demo["tenant"] != "demo" || demo["shopper_email"] != "shopper@example.com" || demo["shopper_password"] == "" ||
		!strings.Contains(demo["authorize_url"].(string), "code_challenge_method=S256") || demo["created"] != true {
		t.Errorf("no demo record with fields:\n%s", log)
	}
	if strings.Contains(stdout, "Try it") || strings.Contains(stdout, "backend client") {
		t.Errorf("the demo banner is printed as text with JSON logs:\n%s", stdout)
	}
	req := find(func(r map[string]any) bool { return r["msg"] == "request" })
	if ms, ok := req["duration_ms"].(float64); req == nil || !ok || ms < 0 || ms > 60_000 {
		t.Errorf("request record without duration_ms in milliseconds: %v", req)
	}
	if _, ns := req["duration"]; ns {
		t.Errorf("request record still has the nanosecond duration: %v", req)
	}
	if r := find(func(r map[string]any) bool { return r["msg"] == "shutting down" }); r == nil || r["timeout_ms"] != float64(15000) {
		t.Errorf("shutdown record: %v", r)
	}
	warn := find(func(r map[string]any) bool { return r["mail"] == "log" })
	if warn == nil || warn["level"] != "WARN" || !strings.Contains(warn["msg"].(string), "password reset tokens") ||
		!strings.Contains(warn["msg"].(string), "second-factor codes") {
		t.Errorf("no loud warning that mail goes to the log:\n%s", log)
	}

	// The text handler keeps the banner as text; with SMTP configured there is no warning.
	env["CUSTODIAN_LOG_FORMAT"] = "text"
	env["CUSTODIAN_SMTP_URL"] = "smtp://127.0.0.1:9"
	env["CUSTODIAN_MAIL_FROM"] = "shop@example.com"
	stdout, log = serveLogs(t, env, "--demo")
	if !strings.Contains(stdout, "created nothing") || !strings.Contains(stdout, "Try it") {
		t.Errorf("text banner:\n%s", stdout)
	}
	if strings.Contains(log, "MAIL IS NOT SENT") {
		t.Errorf("a server with SMTP warns about mail in the log:\n%s", log)
	}
	if !regexp.MustCompile(`duration=\d`).MatchString(log) {
		t.Errorf("the text log lost its durations:\n%s", log)
	}
}
