package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/custodian-id/custodian/storage"
)

// The baseline process serves the yardsticks Custodian is measured against, over the
// same loopback HTTP as Custodian and from a process of its own (so that the load
// generator's work lands on neither):
//
//   - GET  /trivial          answers {"ok":true}: no work at all, the cost of HTTP.
//   - POST /floor/token      the one-write floor of token issuance: parses the form, draws
//     32 random bytes as the token, one HMAC-SHA256 of it (the signature), and one INSERT
//     of a row keyed by that signature (request id, client id, expiry and a payload the
//     size of a stored token request); answers the token as JSON.
//   - GET  /floor/introspect the one-read floor of token validation: one HMAC-SHA256 of
//     the bearer token and one SELECT of its row by primary key; answers
//     {"active":true,…}, or 401 when there is no such row.
//
// The database is of the same kind and opened with the same driver settings as
// Custodian's (storage.ParseURL gives the DSN, so SQLite gets the same pragmas), with a
// pool sized like Custodian's.

// floorTable is the baseline's own table: nothing of Custodian's schema is touched.
const floorTable = "load_floor_tokens"

// defaultPayload is the size of the floor's stored request: about what Custodian stores
// in oauth2_tokens.request for an anonymous shopper's access token.
const defaultPayload = 900

type floor struct {
	db      *sql.DB
	key     []byte
	payload string
	insert  string
	lookup  string
	now     func() time.Time
	rand    io.Reader
	log     *slog.Logger
}

// openFloor opens the database at rawURL like Custodian does and creates the floor's
// table. maxOpen 0 picks Custodian's pool size for the dialect.
func openFloor(ctx context.Context, rawURL string, maxOpen, payload int, log *slog.Logger) (*floor, error) {
	dialect, dsn, err := storage.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(string(dialect), dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	ddl := "CREATE TABLE IF NOT EXISTS " + floorTable + ` (
		signature  TEXT PRIMARY KEY,
		request_id TEXT NOT NULL,
		client_id  TEXT NOT NULL,
		expires_at TIMESTAMP NOT NULL,
		request    TEXT NOT NULL)`
	// Custodian's pool size for this node (storage.PoolSize) unless told otherwise.
	pool := storage.PoolSize(dialect, dsn, maxOpen)
	f := &floor{db: db, payload: strings.Repeat("x", payload), now: time.Now, rand: rand.Reader, log: log}
	switch dialect {
	case storage.SQLite:
		db.SetMaxOpenConns(pool)
		f.insert = "INSERT INTO " + floorTable + " (signature, request_id, client_id, expires_at, request) VALUES (?, ?, ?, ?, ?)"
		f.lookup = "SELECT client_id, expires_at, request FROM " + floorTable + " WHERE signature = ?"
	case storage.Postgres:
		db.SetMaxOpenConns(pool)
		db.SetMaxIdleConns(pool)
		db.SetConnMaxIdleTime(5 * time.Minute)
		ddl = strings.Replace(ddl, "TIMESTAMP", "TIMESTAMPTZ", 1)
		f.insert = "INSERT INTO " + floorTable + " (signature, request_id, client_id, expires_at, request) VALUES ($1, $2, $3, $4, $5)"
		f.lookup = "SELECT client_id, expires_at, request FROM " + floorTable + " WHERE signature = $1"
	}
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", floorTable, err)
	}
	f.key = make([]byte, 32)
	if _, err := io.ReadFull(f.rand, f.key); err != nil {
		db.Close()
		return nil, fmt.Errorf("floor key: %w", err)
	}
	return f, nil
}

func (f *floor) Close() error { return f.db.Close() }

func (f *floor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /trivial", trivial)
	mux.HandleFunc("POST /floor/token", f.token)
	mux.HandleFunc("GET /floor/introspect", f.introspect)
	return mux
}

func trivial(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (f *floor) sign(token string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (f *floor) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeFloorJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	b := make([]byte, 48)
	if _, err := io.ReadFull(f.rand, b); err != nil {
		f.fail(w, r, err)
		return
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:32])
	const ttl = time.Hour
	_, err := f.db.ExecContext(r.Context(), f.insert, f.sign(tok), hex.EncodeToString(b[32:]), "storefront",
		f.now().UTC().Add(ttl), f.payload)
	if err != nil {
		f.fail(w, r, err)
		return
	}
	writeFloorJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(ttl.Seconds())})
}

func (f *floor) introspect(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeFloorJSON(w, http.StatusUnauthorized, map[string]bool{"active": false})
		return
	}
	var (
		client, request string
		exp             time.Time
	)
	err := f.db.QueryRowContext(r.Context(), f.lookup, f.sign(tok)).Scan(&client, &exp, &request)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !exp.After(f.now())) {
		writeFloorJSON(w, http.StatusUnauthorized, map[string]bool{"active": false})
		return
	}
	if err != nil {
		f.fail(w, r, err)
		return
	}
	writeFloorJSON(w, http.StatusOK, map[string]any{"active": true, "client_id": client, "exp": exp.Unix()})
}

// fail answers 503: the floor's database did not answer.
func (f *floor) fail(w http.ResponseWriter, r *http.Request, err error) {
	f.log.ErrorContext(r.Context(), "floor", "path", r.URL.Path, "err", err)
	writeFloorJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
}

func writeFloorJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// The HTTP server settings of `custodian serve`, so that both sides pay the same.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// serveBaseline is the `baseline` subcommand: it serves the trivial handler and the
// floor until ctx ends. It prints "listening on http://ADDR" once it accepts requests.
func serveBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("custodian-load baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database", "", "database `URL` of the floor: sqlite:PATH or postgres://…")
	addr := fs.String("addr", "127.0.0.1:0", "loopback listen `address`")
	maxOpen := fs.Int("max-open", 0, "connection pool size (0: Custodian's for the dialect)")
	payload := fs.Int("payload", defaultPayload, "`bytes` of request payload stored per floor token")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *dbURL == "" {
		fmt.Fprintln(stderr, "custodian-load baseline: --database is required")
		return exitUsage
	}
	if err := requireLoopbackAddr(*addr); err != nil {
		fmt.Fprintf(stderr, "custodian-load baseline: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := openFloor(ctx, *dbURL, *maxOpen, *payload, log)
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load baseline: %v\n", err)
		return exitFailure
	}
	defer f.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load baseline: %v\n", err)
		return exitFailure
	}
	hs := &http.Server{Handler: f.handler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "custodian-load baseline: %v\n", err)
		return exitFailure
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return exitOK
}
