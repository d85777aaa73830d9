package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestTally(t *testing.T) {
	check := bodyHas(`"active":true`, "inactive")
	cases := []struct {
		name string
		r    vegeta.Result
		key  string // "" when it is a success
	}{
		{"ok", vegeta.Result{Code: 200, Body: []byte(`{"active":true}`)}, ""},
		{"ok 204", vegeta.Result{Code: 204, Body: []byte(`{"active":true}`)}, ""},
		{"2xx failing the check", vegeta.Result{Code: 200, Body: []byte(`{"active":false}`)}, "200 inactive"},
		{"redirect", vegeta.Result{Code: 302}, "302"},
		{"rate limited", vegeta.Result{Code: 429, Body: []byte("slow down")}, "429"},
		{"no answer", vegeta.Result{Code: 0, Error: "connection refused"}, "transport"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := newTally()
			tl.add(&c.r, check)
			if c.key == "" {
				if tl.ok != 1 || len(tl.errors) != 0 {
					t.Fatalf("ok %d, errors %v", tl.ok, tl.errors)
				}
				return
			}
			if tl.ok != 0 || tl.errors[c.key] != 1 {
				t.Fatalf("ok %d, errors %v, want %q", tl.ok, tl.errors, c.key)
			}
		})
	}
}

func TestTallyKeepsFirstSampleShort(t *testing.T) {
	tl := newTally()
	tl.add(&vegeta.Result{Code: 500, Body: []byte(strings.Repeat("a", 1000))}, nil)
	tl.add(&vegeta.Result{Code: 500, Body: []byte("second")}, nil)
	if s := tl.samples["500"]; !strings.HasPrefix(s, "aaa") || len(s) > sampleLen+len("…") {
		t.Fatalf("sample %q", s)
	}
	if tl.errors["500"] != 2 {
		t.Fatalf("errors %v", tl.errors)
	}
}

// TestAttack runs a short attack on a server that fails every third request: every
// request is accounted for, failures by status, with no more connections than workers.
func TestAttack(t *testing.T) {
	var n, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "busy")
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	const workers = 3
	m := attack(t.Context(), newClient(workers, 5*time.Second), workers, 150*time.Millisecond, "test",
		cycle([]vegeta.Target{{Method: http.MethodGet, URL: srv.URL}}), bodyHas(`"ok":true`, "not ok"), nil)
	if m.Requests == 0 || uint64(n.Load()) != m.Requests {
		t.Fatalf("%d requests measured, %d served", m.Requests, n.Load())
	}
	if m.OK+uint64(m.ErrorCount()) != m.Requests {
		t.Fatalf("ok %d + errors %v != %d requests", m.OK, m.Errors, m.Requests)
	}
	if want := int(m.Requests / 3); m.Errors["503"] != want || len(m.Errors) != 1 {
		t.Fatalf("errors %v, want 503×%d", m.Errors, want)
	}
	if m.Samples["503"] != "busy" {
		t.Fatalf("samples %v", m.Samples)
	}
	if m.Span <= 0 || m.RPS() <= 0 || m.P50 <= 0 || m.P99 < m.P50 {
		t.Fatalf("span %s, rps %f, p50 %s, p99 %s", m.Span, m.RPS(), m.P50, m.P99)
	}
	// Connections are kept and reused, never one per request: at most one per worker, and
	// one more each where a loaded machine made the transport replace a connection.
	if c := conns.Load(); c > 2*workers || uint64(c) >= m.Requests {
		t.Fatalf("%d connections for %d workers and %d requests", c, workers, m.Requests)
	}
}

// TestSpreadClient: every request comes from the next loopback address on a new
// connection, so each is its own client IP to Custodian.
func TestSpreadClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.RemoteAddr)
	}))
	defer srv.Close()
	c := newSpreadClient(2, 5*time.Second, sourceAddrs(3))
	var got []string
	for range 4 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		host, _, _ := strings.Cut(string(b), ":")
		got = append(got, host)
	}
	want := []string{"127.1.0.0", "127.1.0.1", "127.1.0.2", "127.1.0.0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("client addresses %v, want %v", got, want)
	}
}

func TestCycle(t *testing.T) {
	var ts []vegeta.Target
	for i := range 3 {
		ts = append(ts, vegeta.Target{URL: strconv.Itoa(i)})
	}
	tr := cycle(ts)
	var got []string
	for range 7 {
		var tgt vegeta.Target
		if err := tr(&tgt); err != nil {
			t.Fatal(err)
		}
		got = append(got, tgt.URL)
	}
	if s := strings.Join(got, ""); s != "0120120" {
		t.Fatalf("order %s", s)
	}
	if err := cycle(nil)(&vegeta.Target{}); err == nil {
		t.Fatal("an empty cycle handed out a target")
	}
}

func TestParseProc(t *testing.T) {
	status := []byte("Name:\tcustodian\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n")
	rss, hwm, err := parseStatus(status)
	if err != nil || rss != 50<<20 || hwm != 200<<20 {
		t.Fatalf("rss %d hwm %d err %v", rss, hwm, err)
	}
	if _, _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("a status without VmRSS parsed")
	}
	// The command name may hold spaces and parentheses; utime 250 and stime 50 ticks.
	stat := []byte("4242 (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Fatalf("cpu %s err %v", cpu, err)
	}
}
