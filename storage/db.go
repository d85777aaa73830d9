// Package storage is Custodian's only adapter to SQL databases. It implements the
// store interfaces of the domain packages (oauth, customer, twofactor) and fosite's
// storage interfaces on one type, Store, over sqlx with two dialects: PostgreSQL
// (github.com/lib/pq) and embedded SQLite (modernc.org/sqlite).
package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"                // PostgreSQL driver
	moderncsqlite "modernc.org/sqlite" // SQLite driver

	"github.com/custodian-id/custodian/identity"
)

// Dialect names a supported SQL database.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Logger receives migration and maintenance logs. Defaults to a discarding logger.
	Logger *slog.Logger
	// RefreshGracePeriod is how long after a rotation the old refresh token may still be
	// used by concurrent callers (several tabs, a retry after a lost response). This is
	// the one place its values are defined (custodian.Config passes it through): a
	// positive duration is the grace window, zero selects DefaultRefreshGracePeriod,
	// and a negative value means no grace at all.
	RefreshGracePeriod time.Duration
	// RefreshGraceMaxForks bounds how many extra token pairs one refresh token may mint
	// inside the grace window. Zero selects the default of 20.
	RefreshGraceMaxForks int
	// ConnectWait is how long Connect and Open keep retrying a database that is
	// unavailable (refused, unreachable, starting up), with backoff from 250ms to 2s,
	// logging each attempt. Zero: one attempt.
	ConnectWait time.Duration
	// MaxConns is the size of the connection pool (PoolSize). Zero: the default for
	// the node's GOMAXPROCS.
	MaxConns int
	// CacheTTL is the longest a Store opened with Open serves a tenant, a client or a
	// tenant's signing keys from its per-node cache (cache.go) without reading them
	// again; writes invalidate at once (on PostgreSQL on every node, by LISTEN/NOTIFY).
	// Zero selects DefaultCacheTTL; a negative value turns the caches off.
	CacheTTL time.Duration
}

// PoolSize is the number of connections a Store keeps open to its database: maxConns
// when it is positive, else the default for this node. PostgreSQL's default is 4 per
// GOMAXPROCS (at least 8, at most 64): a request holds a connection only while a
// statement or transaction runs, so a few per core keep the CPU busy while others wait
// on the network, and more only queue inside PostgreSQL (whose own max_connections
// must cover every node's pool). SQLite's is 8 (WAL readers run concurrently; writers
// queue on the file's lock whatever the pool); an in-memory database has one
// connection, which is the database.
func PoolSize(d Dialect, dsn string, maxConns int) int {
	switch {
	case d == SQLite && strings.Contains(dsn, ":memory:"):
		return 1
	case maxConns > 0:
		return maxConns
	case d == SQLite:
		return 8
	default:
		return min(max(4*runtime.GOMAXPROCS(0), 8), 64)
	}
}

// Lifetimes of pooled connections: an idle one is closed after connMaxIdleTime (the
// pool shrinks back after a peak), and every one is replaced after connMaxLifetime, so
// that after a failover, a DNS change or a pooler's restart the nodes reconnect
// evenly instead of keeping their connections for ever.
const (
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute
)

// Timeouts of the PostgreSQL connections. A connection attempt gives up after
// connectTimeout (lib/pq's connect_timeout, unless the URL sets one); a statement
// whose answer does not start within readTimeout fails, so a server that accepts TCP
// but never answers (frozen, or a network partition) cannot hold a request or the
// start forever. Migrations, which may rightly take long, get migrateReadTimeout.
const (
	connectTimeout     = 5 * time.Second
	readTimeout        = 10 * time.Second
	migrateReadTimeout = 30 * time.Minute
)

// DefaultRefreshGracePeriod is the grace window of a zero Options.RefreshGracePeriod.
const DefaultRefreshGracePeriod = 10 * time.Second

const defaultGraceForks = 20

// Store is the database. One Store implements every store interface of Custodian and
// fosite's storage interfaces, including storage.Transactional: fosite must be handed
// this very object so that it can run its flows in transactions.
type Store struct {
	db      *sqlx.DB
	dialect Dialect
	now     func() time.Time
	log     *slog.Logger

	graceperiod time.Duration
	graceforks  int
	reads       *deadlineDialer // PostgreSQL only: the read timeout of its connections
	// stmts are the hot statements, prepared by Open (prepared.go); nil for a Store
	// that Connect opened without migrating. Read-only once Open returns.
	stmts  map[string]*sqlx.Stmt
	caches *caches // nil: off (Connect, or Options.CacheTTL < 0)
}

// ParseURL splits a database URL into a dialect and a driver data source name.
// Accepted forms: postgres://… or postgresql://… and sqlite:PATH (sqlite::memory: for
// a private in-memory database, used by tests).
func ParseURL(raw string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", fmt.Errorf("database URL: %w", err)
		}
		return Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", errors.New("database URL: sqlite: needs a file path, e.g. sqlite:custodian.db")
		}
		return SQLite, sqliteDSN(path), nil
	default:
		return "", "", fmt.Errorf("database URL %q: want postgres://… or sqlite:PATH", redactURL(raw))
	}
}

// sqliteDSN turns a file path into a modernc.org/sqlite DSN with the pragmas Custodian
// relies on: WAL so readers never block the writer, a busy timeout so writers queue
// instead of failing, foreign keys, and immediate transactions so that a transaction
// takes the write lock when it begins rather than failing when it first writes.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	if path == ":memory:" {
		return "file::memory:?" + q.Encode()
	}
	return "file:" + path + "?" + q.Encode()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// Open connects to the database named by rawURL and runs pending migrations. A
