package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// drainChildEnv makes the test binary a `custodian serve --demo` process with main's
// own signal handling (TestDrainChildServe); its configuration comes from the
// environment the parent gives it.
const drainChildEnv = "CUSTODIAN_TEST_DRAIN_CHILD"

// TestDrainChildServe is the child of the drain tests: with drainChildEnv set it is
// `custodian serve` as main runs it, signals included. Without it, it does nothing.
func TestDrainChildServe(t *testing.T) {
	if os.Getenv(drainChildEnv) == "" {
		return
	}
	ctx, hurry, stop := signals()
	code := runSignalled(ctx, hurry, []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--demo"},
		os.Getenv, strings.NewReader(""), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// node is a `custodian serve` process.
type node struct {
	t           *testing.T
	cmd         *exec.Cmd
	base, admin string
	exited      chan struct{}
	code        int
	stderr      syncBuffer
}

// startNode starts a node on the database and waits until it listens (the drain
// tests, TestKill9DuringWrites).
func startNode(t *testing.T, env map[string]string) *node {
	t.Helper()
	n := &node{t: t, exited: make(chan struct{})}
	n.cmd = exec.Command(os.Args[0], "-test.run=^TestDrainChildServe$")
	n.cmd.Env = append(os.Environ(), drainChildEnv+"=1")
	for k, v := range env {
		n.cmd.Env = append(n.cmd.Env, k+"="+v)
	}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = &n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads them any more: keep the pipe drained
			}
		}
		n.code = -1
		if err := n.cmd.Wait(); err == nil {
			n.code = 0
		} else if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			n.code = ee.ExitCode()
		}
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	admin := regexp.MustCompile(`Operations and administration on (http://\S+)`)
	guard := time.After(time.Minute) // a hang guard, not a timing assertion
	for n.admin == "" {
		select {
		case l := <-lines:
			if m := listening.FindStringSubmatch(l); m != nil {
				n.base = m[1]
			}
			if m := admin.FindStringSubmatch(l); m != nil {
				n.admin = m[1]
			}
		case <-n.exited:
			t.Fatalf("the node exited with status %d before listening:\n%s", n.code, n.stderr.String())
		case <-guard:
			t.Fatalf("the node did not listen within a minute:\n%s", n.stderr.String())
		}
	}
	return n
}

// signal sends the node SIGTERM.
func (n *node) signal() {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
}

// wait waits for the node to exit and returns its status.
func (n *node) wait() int {
	n.t.Helper()
	select {
	case <-n.exited:
		return n.code
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		n.t.Fatalf("the node did not exit within a minute of its signal:\n%s", n.stderr.String())
		return -1
	}
}

// balancer sends each request to a node whose /readyz said ready at its last probe,
// as a load balancer does, and records every outcome.
type balancer struct {
	mu      sync.Mutex
	targets []*target
	next    int

	sent, completed, closes atomic.Int64
	failMu                  sync.Mutex
	failures                []string
}

type target struct {
	n        *node
	ready    atomic.Bool
	draining atomic.Bool // /readyz said {"status":"draining"}
	stop     chan struct{}
	stopped  chan struct{}
}

// add starts probing a node's /readyz every 20 ms; it takes traffic once ready.
func (b *balancer) add(n *node) *target {
	tg := &target{n: n, stop: make(chan struct{}), stopped: make(chan struct{})}
	probe := &http.Client{Timeout: time.Second}
	go func() {
		defer close(tg.stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			res, err := probe.Get(n.admin + "/readyz")
			ok := err == nil && res.StatusCode == http.StatusOK
			if err == nil {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if strings.Contains(string(body), `"draining"`) {
					tg.draining.Store(true)
				}
			}
			tg.ready.Store(ok)
			select {
			case <-tg.stop:
				return
			case <-tick.C:
			}
		}
	}()
	b.mu.Lock()
	b.targets = append(b.targets, tg)
	b.mu.Unlock()
	return tg
}

// remove stops probing a node and sending to it.
func (b *balancer) remove(tg *target) {
	close(tg.stop)
	<-tg.stopped
	tg.ready.Store(false)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.targets {
		if x == tg {
			b.targets = append(b.targets[:i], b.targets[i+1:]...)
			break
		}
	}
}

