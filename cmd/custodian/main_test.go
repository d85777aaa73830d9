package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// mapEnv is an environment for run.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		args          []string
		wantDB        string
		wantAddr      string
		wantPublicURL string
		wantSecret    string
	}{
		{
			name:          "defaults",
			wantDB:        "sqlite:custodian.db",
			wantAddr:      "127.0.0.1:8080",
			wantPublicURL: "http://127.0.0.1:8080",
		},
		{
			name: "environment over defaults",
			env: map[string]string{
				"CUSTODIAN_DATABASE_URL": "postgres://db.internal/custodian",
				"CUSTODIAN_ADDR":         "0.0.0.0:9000",
				"CUSTODIAN_SECRET":       "from-the-environment",
			},
			wantDB:        "postgres://db.internal/custodian",
			wantAddr:      "0.0.0.0:9000",
			wantPublicURL: "http://127.0.0.1:9000", // an unspecified host becomes loopback
			wantSecret:    "from-the-environment",
		},
		{
			name: "flags over environment",
			env: map[string]string{
				"CUSTODIAN_DATABASE_URL": "postgres://db.internal/custodian",
				"CUSTODIAN_ADDR":         "0.0.0.0:9000",
				"CUSTODIAN_PUBLIC_URL":   "https://env.example.com",
			},
			args:          []string{"--database", "sqlite:other.db", "--addr", "127.0.0.1:7000", "--public-url", "https://flag.example.com"},
			wantDB:        "sqlite:other.db",
			wantAddr:      "127.0.0.1:7000",
			wantPublicURL: "https://flag.example.com",
		},
		{
			name:          "environment public URL over the derived default",
			env:           map[string]string{"CUSTODIAN_PUBLIC_URL": "https://id.example.com"},
			args:          []string{"--addr", "127.0.0.1:7000"},
			wantDB:        "sqlite:custodian.db",
			wantAddr:      "127.0.0.1:7000",
			wantPublicURL: "https://id.example.com",
		},
		{
			name:          "an empty variable is unset",
			env:           map[string]string{"CUSTODIAN_DATABASE_URL": "", "CUSTODIAN_ADDR": "[::]:8443"},
			wantDB:        "sqlite:custodian.db",
			wantAddr:      "[::]:8443",
			wantPublicURL: "http://[::1]:8443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			o := defaultOptions()
			configFlags(fs, &o, "database", "addr", "public-url")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			resolve(fs, &o, mapEnv(tt.env))
			cfg := o.libraryConfig(nil)
			if cfg.DatabaseURL != tt.wantDB || o.Addr != tt.wantAddr || cfg.PublicURL != tt.wantPublicURL || string(cfg.Secret) != tt.wantSecret {
				t.Errorf("got database %q, addr %q, public URL %q, secret %q; want %q, %q, %q, %q",
					cfg.DatabaseURL, o.Addr, cfg.PublicURL, cfg.Secret, tt.wantDB, tt.wantAddr, tt.wantPublicURL, tt.wantSecret)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	env := map[string]string{
		"CUSTODIAN_DATABASE_URL": "mysql://nope",
		"CUSTODIAN_PUBLIC_URL":   "ftp://id.example.com",
		"CUSTODIAN_SECRET":       "too-short",
		"CUSTODIAN_ADMIN_TOKEN":  "short",
		"CUSTODIAN_SMTP_URL":     "smtp://mail.example.com:587",
		"CUSTODIAN_LOG_FORMAT":   "xml",
		"CUSTODIAN_LOG_LEVEL":    "loud",
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--addr", "localhost"}, mapEnv(env), &stdout, &stderr)
	if code != exitUsage {
		t.Errorf("exit status %d, want %d", code, exitUsage)
	}
	for _, want := range []string{
		`listen address "localhost"`,
		"log format",
		"log level",
		"database URL",
		"public URL",
		"secret must be at least 32 bytes",
		"admin token",
		"mail sender",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "too-short") {
		t.Errorf("stderr shows the secret:\n%s", stderr.String())
	}

	t.Run("postgres needs a secret", func(t *testing.T) {
		var stderr bytes.Buffer
		env := map[string]string{"CUSTODIAN_DATABASE_URL": "postgres://127.0.0.1:1/none"}
		if code := run(t.Context(), []string{"keys", "rotate", "--tenant", "shop"}, mapEnv(env), io.Discard, &stderr); code != exitUsage {
			t.Errorf("exit status %d, want %d", code, exitUsage)
		}
		if !strings.Contains(stderr.String(), "CUSTODIAN_SECRET is required with PostgreSQL") ||
			strings.Contains(stderr.String(), "at least 32 bytes") {
			t.Errorf("stderr:\n%s", stderr.String())
		}
	})
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "c.db")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	first := custodian.Config{DatabaseURL: db}
	if err := serverSecret(&first, log); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.db.secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(first.Secret) != 64 {
		t.Errorf("secret has %d characters, want 64 (48 bytes, base64url)", len(first.Secret))
	}
	if !strings.Contains(logs.String(), "created the server secret file") || !strings.Contains(logs.String(), path) {
		t.Errorf("creating the file was not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), string(first.Secret)) {
		t.Errorf("the secret was logged:\n%s", logs.String())
	}

	second := custodian.Config{DatabaseURL: db}
	if err := serverSecret(&second, log); err != nil {
		t.Fatal(err)
	}
	if second.Secret != first.Secret {
		t.Error("the second run did not reuse the secret file")
	}

	fromEnv := custodian.Config{DatabaseURL: db, Secret: "x-secret-from-the-environment-0123456789"}
	if err := serverSecret(&fromEnv, log); err != nil || fromEnv.Secret != "x-secret-from-the-environment-0123456789" {
		t.Errorf("CUSTODIAN_SECRET did not win over the file: %v", err)
	}

	t.Run("concurrent first runs agree", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "race.db.secret")
		const n = 8
		secrets := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, _, err := readOrCreateSecret(path)
				if err != nil {
					t.Error(err)
				}
				secrets[i] = s
			})
		}
		wg.Wait()
		for _, s := range secrets[1:] {
			if s != secrets[0] {
				t.Fatalf("secrets differ: %q", secrets)
			}
		}
		tmps, _ := filepath.Glob(path + ".tmp*")
		if len(tmps) > 0 {
			t.Errorf("temporary files left behind: %v", tmps)
		}
	})

	t.Run("a broken file is an error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "broken.db.secret")
		if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readOrCreateSecret(path); err == nil || !strings.Contains(err.Error(), "fewer than 32 bytes") {
			t.Errorf("got %v", err)
		}
	})
}

