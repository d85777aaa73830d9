package storage

// Prepared statements. The statements every hot request runs (the token paths and
// the reads of a signed-in customer) are prepared when the Store opens and reused:
// database/sql prepares each on every connection the first time it runs there
// (inside a transaction too, on the transaction's connection) and keeps it until the
// connection closes. On PostgreSQL a statement that is not prepared costs lib/pq two
// round trips (parse and describe, then bind and execute) and a parse and plan on the
// server; a prepared one costs one round trip. On SQLite it spares compiling the SQL.
//
// The query is the key: exec, get and sel run a query that is in the set through its
// prepared statement and any other as before. Only constant queries belong here;
// queries built per call (the import's multi-row statements) would grow the set
// without bound. A connection pooler in front of PostgreSQL must keep prepared
// statements per client (PgBouncer in session mode, or 1.21+ with
// max_prepared_statements in transaction mode).

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// hotStatements are the queries prepared when the Store opens.
func hotStatements() []string {
	return []string{
		qInsertToken, qGetToken, qAccessTokenInfo, qRotate, qGraceFork, qAccessByJTI,
		accountQuery(accountByID), qListMemberships, qListIdentities, qListAddresses,
	}
}

// prepare prepares the hot statements; the Store is migrated, so their tables exist.
func (s *Store) prepare(ctx context.Context) error {
	stmts := make(map[string]*sqlx.Stmt)
	for _, q := range hotStatements() {
		st, err := s.db.PreparexContext(ctx, s.rebind(q))
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return fmt.Errorf("prepare statement: %w", s.mapErr(err))
		}
		stmts[q] = st
	}
	s.stmts = stmts
	return nil
}

// closeStatements releases the prepared statements; Close calls it before it closes
// the pool.
func (s *Store) closeStatements() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	return errors.Join(errs...)
}

// preparedFor returns the prepared statement of query, bound to the transaction ctx
// carries if any, or nil when query is not a hot statement.
func (s *Store) preparedFor(ctx context.Context, query string) *sqlx.Stmt {
	st := s.stmts[query]
	if st == nil {
		return nil
	}
	if tx, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return tx.StmtxContext(ctx, st)
	}
	return st
}
