package custodian_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Fault tests: PostgreSQL stopped under load, and failing queries injected, on a
// throwaway cluster (e2e_pgcluster_test.go). Run them with
//
//	go test -count=1 -run 'TestFault' -v .
//
// The figures they log (time to 503, time to recover) are the README's.

// probe is one API call of the load: what it sends and how its answers look.
type probe struct {
	name string
	do   func(c *http.Client) (*http.Response, error)
	// unavailable checks a 503 body is the API's own shape.
	unavailable func(body map[string]any) bool
}

// sample is one answer of a probe.
type sample struct {
	probe   string
	at      time.Time
	latency time.Duration
	status  int
	body    map[string]any
	err     error
}

func oauthUnavailable(b map[string]any) bool { return b["error"] == "temporarily_unavailable" }
func loginUnavailable(b map[string]any) bool {
	return b["type"] == "service_unavailable" && b["status"] == float64(503)
}
func ticketsUnavailable(b map[string]any) bool {
	return b["errorCode"] == "SERVICE_UNAVAILABLE" && b["applicationName"] == "Customer"
}

// faultProbes are the calls of the light load: the token endpoint, introspection, the
// login API and the ticket API, each with tokens issued before any fault.
func faultProbes(e *env, introspected, customerToken string) []probe {
	form := func(target string, v url.Values, user, pass string) func(c *http.Client) (*http.Response, error) {
		return func(c *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(user, pass)
			return c.Do(req)
		}
	}
	return []probe{
		{name: "token", unavailable: oauthUnavailable,
			do: form(e.issuer()+"/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders"}}, backendID, backendSec)},
		{name: "introspect", unavailable: oauthUnavailable,
			do: form(e.issuer()+"/introspect", url.Values{"token": {introspected}}, backendID, backendSec)},
		{name: "login-api", unavailable: loginUnavailable, do: func(c *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/customer/"+testTenant+"/validateauthtoken", nil)
			req.Header.Set("Authorization", "Bearer "+customerToken)
			return c.Do(req)
		}},
		{name: "tickets", unavailable: ticketsUnavailable, do: func(c *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/api/commerce/customer/authtickets/anonymousshopper", nil)
			req.Header.Set("x-vol-tenant", testTenant)
			req.SetBasicAuth(backendID, backendSec)
			return c.Do(req)
		}},
	}
}

// runLoad sends each probe in a loop, one at a time per probe with a pause, until ctx
// ends, and returns every answer.
func runLoad(ctx context.Context, probes []probe, pause time.Duration) <-chan []sample {
	out := make(chan []sample, 1)
	go func() {
		var mu sync.Mutex
		var all []sample
		var wg sync.WaitGroup
		c := &http.Client{Timeout: 15 * time.Second}
		for _, p := range probes {
			wg.Go(func() {
				for ctx.Err() == nil {
					s := sample{probe: p.name, at: time.Now()}
					resp, err := p.do(c)
					s.latency = time.Since(s.at)
					if err != nil {
						s.err = err
					} else {
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						s.status = resp.StatusCode
						_ = json.Unmarshal(raw, &s.body)
					}
					mu.Lock()
					all = append(all, s)
					mu.Unlock()
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			})
		}
		wg.Wait()
		out <- all
	}()
	return out
}

// customerLogin signs the test shopper in through the login API and returns its tokens.
func customerLogin(t *testing.T, e *env) map[string]any {
	t.Helper()
	anon := anonymousLogin(t, e)["access_token"].(string)
	got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login",
		`{"email":"`+shopperEmail+`","password":"`+shopperPass+`"}`, jsonBearer(anon)...)
	if got.status != http.StatusOK {
		t.Fatalf("login: %d %s", got.status, got.raw)
	}
	return got.body
}

