package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// measurement is what the measured part of one scenario gave.
type measurement struct {
	Requests uint64
	OK       uint64        // 2xx answers that passed the scenario's check
	Span     time.Duration // from the first request sent to the last answer received
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	Max      time.Duration
	// Errors counts the failed requests by what went wrong: a status code ("429"), a
	// 2xx whose body failed the scenario's check ("200 inactive"), or "transport" (no
	// answer: refused, reset, timed out).
	Errors map[string]int
	// Samples holds the first body or error message seen for each key of Errors.
	Samples map[string]string
}

// RPS is the rate of successful requests.
func (m measurement) RPS() float64 {
	if m.Span <= 0 {
		return 0
	}
	return float64(m.OK) / m.Span.Seconds()
}

// ErrorCount is the number of failed requests.
func (m measurement) ErrorCount() int {
	n := 0
	for _, c := range m.Errors {
		n += c
	}
	return n
}

// checker inspects a 2xx answer and returns why it is not the success the scenario
// wants ("" when it is).
type checker func(r *vegeta.Result) string

// tally classifies results.
type tally struct {
	ok      uint64
	errors  map[string]int
	samples map[string]string
}

func newTally() *tally { return &tally{errors: map[string]int{}, samples: map[string]string{}} }

const sampleLen = 300

func (t *tally) add(r *vegeta.Result, check checker) {
	var key, sample string
	switch {
	case r.Code == 0:
		key, sample = "transport", r.Error
	case r.Code >= 200 && r.Code < 300:
		if check == nil {
			t.ok++
			return
		}
		why := check(r)
		if why == "" {
			t.ok++
			return
		}
		key, sample = strconv.Itoa(int(r.Code))+" "+why, string(r.Body)
	default:
		key, sample = strconv.Itoa(int(r.Code)), string(r.Body)
	}
	t.errors[key]++
	if _, ok := t.samples[key]; !ok {
		if len(sample) > sampleLen {
			sample = sample[:sampleLen] + "…"
		}
		t.samples[key] = sample
	}
}

// attack runs tr for du with a fixed number of workers, each with one request in
// flight at a time (vegeta's max-rate mode: no pacing, the server sets the pace), and
// returns what it measured. observe, when not nil, sees every result first (the
// refresh scenario feeds its chains from it). The attack ends after du, when the
// targeter fails (a dry pool) or when ctx ends.
func attack(ctx context.Context, client *http.Client, workers int, du time.Duration, name string,
	tr vegeta.Targeter, check checker, observe func(*vegeta.Result)) measurement {
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var m vegeta.Metrics
	t := newTally()
	for r := range atk.Attack(tr, vegeta.Rate{Freq: 0}, du, name) {
		if observe != nil {
			observe(r)
		}
		m.Add(r)
		t.add(r, check)
	}
	m.Close()
	return measurement{
		Requests: m.Requests,
		OK:       t.ok,
		Span:     m.Duration + m.Wait,
		P50:      m.Latencies.P50,
		P90:      m.Latencies.P90,
		P99:      m.Latencies.P99,
		Max:      m.Latencies.Max,
		Errors:   t.errors,
		Samples:  t.samples,
	}
}

// newClient is the load generator's HTTP client: at most conns connections to a host,
// kept alive, no compression, requests bounded by timeout.
func newClient(conns int, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
			MaxIdleConns:        conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sourceAddrs are the loopback addresses the sign-in client connects from: the whole
// of 127.0.0.0/8 reaches this machine's loopback on Linux, and each address is its own
// client IP to Custodian's per-IP sign-in limit.
func sourceAddrs(n int) []net.IP {
	ips := make([]net.IP, n)
	for i := range ips {
		ips[i] = net.IPv4(127, 1, byte(i>>8), byte(i))
	}
	return ips
}

// newSpreadClient is a client that opens a new connection for every request, each from
// the next of ips in turn (keep-alive off): so that password sign-ins are spread over
// many client addresses, as a storefront's shoppers are, instead of all counting against
// the per-IP limit of 127.0.0.1.
func newSpreadClient(conns int, timeout time.Duration, ips []net.IP) *http.Client {
	var next atomic.Uint64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		ip := ips[(next.Add(1)-1)%uint64(len(ips))]
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("dial from %s: %w", ip, err)
		}
		return c, nil
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:        dial,
			DisableKeepAlives:  true,
			MaxConnsPerHost:    conns,
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// rssSampler samples a process's resident set every interval until stopped, and
// returns the largest value seen.
func rssSampler(pid int, every time.Duration) (stop func() uint64) {
	var peak atomic.Uint64
	sample := func() {
		if u, err := readUsage(pid); err == nil && u.RSS > peak.Load() {
			peak.Store(u.RSS)
		}
	}
	sample()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		sample()
		return peak.Load()
	}
}