// pick returns the base URL of a ready node, waiting for one; "" when ctx ends first.
func (b *balancer) pick(ctx context.Context) string {
	for {
		b.mu.Lock()
		for range b.targets {
			tg := b.targets[b.next%len(b.targets)]
			b.next++
			if tg.ready.Load() {
				b.mu.Unlock()
				return tg.n.base
			}
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (b *balancer) fail(format string, args ...any) {
	b.failMu.Lock()
	defer b.failMu.Unlock()
	b.failures = append(b.failures, fmt.Sprintf(format, args...))
}

// token posts a token request to a ready node and returns the refresh token issued;
// any transport error or a status other than 200 is a failure.
func (b *balancer) token(ctx context.Context, c *http.Client, form url.Values) (string, bool) {
	base := b.pick(ctx)
	if base == "" {
		return "", false
	}
	b.sent.Add(1)
	res, err := c.PostForm(base+"/oauth2/"+demoTenant+"/token", form)
	b.completed.Add(1)
	if err != nil {
		b.fail("%s %s: %v", base, form.Get("grant_type"), err)
		return "", false
	}
	defer res.Body.Close()
	if res.Close {
		b.closes.Add(1)
	}
	var body struct {
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		b.fail("%s %s: status %d %s (%v)", base, form.Get("grant_type"), res.StatusCode, body.Error, err)
		return "", false
	}
	return body.RefreshToken, true
}

// load runs workers, each on its own keep-alive connections: an anonymous token, then a
// refresh chain with a new anonymous token every fourth request, until ctx ends. It
// returns each worker's last refresh token once they have all stopped.
func (b *balancer) load(ctx context.Context, workers int) func() []string {
	last := make([]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
			anonymous := url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {demoPublicClient}}
			rt, ok := b.token(ctx, c, anonymous)
			for i := 1; ok && ctx.Err() == nil; i++ {
				last[w] = rt
				if i%4 == 0 {
					_, ok = b.token(ctx, c, anonymous)
					continue
				}
				rt, ok = b.token(ctx, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {demoPublicClient}})
			}
			if ok {
				last[w] = rt
			}
		})
	}
	return func() []string {
		wg.Wait()
		return last
	}
}

// waitFor polls cond every 10 ms for up to a minute (a hang guard).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

func (b *balancer) failed() int {
	b.failMu.Lock()
	defer b.failMu.Unlock()
	return len(b.failures)
}

func (b *balancer) check(t *testing.T) {
	t.Helper()
	if s, c := b.sent.Load(), b.completed.Load(); s != c {
		t.Errorf("%d requests sent, %d completed", s, c)
	}
	b.failMu.Lock()
	defer b.failMu.Unlock()
	if len(b.failures) > 0 {
		t.Errorf("%d of %d requests failed, first ones:\n%s", len(b.failures), b.sent.Load(),
			strings.Join(b.failures[:min(len(b.failures), 10)], "\n"))
	}
}

// refreshAll refreshes each chain's last token on a ready node: the family survived.
func (b *balancer) refreshAll(t *testing.T, tokens []string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	for i, rt := range tokens {
		if rt == "" {
			t.Errorf("chain %d ended without a refresh token", i)
			continue
		}
		if _, ok := b.token(t.Context(), c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {demoPublicClient}}); !ok {
			t.Errorf("chain %d: its last refresh token no longer refreshes", i)
		}
	}
}

func drainEnv(dbURL, delay string) map[string]string {
	return map[string]string{"CUSTODIAN_DATABASE_URL": dbURL, "CUSTODIAN_SECRET": strings.Repeat("d", 48),
		"CUSTODIAN_LOG_LEVEL": "warn", "CUSTODIAN_SHUTDOWN_DELAY": delay}
}

// TestDrainUnderLoad sends SIGTERM to a node serving token requests and refreshes on
// keep-alive connections from a client that, like a load balancer, stops sending once
// /readyz says not ready: /readyz says draining at once, responses from then on carry
// "Connection: close", no request fails (no reset, no EOF, no 5xx), every request sent
// completes, the process exits 0, and every refresh chain's last token still refreshes
// on the next node.
func TestDrainUnderLoad(t *testing.T) {
	for _, be := range storagetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			env := drainEnv(be.URL, "2s")
			n := startNode(t, env)
			b := &balancer{}
			tg := b.add(n)
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			wait := b.load(ctx, 8)
			waitFor(t, "100 requests served", func() bool { return b.completed.Load() >= 100 })
			// A keep-alive client that is not behind the balancer: its connection is told
			// to close by the first response of the drain.
			kc := &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
			anonymous := url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {demoPublicClient}}
			keepAlive := func(when string, wantClose bool) {
				t.Helper()
				res, err := kc.PostForm(n.base+"/oauth2/"+demoTenant+"/token", anonymous)
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || res.Close != wantClose {
					t.Errorf("%s: status %d, Connection: close %v, want 200 and %v", when, res.StatusCode, res.Close, wantClose)
				}
			}
			keepAlive("before SIGTERM", false)
			before := b.sent.Load()
			signalled := time.Now()
			n.signal()
			waitFor(t, "/readyz says draining", tg.draining.Load)
			notReady := time.Since(signalled)
			keepAlive("during the drain", true)
			if code := n.wait(); code != exitOK {
				t.Errorf("the node exited with status %d:\n%s", code, n.stderr.String())
			}
			exited := time.Since(signalled)
			b.remove(tg)
			stop()
			// The next node on the same database takes the chains over.
			next := startNode(t, env)
			b.add(next)
			tokens := wait()
			b.check(t)
			t.Logf("%d requests through the balancer (%d before SIGTERM), %d answered with Connection: close, %d failed; /readyz not ready %s after SIGTERM, exit 0 after %s (2 s delay)",
				b.sent.Load(), before, b.closes.Load(), b.failed(), notReady.Round(time.Millisecond), exited.Round(time.Millisecond))
			b.refreshAll(t, tokens)
			b.check(t)
			next.signal()
			if code := next.wait(); code != exitOK {
				t.Errorf("the next node exited with status %d", code)
			}
		})
	}
}