// TestFaultPostgresStopped stops PostgreSQL for 5 s under a light load: every API
// answers fast 503s in its own shape (never a hang, never a verdict), /readyz says not
// ready, the service is back within 2 s of PostgreSQL, and no token issued before the
// outage is lost.
func TestFaultPostgresStopped(t *testing.T) {
	pg := startCluster(t, 15433)
	e := newEnv(t, storagetest.Backend{Name: "postgres", URL: pg.URL()})

	// Tokens issued before the outage.
	var anon []map[string]any
	for range 10 {
		anon = append(anon, anonymousToken(t, e))
	}
	cust := customerLogin(t, e)
	customerAccess := cust["access_token"].(string)
	introspected := anon[0]["access_token"].(string)

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	probes := faultProbes(e, introspected, customerAccess)
	load := runLoad(ctx, probes, 50*time.Millisecond)
	type readySample struct {
		at      time.Time
		status  int
		latency time.Duration
	}
	readyc := make(chan []readySample, 1)
	go func() {
		var rs []readySample
		c := &http.Client{Timeout: 10 * time.Second}
		for ctx.Err() == nil {
			s := readySample{at: time.Now()}
			if resp, err := c.Get(e.admin + "/readyz"); err == nil {
				resp.Body.Close()
				s.status = resp.StatusCode
			}
			s.latency = time.Since(s.at)
			rs = append(rs, s)
			time.Sleep(100 * time.Millisecond)
		}
		readyc <- rs
	}()

	time.Sleep(time.Second)
	down := pg.stop()
	// A revocation during the outage does not happen, and says so.
	revokeDuring, _ := http.NewRequest(http.MethodPost, e.issuer()+"/revoke",
		strings.NewReader(url.Values{"token": {anon[1]["refresh_token"].(string)}, "client_id": {spaClient}}.Encode()))
	revokeDuring.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(revokeDuring)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") ||
		resp.Header.Get("Retry-After") == "" {
		t.Errorf("revoke during the outage: %d %s (Retry-After %q)", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	time.Sleep(5*time.Second - time.Since(down))
	starting := time.Now() // answers may turn 200 from here on, before pg_ctl returns
	pg.start()
	up := time.Now()
	time.Sleep(4 * time.Second)
	stopLoad()
	samples := <-load
	readies := <-readyc

	// During the outage: 503 in each API's shape or 200 (a request that got through
	// before the stop), never a verdict or a 500, and never slow.
	var maxLatency time.Duration
	var first503 time.Duration = -1
	for _, p := range probes {
		n503 := 0
		for _, s := range samples {
			if s.probe != p.name || s.at.Before(down) || !s.at.Add(s.latency).Before(starting) {
				continue
			}
			maxLatency = max(maxLatency, s.latency)
			switch {
			case s.err != nil:
				t.Errorf("%s during the outage: %v", p.name, s.err)
			case s.status == http.StatusServiceUnavailable:
				n503++
				if !p.unavailable(s.body) {
					t.Errorf("%s during the outage: 503 not in the API's shape: %v", p.name, s.body)
				}
				if d := s.at.Add(s.latency).Sub(down); first503 < 0 || d < first503 {
					first503 = d
				}
			case s.status == http.StatusOK && s.at.Before(down.Add(100*time.Millisecond)):
			default:
				t.Errorf("%s during the outage: %d %v", p.name, s.status, s.body)
			}
		}
		if n503 == 0 {
			t.Errorf("%s: no 503 during the outage", p.name)
		}
	}
	if maxLatency > 2*time.Second {
		t.Errorf("slowest answer during the outage: %s, want fast 503s", maxLatency)
	}
	// After: every probe answers 200 again within 2 s of PostgreSQL's return.
	var recovered time.Duration
	for _, p := range probes {
		i := slices.IndexFunc(samples, func(s sample) bool { return s.probe == p.name && s.at.After(up) && s.status == http.StatusOK })
		if i < 0 {
			t.Errorf("%s never answered 200 after PostgreSQL returned", p.name)
			continue
		}
		recovered = max(recovered, samples[i].at.Add(samples[i].latency).Sub(up))
		for _, s := range samples[i:] {
			if s.probe == p.name && s.status != http.StatusOK {
				t.Errorf("%s after recovery: %d %v", p.name, s.status, s.body)
			}
		}
	}
	if recovered > 2*time.Second {
		t.Errorf("service back %s after PostgreSQL, want within 2 s", recovered)
	}
	var readyBack time.Duration = -1
	for _, r := range readies {
		if r.latency > 1500*time.Millisecond {
			t.Errorf("/readyz took %s", r.latency)
		}
		if r.at.After(down.Add(200*time.Millisecond)) && r.at.Add(r.latency).Before(starting) && r.status != http.StatusServiceUnavailable {
			t.Errorf("/readyz during the outage: %d", r.status)
		}
		if r.at.After(up) && r.status == http.StatusOK && readyBack < 0 {
			readyBack = r.at.Add(r.latency).Sub(up)
		}
	}
	if readyBack < 0 || readyBack > 2*time.Second {
		t.Errorf("/readyz ready again %s after PostgreSQL, want within 2 s", readyBack)
	}

	// No token issued before the outage is lost: each introspects active and refreshes.
	for i, a := range anon {
		if in := introspect(t, e, a["access_token"].(string)); in["active"] != true {
			t.Errorf("anonymous token %d after the outage: %v", i, in)
		}
		if status, body := refresh(t, e, a["refresh_token"].(string)); status != http.StatusOK {
			t.Errorf("refresh %d after the outage: %d %v", i, status, body)
		}
	}
	if in := introspect(t, e, customerAccess); in["active"] != true {
		t.Errorf("customer token after the outage: %v", in)
	}
	t.Logf("figures: first 503 %s after the stop; slowest answer during the outage %s; all APIs 200 again %s after PostgreSQL accepted connections; /readyz ready %s after; %d requests",
		first503.Round(time.Millisecond), maxLatency.Round(time.Millisecond), recovered.Round(time.Millisecond), readyBack.Round(time.Millisecond), len(samples))
}

// faultCall sends a request (headers as name, value pairs; "basic" sets the backend's
// credentials) and returns the status, the JSON body and how long it took.
func faultCall(t *testing.T, method, target string, form url.Values, headers ...string) (int, map[string]any, time.Duration) {
	t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "basic" {
			req.SetBasicAuth(backendID, backendSec)
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readBody(t, resp)
	took := time.Since(start)
	var out map[string]any
	_ = json.Unmarshal([]byte(raw), &out)
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s %s: 503 without Retry-After", method, target)
	}
	return resp.StatusCode, out, took
}

// TestFaultFailingQueries injects failures on a throwaway cluster: the token and client
// tables locked (every statement on them runs into the request deadline), then a
// trigger that fails every write of a token (disk full). Each API answers 503 in its
// own shape, never a verdict: no invalid_client, no {"active":false}, no 401, no 200
// from /revoke; and once the fault is gone the same tokens work: nothing was revoked
// or rotated away.
func TestFaultFailingQueries(t *testing.T) {
	pg := startCluster(t, 15434)
	e := newEnv(t, storagetest.Backend{Name: "postgres", URL: pg.URL()}, func(c *custodian.Config) { c.RequestTimeout = 3 * time.Second })
	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	anon := anonymousToken(t, e)
	cust := customerLogin(t, e)
	_, ticket, _ := faultCall(t, http.MethodGet, e.url+"/api/commerce/customer/authtickets/anonymousshopper", nil, "x-vol-tenant", testTenant, "basic", "")
	ticketRT, _ := ticket["refreshToken"].(string)
	if ticketRT == "" {
		t.Fatalf("anonymous shopper ticket: %v", ticket)
	}
	tokenURL, introspectURL, revokeURL := e.issuer()+"/token", e.issuer()+"/introspect", e.issuer()+"/revoke"
	validateURL := e.url + "/customer/" + testTenant + "/validateauthtoken"
	refreshAuthURL := func(rt string) string {
		return e.url + "/customer/" + testTenant + "/refreshauthtoken?" + url.Values{"refreshToken": {rt}, "client_id": {spaClient}}.Encode()
	}
	ticketRefreshURL := func(rt string) string {
		return e.url + "/api/commerce/customer/authtickets/refresh?" + url.Values{"refreshToken": {rt}}.Encode()
	}
	type check struct {
		name  string
		call  func() (int, map[string]any, time.Duration)
		shape func(map[string]any) bool
	}
	checks := []check{
		{"token (client lookup)", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"client_credentials"}}, "basic", "")
		}, oauthUnavailable},
		{"token (refresh)", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {anon["refresh_token"].(string)},
				"client_id": {spaClient}})
		}, oauthUnavailable},
		{"introspect", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPost, introspectURL, url.Values{"token": {anon["access_token"].(string)}}, "basic", "")
		}, oauthUnavailable},
		{"revoke", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPost, revokeURL, url.Values{"token": {anon["access_token"].(string)}, "client_id": {spaClient}})
		}, oauthUnavailable},
		{"token (customer refresh)", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cust["refresh_token"].(string)},
				"client_id": {spaClient}})
		}, oauthUnavailable},
		{"revoke (customer)", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPost, revokeURL, url.Values{"token": {cust["access_token"].(string)}, "client_id": {spaClient}})
		}, oauthUnavailable},
		{"login API validateauthtoken", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodGet, validateURL, nil, "Authorization", "Bearer "+cust["access_token"].(string))
		}, loginUnavailable},
		{"login API refreshauthtoken", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodGet, refreshAuthURL(cust["refresh_token"].(string)), nil)
		}, loginUnavailable},
		{"ticket API refresh", func() (int, map[string]any, time.Duration) {
			return faultCall(t, http.MethodPut, ticketRefreshURL(ticketRT), nil, "x-vol-tenant", testTenant, "basic", "")
		}, ticketsUnavailable},
	}
	expect503 := func(fault string, names ...string) {
		t.Helper()
		for _, c := range checks {
			if len(names) > 0 && !slices.Contains(names, c.name) {
				continue
			}
			status, body, took := c.call()
			if status != http.StatusServiceUnavailable || !c.shape(body) {
				t.Errorf("%s, %s: %d %v, want 503 in the API's shape", fault, c.name, status, body)
			}
			if took > 6*time.Second {
				t.Errorf("%s, %s: answered after %s", fault, c.name, took)
			}
		}
	}
	// afterwards: every token still works, exactly as before the fault.
	afterwards := func(fault string) {
		t.Helper()
		if _, in, _ := faultCall(t, http.MethodPost, introspectURL, url.Values{"token": {anon["access_token"].(string)}}, "basic", ""); in["active"] != true {
			t.Errorf("after %s: the access token is no longer active: %v", fault, in)
		}
		status, body := refresh(t, e, anon["refresh_token"].(string))
		if status != http.StatusOK {
			t.Fatalf("after %s: refresh at the token endpoint: %d %v", fault, status, body)
		}
		anon = body
		status, body, _ = faultCall(t, http.MethodGet, refreshAuthURL(cust["refresh_token"].(string)), nil)
		if status != http.StatusOK {
			t.Fatalf("after %s: refreshauthtoken: %d %v", fault, status, body)
		}
		cust = body
		status, body, _ = faultCall(t, http.MethodPut, ticketRefreshURL(ticketRT), nil, "x-vol-tenant", testTenant, "basic", "")
		if status != http.StatusOK {
			t.Fatalf("after %s: ticket refresh: %d %v", fault, status, body)
		}
		ticketRT = body["refreshToken"].(string)
	}

	// 1. The token and client tables locked by another transaction.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE oauth2_tokens, clients IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	expect503("tables locked")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	afterwards("tables locked")

	// 2. Every write of a token fails (a trigger raising disk_full): the rotation of
	// each refresh fails inside its transaction and changes nothing.
	if _, err := db.Exec(`CREATE FUNCTION fail_token_write() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'injected: no space left' USING ERRCODE = 'disk_full'; END $$;
		CREATE TRIGGER fail_token_write BEFORE INSERT OR UPDATE ON oauth2_tokens FOR EACH ROW EXECUTE FUNCTION fail_token_write()`); err != nil {
		t.Fatal(err)
	}
	// Anonymous tokens are stateless (issue 11) and write no row, so only a customer's
	// tokens meet the failing writes.
	expect503("token writes failing", "token (customer refresh)", "revoke (customer)", "login API refreshauthtoken")
	if _, err := db.Exec(`DROP TRIGGER fail_token_write ON oauth2_tokens`); err != nil {
		t.Fatal(err)
	}
	afterwards("token writes failing")

	// 3. A refresh whose answer is lost after the rotation committed: the retry with
	// the same token succeeds (grace window), and the family lives on.
	lost := cust["refresh_token"].(string)
	if status, body, _ := faultCall(t, http.MethodGet, refreshAuthURL(lost), nil); status != http.StatusOK {
		t.Fatalf("refreshauthtoken: %d %v", status, body)
	}
	status, retried, _ := faultCall(t, http.MethodGet, refreshAuthURL(lost), nil)
	if status != http.StatusOK {
		t.Fatalf("retry of a refresh whose answer was lost: %d %v", status, retried)
	}
	if status, body, _ := faultCall(t, http.MethodGet, validateURL, nil, "Authorization", "Bearer "+retried["access_token"].(string)); status != http.StatusOK {
		t.Errorf("the retried refresh's token: %d %v", status, body)
	}
}

