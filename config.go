// Package custodian is a customer identity server for commerce storefronts: an
// OpenID Connect provider per tenant (built on fosite), the ticket API and the customer
// login API. New builds a Server from a Config; Server.Handler serves it and
// Server.Register mounts it on a host program's router.
package custodian

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/custodian-id/custodian/egress"
	"github.com/custodian-id/custodian/storage"
)

// Secret is a configuration value that must never reach a log.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String keeps fmt from printing the value too.
func (Secret) String() string { return "REDACTED" }

// Config is everything a Server needs. The library takes it as a plain struct; only
// cmd/custodian reads flags and the environment.
type Config struct {
	// DatabaseURL is postgres://… or sqlite:PATH.
	DatabaseURL string
	// PublicURL is the externally visible base URL; issuers are PublicURL/oauth2/{tenant}.
	PublicURL string
	// Secret derives the keys that seal signing keys, hash client secrets and sign
	// tokens and cookies. At least 32 bytes.
	Secret Secret
	// AdminToken guards /admin/…; empty disables the admin routes.
	AdminToken Secret
	// SMTPURL (smtp://[user:pass@]host:port or smtps://…) and MailFrom configure mail
	// delivery; without SMTPURL mail is written to the log.
	SMTPURL  Secret
	MailFrom string

	// RefreshGracePeriod is how long a rotated refresh token keeps working for
	// concurrent callers; its values are storage.Options.RefreshGracePeriod's (zero:
	// the default of 10s; negative: no grace).
	RefreshGracePeriod time.Duration
	// RefreshGraceMaxForks bounds the token pairs one refresh token may mint inside the
	// grace window (zero: the default of 20).
	RefreshGraceMaxForks int
	// DatabaseMaxConns is the size of the node's connection pool (zero: the default,
	// storage.PoolSize: on PostgreSQL 4 per GOMAXPROCS, at least 8 and at most 64; on
	// SQLite 8). Every node's pool, plus its invalidation listener, must fit in
	// PostgreSQL's max_connections.
	DatabaseMaxConns int
	// DatabaseWait is how long New keeps retrying a database that is unavailable at
	// start (refused, unreachable, starting up), with backoff and a log line per
	// attempt (zero: one minute; negative: one attempt).
	DatabaseWait time.Duration
	// RequestTimeout is the deadline of every request's database work (zero: 10s): a
	// statement still running then is cancelled and the request answers 503.
	RequestTimeout time.Duration
	// MaxBodyBytes limits request bodies (zero: 64 KiB).
	MaxBodyBytes int64
	// SecureCookies forces the Secure attribute on cookies; it is on by default when
	// PublicURL is https.
	SecureCookies bool
	// AllowPrivateURLs lets connector issuers and webhook URLs (and every call made to
	// them) reach loopback, link-local and private addresses. Off by default: whoever
	// configures a tenant must not be able to make the server call its own network.
	// Local development and tests with an upstream provider on loopback turn it on.
	AllowPrivateURLs bool
	// TrustedProxies are the load balancers, CDNs and reverse proxies whose Forwarded
	// and X-Forwarded-For headers are believed (ParseTrustedProxies reads them): from
	// such a peer the client is the right-most forwarded address that is not a trusted
	// proxy. Empty: the client is always the TCP peer and every forwarding header is
	// ignored.
	TrustedProxies []netip.Prefix
	// PasswordHashConcurrency bounds the password hashes (argon2id, 19 MiB each) that
	// requests run at once on this node (zero: GOMAXPROCS); the others wait in a
	// queue up to PasswordHashWait (zero: 10s) and are then answered 503 with
	// Retry-After, so memory under a login or sign-up flood stays flat.
	PasswordHashConcurrency int
	PasswordHashWait        time.Duration

	// CacheTTL is the longest a node serves a tenant, a client or a tenant's signing
	// keys from its cache without reading them again (zero: storage.DefaultCacheTTL,
	// one second; negative: no cache). Every change through this node takes effect at
	// once; on PostgreSQL every node hears every change (LISTEN/NOTIFY, one more
	// connection per node) within milliseconds, and the TTL only bounds what a lost
	// notification could leave stale. On SQLite a change by another process (the
	// command line) reaches a running server within the TTL. Tokens are never cached.
	CacheTTL time.Duration

	// Retention is how long expired, used and old rows are kept before the maintenance
	// sweep deletes them; a zero period takes its default (storage.DefaultRetention,
	// documented in README.md, "Retention").
	Retention storage.Retention

	// Logger receives structured logs (default: discard).
	Logger *slog.Logger
	// Now is the clock (default: time.Now). Tests pin it.
	Now func() time.Time
	// Rand is the source of randomness (default: crypto/rand).
	Rand io.Reader
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database URL is required"))
	} else if _, _, err := storage.ParseURL(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.PublicURL == "" {
		errs = append(errs, errors.New("public URL is required"))
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public URL %q must be an absolute http(s) URL", c.PublicURL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("public URL %q must not have a query or fragment", c.PublicURL))
	}
	if len(c.Secret) < 32 {
		errs = append(errs, errors.New("secret must be at least 32 bytes"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("admin token must be at least 16 characters"))
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(string(c.SMTPURL))
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			errs = append(errs, errors.New("SMTP URL must be smtp://[user:pass@]host:port or smtps://…"))
		}
		if c.MailFrom == "" {
			errs = append(errs, errors.New("mail sender (CUSTODIAN_MAIL_FROM) is required with an SMTP URL"))
		}
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("request timeout must not be negative"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("max body bytes must not be negative"))
	}
	if c.DatabaseMaxConns < 0 {
		errs = append(errs, errors.New("database max connections must not be negative"))
	}
	if c.RefreshGraceMaxForks < 0 {
		errs = append(errs, errors.New("refresh grace max forks must not be negative"))
	}
	if c.PasswordHashConcurrency < 0 || c.PasswordHashWait < 0 {
		errs = append(errs, errors.New("password hash concurrency and wait must not be negative"))
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, errors.New("trusted proxies: an entry is not a valid CIDR"))
			break
		}
	}
	return errors.Join(errs...)
}

func (c *Config) publicURL() string { return strings.TrimRight(c.PublicURL, "/") }

// egress is the policy of outgoing calls to addresses tenants configure.
func (c *Config) egress() egress.Policy { return egress.Policy{AllowPrivate: c.AllowPrivateURLs} }