// TestSecondSignalSkipsDrain: with a five-minute drain delay, a second SIGTERM makes the
// node stop at once (the hang guard of wait is one minute).
func TestSecondSignalSkipsDrain(t *testing.T) {
	n := startNode(t, drainEnv("sqlite:"+filepath.Join(t.TempDir(), "custodian.db"), "5m"))
	b := &balancer{}
	tg := b.add(n)
	n.signal()
	waitFor(t, "/readyz says draining", tg.draining.Load)
	b.remove(tg)
	n.signal()
	if code := n.wait(); code != exitOK {
		t.Errorf("status %d:\n%s", code, n.stderr.String())
	}
}

// TestRollingRestart restarts both nodes of a two-node PostgreSQL deployment one after
// the other under refresh load, behind a client that sends only to nodes whose /readyz
// says ready: not one request fails, and every refresh chain survives.
func TestRollingRestart(t *testing.T) {
	var pg string
	for _, be := range storagetest.Backends(t) {
		if be.Name == "postgres" {
			pg = be.URL
		}
	}
	if pg == "" {
		t.Skip("two nodes share a PostgreSQL database: set " + storagetest.PostgresEnv)
	}
	env := drainEnv(pg, "2s")
	b := &balancer{}
	nodes := []*target{b.add(startNode(t, env)), b.add(startNode(t, env))}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	wait := b.load(ctx, 8)
	for i, tg := range nodes {
		at := b.completed.Load()
		waitFor(t, "50 more requests served", func() bool { return b.completed.Load() >= at+50 })
		tg.n.signal()
		if code := tg.n.wait(); code != exitOK {
			t.Errorf("node %d exited with status %d:\n%s", i, code, tg.n.stderr.String())
		}
		if !tg.draining.Load() {
			t.Errorf("node %d: /readyz never said draining before it exited", i)
		}
		b.remove(tg)
		repl := b.add(startNode(t, env))
		waitFor(t, "the replacement is ready", repl.ready.Load)
	}
	at := b.completed.Load()
	waitFor(t, "50 more requests served", func() bool { return b.completed.Load() >= at+50 })
	stop()
	tokens := wait()
	b.refreshAll(t, tokens)
	b.check(t)
	t.Logf("%d requests through two rolling restarts, %d failed", b.sent.Load(), b.failed())
}

// A drain delay that is not a duration from 0s to 5m stops serve before it listens.
func TestShutdownDelayChecked(t *testing.T) {
	for _, v := range []string{"soon", "-1s", "6m", "5"} {
		code, out, stderr := newCLITest(t).runWith(map[string]string{"CUSTODIAN_SHUTDOWN_DELAY": v}, "serve", "--addr", "127.0.0.1:0")
		if code != exitUsage || !strings.Contains(stderr, "CUSTODIAN_SHUTDOWN_DELAY") || strings.Contains(out, "listening") {
			t.Errorf("CUSTODIAN_SHUTDOWN_DELAY=%s: status %d\nstdout:\n%s\nstderr:\n%s", v, code, out, stderr)
		}
	}
}

// TestInFlightRequestFinishes: a token request still sending its body when the node
// closes its listeners (no drain delay) is answered 200 before the process exits 0,
// and a new connection is refused meanwhile.
func TestInFlightRequestFinishes(t *testing.T) {
	n := startNode(t, drainEnv("sqlite:"+filepath.Join(t.TempDir(), "custodian.db"), "0s"))
	body := url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {demoPublicClient}}.Encode()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, n.base+"/oauth2/"+demoTenant+"/token", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// With Expect: 100-continue the client sends the body only once the handler reads
	// it, so the first half written below is proof the request is in the handler.
	req.Header.Set("Expect", "100-continue")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = time.Minute
	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := (&http.Client{Timeout: time.Minute, Transport: tr}).Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		answered <- answer{status: res.StatusCode}
	}()
	half := len(body) / 2
	if _, err := io.WriteString(pw, body[:half]); err != nil { // the handler reads the body
		t.Fatal(err)
	}
	n.signal()
	// The listeners close: a new connection is refused while the request is in flight.
	waitFor(t, "the listener closes", func() bool {
		res, err := http.Get(n.base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err != nil
	})
	select {
	case <-n.exited:
		t.Fatal("the node exited with a request in flight")
	default:
	}
	if _, err := io.WriteString(pw, body[half:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if a := <-answered; a.err != nil || a.status != http.StatusOK {
		t.Errorf("the request in flight: %d %v", a.status, a.err)
	}
	if code := n.wait(); code != exitOK {
		t.Errorf("status %d:\n%s", code, n.stderr.String())
	}
}
