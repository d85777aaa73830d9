package storage_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

func TestConformance(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) *storage.Store {
				// A fresh database per subtest: the suite assumes an empty store.
				for _, fresh := range storagetest.Backends(t) {
					if fresh.Name == b.Name {
						return storagetest.Open(t, fresh, storage.Options{})
					}
				}
				t.Fatalf("backend %s vanished", b.Name)
				return nil
			})
		})
	}
}

func TestMigrationVersionsMatch(t *testing.T) {
	pg, err := storage.MigrationVersions(storage.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := storage.MigrationVersions(storage.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 || !slices.Equal(pg, lite) {
		t.Errorf("migration versions differ: postgres %v, sqlite %v", pg, lite)
	}
}

// TestConcurrentMigrate starts four nodes on one empty database at once: the advisory
// lock (PostgreSQL) or the write lock (SQLite) makes exactly one migrate it.
func TestConcurrentMigrate(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := storage.Open(context.Background(), b.URL, storage.Options{})
					if err == nil {
						s.Close()
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("node failed to start: %v", err)
				}
			}
			s := storagetest.Open(t, b, storage.Options{})
			v, err := s.MigrationVersion(context.Background())
			want, _ := storage.MigrationVersions(s.Dialect())
			if err != nil || v != want[len(want)-1] {
				t.Errorf("schema version %d (%v), want %d", v, err, want[len(want)-1])
			}
		})
	}
}

func TestCaches(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { storagetest.RunCaches(t, b) })
	}
}
