package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/custodian-id/custodian/identity"

	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Driver errors are mapped by code, never by message, to these sentinels. Store methods
// translate them further into the domain package's sentinel for the object at hand.
var (
	errUnique   = errors.New("storage: unique constraint violated")
	errForeign  = errors.New("storage: foreign key constraint violated")
	errConflict = errors.New("storage: concurrent update conflict")
)

// mapErr translates driver errors into the sentinels above, keeping the original
// error in the chain for the logs. A database error that is none of them (a failing
// trigger, a missing table or column, a full disk, a corrupt file …) says nothing about
// the data asked for: it becomes identity.ErrUnavailable (503 in every dialect, never a
// verdict nor a 500) and is logged at error level with its SQLSTATE (PostgreSQL) or
// result code (SQLite), since it needs an operator.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, identity.ErrUnavailable) {
		return err
	}
	if transient(err) {
		return errors.Join(identity.ErrUnavailable, err)
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "23505":
			return errors.Join(errUnique, err)
		case "23503":
			return errors.Join(errForeign, err)
		case "40001", "40P01":
			return errors.Join(errConflict, err)
		}
		s.log.Error("database error", "sqlstate", string(pqErr.Code), "err", err)
		return errors.Join(identity.ErrUnavailable, err)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errors.Join(errUnique, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return errors.Join(errForeign, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_BUSY_SNAPSHOT:
			return errors.Join(errConflict, err)
		}
		s.log.Error("database error", "sqlite_code", sqErr.Code(), "err", err)
		return errors.Join(identity.ErrUnavailable, err)
	}
	return err
}

// transient reports a failure that says nothing about the data: the database could not
// be reached or did not answer in time, dropped the connection, is shutting down or
// starting up, or ran out of resources. Such errors become identity.ErrUnavailable, in
// this one place, so no layer above answers them as a verdict.
func transient(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		code := string(pqErr.Code)
		// 08: connection exception; 57P: operator intervention (admin shutdown, crash
		// shutdown, cannot connect now); 53: insufficient resources; 57014: a statement
		// cancelled by its deadline (query_canceled).
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || strings.HasPrefix(code, "53") || code == "57014"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM:
			return true
		}
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr):
		return true
	}
	return false
}

// Unavailable reports an error that is identity.ErrUnavailable or a transient driver error,
// for callers outside the store's query helpers (the start-up wait).
func Unavailable(err error) bool {
	return err != nil && (errors.Is(err, identity.ErrUnavailable) || transient(err))
}
