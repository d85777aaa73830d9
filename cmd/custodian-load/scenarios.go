package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Which process a scenario loads.
const (
	serverCustodian = "custodian"
	serverBaseline  = "baseline"
)

// Which floor a scenario is compared with ("" for none: trivial only).
const (
	floorWrite = "floor-write"
	floorRead  = "floor-read"
)

// scenario is one kind of request, sent for a fixed time by every connection.
type scenario struct {
	Name   string
	Server string
	Floor  string
	What   string
	// Goal is the least req/s the scenario should reach as a share of a yardstick's
	// (issue 13); the zero value is no goal.
	Goal goal
	plan func(ctx context.Context, f *fixture) (plan, error)
}

// goal is "at least Min times the req/s of Of" (trivial, floor-write or floor-read).
type goal struct {
	Of  string
	Min float64
}

// The goals of issue 13: what Custodian adds to the work it cannot avoid. Issuing a
// token should reach 0.8 of one HMAC and one INSERT, reading one 0.8 of one HMAC and
// one primary-key SELECT, and the cacheable documents (discovery, JWKS) half of a
// trivial handler. Sign-in has none: argon2id sets its pace on purpose.
var (
	goalIssue    = goal{Of: floorWrite, Min: 0.8}
	goalRead     = goal{Of: floorRead, Min: 0.8}
	goalDocument = goal{Of: "trivial", Min: 0.5}
)

// plan is how a scenario's requests are made.
type plan struct {
	targeter vegeta.Targeter
	check    checker
	observe  func(*vegeta.Result)
	client   *http.Client // nil: the shared keep-alive client
	note     string
}

// scenarios lists every scenario in the order they run. Sign-in comes last: its
// argon2id work grows Custodian's heap, which would show in the RSS of what follows.
func scenarios() []scenario {
	return []scenario{
		{Name: "trivial", Server: serverBaseline, What: "GET /trivial: a Go handler answering {\"ok\":true}",
			plan: func(_ context.Context, f *fixture) (plan, error) {
				return plan{targeter: cycle([]vegeta.Target{{Method: http.MethodGet, URL: f.baseline + "/trivial"}})}, nil
			}},
		{Name: floorWrite, Server: serverBaseline, What: "POST /floor/token: one HMAC-SHA256 and one INSERT",
			plan: func(_ context.Context, f *fixture) (plan, error) {
				return plan{targeter: cycle([]vegeta.Target{{Method: http.MethodPost, URL: f.baseline + "/floor/token",
					Header: formHeader(), Body: []byte("grant_type=client_credentials")}}), check: bodyHas(`"access_token"`, "no token")}, nil
			}},
		{Name: floorRead, Server: serverBaseline, What: "GET /floor/introspect: one HMAC-SHA256 and one SELECT by primary key",
			plan: func(_ context.Context, f *fixture) (plan, error) {
				ts := make([]vegeta.Target, len(f.floorTokens))
				for i, tok := range f.floorTokens {
					ts[i] = vegeta.Target{Method: http.MethodGet, URL: f.baseline + "/floor/introspect", Header: bearer(tok)}
				}
				return plan{targeter: cycle(ts), check: bodyHas(`"active":true`, "inactive")}, nil
			}},
		{Name: "discovery", Server: serverCustodian, Goal: goalDocument, What: "GET /oauth2/{tenant}/.well-known/openid-configuration",
			plan: perTenant(http.MethodGet, "/oauth2/%s/.well-known/openid-configuration", nil, nil)},
		{Name: "jwks", Server: serverCustodian, Goal: goalDocument, What: "GET /oauth2/{tenant}/jwks.json",
			plan: perTenant(http.MethodGet, "/oauth2/%s/jwks.json", nil, nil)},
		{Name: "client_credentials", Server: serverCustodian, Floor: floorWrite, Goal: goalIssue,
			What: "POST /oauth2/{tenant}/token grant_type=client_credentials, HTTP Basic client authentication (one access token, opaque + JWT)",
			plan: func(ctx context.Context, f *fixture) (plan, error) {
				h := formHeader()
				h.Set("Authorization", basicAuth(backendClient, f.secret))
				return perTenant(http.MethodPost, "/oauth2/%s/token", h, []byte("grant_type=client_credentials"))(ctx, f)
			}},
		{Name: "anonymous", Server: serverCustodian, Floor: floorWrite, Goal: goalIssue,
			What: "POST /oauth2/{tenant}/token grant_type=urn:custodian:grant-type:anonymous, public client (access + refresh token, stateless: no row)",
			plan: perTenant(http.MethodPost, "/oauth2/%s/token", formHeader(), anonymousForm())},
		{Name: "introspection", Server: serverCustodian, Floor: floorRead, Goal: goalRead,
			What: "POST /oauth2/{tenant}/introspect of an anonymous shopper's access token (stateless: signed, no row), HTTP Basic client authentication",
			plan: introspectPlan(func(f *fixture) []grant { return f.anon }, func(g grant) (string, string) { return g.Tenant, g.Access })},
		{Name: "introspection-customer", Server: serverCustodian, Floor: floorRead, Goal: goalRead,
			What: "POST /oauth2/{tenant}/introspect of a signed-in customer's stored opaque access token (login API), HTTP Basic client authentication",
			plan: introspectPlan(func(f *fixture) []customerTokens { return f.customers },
				func(c customerTokens) (string, string) { return c.Tenant, c.Opaque })},
		{Name: "validateauthtoken", Server: serverCustodian, Floor: floorRead, Goal: goalRead,
			What: "GET /customer/{tenant}/validateauthtoken with a signed-in customer's opaque token",
			plan: customerGET("/customer/%s/validateauthtoken", func(c customerTokens) string { return c.Opaque })},
		{Name: "me-opaque", Server: serverCustodian, Floor: floorRead, Goal: goalRead,
			What: "GET /customer/{tenant}/me with a signed-in customer's opaque token",
			plan: customerGET("/customer/%s/me", func(c customerTokens) string { return c.Opaque })},
		{Name: "me-jwt", Server: serverCustodian, Floor: floorRead, Goal: goalRead,
			What: "GET /customer/{tenant}/me with the same customer's JWT access token (at+jwt, from the password grant)",
			plan: customerGET("/customer/%s/me", func(c customerTokens) string { return c.JWT })},
		{Name: "userinfo", Server: serverCustodian, Floor: floorRead, Goal: goalRead,
			What: "GET /oauth2/{tenant}/userinfo with an opaque token of the password grant (scope openid profile email)",
			plan: customerGET("/oauth2/%s/userinfo", func(c customerTokens) string { return c.OIDC })},
		{Name: "refresh", Server: serverCustodian, Floor: floorWrite, Goal: goalIssue,
			What: "POST /oauth2/{tenant}/token grant_type=refresh_token of anonymous shoppers' (stateless) tokens, public client; every token is used once (chains)",
			plan: refreshPlan("refresh", func(f *fixture) []grant { return f.chains })},
		{Name: "refresh-customer", Server: serverCustodian, Floor: floorWrite, Goal: goalIssue,
			What: "POST /oauth2/{tenant}/token grant_type=refresh_token of signed-in customers' stored tokens (rotation), public client; every token is used once (chains)",
			plan: refreshPlan("refresh-customer", func(f *fixture) []grant { return f.customerChains })},
		{Name: "signin", Server: serverCustodian,
			What: "POST /customer/{tenant}/login {email, password} with the storefront's anonymous token (argon2id)",
			plan: signInPlan},
	}
}

