package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	const pg = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	cases := []struct {
		name    string
		args    []string
		env     string // CUSTODIAN_TEST_POSTGRES_URL
		wantDBs string
		wantErr string
	}{
		{name: "defaults without PostgreSQL", wantDBs: "sqlite"},
		{name: "defaults with PostgreSQL", env: pg, wantDBs: "sqlite,postgres"},
		{name: "sqlite only", args: []string{"-db", "sqlite"}, env: pg, wantDBs: "sqlite"},
		{name: "postgres without a URL", args: []string{"-db", "postgres"}, wantErr: "needs -postgres"},
		{name: "remote PostgreSQL", args: []string{"-db", "postgres", "-postgres", "postgres://db.example.com/x"}, wantErr: "not on loopback"},
		{name: "unknown database", args: []string{"-db", "mysql"}, wantErr: "unknown database"},
		{name: "unknown scenario", args: []string{"-scenarios", "jwks,nope"}, wantErr: `unknown scenario "nope"`},
		{name: "no connections", args: []string{"-connections", "0"}, wantErr: "-connections"},
		{name: "expired share above 1", args: []string{"-seed-expired", "1.5"}, wantErr: "-seed-expired"},
		{name: "zero duration", args: []string{"-duration", "0s"}, wantErr: "-duration"},
		{name: "stray argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := func(k string) string {
				if k == "CUSTODIAN_TEST_POSTGRES_URL" {
					return c.env
				}
				return ""
			}
			cfg, _, err := parseConfig(c.args, env, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.Databases, ","); got != c.wantDBs {
				t.Fatalf("databases %s, want %s", got, c.wantDBs)
			}
			if cfg.Connections != 50 || cfg.Duration != 10*time.Second {
				t.Fatalf("connections %d duration %s", cfg.Connections, cfg.Duration)
			}
		})
	}
}

func TestSelectScenarios(t *testing.T) {
	names := func(ss []scenario) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return strings.Join(out, ",")
	}
	all, err := selectScenarios(nil)
	if err != nil || len(all) != len(scenarios()) || all[0].Name != "trivial" || all[len(all)-1].Name != "signin" {
		t.Fatalf("all: %s %v", names(all), err)
	}
	// The yardsticks a scenario is compared with run too, first.
	got, err := selectScenarios([]string{"refresh", "introspection", "jwks"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "trivial,floor-write,floor-read,jwks,introspection,refresh"; names(got) != want {
		t.Fatalf("got %s, want %s", names(got), want)
	}
}

func TestRunList(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"-list"}, func(string) string { return "" }, &out, io.Discard); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, s := range scenarios() {
		if !strings.Contains(out.String(), s.Name) {
			t.Errorf("-list lacks %s", s.Name)
		}
	}
	if !strings.Contains(out.String(), "refresh-customer") || !strings.Contains(out.String(), "goal ≥ 0.8 × floor-write") ||
		!strings.Contains(out.String(), "goal ≥ 0.5 × trivial") {
		t.Errorf("-list lacks the goals:\n%s", out.String())
	}
	if code := run(t.Context(), []string{"-db", "oracle"}, func(string) string { return "" }, io.Discard, io.Discard); code != exitUsage {
		t.Fatalf("bad flag: exit %d", code)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:80": true, "localhost:5432": true,
		"10.0.0.1:80": false, "192.168.1.1:80": false, "0.0.0.0:80": false, "example.com:80": false,
	} {
		if err := requireLoopbackAddr(addr); (err == nil) != ok {
			t.Errorf("%s: err %v", addr, err)
		}
	}
	for raw, ok := range map[string]bool{
		"postgres://postgres@127.0.0.1:5432/postgres": true, "postgres:///postgres?host=/run/postgresql": true,
		"postgres://u@db.internal/x": false,
	} {
		if err := requireLoopbackPostgres(raw); (err == nil) != ok {
			t.Errorf("%s: err %v", raw, err)
		}
	}
	if err := requireLoopbackURL("http://172.16.0.1:8080"); err == nil {
		t.Error("a private address passed")
	}
}

// TestFloor: the floor issues a token with one write and reads it back by its HMAC; an
// unknown or expired token is inactive.
func TestFloor(t *testing.T) {
	f, err := openFloor(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "floor.db"), 0, 64, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	api := &adminAPI{client: srv.Client()}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := api.call(t.Context(), nil, http.MethodPost, srv.URL+"/floor/token", formHeader(), []byte("grant_type=client_credentials"), 200, &tok); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := f.db.QueryRow("SELECT signature FROM " + floorTable).Scan(&stored); err != nil || stored == tok.AccessToken || stored != f.sign(tok.AccessToken) {
		t.Fatalf("stored %q for token %q (err %v): want its HMAC", stored, tok.AccessToken, err)
	}
	var active map[string]any
	if err := api.call(t.Context(), nil, http.MethodGet, srv.URL+"/floor/introspect", bearer(tok.AccessToken), nil, 200, &active); err != nil || active["active"] != true {
		t.Fatalf("introspect: %v %v", active, err)
	}
	if err := api.call(t.Context(), nil, http.MethodGet, srv.URL+"/floor/introspect", bearer("unknown"), nil, 401, nil); err != nil {
		t.Fatal(err)
	}
	f.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if err := api.call(t.Context(), nil, http.MethodGet, srv.URL+"/floor/introspect", bearer(tok.AccessToken), nil, 401, nil); err != nil {
		t.Fatalf("an expired token: %v", err)
	}
	if err := api.call(t.Context(), nil, http.MethodGet, srv.URL+"/trivial", nil, nil, 200, &active); err != nil || active["ok"] != true {
		t.Fatalf("trivial: %v %v", active, err)
	}
}

func TestParseConfigFlat(t *testing.T) {
	env := func(string) string { return "" }
	c, _, err := parseConfig([]string{"-flat"}, env, io.Discard)
	if err != nil || !c.Flat || c.MaxTime != time.Hour {
		t.Fatalf("-flat: %+v %v", c, err)
	}
	if c, _, err = parseConfig([]string{"-flat", "-max-time", "20m"}, env, io.Discard); err != nil || c.MaxTime != 20*time.Minute {
		t.Fatalf("-flat -max-time 20m: %v %v", c.MaxTime, err)
	}
	if c, _, err = parseConfig(nil, env, io.Discard); err != nil || c.Flat || c.MaxTime != 30*time.Minute {
		t.Fatalf("defaults: %v %v", c.MaxTime, err)
	}
	for _, args := range [][]string{{"-flat", "-tenants", "10"}, {"-flat", "-seed-tokens", "5"}} {
		if _, _, err := parseConfig(args, env, io.Discard); err == nil || !strings.Contains(err.Error(), "-flat sets the sizes") {
			t.Errorf("%v: err %v", args, err)
		}
	}
}
