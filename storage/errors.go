package storage

import (
	"database/sql"
	"errors"

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
// error in the chain for the logs.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return err
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
		return err
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
	}
	return err
}
