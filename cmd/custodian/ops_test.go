package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// writeConfig writes a config file for a test and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "custodian.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFilePrecedence(t *testing.T) {
	file := writeConfig(t, `
database: postgres://file.internal/custodian
addr: 0.0.0.0:9000
public_url: https://file.example.com
log_format: json
mail_from: ""    # empty: the default
`)
	tests := []struct {
		name          string
		env           map[string]string
		args          []string
		wantDB        string
		wantAddr      string
		wantPublicURL string
		wantFormat    string
	}{
		{
			name:          "file over defaults",
			args:          []string{"--config", file},
			wantDB:        "postgres://file.internal/custodian",
			wantAddr:      "0.0.0.0:9000",
			wantPublicURL: "https://file.example.com",
			wantFormat:    "json",
		},
		{
			name:          "the file named by CUSTODIAN_CONFIG",
			env:           map[string]string{"CUSTODIAN_CONFIG": file},
			wantDB:        "postgres://file.internal/custodian",
			wantAddr:      "0.0.0.0:9000",
			wantPublicURL: "https://file.example.com",
			wantFormat:    "json",
		},
		{
			name: "environment over file",
			env: map[string]string{
				"CUSTODIAN_DATABASE_URL": "sqlite:env.db",
				"CUSTODIAN_LOG_FORMAT":   "text",
			},
			args:          []string{"--config", file},
			wantDB:        "sqlite:env.db",
			wantAddr:      "0.0.0.0:9000",
			wantPublicURL: "https://file.example.com",
			wantFormat:    "text",
		},
		{
			name:          "flags over environment over file",
			env:           map[string]string{"CUSTODIAN_ADDR": "127.0.0.1:7001", "CUSTODIAN_PUBLIC_URL": "https://env.example.com"},
			args:          []string{"--config", file, "--addr", "127.0.0.1:7002", "--log-format", "text"},
			wantDB:        "postgres://file.internal/custodian",
			wantAddr:      "127.0.0.1:7002",
			wantPublicURL: "https://env.example.com",
			wantFormat:    "text",
		},
		{
			name:          "--config over CUSTODIAN_CONFIG",
			env:           map[string]string{"CUSTODIAN_CONFIG": filepath.Join(t.TempDir(), "missing.yaml")},
			args:          []string{"--config", file},
			wantDB:        "postgres://file.internal/custodian",
			wantAddr:      "0.0.0.0:9000",
			wantPublicURL: "https://file.example.com",
			wantFormat:    "json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := resolved(t, tt.env, tt.args, "database", "addr", "public-url", "mail-from")
			cfg := o.libraryConfig(nil)
			if cfg.DatabaseURL != tt.wantDB || o.Addr != tt.wantAddr || cfg.PublicURL != tt.wantPublicURL || o.LogFormat != tt.wantFormat || o.MailFrom != "" {
				t.Errorf("got database %q, addr %q, public URL %q, log format %q, mail from %q; want %q, %q, %q, %q, \"\"",
					cfg.DatabaseURL, o.Addr, cfg.PublicURL, o.LogFormat, o.MailFrom, tt.wantDB, tt.wantAddr, tt.wantPublicURL, tt.wantFormat)
			}
		})
	}
}

