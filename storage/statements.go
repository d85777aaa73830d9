package storage

// Counting what a request costs the database. Every connection of a Store is opened
// through countingConnector, which passes each statement, preparation and transaction
// to the driver unchanged and, when the statement's context carries a StatementCount
// (WithStatementCount), notes it there. A context without one costs a context lookup
// per statement. Tests attach a count to a request and assert how many statements
// each hot operation runs (TestStatementsPerOperation), so a path that gains a query
// fails a test instead of slowing every node down unnoticed.

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync"
)

// StatementCount is what the statements run with one context cost: each statement
// sent to the database (a query or exec, prepared or not), each transaction begun, and
// each preparation (a prepared statement's first use on a connection). It is safe for
// concurrent use.
type StatementCount struct {
	mu         sync.Mutex
	statements []string
	begins     int
	prepares   int
}

type statementCountKey struct{}

// WithStatementCount returns a context whose statements are counted in the returned
// StatementCount.
func WithStatementCount(ctx context.Context) (context.Context, *StatementCount) {
	c := &StatementCount{}
	return context.WithValue(ctx, statementCountKey{}, c), c
}

func statementCountOf(ctx context.Context) *StatementCount {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(statementCountKey{}).(*StatementCount)
	return c
}

// Statements is the number of statements run, BEGIN, COMMIT and ROLLBACK not included.
func (c *StatementCount) Statements() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.statements)
}

// Transactions is the number of transactions begun.
func (c *StatementCount) Transactions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.begins
}

// Prepares is the number of statements prepared on a connection.
func (c *StatementCount) Prepares() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.prepares
}

// List is the statements run, in order, each on one line, for a failing test to show.
func (c *StatementCount) List() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.statements...)
}

// Reset forgets everything counted so far.
func (c *StatementCount) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statements, c.begins, c.prepares = nil, 0, 0
}

func (c *StatementCount) statement(query string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statements = append(c.statements, strings.Join(strings.Fields(query), " "))
}

func (c *StatementCount) begin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begins++
}

func (c *StatementCount) prepare() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prepares++
}

// countingConnector opens the driver's connections wrapped in countingConn.
type countingConnector struct{ driver.Connector }

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn}, nil
}

// countingConn is a driver connection that notes each statement in the count of its
// context. Both drivers (lib/pq, modernc.org/sqlite) implement every optional
// interface below; the fallbacks keep database/sql's own behaviour for one that does
// not.
type countingConn struct{ driver.Conn }

var (
	_ driver.ConnBeginTx        = (*countingConn)(nil)
	_ driver.ConnPrepareContext = (*countingConn)(nil)
	_ driver.ExecerContext      = (*countingConn)(nil)
	_ driver.QueryerContext     = (*countingConn)(nil)
	_ driver.Pinger             = (*countingConn)(nil)
	_ driver.SessionResetter    = (*countingConn)(nil)
	_ driver.Validator          = (*countingConn)(nil)
	_ driver.NamedValueChecker  = (*countingConn)(nil)
)

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = c.Conn.Begin() //nolint:staticcheck // the fallback database/sql itself uses
	}
	if err != nil {
		return nil, err
	}
	statementCountOf(ctx).begin()
	return tx, nil
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		st  driver.Stmt
		err error
	)
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	statementCountOf(ctx).prepare()
	return &countingStmt{Stmt: st, query: query}, nil
}

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := e.ExecContext(ctx, query, args)
	if err != driver.ErrSkip { //nolint:errorlint // database/sql compares ErrSkip by identity too
		statementCountOf(ctx).statement(query)
	}
	return r, err
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := q.QueryContext(ctx, query, args)
	if err != driver.ErrSkip { //nolint:errorlint // as above
		statementCountOf(ctx).statement(query)
	}
	return r, err
}

func (c *countingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := c.Conn.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// countingStmt is a prepared statement whose executions are counted.
type countingStmt struct {
	driver.Stmt
	query string
}

// Neither driver's statement checks its arguments itself (database/sql then asks the
// connection), so countingStmt does not either.
var (
	_ driver.StmtExecContext  = (*countingStmt)(nil)
	_ driver.StmtQueryContext = (*countingStmt)(nil)
)

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	var (
		r   driver.Result
		err error
	)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		r, err = e.ExecContext(ctx, args)
	} else {
		vals, verr := namedToValues(args)
		if verr != nil {
			return nil, verr
		}
		r, err = s.Stmt.Exec(vals) //nolint:staticcheck // the fallback database/sql itself uses
	}
	statementCountOf(ctx).statement(s.query)
	return r, err
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	var (
		r   driver.Rows
		err error
	)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		r, err = q.QueryContext(ctx, args)
	} else {
		vals, verr := namedToValues(args)
		if verr != nil {
			return nil, verr
		}
		r, err = s.Stmt.Query(vals) //nolint:staticcheck // as above
	}
	statementCountOf(ctx).statement(s.query)
	return r, err
}

func namedToValues(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, driver.ErrSkip
		}
		out[i] = a.Value
	}
	return out, nil
}
