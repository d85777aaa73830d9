package custodian_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// clock is a pinned, movable clock for the parts of Custodian that take one.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = time.Now()
	}
	c.t = c.t.Add(d)
}

// env is one running Custodian on a loopback listener.
type env struct {
	t       testing.TB
	srv     *custodian.Server
	url     string
	admin   string // base URL of the admin listener (AdminHandler)
	clock   *clock
	backend storagetest.Backend
}

const (
	testTenant   = "shop"
	spaClient    = "spa"
	spaRedirect  = "http://127.0.0.1:9/callback"
	spaLogout    = "http://127.0.0.1:9/"
	backendID    = "backend"
	backendSec   = "backend-secret-0123456789-abcdefghijklmnop"
	shopperEmail = "jane@example.com"
	shopperPass  = "correct horse battery"
	adminToken   = "admin-token-0123456789"
)

type envOption func(*custodian.Config)

// allowPrivateURLs lets connectors and webhooks reach loopback, where the tests run
// their upstream providers and webhook receivers.
func allowPrivateURLs(c *custodian.Config) { c.AllowPrivateURLs = true }

func newEnv(t testing.TB, b storagetest.Backend, opts ...envOption) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	clk := &clock{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CUSTODIAN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := custodian.Config{
		DatabaseURL: b.URL,
		PublicURL:   base,
		Secret:      "test-secret-0123456789-0123456789-0123456789",
		AdminToken:  adminToken,
		Logger:      logger,
		Now:         clk.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := custodian.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	adm := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(func() {
		ts.Close()
		adm.Close()
		srv.Close()
	})
	e := &env{t: t, srv: srv, url: base, admin: adm.URL, clock: clk, backend: b}
	e.seed()
	return e
}

func (e *env) seed() {
	t, ctx := e.t, context.Background()
	if _, err := e.srv.OAuth.CreateTenant(ctx, testTenant); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{
		Tenant: testTenant, ID: spaClient, Public: true, FirstParty: true,
		RedirectURIs: []string{spaRedirect}, PostLogoutRedirectURIs: []string{spaLogout},
		GrantTypes: []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken, identity.GrantAnonymous},
		Scopes:     []string{"openid", "profile", "email", "offline_access"},
	}, ""); err != nil {
		t.Fatalf("create spa client: %v", err)
	}
	if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{
		Tenant: testTenant, ID: backendID,
		GrantTypes: []string{identity.GrantClientCredentials, identity.GrantRefreshToken, identity.GrantAnonymous},
		Scopes:     []string{"openid", "orders"},
		// The shop's backend is a resource server: it introspects every token.
		Behaviors: []string{oauth.BehaviorConfigureTokenDurations, oauth.BehaviorIntrospectAny},
	}, backendSec); err != nil {
		t.Fatalf("create backend client: %v", err)
	}
	if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew(shopperEmail, shopperPass)); err != nil {
		t.Fatalf("create customer: %v", err)
	}
}

func (e *env) issuer() string { return e.url + "/oauth2/" + testTenant }

// browser is an HTTP client with cookies that does not follow redirects, so a test
// sees every hop of the authorization flow.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// loginForm fetches the authorization URL and returns the login form's action and
// CSRF token.
func loginForm(t *testing.T, c *http.Client, authURL string) (action, csrf string) {
	t.Helper()
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET auth: status %d: %s", resp.StatusCode, body)
	}
	return formParts(t, resp.Request.URL, body)
}

func formParts(t *testing.T, base *url.URL, body string) (string, string) {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	a := formAction.FindStringSubmatch(body)
	if m == nil || a == nil {
		t.Fatalf("no form in page: %s", body)
	}
	action, err := base.Parse(htmlUnescape(a[1]))
	if err != nil {
		t.Fatal(err)
	}
	return action.String(), m[1]
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'").Replace(s)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func postForm(t *testing.T, c *http.Client, target string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