func formHeader() http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// cycle hands out targets in turn.
func cycle(ts []vegeta.Target) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		if len(ts) == 0 {
			return errors.New("no targets")
		}
		*t = ts[(n.Add(1)-1)%uint64(len(ts))]
		return nil
	}
}

// bodyHas is a check that wants s in the answer.
func bodyHas(s, why string) checker {
	return func(r *vegeta.Result) string {
		if bytes.Contains(r.Body, []byte(s)) {
			return ""
		}
		return why
	}
}

// perTenant is the same request to every tenant in turn.
func perTenant(method, pathf string, h http.Header, body []byte) func(context.Context, *fixture) (plan, error) {
	return func(_ context.Context, f *fixture) (plan, error) {
		ts := make([]vegeta.Target, len(f.tenants))
		for i, t := range f.tenants {
			ts[i] = vegeta.Target{Method: method, URL: f.custodian + fmt.Sprintf(pathf, t), Header: h, Body: body}
		}
		p := plan{targeter: cycle(ts)}
		if method == http.MethodPost {
			p.check = bodyHas(`"access_token"`, "no token")
		}
		return p, nil
	}
}

// customerGET is a GET with each signed-in customer's token in turn.
func customerGET(pathf string, tok func(customerTokens) string) func(context.Context, *fixture) (plan, error) {
	return func(_ context.Context, f *fixture) (plan, error) {
		ts := make([]vegeta.Target, len(f.customers))
		for i, c := range f.customers {
			ts[i] = vegeta.Target{Method: http.MethodGet, URL: f.custodian + fmt.Sprintf(pathf, c.Tenant), Header: bearer(tok(c))}
		}
		return plan{targeter: cycle(ts)}, nil
	}
}

