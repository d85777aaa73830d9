package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// The demo seeded by `custodian serve --demo`.
const (
	demoTenant         = "demo"
	demoPublicClient   = "storefront"
	demoBackendClient  = "backend"
	demoRedirectURI    = "http://127.0.0.1:3000/callback"
	demoPostLogoutURI  = "http://127.0.0.1:3000/"
	demoCustomerEmail  = "shopper@example.com"
	demoScope          = "openid profile email offline_access"
	demoPasswordLength = 12 // random bytes; 16 characters once encoded
)

// Demo describes what seedDemo set up. The backend secret and the shopper's password
// are only known when Created is true: they are shown once and only their hashes are
// kept.
type Demo struct {
	Tenant           string
	PublicClientID   string
	BackendClientID  string
	BackendSecret    string
	CustomerEmail    string
	CustomerPassword string
	// Created is false when the database already had tenants and nothing was created.
	Created bool
}

// seedDemo gives an empty database a demo tenant with a public first-party storefront
// client, a confidential backend client and a demo shopper. A database that already
// has a tenant is left alone (Created is false); so is one where another node won the
// race to seed it.
//
// The steps are not one transaction (creating a tenant's keys must not run inside a
// caller's), so a failure part way leaves a partial demo behind; start over on a fresh
// database in that case.
func seedDemo(ctx context.Context, s *custodian.Server, log *slog.Logger) (*Demo, error) {
	tenants, err := s.OAuth.ListTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed demo: %w", err)
	}
	if len(tenants) > 0 {
		return existingDemo(ctx, s)
	}

	if _, err := s.OAuth.CreateTenant(ctx, demoTenant); err != nil {
		if errors.Is(err, identity.ErrConflict) {
			return existingDemo(ctx, s)
		}
		return nil, fmt.Errorf("seed demo: %w", err)
	}
	d := &Demo{Tenant: demoTenant, PublicClientID: demoPublicClient, BackendClientID: demoBackendClient,
		CustomerEmail: demoCustomerEmail, Created: true}

	storefront := &oauth.Client{
		Tenant:                 demoTenant,
		ID:                     demoPublicClient,
		Name:                   "Demo storefront",
		Public:                 true,
		FirstParty:             true,
		RedirectURIs:           []string{demoRedirectURI},
		PostLogoutRedirectURIs: []string{demoPostLogoutURI},
		GrantTypes:             []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken, identity.GrantAnonymous},
		Scopes:                 strings.Fields(demoScope),
	}
	if _, err := s.OAuth.CreateClient(ctx, storefront, ""); err != nil {
		return nil, fmt.Errorf("seed demo: client %s: %w", demoPublicClient, err)
	}

	backend := &oauth.Client{
		Tenant:     demoTenant,
		ID:         demoBackendClient,
		Name:       "Demo backend",
		GrantTypes: []string{identity.GrantClientCredentials, identity.GrantRefreshToken},
		Scopes:     strings.Fields(demoScope),
		// The demo backend plays the shop's resource server: it may introspect every
		// token of the tenant (the README's tour does).
		Behaviors: []string{oauth.BehaviorConfigureTokenDurations, oauth.BehaviorIntrospectAny},
	}
	if d.BackendSecret, err = s.OAuth.CreateClient(ctx, backend, ""); err != nil {
		return nil, fmt.Errorf("seed demo: client %s: %w", demoBackendClient, err)
	}

	pw := make([]byte, demoPasswordLength)
	if _, err := io.ReadFull(rand.Reader, pw); err != nil {
		return nil, fmt.Errorf("seed demo: random: %w", err)
	}
	d.CustomerPassword = base64.RawURLEncoding.EncodeToString(pw)
	if _, err := s.Customers.CreateAccount(ctx, demoTenant, customer.NewAccount{
		Email: demoCustomerEmail, Password: d.CustomerPassword,
		FirstName: "Demo", LastName: "Shopper", Active: true, CreatedBy: "demo",
	}); err != nil {
		return nil, fmt.Errorf("seed demo: customer: %w", err)
	}
	log.InfoContext(ctx, "seeded demo", "tenant", demoTenant, "clients", []string{demoPublicClient, demoBackendClient},
		"customer", demoCustomerEmail)
	return d, nil
}

// existingDemo describes a database seedDemo leaves alone: the demo's names when its
// tenant is there, nothing otherwise.
func existingDemo(ctx context.Context, s *custodian.Server) (*Demo, error) {
	d := &Demo{}
	if _, err := s.OAuth.GetTenant(ctx, demoTenant); errors.Is(err, identity.ErrNotFound) {
		return d, nil
	} else if err != nil {
		return nil, fmt.Errorf("seed demo: %w", err)
	}
	d.Tenant = demoTenant
	if _, err := s.OAuth.GetClient(ctx, demoTenant, demoPublicClient); err == nil {
		d.PublicClientID = demoPublicClient
	}
	if _, err := s.OAuth.GetClient(ctx, demoTenant, demoBackendClient); err == nil {
		d.BackendClientID = demoBackendClient
	}
	return d, nil
}

// demoGuide is what the "try it" guide shows, computed once for the text banner and
// the JSON log record alike.
type demoGuide struct {
	issuer, authURL, verifier string
}

