package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage"
)

// options is the command's configuration: defaults, then the config file, then the
// environment, then flags. Secrets stay plain strings here and become custodian.Secret
// (which logs as REDACTED) in the library's Config; options itself is never logged.
type options struct {
	Database   string
	Addr       string
	AdminAddr  string // the admin listener: /healthz, /readyz, /metrics, /admin/…
	PublicURL  string // empty: http://{addr}
	Secret     string
	AdminToken string
	SMTPURL    string
	MailFrom   string
	LogFormat  string
	LogLevel   string
	// AllowPrivateURLs ("true"/"false"): connectors and webhooks may reach internal addresses.
	AllowPrivateURLs string
	// TrustedProxies: CIDRs whose forwarding headers are believed (custodian.ParseTrustedProxies).
	TrustedProxies string
	// DBMaxConns is the connection pool's size (custodian.Config.DatabaseMaxConns); empty: the default.
	DBMaxConns string
	// ShutdownDelay (a Go duration, "5s"): how long serve keeps serving after SIGTERM,
	// with /readyz not ready, before it closes its listeners.
	ShutdownDelay string
	// CacheTTL: how long a node serves tenants, clients and keys from its cache (a Go
	// duration; 0 turns the caches off; empty: custodian.Config's default).
	CacheTTL string
	// ConfigFile is the YAML file of --config / CUSTODIAN_CONFIG; empty: none.
	ConfigFile string
}

const (
	defaultDatabase = "sqlite:custodian.db"
	defaultAddr     = "127.0.0.1:8080"
	// defaultAdminAddr is loopback: operations and administration are reached from the
	// host (or through a tunnel), never from where shoppers are. Port 8081, beside the
	// public 8080, rather than 9090, which is Prometheus's own port and often taken on
	// the host that scrapes us.
	defaultAdminAddr = "127.0.0.1:8081"
	configEnv        = "CUSTODIAN_CONFIG"
	// defaultShutdownDelay gives a load balancer probing /readyz every second or two
	// time to see the node go not ready (two failed probes) before it closes.
	defaultShutdownDelay = "5s"
)

func defaultOptions() options {
	return options{Database: defaultDatabase, Addr: defaultAddr, AdminAddr: defaultAdminAddr, LogFormat: "text", LogLevel: "info",
		ShutdownDelay: defaultShutdownDelay}
}

// source ties an option to its environment variable and, for some, its flag. An option
// with a flag also has a config-file key: the flag's name with "_" for "-" (fileKey).
// Secrets have no flag, so they come only from the environment (or, for the server
// secret of a SQLite database, the file beside it), never from the config file.
type source struct {
	env   string
	flag  string // "" when the option has no flag
	field func(*options) *string
}

var sources = []source{
	{"CUSTODIAN_DATABASE_URL", "database", func(o *options) *string { return &o.Database }},
	{"CUSTODIAN_ADDR", "addr", func(o *options) *string { return &o.Addr }},
	{"CUSTODIAN_ADMIN_ADDR", "admin-addr", func(o *options) *string { return &o.AdminAddr }},
	{"CUSTODIAN_PUBLIC_URL", "public-url", func(o *options) *string { return &o.PublicURL }},
	{"CUSTODIAN_SECRET", "", func(o *options) *string { return &o.Secret }},
	{"CUSTODIAN_ADMIN_TOKEN", "", func(o *options) *string { return &o.AdminToken }},
	{"CUSTODIAN_SMTP_URL", "", func(o *options) *string { return &o.SMTPURL }},
	{"CUSTODIAN_MAIL_FROM", "mail-from", func(o *options) *string { return &o.MailFrom }},
	{"CUSTODIAN_LOG_FORMAT", "log-format", func(o *options) *string { return &o.LogFormat }},
	{"CUSTODIAN_LOG_LEVEL", "log-level", func(o *options) *string { return &o.LogLevel }},
	{"CUSTODIAN_ALLOW_PRIVATE_URLS", "allow-private-urls", func(o *options) *string { return &o.AllowPrivateURLs }},
	{"CUSTODIAN_TRUSTED_PROXIES", "trusted-proxies", func(o *options) *string { return &o.TrustedProxies }},
	{"CUSTODIAN_DB_MAX_CONNS", "db-max-conns", func(o *options) *string { return &o.DBMaxConns }},
	{"CUSTODIAN_SHUTDOWN_DELAY", "shutdown-delay", func(o *options) *string { return &o.ShutdownDelay }},
	{"CUSTODIAN_CACHE_TTL", "cache-ttl", func(o *options) *string { return &o.CacheTTL }},
}

