package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/custodian-id/custodian/identity"
)

// fixture is what the scenarios work with: the servers, the tenants set up through the
// admin API, and pools of tokens minted through the public API before any measurement.
type fixture struct {
	custodian string // base URL of Custodian
	baseline  string // base URL of the baseline process

	tenants  []string
	secret   string // the backend client's secret, the same in every tenant
	password string // every load customer's password

	anon           []grant          // anonymous shoppers: introspected, and signing in
	chains         []grant          // anonymous shoppers whose (stateless) refresh tokens start the refresh chains
	customerChains []grant          // signed-in customers' stored refresh tokens (a sign-in each): refresh-customer
	customers      []customerTokens // signed-in customers: introspection-customer, validateauthtoken, /me, userinfo
	accounts       []account        // customers the sign-in scenario signs in

	floorTokens []string // tokens issued by the floor, read back by floor-introspect

	signInClient *http.Client // connects from many loopback addresses (see newSpreadClient)
}

// grant is an anonymous shopper's token pair.
type grant struct {
	Tenant, Access, Refresh string
}

// customerTokens are one signed-in customer's tokens: the login API's opaque access
// token, and the opaque and JWT (at+jwt) access tokens of the password grant with the
// openid scope. The login API's saas_token is not an access token (typ JWT): the
// customer API refuses it, so /me with a JWT uses jwt_access_token.
type customerTokens struct {
	Tenant, Opaque, JWT, OIDC string
}

type account struct {
	Tenant, Email string
}

// The clients every load tenant has.
const (
	storefrontClient = "storefront" // public, first-party: anonymous, refresh and password grants
	backendClient    = "backend"    // confidential: client_credentials only, introspects any token
)

// setupSize says how much to create.
type setupSize struct {
	Tenants        int
	Pool           int // anonymous shoppers for introspection and sign-in
	Chains         int // refresh chains, of anonymous shoppers and of signed-in customers each
	CustomerTokens int // signed-in customers for the read scenarios
	SignInAccounts int // customers for the sign-in scenario
	FloorTokens    int
}

// adminAPI calls Custodian's admin and public API during setup.
type adminAPI struct {
	client    *http.Client
	base      string // the public listener
	adminBase string // the admin listener
	token     string
}

// call sends a request and decodes a JSON answer into out (when not nil); any status
// but want is an error that quotes the answer.
func (a *adminAPI) call(ctx context.Context, c *http.Client, method, u string, hdr http.Header, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c == nil {
		c = a.client
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
		}
	}
	return nil
}

func (a *adminAPI) admin(ctx context.Context, method, path string, in any, want int) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	hdr := http.Header{"Authorization": {"Bearer " + a.token}, "Content-Type": {"application/json"}}
	return a.call(ctx, nil, method, a.adminBase+path, hdr, b, want, nil)
}

// raisedLimit is what the harness sets the load tenants' rate limits to: the most a
// setting allows.
const raisedLimit = identity.MaxRatePerMinute

// loadTenantSettings are the settings of every load tenant: the password grant (off by
// default) for the signed-in customers' tokens, and the limits of the credential
// endpoints raised so that the sign-in scenario (and setup's sign-ins and sign-ups)
// measure the work, not the limiter. Raised, not switched off (0): every attempt is
// still counted, so each pays the limiter's writes as in production. Lockout stays at
// its default; the load signs in with the right password, which records no failure.
// ratelimit.anonymous_per_client stays off, its default.
func loadTenantSettings() map[string]string {
	n := strconv.Itoa(raisedLimit)
	return map[string]string{
		"grants.password":             "true",
		"ratelimit.login_per_ip":      n,
		"ratelimit.login_per_account": n,
		"ratelimit.signup_per_ip":     n,
	}
}