// lockedBuffer is a log sink the server writes to from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFaultStartWhileDatabaseDown starts a node while PostgreSQL is down: it waits,
// logging each attempt, and serves once PostgreSQL is up. A frozen PostgreSQL (every
// process stopped with SIGSTOP: TCP accepted, nothing answered) leaves /readyz within
// its deadline.
func TestFaultStartWhileDatabaseDown(t *testing.T) {
	pg := startCluster(t, 15435)
	pg.stop()
	logs := &lockedBuffer{}
	cfg := custodian.Config{DatabaseURL: pg.URL(), PublicURL: "http://127.0.0.1:9", Secret: custodian.Secret(strings.Repeat("d", 40)),
		DatabaseWait: 30 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	type result struct {
		srv *custodian.Server
		err error
	}
	started := make(chan result, 1)
	go func() {
		srv, err := custodian.New(context.Background(), cfg)
		started <- result{srv, err}
	}()
	time.Sleep(2 * time.Second)
	select {
	case r := <-started:
		t.Fatalf("New returned while PostgreSQL was down: %v", r.err)
	default:
	}
	pg.start()
	up := time.Now()
	var r result
	select {
	case r = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("New did not return after PostgreSQL came up")
	}
	if r.err != nil {
		t.Fatalf("New: %v", r.err)
	}
	defer r.srv.Close()
	attempts := strings.Count(logs.String(), "database unavailable; retrying")
	if attempts < 2 || !strings.Contains(logs.String(), "database is available") {
		t.Errorf("the wait was not logged attempt by attempt (%d attempts):\n%s", attempts, logs.String())
	}
	t.Logf("figures: started %s after PostgreSQL came up, after %d logged attempts", time.Since(up).Round(time.Millisecond), attempts)

	adm := httptest.NewServer(r.srv.AdminHandler())
	defer adm.Close()
	if code, body := getReady(t, adm.URL); code != http.StatusOK {
		t.Fatalf("readyz: %d %s", code, body)
	}
	// Freeze every process of the cluster.
	pids := pg.pids()
	signalAll(t, pids, syscall.SIGSTOP)
	defer signalAll(t, pids, syscall.SIGCONT)
	for range 3 {
		start := time.Now()
		code, body := getReady(t, adm.URL)
		if took := time.Since(start); code != http.StatusServiceUnavailable || took > 1500*time.Millisecond {
			t.Errorf("readyz with PostgreSQL frozen: %d %s after %s", code, body, took)
		}
	}
	signalAll(t, pids, syscall.SIGCONT)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := getReady(t, adm.URL)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready again after PostgreSQL thawed")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func signalAll(t *testing.T, pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
			t.Errorf("signal %d: %v", pid, err)
		}
	}
}