func (d *Demo) guide(publicURL string) demoGuide {
	g := demoGuide{issuer: strings.TrimRight(publicURL, "/") + "/oauth2/" + d.Tenant}
	if d.PublicClientID != "" {
		verifier, challenge := pkcePair()
		q := url.Values{}
		q.Set("response_type", "code")
		q.Set("client_id", d.PublicClientID)
		q.Set("redirect_uri", demoRedirectURI)
		q.Set("scope", demoScope)
		q.Set("state", randomString(12))
		q.Set("nonce", randomString(12))
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
		g.authURL, g.verifier = g.issuer+"/auth?"+q.Encode(), verifier
	}
	return g
}

// Log writes the demo as one log record with a field per fact, for JSON logs, where a
// text banner would be a foreign body among the records. The backend secret and the
// shopper's password are in it when they were just created: shown once, as in the
// banner (the demo is for trying Custodian out, never for production).
func (d *Demo) Log(ctx context.Context, log *slog.Logger, publicURL string) {
	if d.Tenant == "" {
		log.LogAttrs(ctx, slog.LevelInfo, "demo: the database already has tenants and no demo tenant; --demo created nothing",
			slog.Bool("created", false))
		return
	}
	g := d.guide(publicURL)
	attrs := []slog.Attr{slog.Bool("created", d.Created), slog.String("tenant", d.Tenant), slog.String("issuer", g.issuer)}
	if d.PublicClientID != "" {
		attrs = append(attrs, slog.String("public_client", d.PublicClientID), slog.String("redirect_uri", demoRedirectURI),
			slog.String("authorize_url", g.authURL), slog.String("code_verifier", g.verifier))
	}
	if d.BackendClientID != "" {
		attrs = append(attrs, slog.String("backend_client", d.BackendClientID))
		if d.BackendSecret != "" {
			attrs = append(attrs, slog.String("backend_secret", d.BackendSecret))
		}
	}
	if d.Created {
		attrs = append(attrs, slog.String("shopper_email", d.CustomerEmail), slog.String("shopper_password", d.CustomerPassword))
	}
	msg := "demo seeded: the backend secret and the shopper password are shown this once"
	if !d.Created {
		msg = "demo: the database already has tenants, --demo created nothing; the secrets were shown at first start"
	}
	log.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}

// Print writes a short "try it" guide for the demo served at publicURL.
func (d *Demo) Print(w io.Writer, publicURL string) error {
	g := d.guide(publicURL)
	issuer := g.issuer
	p := &printer{w: w}
	if !d.Created {
		p.line("The database already has tenants: --demo created nothing.")
		if d.Tenant == "" {
			p.line("(There is no %q tenant; create tenants and clients with `custodian tenant create` and `custodian client create`.)", demoTenant)
			return p.err
		}
		p.line("The demo below was seeded on first start; its backend secret and shopper password were printed then.")
	} else {
		p.line("Demo seeded (these secrets are shown once and only their hashes are kept):")
	}
	p.line("")
	p.line("  issuer           %s", issuer)
	if d.PublicClientID != "" {
		p.line("  public client    %s (first party, redirect %s)", d.PublicClientID, demoRedirectURI)
	}
	if d.BackendClientID != "" {
		secret := d.BackendSecret
		if secret == "" {
			secret = "(shown at first start)"
		}
		p.line("  backend client   %s, secret %s", d.BackendClientID, secret)
	}
	if d.Created {
		p.line("  demo shopper     %s, password %s", d.CustomerEmail, d.CustomerPassword)
	}
	p.line("")
	p.line("Try it:")
	p.line("")
	p.line("  # discovery")
	p.line("  curl -s %s", shellQuote(issuer+"/.well-known/openid-configuration"))
	if d.BackendClientID != "" {
		cred := shellQuote(d.BackendClientID + ":" + d.BackendSecret)
		if d.BackendSecret == "" {
			cred = `"` + d.BackendClientID + `:$BACKEND_SECRET"`
		}
		p.line("  # a machine token for the backend")
		p.line("  curl -s -u %s -X POST %s -d grant_type=client_credentials", cred, shellQuote(issuer+"/token"))
	}
	if d.PublicClientID != "" {
		p.line("  # an anonymous shopper token for the storefront")
		p.line("  curl -s -X POST %s -d grant_type=%s -d client_id=%s",
			shellQuote(issuer+"/token"), identity.GrantAnonymous, d.PublicClientID)
		p.line("")
		p.line("Sign in as the shopper: open this URL in a browser (PKCE code_verifier %s):", g.verifier)
		p.line("")
		p.line("  %s", g.authURL)
		p.line("")
		p.line("The browser then lands on %s?code=…; exchange the code within a few minutes:", demoRedirectURI)
		p.line("")
		p.line("  curl -s -X POST %s -d grant_type=authorization_code -d client_id=%s \\", shellQuote(issuer+"/token"), d.PublicClientID)
		p.line("    -d redirect_uri=%s -d code_verifier=%s -d code=\"$CODE\"", shellQuote(demoRedirectURI), g.verifier)
	}
	return p.err
}

// printer writes lines until the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// pkcePair returns a fresh PKCE code verifier and its S256 challenge (RFC 7636).
func pkcePair() (verifier, challenge string) {
	verifier = randomString(32) // 43 characters, the shortest verifier allowed
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