// TestDBMaxConns: the pool size comes from the file as a number, the environment over
// it, the flag over both, and a value that is no whole number from 1 to 1000 is refused
// wherever it comes from.
func TestDBMaxConns(t *testing.T) {
	file := writeConfig(t, "db_max_conns: 12\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default", nil, nil, 0},
		{"file", nil, []string{"--config", file}, 12},
		{"environment over file", map[string]string{"CUSTODIAN_DB_MAX_CONNS": "20"}, []string{"--config", file}, 20},
		{"flag over environment", map[string]string{"CUSTODIAN_DB_MAX_CONNS": "20"}, []string{"--config", file, "--db-max-conns", "6"}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := resolved(t, tc.env, tc.args, "database", "db-max-conns")
			if errs := o.problems(false, false); len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := o.libraryConfig(nil).DatabaseMaxConns; got != tc.want {
				t.Errorf("DatabaseMaxConns %d, want %d", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"0", "-3", "1001", "many", "2.5"} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := defaultOptions()
		configFlags(fs, &o, "db-max-conns")
		if err := fs.Parse([]string{"--db-max-conns", bad}); err == nil {
			t.Errorf("flag %q accepted", bad)
		}
		o = defaultOptions()
		o.DBMaxConns = bad // from the environment
		if errs := o.problems(false, false); len(errs) != 1 || !strings.Contains(errs[0].Error(), "CUSTODIAN_DB_MAX_CONNS") {
			t.Errorf("environment %q: %v", bad, errs)
		}
		if _, err := readConfigFile(writeConfig(t, "db_max_conns: "+bad+"\n")); err == nil {
			t.Errorf("file %q accepted", bad)
		}
	}
}

// TestCacheTTL: the cache TTL comes from the file, the environment over it, the flag
// over both; 0 turns the caches off; a value that is no duration of 0 or more is
// refused wherever it comes from, from the file with its line.
func TestCacheTTL(t *testing.T) {
	file := writeConfig(t, "cache_ttl: 30s\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default", nil, nil, 0},
		{"file", nil, []string{"--config", file}, 30 * time.Second},
		{"environment over file", map[string]string{"CUSTODIAN_CACHE_TTL": "2s"}, []string{"--config", file}, 2 * time.Second},
		{"flag over environment", map[string]string{"CUSTODIAN_CACHE_TTL": "2s"}, []string{"--config", file, "--cache-ttl", "0"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := resolved(t, tc.env, tc.args, "database", "cache-ttl")
			if errs := o.problems(false, false); len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := o.libraryConfig(nil).CacheTTL; got != tc.want {
				t.Errorf("CacheTTL %s, want %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"-1s", "soon", "5"} {
		o := defaultOptions()
		o.CacheTTL = bad // from the environment or a flag
		if errs := o.problems(false, false); len(errs) != 1 || !strings.Contains(errs[0].Error(), "CUSTODIAN_CACHE_TTL") {
			t.Errorf("environment %q: %v", bad, errs)
		}
		file := writeConfig(t, "cache_ttl: \""+bad+"\"\n")
		if _, err := readConfigFile(file); err == nil || !strings.Contains(err.Error(), file+":1: cache_ttl: ") {
			t.Errorf("file %q: %v", bad, err)
		}
	}
}

// TestConfigFileProblems: every problem of the file is reported at once, with the file
// and line, together with the other configuration problems.
func TestConfigFileProblems(t *testing.T) {
	file := writeConfig(t, `addr: 8080
pubic_url: https://id.example.com
public-url: https://id.example.com
secret: do-not-put-me-here-0123456789abcdef
log_level: debug
log_level: info
database: [sqlite:a.db, sqlite:b.db]
allow_private_urls: maybe
log_format: xml
config: other.yaml
mail_from: {address: a@example.com}
`)
	var stdout, stderr strings.Builder
	env := map[string]string{"CUSTODIAN_ADMIN_TOKEN": "short"}
	code := run(t.Context(), []string{"serve", "--config", file}, mapEnv(env), &stdout, &stderr)
	if code != exitUsage {
		t.Errorf("exit status %d, want %d", code, exitUsage)
	}
	for _, want := range []string{
		file + `:1: addr: want a string, got the number 8080 (quote it)`,
		file + `:2: unknown key "pubic_url" (known keys: addr, admin_addr, allow_private_urls, cache_ttl, database, db_max_conns, log_format, log_level, mail_from, public_url, shutdown_delay, trusted_proxies)`,
		file + `:3: unknown key "public-url": keys are written with underscores, public_url`,
		file + `:4: unknown key "secret": secrets are not read from the config file; set CUSTODIAN_SECRET in the environment`,
		file + `:6: log_level: given twice (first on line 5)`,
		file + `:7: database: want a single value, got a list`,
		file + `:8: allow_private_urls: want true or false, got "maybe"`,
		file + `:9: log_format: "xml": want text or json`,
		file + `:10: unknown key "config": a config file cannot name another`,
		file + `:11: mail_from: want a single value, got a mapping`,
		"admin token", // a problem outside the file, reported with them
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(stderr.String(), "do-not-put-me-here") {
		t.Error("stderr shows the secret given in the file")
	}
	if strings.Contains(stderr.String(), "log format (CUSTODIAN_LOG_FORMAT)") {
		t.Error("the bad log_format was applied and reported again as if from the environment")
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}

	for name, tc := range map[string]struct{ body, want string }{
		"not a mapping": {"- addr: 127.0.0.1:8080\n", ":1: want a mapping of key: value, got a list"},
		"syntax":        {"addr: [127.0.0.1:8080\n", "config file " + "%s" + ": yaml: line"},
		"two documents": {"addr: 127.0.0.1:8080\n---\naddr: 127.0.0.1:8081\n", "want one YAML document"},
		"missing":       {"", "config file: open "},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			if name == "missing" {
				path += ".missing"
			}
			var stderr strings.Builder
			code := run(t.Context(), []string{"migrate", "--config", path}, mapEnv(nil), &stdout, &stderr)
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, path)
			}
			if code != exitUsage || !strings.Contains(stderr.String(), want) {
				t.Errorf("exit status %d, stderr:\n%s\nwant %q", code, stderr.String(), want)
			}
		})
	}

	t.Run("only comments", func(t *testing.T) {
		if _, err := readConfigFile(writeConfig(t, "# nothing set\n")); err != nil {
			t.Error(err)
		}
	})
}

// TestConfigKeysFollowTheFlags: every configuration flag has a key, documented in the
// example file and the README, and the example file loads with every key in use.
func TestConfigKeysFollowTheFlags(t *testing.T) {
	keys := configKeys()
	for _, s := range sources {
		if _, ok := keys[fileKey(s.flag)]; (s.flag != "") != ok {
			t.Errorf("option %s: flag %q, key present %v", s.env, s.flag, ok)
		}
	}
	example, err := os.ReadFile("../../docs/custodian.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for k, f := range keys {
		if !regexp.MustCompile(`(?m)^(# )?` + k + `:`).Match(example) {
			t.Errorf("docs/custodian.example.yaml does not show the key %s", k)
		}
		if !strings.Contains(string(readme), "`"+k+"`") || !strings.Contains(string(readme), "`--"+f.Name+"`") {
			t.Errorf("README.md does not document the key %s of --%s", k, f.Name)
		}
	}

	// The example as shipped, and with every commented-out key in use.
	path := filepath.Join(t.TempDir(), "custodian.yaml")
	for _, body := range []string{
		string(example),
		regexp.MustCompile(`(?m)^# ([a-z_]+: )`).ReplaceAllString(string(example), "$1"),
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		values, err := readConfigFile(path)
		if err != nil {
			t.Errorf("the example does not load: %v", err)
		}
		if len(values) == 0 {
			t.Error("the example sets nothing")
		}
	}
	// The container image's file too.
	if values, err := readConfigFile("../../docs/deploy/custodian.container.yaml"); err != nil || values["addr"] != "0.0.0.0:8080" {
		t.Errorf("docs/deploy/custodian.container.yaml: %v, %v", values, err)
	}
	// A command runs with it (the database replaced by a temporary one).
	code, out, errs := newCLITest(t).runWith(map[string]string{"CUSTODIAN_CONFIG": "../../docs/custodian.example.yaml"}, "migrate")
	if code != exitOK || !strings.Contains(out, "schema is at version") {
		t.Errorf("migrate with the example: status %d\n%s%s", code, out, errs)
	}
}

// runWith runs a command with more environment.
func (c *cliTest) runWith(env map[string]string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	merged := map[string]string{}
	for k, v := range c.env {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = v
	}
	var out, errb strings.Builder
	code = run(c.t.Context(), args, mapEnv(merged), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/custodian-id/custodian", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"},
			{Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-05-12T09:30:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	want := buildInfo{Version: "v1.4.0", Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: "2026-05-12T09:30:00Z",
		Dirty: true, GoVersion: "go1.26.8", Platform: "linux/arm64", Schema: storage.FormatVersion(storage.NewestMigration())}
	if got := readBuildInfo(bi, true); got != want {
		t.Errorf("readBuildInfo = %+v\nwant %+v", got, want)
	}
	if got := readBuildInfo(nil, false); got.Version != "" || got.Commit != "" || got.GoVersion == "" || got.Schema != want.Schema {
		t.Errorf("without build info: %+v", got)
	}

	// The command reports this test binary's own build information.
	c := newCLITest(t)
	out := c.ok("version")
	for _, key := range []string{"version", "commit", "commit_time", "dirty", "go", "platform", "schema"} {
		if !regexp.MustCompile(`(?m)^` + key + `=`).MatchString(out) {
			t.Errorf("version lacks %s=:\n%s", key, out)
		}
	}
	if !strings.Contains(out, "schema="+want.Schema+"\n") {
		t.Errorf("version:\n%s", out)
	}
	var got buildInfo
	if err := json.Unmarshal([]byte(c.ok("version", "--json")), &got); err != nil || got.Schema != want.Schema || got.GoVersion == "" {
		t.Errorf("version --json: %+v, %v", got, err)
	}
}

// TestNewerSchemaRefused: on both databases, every command that opens the database
// refuses one a newer release migrated, naming both versions, and migrate status
// shows it.
func TestNewerSchemaRefused(t *testing.T) {
	newest := storage.FormatVersion(storage.NewestMigration())
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			c := &cliTest{t: t, env: map[string]string{
				"CUSTODIAN_DATABASE_URL": b.URL,
				"CUSTODIAN_SECRET":       strings.Repeat("s", 48),
				"CUSTODIAN_LOG_LEVEL":    "warn",
			}}
			if b.Name == "sqlite" {
				if code, _, stderr := c.run("migrate", "status"); code != exitFailure || !strings.Contains(stderr, "no database at") {
					t.Errorf("status of a missing SQLite file: %d %s", code, stderr)
				}
				if _, err := os.Stat(strings.TrimPrefix(b.URL, "sqlite:")); !os.IsNotExist(err) {
					t.Errorf("migrate status created the database file: %v", err)
				}
			} else {
				out := c.ok("migrate", "status")
				if !strings.Contains(out, "database=00000\n") || !regexp.MustCompile(`(?m)^00001\s+core\s+pending\s+-$`).MatchString(out) ||
					!strings.Contains(out, " pending: 'custodian migrate' applies them") {
					t.Errorf("status of an empty database:\n%s", out)
				}
			}
			c.ok("tenant", "create", "shop")
			out := c.ok("migrate", "status")
			if !regexp.MustCompile(`(?m)^00001\s+core\s+applied\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(out) ||
				!strings.Contains(out, "database="+newest+"\nbinary="+newest+"\nup to date\n") {
				t.Errorf("status of a migrated database:\n%s", out)
			}

			db, rebind := storagetest.SQL(t, b)
			if _, err := db.Exec(rebind(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`), 99, true); err != nil {
				t.Fatal(err)
			}
			want := "this binary knows migrations up to " + newest + "; the database is at 00099: run a newer custodian"
			for _, args := range [][]string{
				{"serve", "--addr", "127.0.0.1:0"},
				{"migrate"},
				{"tenant", "show", "shop"},
				{"keys", "rotate", "--tenant", "shop"},
			} {
				code, out, stderr := c.run(args...)
				if code != exitFailure || !strings.Contains(stderr, want) || strings.Contains(out, "listening") {
					t.Errorf("%s on a newer schema: status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr)
				}
			}
			out = c.ok("migrate", "status")
			if !regexp.MustCompile(`(?m)^00099\s+\(unknown to this binary\)\s+applied\s+\d{4}-`).MatchString(out) ||
				!strings.Contains(out, "database=00099\nbinary="+newest+"\n"+want+"\n") {
				t.Errorf("status of a newer database:\n%s", out)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	env := map[string]string{
		"CUSTODIAN_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "custodian.db"),
		"CUSTODIAN_LOG_LEVEL":    "warn",
	}
	public, stdout, stop := startServe(t, env, "--addr", "127.0.0.1:0") // stopped below; the test's end stops it too
	base := stdout.adminBase()
	addr := strings.TrimPrefix(base, "http://")
	_, port, _ := strings.Cut(addr, ":")
	c := &cliTest{t: t, env: env}

	if out := c.ok("healthcheck", "--admin-addr", addr); out != base+"/healthz: 200 OK\n" {
		t.Errorf("healthcheck printed %q", out)
	}
	if out := c.ok("healthcheck", "--ready", "--admin-addr", addr); out != base+"/readyz: 200 OK\n" {
		t.Errorf("healthcheck --ready printed %q", out)
	}
	// The public listener has no /readyz: healthcheck asks the admin listener.
	if code, _, _ := c.run("healthcheck", "--ready", "--admin-addr", strings.TrimPrefix(public, "http://")); code != exitFailure {
		t.Errorf("healthcheck --ready of the public listener: status %d, want %d", code, exitFailure)
	}
	// The address as the image configures it (every interface) is asked on loopback,
	// and it may come from the environment or the config file like serve's.
	if _, out, _ := c.runWith(map[string]string{"CUSTODIAN_ADMIN_ADDR": "0.0.0.0:" + port}, "healthcheck"); out != base+"/healthz: 200 OK\n" {
		t.Errorf("healthcheck of 0.0.0.0:%s printed %q", port, out)
	}
	if code, out, stderr := c.run("healthcheck", "--config", writeConfig(t, "admin_addr: 127.0.0.1:"+port+"\n")); code != exitOK {
		t.Errorf("healthcheck with a config file: %d %s %s", code, out, stderr)
	}

	if code := stop(); code != exitOK {
		t.Errorf("serve exited with status %d", code)
	}
	code, _, stderr := c.run("healthcheck", "--admin-addr", addr, "--timeout", "2s")
	if code != exitFailure || !strings.HasPrefix(stderr, "custodian: health check: ") {
		t.Errorf("healthcheck of a stopped server: status %d, stderr %q", code, stderr)
	}
	if code, _, stderr := c.run("healthcheck", "--admin-addr", "nowhere"); code != exitUsage || !strings.Contains(stderr, "admin listen address") {
		t.Errorf("healthcheck --admin-addr nowhere: status %d, stderr %q", code, stderr)
	}
}

// TestAdminAddrMustDiffer: serve refuses to put the admin surface on the public
// listener's port, whichever way the two are spelled.
func TestAdminAddrMustDiffer(t *testing.T) {
	c := newCLITest(t)
	for _, tc := range [][2]string{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "127.0.0.1:8080"},
		{"127.0.0.1:8080", "[::]:8080"},
	} {
		code, _, stderr := c.run("serve", "--addr", tc[0], "--admin-addr", tc[1])
		if code != exitUsage || !strings.Contains(stderr, "must differ from the listen address") {
			t.Errorf("serve --addr %s --admin-addr %s: status %d\n%s", tc[0], tc[1], code, stderr)
		}
	}
	if code, _, stderr := c.run("serve", "--admin-addr", "8081"); code != exitUsage || !strings.Contains(stderr, "admin listen address (CUSTODIAN_ADMIN_ADDR)") {
		t.Errorf("serve --admin-addr 8081: status %d\n%s", code, stderr)
	}
}

func TestMigrateUsage(t *testing.T) {
	c := newCLITest(t)
	if out := c.ok("migrate", "--help"); !strings.Contains(out, "migrate status") {
		t.Errorf("migrate --help:\n%s", out)
	}
	if out := c.ok("migrate", "status", "--help"); !strings.Contains(out, "applies nothing") {
		t.Errorf("migrate status --help:\n%s", out)
	}
	if code, _, stderr := c.run("migrate", "statuss"); code != exitUsage || !strings.Contains(stderr, `unexpected argument "statuss"`) {
		t.Errorf("migrate statuss: %d %s", code, stderr)
	}
	if out := c.ok("--help"); !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.HasPrefix(l, "  migrate status ") }) {
		t.Errorf("help does not list migrate status:\n%s", out)
	}
}

// resolved is the options serve would run with: args parsed for the named flags, over
// the configuration file they name, the environment env and the defaults.
func resolved(t *testing.T, env map[string]string, args []string, flags ...string) options {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o := defaultOptions()
	configFlags(fs, &o, flags...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := resolve(fs, &o, mapEnv(env)); err != nil {
		t.Fatal(err)
	}
	return o
}