// fileKey is the config-file key of a flag: --public-url is public_url.
func fileKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// configFlags registers the configuration flags a command takes (a subset of database,
// addr, public-url, allow-private-urls, mail-from) on fs, writing into o, and on every
// command --config, --log-format and --log-level. The help text shows the built-in
// defaults, never a value from the file or the environment.
func configFlags(fs *flag.FlagSet, o *options, names ...string) {
	for _, n := range append([]string{"config", "log-format", "log-level"}, names...) {
		if fs.Lookup(n) != nil {
			continue
		}
		switch n {
		case "config":
			fs.StringVar(&o.ConfigFile, n, "", "YAML `file` of configuration: one key per configuration flag, e.g. public_url for --public-url (env "+configEnv+")")
		case "database":
			fs.StringVar(&o.Database, n, defaultDatabase, "database `URL`: postgres://… or sqlite:PATH (env CUSTODIAN_DATABASE_URL)")
		case "addr":
			fs.StringVar(&o.Addr, n, defaultAddr, "listen `address` host:port; port 0 picks a free port (env CUSTODIAN_ADDR)")
		case "admin-addr":
			fs.StringVar(&o.AdminAddr, n, defaultAdminAddr, "admin listen `address` host:port of /healthz, /readyz, /metrics and /admin/…; keep it off the\n        public network (env CUSTODIAN_ADMIN_ADDR)")
		case "public-url":
			fs.StringVar(&o.PublicURL, n, "", "external base `URL`; issuers are URL/oauth2/{tenant} (env CUSTODIAN_PUBLIC_URL; default http://{addr})")
		case "allow-private-urls":
			fs.Var(boolOption{&o.AllowPrivateURLs}, n, "let connector issuers and webhook URLs reach loopback, link-local and private addresses; for local development (env CUSTODIAN_ALLOW_PRIVATE_URLS)")
		case "trusted-proxies":
			fs.StringVar(&o.TrustedProxies, n, "", "comma list of `CIDRs` of the load balancers and proxies whose Forwarded / X-Forwarded-For headers name the client (env CUSTODIAN_TRUSTED_PROXIES; default none: the client is the TCP peer)")
		case "db-max-conns":
			fs.Var(countOption{&o.DBMaxConns}, n, "`size` of the database connection pool (env CUSTODIAN_DB_MAX_CONNS; default on PostgreSQL 4 × GOMAXPROCS,\n        at least 8 and at most 64, on SQLite 8)")
		case "shutdown-delay":
			fs.StringVar(&o.ShutdownDelay, n, defaultShutdownDelay, "`duration` serve keeps serving after SIGTERM with /readyz not ready and \"Connection: close\" on\n        every response, before it stops accepting connections; 0 for none; a second signal skips it\n        (env CUSTODIAN_SHUTDOWN_DELAY)")
		case "cache-ttl":
			fs.StringVar(&o.CacheTTL, n, "", "longest `duration` a node serves a tenant, client or signing key from its cache; every change\n"+
				"        reaches it sooner (PostgreSQL: NOTIFY), this bounds a lost notification or a SQLite write by another\n"+
				"        process; 0 turns the caches off (env CUSTODIAN_CACHE_TTL; default 1s)")
		case "mail-from":
			fs.StringVar(&o.MailFrom, n, "", "sender `address` of outgoing mail (env CUSTODIAN_MAIL_FROM)")
		case "log-format":
			fs.StringVar(&o.LogFormat, n, "text", "log `format`: text or json (env CUSTODIAN_LOG_FORMAT)")
		case "log-level":
			fs.StringVar(&o.LogLevel, n, "info", "log `level`: debug, info, warn or error (env CUSTODIAN_LOG_LEVEL)")
		default:
			panic("unknown configuration flag " + n)
		}
	}
}

