package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "github.com/lib/pq"
	"github.com/pressly/goose/v3"

	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestMigrationsGoDownAndUp rolls every migration back and applies it again on both
// dialects, so each Down section works against what its Up built.
func TestMigrationsGoDownAndUp(t *testing.T) {
	ctx := context.Background()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := storagetest.Open(t, b, storage.Options{}) // migrated up
			latest, err := s.MigrationVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			driver, dsn, dialect := "postgres", b.URL, goose.DialectPostgres
			if b.Name == "sqlite" {
				driver, dsn, dialect = "sqlite", strings.TrimPrefix(b.URL, "sqlite:"), goose.DialectSQLite3
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p, err := goose.NewProvider(dialect, db, os.DirFS("migrations/"+b.Name), goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 0); err != nil {
				t.Fatalf("down: %v", err)
			}
			if v, _ := p.GetDBVersion(ctx); v != 0 {
				t.Fatalf("version after down %d", v)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatalf("up again: %v", err)
			}
			if v, _ := p.GetDBVersion(ctx); v != latest {
				t.Errorf("version after up %d, want %d", v, latest)
			}
		})
	}
}

// TestSchemaStatusAndNewerSchema: the status reads a fresh, a migrated and a newer
// database without changing it, and a database a newer release migrated is refused by
// Open and Migrate with the versions named, before anything is written.
func TestSchemaStatusAndNewerSchema(t *testing.T) {
	ctx := context.Background()
	newest := storage.NewestMigration()
	known, err := storage.MigrationVersions(storage.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fresh, err := storage.Connect(ctx, b.URL, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			for range 2 { // reading twice: the first read created nothing
				st, err := fresh.SchemaStatus(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Database != 0 || st.Newest != newest || st.Pending() != len(known) || st.TooNew() || len(st.Migrations) != len(known) {
					t.Fatalf("fresh database: %+v", st)
				}
			}

			s := storagetest.Open(t, b, storage.Options{})
			st, err := s.SchemaStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Database != newest || st.Pending() != 0 || st.TooNew() {
				t.Errorf("migrated database: %+v", st)
			}
			for i, m := range st.Migrations {
				if m.Version != known[i] || !m.Known || !m.Applied || m.AppliedAt.IsZero() || m.Name == "" {
					t.Errorf("migration %d: %+v", i, m)
				}
			}
			if st.Migrations[0].Name != "core" {
				t.Errorf("first migration named %q, want core", st.Migrations[0].Name)
			}

			// A newer release applied 00099; the data upgrades are to run again.
			db, rebind := storagetest.SQL(t, b)
			if _, err := db.Exec(rebind(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`), 99, true); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`DELETE FROM data_upgrades`); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("this binary knows migrations up to %05d; the database is at 00099: run a newer custodian", newest)
			_, err = storage.Open(ctx, b.URL, storage.Options{})
			var tooNew *storage.SchemaTooNewError
			if !errors.Is(err, storage.ErrSchemaTooNew) || !errors.As(err, &tooNew) || tooNew.Database != 99 || tooNew.Newest != newest || err.Error() != want {
				t.Fatalf("Open on a newer schema: %v\nwant %q", err, want)
			}
			if err := s.Migrate(ctx); !errors.Is(err, storage.ErrSchemaTooNew) {
				t.Errorf("Migrate on a newer schema: %v", err)
			}
			var upgrades int
			if err := db.QueryRow(`SELECT COUNT(*) FROM data_upgrades`).Scan(&upgrades); err != nil || upgrades != 0 {
				t.Errorf("the refused start ran %d data upgrades (%v)", upgrades, err)
			}

			st, err = s.SchemaStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			last := st.Migrations[len(st.Migrations)-1]
			if !st.TooNew() || st.Database != 99 || last.Version != 99 || last.Known || !last.Applied || last.Name != "" {
				t.Errorf("status of a newer database: %+v", st)
			}
		})
	}
}