// database migrated by a newer release is refused with a *SchemaTooNewError
// (errors.Is ErrSchemaTooNew).
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s, err := Connect(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if opts.CacheTTL >= 0 {
		ttl := opts.CacheTTL
		if ttl == 0 {
			ttl = DefaultCacheTTL
		}
		s.caches = newCaches(ttl, s.log)
		if s.dialect == Postgres {
			// The triggers that notify exist from migration 00013 on, which Migrate ran.
			_, dsn, _ := ParseURL(rawURL)
			s.caches.listen(withConnectTimeout(dsn))
		} else {
			s.caches.setEnabled(true)
		}
	}
	return s, nil
}

// Connect connects to the database named by rawURL without migrating it, for tools
// that only inspect it (SchemaStatus). Everything else opens the database with Open.
func Connect(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	dialect, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var connector driver.Connector
	var reads *deadlineDialer
	if dialect == Postgres {
		reads = &deadlineDialer{}
		reads.timeout.Store(int64(readTimeout))
		pc, err := pq.NewConnector(withConnectTimeout(dsn))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", dialect, err)
		}
		pc.Dialer(reads)
		connector = pc
	} else if connector, err = moderncsqlite.NewConnector(dsn); err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	// Every connection counts the statements of a context that asks (statements.go).
	db := sqlx.NewDb(sql.OpenDB(countingConnector{connector}), string(dialect))
	// The pool keeps as many idle connections as it may open: a pool that closes
	// connections it will need a moment later pays a new connection (and, on
	// PostgreSQL, a new backend process and the re-preparation of every statement)
	// under exactly the load that can least afford it.
	size := PoolSize(dialect, dsn, opts.MaxConns)
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	if size > 1 {
		db.SetConnMaxIdleTime(connMaxIdleTime)
		db.SetConnMaxLifetime(connMaxLifetime)
	}
	s := newStore(db, dialect, opts)
	s.reads = reads
	if err := s.waitForDatabase(ctx, opts.ConnectWait, redactURL(rawURL)); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", dialect, redactURL(rawURL), err)
	}
	return s, nil
}

// waitForDatabase pings the database until it answers. An unavailable database is
// retried with backoff for up to wait, each attempt logged; any other failure (a wrong
// password, an unknown database) ends the wait at once.
func (s *Store) waitForDatabase(ctx context.Context, wait time.Duration, name string) error {
	deadline := time.Now().Add(wait)
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, connectTimeout+time.Second)
		err := s.ping(pctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				s.log.InfoContext(ctx, "database is available", "database", name, "attempts", attempt)
			}
			return nil
		}
		if !Unavailable(err) || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			if Unavailable(err) {
				return errors.Join(identity.ErrUnavailable, err)
			}
			return err
		}
		s.log.WarnContext(ctx, "database unavailable; retrying", "database", name, "attempt", attempt,
			"retry_in", delay.String(), "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(identity.ErrUnavailable, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// withConnectTimeout adds lib/pq's connect_timeout to a DSN that does not set one.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Query().Has("connect_timeout") {
		return dsn
	}
	q := u.Query()
	q.Set("connect_timeout", strconv.Itoa(int(connectTimeout/time.Second)))
	u.RawQuery = q.Encode()
	return u.String()
}

// deadlineDialer dials PostgreSQL connections whose every read must start answering
// within the current timeout (see readTimeout). lib/pq reads only while it waits for
// an answer, so an idle pooled connection is never cut by it.
type deadlineDialer struct {
	d       net.Dialer
	timeout atomic.Int64 // a time.Duration
}

func (d *deadlineDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *deadlineDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d *deadlineDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
		_ = tc.SetKeepAlivePeriod(15 * time.Second)
	}
	return &deadlineConn{Conn: c, timeout: &d.timeout}, nil
}

type deadlineConn struct {
	net.Conn
	timeout *atomic.Int64
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(time.Duration(c.timeout.Load()))); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// ping checks the connection. A new SQLite connection switches the file to WAL, which
// answers SQLITE_BUSY at once (no busy handler) while another process or store does the
// same; it is retried for a few seconds.
func (s *Store) ping(ctx context.Context) error {
	err := s.db.PingContext(ctx)
	for attempt := 0; err != nil && s.dialect == SQLite && errors.Is(s.mapErr(err), errConflict) && attempt < 50; attempt++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		err = s.db.PingContext(ctx)
	}
	return err
}

func newStore(db *sqlx.DB, dialect Dialect, opts Options) *Store {
	s := &Store{
		db:          db,
		dialect:     dialect,
		now:         opts.Now,
		log:         opts.Logger,
		graceperiod: opts.RefreshGracePeriod,
		graceforks:  opts.RefreshGraceMaxForks,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case s.graceperiod == 0:
		s.graceperiod = DefaultRefreshGracePeriod
	case s.graceperiod < 0:
		s.graceperiod = 0 // no grace
	}
	if s.graceforks <= 0 {
		s.graceforks = defaultGraceForks
	}
	return s
}

// Dialect reports which database the store talks to.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close stops the cache listener, then releases the prepared statements and the
// connection pool.
func (s *Store) Close() error {
	if s.caches != nil {
		s.caches.close()
	}
	return errors.Join(s.closeStatements(), s.db.Close())
}

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.q(ctx).QueryRowxContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", s.mapErr(err))
	}
	return nil
}

// clock returns the current time in the form stored: UTC, truncated to the microsecond
// PostgreSQL keeps, so that values round-trip identically on both dialects.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ts normalises a caller's time the same way.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime converts an optional time for storage.
func nullTime(t *time.Time) sql.NullTime {
	if t == nil || t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: ts(*t), Valid: true}
}