// introspectPlan introspects each token of the pool in turn (token gives its tenant
// and the token), with the backend client's HTTP Basic authentication.
func introspectPlan[T any](pool func(*fixture) []T, token func(T) (tenant, tok string)) func(context.Context, *fixture) (plan, error) {
	return func(_ context.Context, f *fixture) (plan, error) {
		ts := make([]vegeta.Target, len(pool(f)))
		for i, g := range pool(f) {
			tenant, tok := token(g)
			h := formHeader()
			h.Set("Authorization", basicAuth(backendClient, f.secret))
			ts[i] = vegeta.Target{Method: http.MethodPost, URL: f.custodian + "/oauth2/" + tenant + "/introspect",
				Header: h, Body: []byte(url.Values{"token": {tok}}.Encode())}
		}
		return plan{targeter: cycle(ts), check: bodyHas(`"active":true`, "inactive")}, nil
	}
}

// chainWait bounds how long a refresh request waits for a token before the scenario
// gives up (every chain broke).
const chainWait = 5 * time.Second

// refreshPlan refreshes the refresh tokens chains picks (anonymous shoppers' or
// signed-in customers'). Each answer's new refresh token is the next request of its
// chain, so no token is ever used twice (a second use would be a replay, or the
// grace-window path) and none has to be minted ahead: the pool holds twice as many
// chains as connections, so a request never waits for its token. A failed refresh ends
// its chain (and counts as an error).
func refreshPlan(name string, chains func(*fixture) []grant) func(context.Context, *fixture) (plan, error) {
	return func(ctx context.Context, f *fixture) (plan, error) {
		seed := chains(f)
		if len(seed) == 0 {
			return plan{}, errors.New("no refresh chains")
		}
		pool := newChainPool(seed)
		targeter := func(t *vegeta.Target) error {
			var g grant
			select {
			case g = <-pool.tokens:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(chainWait):
				return errors.New("no refresh token to use: every chain broke")
			}
			*t = refreshTarget(f.custodian, g)
			return nil
		}
		observe := func(r *vegeta.Result) {
			if r.Code != http.StatusOK {
				return
			}
			var tok tokenAnswer
			if json.Unmarshal(r.Body, &tok) == nil && tok.RefreshToken != "" {
				pool.put(grant{Tenant: tenantOfPath(r.URL), Refresh: tok.RefreshToken})
			}
		}
		return plan{targeter: targeter, observe: observe, check: bodyHas(`"refresh_token"`, "no refresh token"),
			note: fmt.Sprintf("%s: %d chains; each refresh token is used once, the next one comes from the answer", name, len(seed))}, nil
	}
}

func refreshTarget(base string, g grant) vegeta.Target {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}, "client_id": {storefrontClient}}
	return vegeta.Target{Method: http.MethodPost, URL: base + "/oauth2/" + g.Tenant + "/token", Header: formHeader(),
		Body: []byte(form.Encode())}
}

// signInPlan signs the sign-in accounts in, in turn. The load tenants' sign-in limits
// are raised (raisedLimits), so every sign-in is still counted in both buckets (per
// client IP and per account: the limiter's writes, as in production) and none fills:
// the scenario measures sign-in, not 429s. The requests still come from many loopback
// addresses, a new connection each, and go to many accounts, so the limiter's rows
// are as many and as spread as a storefront's shoppers make them, not one hot row.
// Should a bucket fill anyway, the 429s show among the errors.
func signInPlan(_ context.Context, f *fixture) (plan, error) {
	if len(f.accounts) == 0 {
		return plan{}, errors.New("no sign-in accounts")
	}
	ts := make([]vegeta.Target, len(f.accounts))
	for i, acc := range f.accounts {
		anon, ok := f.anonOf(acc.Tenant, i)
		if !ok {
			return plan{}, fmt.Errorf("no anonymous token of tenant %s", acc.Tenant)
		}
		body, _ := json.Marshal(map[string]string{"email": acc.Email, "password": f.password})
		h := bearer(anon.Access)
		h.Set("Content-Type", "application/json")
		ts[i] = vegeta.Target{Method: http.MethodPost, URL: f.custodian + "/customer/" + acc.Tenant + "/login", Header: h, Body: body}
	}
	return plan{targeter: cycle(ts), check: bodyHas(`"access_token"`, "no token"), client: f.signInClient,
		note: fmt.Sprintf("signin: the tenants' ratelimit.login_per_ip and ratelimit.login_per_account raised to %d a minute (still counted); %d accounts in turn, %d loopback source addresses, one connection per request",
			raisedLimit, len(f.accounts), signInSources)}, nil
}

// signInSources is how many loopback addresses the sign-in client connects from.
const signInSources = 1024

// selectScenarios returns the scenarios named (all when names is empty), in run
// order; trivial and the floors a named scenario is compared with always run.
func selectScenarios(names []string) ([]scenario, error) {
	all := scenarios()
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{"trivial": true}
	known := map[string]scenario{}
	for _, s := range all {
		known[s.Name] = s
	}
	for _, n := range names {
		s, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q", n)
		}
		want[n] = true
		if s.Floor != "" {
			want[s.Floor] = true
		}
	}
	var out []scenario
	for _, s := range all {
		if want[s.Name] {
			out = append(out, s)
		}
	}
	return out, nil
}
