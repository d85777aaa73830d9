package main

// custodian-load flood: a burst of concurrent password work against a running
// Custodian (bad sign-ins or sign-ups at the login API), then the peak resident set
// (VmHWM) of its process. It measures the bound of concurrent password hashing
// (docs/performance.md, "Memory under a login flood"). Loopback only; it stops by itself.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func flood(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("custodian-load flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "", "base `URL` of the running Custodian (loopback)")
	pid := fs.Int("pid", 0, "process id of that Custodian, whose VmHWM is read at the end")
	kind := fs.String("kind", "signin", "signin (wrong passwords for -email) or signup (new accounts)")
	workers := fs.Int("workers", 40, "concurrent requests")
	du := fs.Duration("for", 10*time.Second, "how long to keep the workers busy")
	tenant := fs.String("tenant", "demo", "tenant")
	client := fs.String("client", "storefront", "public client of the anonymous token")
	email := fs.String("email", "shopper@example.com", "account the sign-ins try")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *base == "" || *pid <= 0 || (*kind != "signin" && *kind != "signup") || *workers < 1 || *du <= 0 || *du > 10*time.Minute {
		fmt.Fprintln(stderr, "custodian-load flood: want -url, -pid, -kind signin|signup, -workers ≥ 1 and -for up to 10m")
		return exitUsage
	}
	if err := requireLoopbackURL(*base); err != nil {
		fmt.Fprintf(stderr, "custodian-load flood: %v\n", err)
		return exitUsage
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers}}
	resp, err := c.Get(*base + "/customerlogin/auth/anonymous/login?" + url.Values{"tenant": {*tenant}, "client_id": {*client}}.Encode())
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load flood: anonymous token: %v\n", err)
		return exitFailure
	}
	var anon struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&anon)
	resp.Body.Close()
	if err != nil || anon.AccessToken == "" {
		fmt.Fprintf(stderr, "custodian-load flood: anonymous token: %d %v\n", resp.StatusCode, err)
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(ctx, *du)
	defer cancel()
	var (
		mu     sync.Mutex
		codes  = map[int]int{}
		seq    atomic.Int64
		wg     sync.WaitGroup
		stamp  = time.Now().UnixNano()
		target = *base + "/customer/" + *tenant + "/login"
	)
	if *kind == "signup" {
		target = *base + "/customer/" + *tenant + "/signup"
	}
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				body := fmt.Sprintf(`{"email":%q,"password":"wrong password, flood"}`, *email)
				if *kind == "signup" {
					body = fmt.Sprintf(`{"email":"flood-%d-%d@example.com","password":"flood password 12345"}`, stamp, seq.Add(1))
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+anon.AccessToken)
				resp, err := c.Do(req)
				code := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				} else if ctx.Err() != nil {
					return
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid))
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load flood: %v\n", err)
		return exitFailure
	}
	rss, hwm, err := parseStatus(st)
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load flood: %v\n", err)
		return exitFailure
	}
	var keys []int
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", codes[k], k))
	}
	fmt.Fprintf(stdout, "%s, %d workers, %s: answers %s; VmHWM %.0f MiB, VmRSS %.0f MiB\n", *kind, *workers, *du,
		strings.Join(parts, " "), float64(hwm)/(1<<20), float64(rss)/(1<<20))
	return exitOK
}
