package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	fositestorage "github.com/ory/fosite/storage"
)

// The transaction travels in the context: every query goes through q, which picks the
// transaction from ctx when there is one and the pool otherwise.
type txKey struct{}

// Store is handed to fosite's compose and must itself be Transactional, otherwise fosite
// silently runs its multi-statement flows (refresh rotation, code exchange) without one.
var _ fositestorage.Transactional = (*Store)(nil)

// ErrTxInProgress is returned by BeginTX when ctx already carries a transaction.
var ErrTxInProgress = errors.New("storage: transaction already in progress")

// ErrNoTx is returned by Commit and Rollback when ctx carries no transaction.
var ErrNoTx = errors.New("storage: no transaction in context")

type querier interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

func (s *Store) q(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return tx
	}
	return s.db
}

// BeginTX starts a transaction and returns a context carrying it.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return ctx, ErrTxInProgress
	}
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{})
	if err != nil {
		return ctx, fmt.Errorf("begin transaction: %w", s.mapErr(err))
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the transaction carried by ctx.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*sqlx.Tx)
	if !ok {
		return ErrNoTx
	}
	err := tx.Commit()
	s.txEnded(tx, true)
	if err != nil {
		return fmt.Errorf("commit: %w", s.mapErr(err))
	}
	return nil
}

// Rollback aborts the transaction carried by ctx. Rolling back a finished transaction
// is not an error.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*sqlx.Tx)
	if !ok {
		return ErrNoTx
	}
	err := tx.Rollback()
	s.txEnded(tx, false) // after a commit, nothing is pending any more
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction: the one ctx already carries, or a new one that is
// committed when fn returns nil and rolled back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if _, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return fn(ctx)
	}
	txctx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = s.Rollback(txctx)
			panic(p)
		}
		if err != nil {
			_ = s.Rollback(txctx)
		}
	}()
	if err = fn(txctx); err != nil {
		return err
	}
	return s.Commit(txctx)
}

// rebind turns the ?-placeholders every query is written with into the dialect's.
func (s *Store) rebind(query string) string { return s.db.Rebind(query) }

// exec runs a statement and returns the number of rows it touched.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var (
		res sql.Result
		err error
	)
	if st := s.preparedFor(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = s.q(ctx).ExecContext(ctx, s.rebind(query), args...)
	}
	if err != nil {
		return 0, s.mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

func (s *Store) get(ctx context.Context, dest any, query string, args ...any) error {
	if st := s.preparedFor(ctx, query); st != nil {
		return s.mapErr(st.GetContext(ctx, dest, args...))
	}
	return s.mapErr(s.q(ctx).GetContext(ctx, dest, s.rebind(query), args...))
}

func (s *Store) sel(ctx context.Context, dest any, query string, args ...any) error {
	if st := s.preparedFor(ctx, query); st != nil {
		return s.mapErr(st.SelectContext(ctx, dest, args...))
	}
	return s.mapErr(s.q(ctx).SelectContext(ctx, dest, s.rebind(query), args...))
}
