package storage

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// Each dialect keeps its own DDL; version numbers are the same in both folders (a test
// asserts it), and every DML statement is written once for both.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// ErrSchemaTooNew: the database was migrated by a newer release than this binary. Such a
// binary refuses to work on it (see SchemaTooNewError).
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// SchemaTooNewError names the versions when the database is newer than the binary. It
// matches ErrSchemaTooNew with errors.Is.
type SchemaTooNewError struct {
	Database int64 // highest migration applied to the database
	Newest   int64 // newest migration this binary carries
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("this binary knows migrations up to %s; the database is at %s: run a newer custodian",
		FormatVersion(e.Newest), FormatVersion(e.Database))
}

func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

// FormatVersion writes a migration version as its file name does: 00008.
func FormatVersion(v int64) string { return fmt.Sprintf("%05d", v) }

// Migrate applies every pending migration. On PostgreSQL it holds a session advisory
// lock while it does, so several nodes starting at once on one database migrate it
// exactly once. A database migrated by a newer release is refused with a
// *SchemaTooNewError before anything is written, and again after the migrations in case
// a newer node migrated it meanwhile.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.refuseNewerSchema(ctx); err != nil {
		return err
	}
	p, err := s.migrator()
	if err != nil {
		return err
	}
	if s.reads != nil {
		s.reads.timeout.Store(int64(migrateReadTimeout))
		defer s.reads.timeout.Store(int64(readTimeout))
	}
	results, err := p.Up(ctx)
	// SQLite has no advisory lock: when two stores on one file migrate at once, the
	// loser's transaction rolls back; it waits for the winner and checks again.
	for attempt := 0; err != nil && s.dialect == SQLite && attempt < 50; attempt++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate %s database: %w", s.dialect, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		results, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate %s database: %w", s.dialect, err)
	}
	for _, r := range results {
		s.log.InfoContext(ctx, "applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	if err := s.refuseNewerSchema(ctx); err != nil {
		return err
	}
	return s.runDataUpgrades(ctx)
}

func (s *Store) refuseNewerSchema(ctx context.Context) error {
	st, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if st.TooNew() {
		return &SchemaTooNewError{Database: st.Database, Newest: st.Newest}
	}
	return nil
}

// Migration is one schema migration as this binary and the database see it.
type Migration struct {
	Version   int64
	Name      string    // from the file name, e.g. "core"; empty when the binary does not know it
	Known     bool      // this binary carries the migration
	Applied   bool      // the database records it as applied
	AppliedAt time.Time // when it was applied, in the database's clock; zero when pending
}

// SchemaStatus compares the database's migrations with the binary's.
type SchemaStatus struct {
	Database   int64       // highest migration applied to the database; 0 for an empty one
	Newest     int64       // newest migration this binary carries
	Migrations []Migration // by version: every migration the binary knows and any other the database recorded
}

// TooNew reports a database migrated by a newer release than this binary.
func (st SchemaStatus) TooNew() bool { return st.Database > st.Newest }

// Pending counts the migrations this binary would apply.
func (st SchemaStatus) Pending() int {
	n := 0
	for _, m := range st.Migrations {
		if m.Known && !m.Applied {
			n++
		}
	}
	return n
}

// SchemaStatus reads which migrations the database has applied. It only reads: it takes
// no migration lock and creates nothing, so it works on a database that is being
// migrated, on one that a newer release migrated, and on an empty one.
func (s *Store) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	known, err := s.migrations()
	if err != nil {
		return SchemaStatus{}, err
	}
	st := SchemaStatus{Newest: known[len(known)-1].Version}
	byVersion := map[int64]*Migration{}
	for _, m := range known {
		byVersion[m.Version] = &m
	}
	exists, err := s.versionTableExists(ctx)
	if err != nil {
		return SchemaStatus{}, err
	}
	if exists {
		gs, err := database.NewStore(s.gooseDialect(), goose.DefaultTablename)
		if err != nil {
			return SchemaStatus{}, fmt.Errorf("read schema version: %w", err)
		}
		rows, err := gs.ListMigrations(ctx, s.db.DB)
		if err != nil {
			return SchemaStatus{}, fmt.Errorf("read schema version: %w", err)
		}
		for _, r := range rows {
			if r.Version == 0 || !r.IsApplied {
				continue // goose's own first row, or a legacy record of a rollback
			}
			m, ok := byVersion[r.Version]
			if !ok {
				m = &Migration{Version: r.Version}
				byVersion[r.Version] = m
			}
			if m.Applied {
				continue
			}
			got, err := gs.GetMigration(ctx, s.db.DB, r.Version)
			if err != nil {
				return SchemaStatus{}, fmt.Errorf("read schema version %d: %w", r.Version, err)
			}
			m.Applied, m.AppliedAt = true, got.Timestamp
			st.Database = max(st.Database, r.Version)
		}
	}
	for _, m := range byVersion {
		st.Migrations = append(st.Migrations, *m)
	}
	slices.SortFunc(st.Migrations, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return st, nil
}

func (s *Store) versionTableExists(ctx context.Context) (bool, error) {
	q := `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?`
	if s.dialect == Postgres {
		q = `SELECT to_regclass(CAST(? AS text)) IS NOT NULL` // the table goose uses, on the search path
	}
	var exists bool
	if err := s.db.QueryRowxContext(ctx, s.rebind(q), goose.DefaultTablename).Scan(&exists); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	return exists, nil
}

func (s *Store) gooseDialect() database.Dialect {
	if s.dialect == Postgres {
		return database.DialectPostgres
	}
	return database.DialectSQLite3
}

// migrations lists the migrations embedded for the store's dialect.
func (s *Store) migrations() ([]Migration, error) {
	return embeddedMigrations(s.dialect)
}

func embeddedMigrations(d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations/"+string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", d, err)
	}
	var out []Migration
	for _, e := range entries {
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		name := strings.TrimSuffix(e.Name(), ".sql")
		if _, rest, ok := strings.Cut(name, "_"); ok {
			name = rest
		}
		out = append(out, Migration{Version: v, Name: name, Known: true})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations embedded for %s", d)
	}
	return out, nil
}

// NewestMigration is the newest schema migration this binary carries (the same version
// in both dialects).
func NewestMigration() int64 {
	ms, err := embeddedMigrations(SQLite)
	if err != nil {
		panic(err) // the embedded files are part of the binary; a test reads them
	}
	return ms[len(ms)-1].Version
}

// MigrationVersion reports the schema version the database is at.
func (s *Store) MigrationVersion(ctx context.Context) (int64, error) {
	p, err := s.migrator()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrator() (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.dialect, err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	dialect := goose.DialectSQLite3
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Nodes starting together poll for the lock every second (goose's default is
		// every 5 s), for up to 5 minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.db.DB, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// MigrationVersions lists the migration versions embedded for a dialect; a test checks
// both dialects list the same ones.
func MigrationVersions(d Dialect) ([]int64, error) {
	ms, err := embeddedMigrations(d)
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out, nil
}
