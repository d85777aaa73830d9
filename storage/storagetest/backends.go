// Package storagetest holds the storage conformance suite and the database helpers
// every store-backed test of Custodian uses: a fresh SQLite file always, and a fresh
// PostgreSQL database whenever CUSTODIAN_TEST_POSTGRES_URL is set.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq" // the admin connection that creates test databases

	"github.com/custodian-id/custodian/storage"
)

// PostgresEnv names the variable that enables the PostgreSQL runs; its value is the
// URL of a server and a database to connect to for creating test databases.
const PostgresEnv = "CUSTODIAN_TEST_POSTGRES_URL"

// Backend is one database a test runs against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	URL  string // database URL for storage.Open / custodian.Config
}

// Backends returns a fresh SQLite database, and a fresh PostgreSQL database when
// CUSTODIAN_TEST_POSTGRES_URL is set. A set variable with an unreachable server fails
// the test: a PostgreSQL run that was asked for is never skipped.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{{Name: "sqlite", URL: "sqlite:" + filepath.Join(t.TempDir(), "custodian.db")}}
	if admin := os.Getenv(PostgresEnv); admin != "" {
		out = append(out, Backend{Name: "postgres", URL: freshPostgres(t, admin)})
	}
	return out
}

// freshPostgres creates a database for this test and drops it when the test ends.
func freshPostgres(t testing.TB, adminURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (unset %s to run on SQLite only): %v", redact(adminURL), PostgresEnv, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "custodian_t_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("postgres", adminURL)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparseable URL)"
}

// Open opens a store on a backend for the duration of the test.
func Open(t testing.TB, b Backend, opts storage.Options) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), b.URL, opts)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Name makes a unique, valid tenant name for a test.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ToLower(fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b)))
}

// SQL opens a plain database/sql connection to a backend for tests that arrange or
// inspect rows no store method exposes (rows as an older release left them, what the
// outbox keeps after delivery). Write statements with ? placeholders and pass them
// through the returned rebind.
func SQL(t testing.TB, b Backend) (*sql.DB, func(query string) string) {
	t.Helper()
	dialect, dsn, err := storage.ParseURL(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(string(dialect), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	rebind := func(q string) string { return q }
	if dialect == storage.Postgres {
		rebind = func(q string) string {
			var sb strings.Builder
			n := 0
			for _, r := range q {
				if r == '?' {
					n++
					fmt.Fprintf(&sb, "$%d", n)
					continue
				}
				sb.WriteRune(r)
			}
			return sb.String()
		}
	}
	return db, rebind
}