func tenantName(i int) string { return fmt.Sprintf("load-%04d", i) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// setup creates the tenants, clients and customers through the admin API, then mints
// the token pools through the public API, as storefronts would. It stays one function
// (past the project's ~80 lines): the steps run in the order the data depends on.
func setup(ctx context.Context, a *adminAPI, baseline string, size setupSize, signIn *http.Client) (*fixture, error) {
	f := &fixture{custodian: a.base, baseline: baseline, secret: randomString(24), password: randomString(15), signInClient: signIn}
	for i := range max(size.Tenants, 1) {
		f.tenants = append(f.tenants, tenantName(i))
	}

	// Tenants with their clients. The password grant is a tenant setting (off by default).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range f.tenants {
		g.Go(func() error {
			if err := a.admin(gctx, http.MethodPost, "/admin/tenants",
				map[string]any{"name": t, "settings": loadTenantSettings()}, http.StatusCreated); err != nil {
				return fmt.Errorf("create tenant: %w", err)
			}
			if err := a.admin(gctx, http.MethodPost, "/admin/tenants/"+t+"/clients", map[string]any{
				"id": storefrontClient, "public": true, "firstParty": true,
				"grantTypes": []string{"urn:custodian:grant-type:anonymous", "refresh_token", "password"},
				"scopes":     []string{"openid", "profile", "email", "offline_access"},
			}, http.StatusCreated); err != nil {
				return fmt.Errorf("create client: %w", err)
			}
			if err := a.admin(gctx, http.MethodPost, "/admin/tenants/"+t+"/clients", map[string]any{
				"id": backendClient, "secret": f.secret, "grantTypes": []string{"client_credentials"},
				// A resource server: it introspects the storefront's tokens too.
				"behaviors": []string{"oauth:introspect-any"},
			}, http.StatusCreated); err != nil {
				return fmt.Errorf("create client: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Customers (each hashes a password: argon2id on the server), spread over the tenants.
	n := size.CustomerTokens + size.SignInAccounts
	all := make([]account, n)
	for i := range all {
		all[i] = account{Tenant: f.tenants[i%len(f.tenants)], Email: fmt.Sprintf("shopper-%d@load.example", i)}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, acc := range all {
		g.Go(func() error {
			if err := a.admin(gctx, http.MethodPost, "/admin/tenants/"+acc.Tenant+"/customers", map[string]any{
				"email": acc.Email, "password": f.password, "firstName": "Load", "lastName": "Shopper",
			}, http.StatusCreated); err != nil {
				return fmt.Errorf("create customer: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	f.accounts = all[size.CustomerTokens:]

	// Anonymous shoppers: one pool to introspect and sign in with, one to refresh.
	shoppers, err := mintAnonymous(ctx, a, f.tenants, size.Pool+size.Chains)
	if err != nil {
		return nil, err
	}
	f.anon, f.chains = shoppers[:size.Pool], shoppers[size.Pool:]

	// Signed-in customers for the read scenarios.
	f.customers = make([]customerTokens, size.CustomerTokens)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range f.customers {
		acc := all[i]
		anon, ok := f.anonOf(acc.Tenant, i)
		if !ok {
			return nil, fmt.Errorf("no anonymous token of tenant %s to sign in with", acc.Tenant)
		}
		g.Go(func() error {
			ct, err := signInCustomer(gctx, a, signIn, acc, f.password, anon)
			if err != nil {
				return err
			}
			f.customers[i] = ct
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Customers' refresh chains: a sign-in through the login API each (the signed-in
	// customers in turn), so each chain is a token family of its own that rotates.
	f.customerChains = make([]grant, size.Chains)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range f.customerChains {
		acc := all[i%size.CustomerTokens]
		anon, _ := f.anonOf(acc.Tenant, i) // found above for the same customer
		g.Go(func() error {
			login, err := loginAPISignIn(gctx, a, signIn, acc, f.password, anon)
			if err != nil {
				return err
			}
			if login.RefreshToken == "" {
				return errors.New("sign in: the answer lacks refresh_token")
			}
			f.customerChains[i] = grant{Tenant: acc.Tenant, Access: login.AccessToken, Refresh: login.RefreshToken}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Floor tokens, issued by the floor itself.
	f.floorTokens = make([]string, size.FloorTokens)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range f.floorTokens {
		g.Go(func() error {
			var out struct {
				AccessToken string `json:"access_token"`
			}
			hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			if err := a.call(gctx, nil, http.MethodPost, baseline+"/floor/token", hdr, []byte("grant_type=client_credentials"), http.StatusOK, &out); err != nil {
				return fmt.Errorf("floor token: %w", err)
			}
			f.floorTokens[i] = out.AccessToken
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return f, nil
}

// anonOf returns an anonymous shopper's token of tenant t, the i-th such in turn.
func (f *fixture) anonOf(t string, i int) (grant, bool) {
	var of []grant
	for _, g := range f.anon {
		if g.Tenant == t {
			of = append(of, g)
		}
	}
	if len(of) == 0 {
		return grant{}, false
	}
	return of[i%len(of)], true
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	JWTAccess    string `json:"jwt_access_token"`
}

func anonymousForm() []byte {
	return []byte(url.Values{"grant_type": {"urn:custodian:grant-type:anonymous"}, "client_id": {storefrontClient}}.Encode())
}

// mintAnonymous issues n anonymous shopper tokens, spread over the tenants in turn.
func mintAnonymous(ctx context.Context, a *adminAPI, tenants []string, n int) ([]grant, error) {
	out := make([]grant, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for i := range out {
		t := tenants[i%len(tenants)]
		g.Go(func() error {
			var tok tokenAnswer
			if err := a.call(gctx, nil, http.MethodPost, a.base+"/oauth2/"+t+"/token", hdr, anonymousForm(), http.StatusOK, &tok); err != nil {
				return fmt.Errorf("anonymous token: %w", err)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" {
				return errors.New("anonymous token: the answer lacks access_token or refresh_token")
			}
			out[i] = grant{Tenant: t, Access: tok.AccessToken, Refresh: tok.RefreshToken}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// loginAPISignIn signs a customer in through the login API with an anonymous
// shopper's token.
func loginAPISignIn(ctx context.Context, a *adminAPI, c *http.Client, acc account, password string, anon grant) (tokenAnswer, error) {
	body, _ := json.Marshal(map[string]string{"email": acc.Email, "password": password})
	var login tokenAnswer
	hdr := http.Header{"Authorization": {"Bearer " + anon.Access}, "Content-Type": {"application/json"}}
	if err := a.call(ctx, c, http.MethodPost, a.base+"/customer/"+acc.Tenant+"/login", hdr, body, http.StatusOK, &login); err != nil {
		return login, fmt.Errorf("sign in: %w", err)
	}
	if login.AccessToken == "" {
		return login, errors.New("sign in: the answer lacks access_token")
	}
	return login, nil
}

// signInCustomer signs a customer in twice: through the login API, and through the
// password grant with the openid scope (userinfo, and a JWT access token).
func signInCustomer(ctx context.Context, a *adminAPI, c *http.Client, acc account, password string, anon grant) (customerTokens, error) {
	ct := customerTokens{Tenant: acc.Tenant}
	login, err := loginAPISignIn(ctx, a, c, acc, password, anon)
	if err != nil {
		return ct, err
	}
	form := url.Values{"grant_type": {"password"}, "client_id": {storefrontClient}, "username": {acc.Email},
		"password": {password}, "scope": {"openid profile email"}}
	var oidc tokenAnswer
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if err := a.call(ctx, c, http.MethodPost, a.base+"/oauth2/"+acc.Tenant+"/token", hdr, []byte(form.Encode()), http.StatusOK, &oidc); err != nil {
		return ct, fmt.Errorf("password grant: %w", err)
	}
	if oidc.AccessToken == "" || oidc.JWTAccess == "" {
		return ct, errors.New("password grant: the answer lacks access_token or jwt_access_token")
	}
	ct.Opaque, ct.JWT, ct.OIDC = login.AccessToken, oidc.JWTAccess, oidc.AccessToken
	return ct, nil
}

// basicAuth is the HTTP Basic credential of an OAuth client (RFC 6749 §2.3.1).
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// chainPool hands out refresh tokens: each refresh answer's new refresh token goes back
// in, so every request uses a token that has never been used, as a storefront does.
type chainPool struct {
	tokens chan grant
}

func newChainPool(seed []grant) *chainPool {
	p := &chainPool{tokens: make(chan grant, len(seed))}
	for _, g := range seed {
		p.tokens <- g
	}
	return p
}

// put returns a fresh refresh token to the pool; a full pool drops it (it cannot be
// full: every token in it came out first).
func (p *chainPool) put(g grant) {
	select {
	case p.tokens <- g:
	default:
	}
}

// tenantOfPath is the tenant of a /oauth2/{tenant}/… or /customer/{tenant}/… URL.
func tenantOfPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}