// resolve applies the config file and the environment under the flags: after fs is
// parsed, every option whose flag was not given on the command line takes its
// environment variable when that is set, else its key in the config file when that is
// set. o must start from defaultOptions. The error lists every problem of the config
// file; the options are resolved as far as they could be.
func resolve(fs *flag.FlagSet, o *options, env func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["config"] {
		o.ConfigFile = env(configEnv)
	}
	var (
		file map[string]string
		err  error
	)
	if o.ConfigFile != "" {
		file, err = readConfigFile(o.ConfigFile)
	}
	for _, s := range sources {
		if s.flag != "" && given[s.flag] {
			continue
		}
		if v := env(s.env); v != "" {
			*s.field(o) = v
		} else if v, ok := file[fileKey(s.flag)]; ok && s.flag != "" {
			*s.field(o) = v
		}
	}
	return err
}

// problems reports what is wrong with the options beyond what custodian.Config checks,
// among them a missing secret with PostgreSQL.
// listens: the command serves HTTP; needsSecret: it opens a Server.
func (o *options) problems(listens, needsSecret bool) []error {
	var errs []error
	if listens {
		if err := checkAddr(o.Addr); err != nil {
			errs = append(errs, fmt.Errorf("listen address %w", err))
		}
		if err := checkAddr(o.AdminAddr); err != nil {
			errs = append(errs, fmt.Errorf("admin listen address (CUSTODIAN_ADMIN_ADDR) %w", err))
		} else if sameListener(o.Addr, o.AdminAddr) {
			errs = append(errs, fmt.Errorf("admin listen address (CUSTODIAN_ADMIN_ADDR) %q must differ from the listen address: the admin surface is never served where shoppers are", o.AdminAddr))
		}
		if err := checkShutdownDelay(o.ShutdownDelay); err != nil {
			errs = append(errs, fmt.Errorf("shutdown delay (CUSTODIAN_SHUTDOWN_DELAY) %w", err))
		}
	}
	if err := checkLogFormat(o.LogFormat); err != nil {
		errs = append(errs, fmt.Errorf("log format (CUSTODIAN_LOG_FORMAT) %w", err))
	}
	if err := checkLogLevel(o.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("log level (CUSTODIAN_LOG_LEVEL) %w", err))
	}
	if _, err := o.allowPrivateURLs(); err != nil {
		errs = append(errs, err)
	}
	if _, err := o.cacheTTL(); err != nil {
		errs = append(errs, err)
	}
	if _, err := custodian.ParseTrustedProxies(o.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("%w (CUSTODIAN_TRUSTED_PROXIES)", err))
	}
	if _, err := o.dbMaxConns(); err != nil {
		errs = append(errs, err)
	}
	if needsSecret && o.Secret == "" {
		if d, _, err := storage.ParseURL(o.Database); err == nil && d == storage.Postgres {
			errs = append(errs, errors.New("CUSTODIAN_SECRET is required with PostgreSQL (the same on every node)"))
		}
	}
	return errs
}

func checkLogFormat(f string) error {
	switch f {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("%q: want text or json", f)
}

func checkLogLevel(l string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l)); err != nil {
		return fmt.Errorf("%q: want debug, info, warn or error", l)
	}
	return nil
}

// maxShutdownDelay: a longer delay is a typo (5m for 5s) that would hold every restart.
const maxShutdownDelay = 5 * time.Minute

func checkShutdownDelay(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxShutdownDelay {
		return fmt.Errorf("%q: want a duration from 0s to %s, e.g. 5s", v, maxShutdownDelay)
	}
	return nil
}

// shutdownDelay is the checked ShutdownDelay (problems reported a bad one).
func (o *options) shutdownDelay() time.Duration {
	d, err := time.ParseDuration(o.ShutdownDelay)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

// sameListener reports whether two listen addresses name the same port on an
// overlapping host (port 0 picks a free port, so it never collides).
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	unspecified := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || unspecified(ha) || unspecified(hb)
}

