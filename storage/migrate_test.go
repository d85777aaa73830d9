package storage_test

import (
	"context"
	"database/sql"
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