// cliTest runs commands in-process against one temporary SQLite database.
type cliTest struct {
	t   *testing.T
	env map[string]string
}

func newCLITest(t *testing.T) *cliTest {
	return &cliTest{t: t, env: map[string]string{
		"CUSTODIAN_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "custodian.db"),
		"CUSTODIAN_LOG_LEVEL":    "warn",
	}}
}

func (c *cliTest) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = run(c.t.Context(), args, mapEnv(c.env), &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and returns its standard output.
func (c *cliTest) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("custodian %s: exit status %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// server opens the test database through the library, with the command's secret.
func (c *cliTest) server() *custodian.Server {
	c.t.Helper()
	db := c.env["CUSTODIAN_DATABASE_URL"]
	path, _ := secretFilePath(db)
	secret, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	srv, err := custodian.New(c.t.Context(), custodian.Config{DatabaseURL: db, PublicURL: "http://127.0.0.1:8080",
		Secret: custodian.Secret(strings.TrimSpace(string(secret)))})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { srv.Close() })
	return srv
}

func TestCommands(t *testing.T) {
	c := newCLITest(t)

	if out := c.ok("migrate"); !strings.Contains(out, "schema is at version") {
		t.Errorf("migrate printed %q", out)
	}
	if out := c.ok("tenant", "create", "shop"); !strings.Contains(out, "issuer=http://127.0.0.1:8080/oauth2/shop") {
		t.Errorf("tenant create printed %q", out)
	}
	out := c.ok("tenant", "update", "shop", "--set", "tokens.access_ttl=30m", "--set", "signup.optin=true")
	if !strings.Contains(out, "tokens.access_ttl=30m0s") || !strings.Contains(out, "signup.optin=true") {
		t.Errorf("tenant update printed %q", out)
	}
	show := c.ok("tenant", "show", "shop")
	lines := strings.Split(strings.TrimSpace(show), "\n")
	if lines[0] != "issuer=http://127.0.0.1:8080/oauth2/shop" {
		t.Errorf("tenant show starts with %q", lines[0])
	}
	if len(lines)-1 != len(identity.SettingKeys()) {
		t.Errorf("tenant show printed %d settings, want %d", len(lines)-1, len(identity.SettingKeys()))
	}
	for _, want := range []string{"tokens.access_ttl=30m0s", "signup.optin=true", "lockout.threshold=5"} {
		if !strings.Contains(show, want+"\n") {
			t.Errorf("tenant show lacks %s:\n%s", want, show)
		}
	}

	out = c.ok("client", "create", "--tenant", "shop", "--id", "backend", "--grant-type", "client_credentials",
		"--scope", "openid profile", "--behavior", oauth.BehaviorConfigureTokenDurations)
	m := regexp.MustCompile(`(?m)^client_secret=(\S+)$`).FindAllStringSubmatch(out, -1)
	if len(m) != 1 || !strings.Contains(out, "client_id=backend\n") {
		t.Fatalf("client create printed %q", out)
	}
	secret := m[0][1]
	if len(secret) < oauth.MinSecretLength {
		t.Errorf("generated secret %q is short", secret)
	}
	out = c.ok("client", "create", "--tenant", "shop", "--id", "spa", "--public", "--first-party",
		"--redirect-uri", "http://127.0.0.1:3000/cb", "--post-logout-redirect-uri", "http://127.0.0.1:3000/")
	if out != "client_id=spa\n" {
		t.Errorf("public client create printed %q", out)
	}
	c.ok("customer", "create", "--tenant", "shop", "--email", "jane@example.com", "--password", "correct horse battery",
		"--first-name", "Jane", "--last-name", "Doe")
	c.ok("keys", "rotate", "--tenant", "shop")

	srv := c.server()
	cl, err := srv.OAuth.AuthenticateClient(t.Context(), "shop", "backend", secret)
	if err != nil {
		t.Fatalf("the printed secret does not authenticate the client: %v", err)
	}
	if !cl.HasBehavior(oauth.BehaviorConfigureTokenDurations) || strings.Join(cl.Scopes, " ") != "openid profile" {
		t.Errorf("client stored as %+v", cl)
	}
	if spa, err := srv.OAuth.GetClient(t.Context(), "shop", "spa"); err != nil || !spa.Public || !spa.FirstParty ||
		len(spa.PostLogoutRedirectURIs) != 1 {
		t.Errorf("public client stored as %+v, %v", spa, err)
	}
	if _, err := srv.Customers.AuthenticatePassword(t.Context(), "shop", customer.LoginAttempt{Email: "jane@example.com", Password: "correct horse battery"}); err != nil {
		t.Errorf("the customer cannot sign in: %v", err)
	}
	out = c.ok("connector", "add", "--tenant", "shop", "--id", "google", "--issuer", "https://accounts.google.com",
		"--client-id", "cid", "--client-secret", "csecret", "--name", "Google")
	if !strings.Contains(out, "redirect_uri=") || !strings.Contains(out, "/oauth2/shop/connectors/google/callback") {
		t.Errorf("connector add printed %q", out)
	}
	if out = c.ok("connector", "list", "--tenant", "shop"); !strings.Contains(out, "google\thttps://accounts.google.com\tcid\tGoogle") {
		t.Errorf("connector list printed %q", out)
	}

	// Bad input changes nothing.
	bad := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown setting", []string{"tenant", "update", "shop", "--set", "tokens.access_ttl=5m", "--set", "tokens.nope=1"}, exitUsage, `unknown setting "tokens.nope"`},
		{"bad setting value", []string{"tenant", "update", "shop", "--set", "lockout.threshold=many"}, exitUsage, "lockout.threshold"},
		{"set without value", []string{"tenant", "update", "shop", "--set", "tokens.access_ttl"}, exitUsage, "want KEY=VALUE"},
		{"nothing to set", []string{"tenant", "update", "shop"}, exitUsage, "nothing to change"},
		{"update unknown tenant", []string{"tenant", "update", "nope", "--set", "signup.optin=false"}, exitFailure, "not found"},
		{"bad tenant name", []string{"tenant", "create", "Bad_Name"}, exitUsage, "must match"},
		{"duplicate tenant", []string{"tenant", "create", "shop"}, exitFailure, "exists"},
		{"tenant name missing", []string{"tenant", "create"}, exitUsage, "missing NAME"},
		{"short secret", []string{"client", "create", "--tenant", "shop", "--id", "short", "--secret", "tooshort"}, exitUsage, "at least 32 characters"},
		{"secret and public", []string{"client", "create", "--tenant", "shop", "--id", "x", "--public", "--secret", strings.Repeat("s", 40)}, exitUsage, "exclude each other"},
		{"client without id", []string{"client", "create", "--tenant", "shop"}, exitUsage, "missing --id"},
		{"public client_credentials", []string{"client", "create", "--tenant", "shop", "--id", "pub", "--public", "--grant-type", "client_credentials"}, exitUsage, "client_credentials"},
		{"client of unknown tenant", []string{"client", "create", "--tenant", "nope", "--id", "x"}, exitFailure, "not found"},
		{"customer bad e-mail", []string{"customer", "create", "--tenant", "shop", "--email", "nope", "--password", "long enough pw"}, exitUsage, "not a valid e-mail address"},
		{"customer short password", []string{"customer", "create", "--tenant", "shop", "--email", "joe@example.com", "--password", "short"}, exitUsage, "at least 8"},
		{"duplicate customer", []string{"customer", "create", "--tenant", "shop", "--email", "jane@example.com", "--password", "another password"}, exitFailure, "exists"},
		{"keys of unknown tenant", []string{"keys", "rotate", "--tenant", "nope"}, exitFailure, "not found"},
		{"unknown flag", []string{"keys", "rotate", "--tenant", "shop", "--force"}, exitUsage, "flag provided but not defined: -force"},
		{"unknown command", []string{"tenant", "delete", "shop"}, exitUsage, `unknown command "delete"`},
		{"connector without secret", []string{"connector", "add", "--tenant", "shop", "--id", "g", "--issuer", "https://accounts.example", "--client-id", "c"}, exitUsage, "missing --client-secret"},
		{"connector http issuer", []string{"connector", "add", "--tenant", "shop", "--id", "g", "--issuer", "http://accounts.example", "--client-id", "c", "--client-secret", "s"}, exitUsage, "https"},
		{"connector bad id", []string{"connector", "add", "--tenant", "shop", "--id", "Google!", "--issuer", "https://accounts.example", "--client-id", "c", "--client-secret", "s"}, exitUsage, "id"},
		{"remove unknown connector", []string{"connector", "remove", "--tenant", "shop", "--id", "nope"}, exitFailure, "not found"},
		{"connector on loopback", []string{"connector", "add", "--tenant", "shop", "--id", "local", "--issuer", "http://127.0.0.1:9443/realm", "--client-id", "c", "--client-secret", "s"}, exitUsage, "CUSTODIAN_ALLOW_PRIVATE_URLS"},
		{"connector on a private address", []string{"connector", "add", "--tenant", "shop", "--id", "local", "--issuer", "https://[::ffff:10.0.0.8]/realm", "--client-id", "c", "--client-secret", "s"}, exitUsage, "not allowed"},
		{"webhook on link-local", []string{"tenant", "update", "shop", "--set", "notify.webhook_url=https://169.254.169.254/latest", "--set", "notify.webhook_secret=" + strings.Repeat("w", 32)}, exitUsage, "not allowed"},
		{"trusted-proxies not CIDRs", []string{"serve", "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8,10.0.0.0/33,proxy.internal"}, exitUsage, `"10.0.0.0/33", "proxy.internal"`},
		{"allow-private-urls not a bool", []string{"connector", "add", "--tenant", "shop", "--id", "local", "--issuer", "http://127.0.0.1:9443/realm", "--client-id", "c", "--client-secret", "s", "--allow-private-urls=maybe"}, exitUsage, "true or false"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := c.run(tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit status %d, stderr:\n%s\nwant status %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
	if after := c.ok("tenant", "show", "shop"); after != show {
		t.Errorf("settings changed by failed commands:\n%s\nwant\n%s", after, show)
	}
	ts, err := srv.OAuth.ListTenants(t.Context())
	if err != nil || len(ts) != 1 {
		t.Errorf("tenants after failed commands: %d, %v", len(ts), err)
	}
	for _, id := range []string{"short", "x", "pub"} {
		if _, err := srv.OAuth.GetClient(t.Context(), "shop", id); err == nil {
			t.Errorf("client %q was created by a failed command", id)
		}
	}
	// The operator may allow internal addresses, by flag or by environment.
	c.ok("connector", "add", "--tenant", "shop", "--id", "local", "--issuer", "http://127.0.0.1:9443/realm",
		"--client-id", "c", "--client-secret", "s", "--allow-private-urls")
	c.env["CUSTODIAN_ALLOW_PRIVATE_URLS"] = "true"
	c.ok("tenant", "update", "shop", "--set", "notify.webhook_url=http://127.0.0.1:9444/hook", "--set", "notify.webhook_secret="+strings.Repeat("w", 32))
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, exitUsage, "", "Usage: custodian COMMAND"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"help", []string{"--help"}, exitOK, "tenant update", ""},
		{"help of a command", []string{"help", "serve"}, exitOK, "--public-url", ""},
		{"command help", []string{"client", "create", "--help"}, exitOK, "--post-logout-redirect-uri", ""},
		{"group without subcommand", []string{"tenant"}, exitUsage, "", "Usage: custodian tenant COMMAND"},
		{"settings documented", []string{"tenant", "update", "-h"}, exitOK, "twofactor.triggers", ""},
		{"serve positional", []string{"serve", "now"}, exitUsage, "", `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, mapEnv(nil), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant %q on stdout and %q on stderr", stdout.String(), stderr.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	c := newCLITest(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "elsewhere.db")
	c.ok("tenant", "create", "shop", "--database", db)
	if code, _, _ := c.run("tenant", "show", "shop"); code != exitFailure {
		t.Errorf("the tenant went to the default database")
	}
	c.ok("tenant", "show", "--database", db, "shop")
	if code, _, stderr := c.run("tenant", "show", "--database", db, "--", "-shop"); code != exitFailure || !strings.Contains(stderr, "not found") {
		t.Errorf("after --, -shop is a name: status %d\n%s", code, stderr)
	}
}

// lineWriter collects output and reports the first line matching a pattern.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	once  sync.Once
	admin string // the second group of the pattern, when it has one
}

func newLineWriter(re *regexp.Regexp) *lineWriter {
	return &lineWriter{re: re, found: make(chan string, 1)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if m := w.re.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() {
			if len(m) > 2 {
				w.admin = m[2]
			}
			w.found <- m[1]
		})
	}
	return n, err
}

// adminBase is the admin listener's base URL serve printed.
func (w *lineWriter) adminBase() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.admin
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startServe runs `custodian serve` in-process and returns its base URL, its output
// (stdout.adminBase() is the admin listener's URL) and a function that stops it and
// returns its exit status. Without --admin-addr among args the admin listener takes a
// free loopback port, so tests running at once do not collide on the default.
func startServe(t *testing.T, env map[string]string, args ...string) (base string, stdout *lineWriter, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--admin-addr") }) && env["CUSTODIAN_ADMIN_ADDR"] == "" {
		args = append(args, "--admin-addr", "127.0.0.1:0")
	}
	stdout = newLineWriter(regexp.MustCompile(`(?s)listening on (http://\S+).*Operations and administration on (http://\S+)`))
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), mapEnv(env), stdout, &stderr) }()
	select {
	case base = <-stdout.found:
	case code := <-done:
		cancel()
		t.Fatalf("serve ended with status %d before listening\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	return base, stdout, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(time.Minute): // a hang guard, not a timing assertion
			t.Fatal("serve did not stop after its context ended")
			return -1
		}
	}
}

func TestServe(t *testing.T) {
	env := map[string]string{
		"CUSTODIAN_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "custodian.db"),
		"CUSTODIAN_LOG_LEVEL":    "warn",
	}
	base, stdout, stop := startServe(t, env, "--addr", "127.0.0.1:0", "--demo")
	if strings.HasSuffix(base, ":0") {
		t.Errorf("printed the configured address %s, not the real one", base)
	}

	get := func(path string) (int, []byte) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	// The public listener serves no operations beyond liveness, and no administration;
	// the admin listener serves them.
	admin := stdout.adminBase()
	if admin == "" || admin == base {
		t.Fatalf("admin listener %q (public %q)", admin, base)
	}
	for _, path := range []string{"/readyz", "/metrics", "/admin/tenants", "/customer/demo/customers/1"} {
		if code, body := get(path); code != http.StatusNotFound {
			t.Errorf("public %s: %d %s, want 404", path, code, body)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/oauth2/demo/jwks.json": 404} {
		res, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("admin %s: %d, want %d", path, res.StatusCode, want)
		}
	}
	code, body := get("/oauth2/demo/.well-known/openid-configuration")
	var disco struct{ Issuer string }
	if err := json.Unmarshal(body, &disco); code != http.StatusOK || err != nil || disco.Issuer != base+"/oauth2/demo" {
		t.Errorf("discovery: %d %s (issuer %q, want %q)", code, body, disco.Issuer, base+"/oauth2/demo")
	}

	// The printed guide works: a client_credentials token for the backend and an
	// anonymous token for the storefront.
	out := stdout.String()
	m := regexp.MustCompile(`backend client\s+backend, secret (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "shopper@example.com, password ") || !strings.Contains(out, "code_challenge_method=S256") {
		t.Fatalf("demo printout:\n%s", out)
	}
	token := func(user, pass string, form url.Values) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/demo/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Logf("token: %d %s", res.StatusCode, b)
		}
		return res.StatusCode
	}
	if code := token("backend", m[1], url.Values{"grant_type": {"client_credentials"}}); code != http.StatusOK {
		t.Errorf("client_credentials with the printed secret: %d", code)
	}
	if code := token("", "", url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {"storefront"}}); code != http.StatusOK {
		t.Errorf("anonymous grant for the storefront: %d", code)
	}

	if code := stop(); code != exitOK {
		t.Errorf("serve exited with status %d", code)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}

	// A second start finds the demo and creates nothing.
	_, stdout, stop = startServe(t, env, "--addr", "127.0.0.1:0", "--demo")
	if out := stdout.String(); !strings.Contains(out, "created nothing") || strings.Contains(out, m[1]) {
		t.Errorf("second demo printout:\n%s", out)
	}
	if code := stop(); code != exitOK {
		t.Errorf("serve exited with status %d", code)
	}
}

func TestServeAddressInUse(t *testing.T) {
	env := map[string]string{
		"CUSTODIAN_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "custodian.db"),
		"CUSTODIAN_LOG_LEVEL":    "warn",
	}
	base, _, stop := startServe(t, env, "--addr", "127.0.0.1:0")
	defer stop()
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--addr", strings.TrimPrefix(base, "http://")}, mapEnv(env), io.Discard, &stderr)
	if code != exitFailure || !strings.HasPrefix(stderr.String(), "custodian: ") {
		t.Errorf("status %d, stderr %q", code, stderr.String())
	}
}