// publicURLFor is the default public URL of a listen address: an unspecified host
// (":8080", "0.0.0.0:8080", "[::]:8080") becomes the loopback address.
func publicURLFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// logger builds the command's logger: slog to stderr, text or JSON. Invalid settings
// fall back to the defaults (they are reported by problems).
func (o *options) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if o.LogFormat == "json" {
		ho.ReplaceAttr = durationMillis
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// durationMillis writes a duration of a JSON log as milliseconds, with the unit in the
// key ("duration" becomes "duration_ms": 12.5): slog would print nanoseconds, which no
// log pipeline reads as a duration and nobody reads at a glance.
func durationMillis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key+"_ms", float64(a.Value.Duration())/float64(time.Millisecond))
	}
	return a
}

// libraryConfig turns the options into the library's Config. The server secret is
// left empty when it is to come from a secret file (see serverSecret).
func (o *options) libraryConfig(log *slog.Logger) custodian.Config {
	public := o.PublicURL
	if public == "" {
		public = publicURLFor(o.Addr)
	}
	return custodian.Config{
		DatabaseURL: o.Database,
		PublicURL:   public,
		Secret:      custodian.Secret(o.Secret),
		AdminToken:  custodian.Secret(o.AdminToken),
		SMTPURL:     custodian.Secret(o.SMTPURL),
		MailFrom:    o.MailFrom,
		Logger:      log,
		// An invalid value is reported by problems; until then it allows nothing.
		AllowPrivateURLs: must(o.allowPrivateURLs()),
		TrustedProxies:   trustedProxies(o.TrustedProxies),
		// An invalid value is reported by problems; until then the default.
		DatabaseMaxConns: must(o.dbMaxConns()),
		CacheTTL:         must(o.cacheTTL()),
	}
}

// dbMaxConns reads CUSTODIAN_DB_MAX_CONNS / --db-max-conns: empty is the default (0).
func (o *options) dbMaxConns() (int, error) {
	if o.DBMaxConns == "" {
		return 0, nil
	}
	n, err := checkMaxConns(o.DBMaxConns)
	if err != nil {
		return 0, fmt.Errorf("database max connections (CUSTODIAN_DB_MAX_CONNS) %w", err)
	}
	return n, nil
}

// checkMaxConns reads a pool size: a whole number from 1 to 1000.
func checkMaxConns(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("%q: want a whole number from 1 to 1000", v)
	}
	return n, nil
}

// cacheTTL reads CUSTODIAN_CACHE_TTL / --cache-ttl as custodian.Config.CacheTTL: empty
// is the default (zero), 0 is off (negative).
func (o *options) cacheTTL() (time.Duration, error) {
	if o.CacheTTL == "" {
		return 0, nil
	}
	if err := checkCacheTTL(o.CacheTTL); err != nil {
		return 0, fmt.Errorf("cache TTL (CUSTODIAN_CACHE_TTL) %w", err)
	}
	if d, _ := time.ParseDuration(o.CacheTTL); d > 0 {
		return d, nil
	}
	return -1, nil
}

// checkCacheTTL checks the form of a cache TTL: a duration, 0 or more.
func checkCacheTTL(v string) error {
	if d, err := time.ParseDuration(v); err != nil || d < 0 {
		return fmt.Errorf("%q: want a duration such as 1s, or 0 for no cache", v)
	}
	return nil
}

// allowPrivateURLs reads CUSTODIAN_ALLOW_PRIVATE_URLS / --allow-private-urls.
func (o *options) allowPrivateURLs() (bool, error) {
	if o.AllowPrivateURLs == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(o.AllowPrivateURLs)
	if err != nil {
		return false, fmt.Errorf("allow private URLs (CUSTODIAN_ALLOW_PRIVATE_URLS) %q: want true or false", o.AllowPrivateURLs)
	}
	return b, nil
}

// must is the value of a parse whose error problems reports.
func must[T any](v T, _ error) T { return v }

// trustedProxies reads CUSTODIAN_TRUSTED_PROXIES / --trusted-proxies; an invalid list
// is reported by problems and trusts nobody until then.
func trustedProxies(list string) []netip.Prefix {
	ps, err := custodian.ParseTrustedProxies(list)
	if err != nil {
		return nil
	}
	return ps
}

// boolOption is a boolean flag kept as the string its environment variable would hold,
// so that a flag given on the command line wins over the environment like the others.
type boolOption struct{ v *string }

func (b boolOption) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}

func (b boolOption) Set(s string) error {
	if _, err := strconv.ParseBool(s); err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	*b.v = s
	return nil
}

func (b boolOption) IsBoolFlag() bool { return true }

// countOption is a whole-number flag kept as the string its environment variable
// would hold, like boolOption; the config file takes it as a YAML number.
type countOption struct{ v *string }

func (c countOption) String() string {
	if c.v == nil {
		return ""
	}
	return *c.v
}

func (c countOption) Set(s string) error {
	if _, err := checkMaxConns(s); err != nil {
		return err
	}
	*c.v = s
	return nil
}

// validate reports every problem of the options and of the library configuration
// they make, at once. A secret that a SQLite secret file will provide is not a
// problem; validate does not create that file.
func (o *options) validate(cfg custodian.Config, listens bool) error {
	errs := o.problems(listens, true)
	if cfg.Secret == "" {
		// SQLite: serverSecret provides one. PostgreSQL: problems reported it missing.
		cfg.Secret = custodian.Secret(strings.Repeat("x", 64))
	}
	errs = append(errs, flatten(cfg.Validate())...)
	return errors.Join(errs...)
}

// flatten returns the errors an errors.Join made, or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// secretFilePath is where the server secret of a file-backed SQLite database lives:
// beside the database, PATH.secret. An in-memory database has none.
func secretFilePath(databaseURL string) (string, bool) {
	path, ok := sqliteFile(databaseURL)
	if !ok {
		return "", false
	}
	return path + ".secret", true
}

// sqliteFile is the file of a file-backed SQLite database.
func sqliteFile(databaseURL string) (string, bool) {
	d, _, err := storage.ParseURL(databaseURL)
	if err != nil || d != storage.SQLite {
		return "", false
	}
	// The same reading of the URL as storage.ParseURL.
	path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
	if path == ":memory:" {
		return "", false
	}
	return path, true
}

// secretBytes is the entropy of a generated server secret.
const secretBytes = 48

// serverSecret fills in cfg.Secret when the environment gave none: from the secret
// file beside a SQLite database, creating it (mode 0600) on first use, or a secret
// that lives as long as the process for an in-memory database. Only the file's path
// is ever logged.
func serverSecret(cfg *custodian.Config, log *slog.Logger) error {
	if cfg.Secret != "" {
		return nil
	}
	path, ok := secretFilePath(cfg.DatabaseURL)
	if !ok {
		if d, _, err := storage.ParseURL(cfg.DatabaseURL); err == nil && d == storage.SQLite {
			cfg.Secret = custodian.Secret(newSecret())
			log.Info("using a throwaway server secret for the in-memory database")
			return nil
		}
		return errors.New("CUSTODIAN_SECRET is required")
	}
	secret, created, err := readOrCreateSecret(path)
	if err != nil {
		return err
	}
	switch fi, err := os.Stat(path); {
	case created:
		log.Info("created the server secret file; keep it with the database and back it up", "path", path)
	case err == nil && fi.Mode().Perm()&0o077 != 0:
		log.Warn("the server secret file is readable by other users; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
	default:
		log.Debug("read the server secret file", "path", path)
	}
	cfg.Secret = custodian.Secret(secret)
	return nil
}

func newSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// readOrCreateSecret returns the secret stored at path, first writing a new one there
// when the file does not exist. The new secret is written to a temporary file that is
// then hard-linked into place, so the file never exists half-written and two
// processes starting at once agree on one secret.
func readOrCreateSecret(path string) (secret string, created bool, err error) {
	secret, err = readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return "", false, fmt.Errorf("create server secret file: %w", err)
	}
	defer os.Remove(tmp.Name())
	secret = newSecret()
	_, err = tmp.WriteString(secret + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", false, fmt.Errorf("write server secret file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		secret, err = readSecret(path) // another process was quicker
		return secret, false, err
	} else if err != nil {
		return "", false, fmt.Errorf("create server secret file: %w", err)
	}
	return secret, true, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read server secret file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < 32 {
		return "", fmt.Errorf("server secret file %s holds fewer than 32 bytes; restore it or set CUSTODIAN_SECRET", path)
	}
	return secret, nil
}
