package storage

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// maxPrepared bounds the statement texts a SQLite database keeps prepared.
// Each is prepared once on every connection that runs it (up to
// sqliteMaxConns are open), where it holds its compiled program, a few
// kilobytes: the bound keeps that memory small and fixed. The statements
// jitbot runs over and over (claims, the grant and request reads and writes
// of an approval or a revocation, audit appends) are far fewer.
const maxPrepared = 64

// preparedAfter is how many times a statement text runs before it is kept
// prepared, so that texts run once (schema queries, an IN list of a length
// seen once) take no place.
const preparedAfter = 2

// longList is the start of a list of more placeholders than a list of
// states has: a statement with one (a list of ids, its length the caller's)
// is never kept, as each of its lengths would take a place of its own.
const longList = "?,?,?,?,?,?,?,?,?"

// maxCounted bounds the statement texts counted towards preparedAfter; the
// count starts over when it is reached.
const maxCounted = 1024

// preparedPool is a SQLite database as gorm uses it, keeping the statements
// it runs often prepared: SQLite parses and plans a statement at each
// prepare, which without this happens at every execution. database/sql
// prepares a kept statement on a connection the first time it runs there
// and closes it with the connection. Statements run in a transaction reuse
// the same ones (sql.Tx.StmtContext).
//
// A kept statement is one SQLite statement per connection, which a query
// steps through as its rows are read: it must not run again on the same
// connection (in the same transaction) while rows of its earlier run are
// still open. gorm reads every result whole before it returns, and storage
// never iterates rows itself.
//
// It is for a database of several connections only: preparing a statement
// takes a connection of the pool, which inside a transaction on a pool of
// one would wait for the connection the transaction holds.
type preparedPool struct {
	db *sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	runs  map[string]int
}

var (
	_ gorm.ConnPool         = (*preparedPool)(nil)
	_ gorm.ConnPoolBeginner = (*preparedPool)(nil)
	_ gorm.GetDBConnector   = (*preparedPool)(nil)
	_ gorm.ConnPool         = (*preparedTx)(nil)
	_ gorm.TxCommitter      = (*preparedTx)(nil)
)

func newPreparedPool(db *sql.DB) *preparedPool {
	return &preparedPool{db: db, stmts: map[string]*sql.Stmt{}, runs: map[string]int{}}
}

// stmt returns the kept statement for query, preparing it once query has
// run preparedAfter times; nil while it is not kept (run it unprepared). A
// failed prepare is not kept either: running the query reports the error.
func (p *preparedPool) stmt(ctx context.Context, query string) *sql.Stmt {
	p.mu.Lock()
	if s, ok := p.stmts[query]; ok {
		p.mu.Unlock()
		return s
	}
	if len(p.stmts) >= maxPrepared || strings.Contains(query, longList) {
		p.mu.Unlock()
		return nil
	}
	if len(p.runs) >= maxCounted {
		clear(p.runs)
	}
	p.runs[query]++
	if p.runs[query] < preparedAfter {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()

	s, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if kept, ok := p.stmts[query]; ok {
		_ = s.Close()
		return kept
	}
	if len(p.stmts) >= maxPrepared {
		_ = s.Close()
		return nil
	}
	p.stmts[query] = s
	delete(p.runs, query)
	return s
}

func (p *preparedPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}

func (p *preparedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p *preparedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *preparedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// BeginTx begins a transaction whose statements use the kept ones.
func (p *preparedPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &preparedTx{Tx: tx, pool: p}, nil
}

// GetDBConn returns the database, for gorm's DB.
func (p *preparedPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

// preparedTx is a transaction of a preparedPool. It hides its *sql.Tx from
// gorm's DB (it has no GetDBConn), so that the SQLite migrator, which
// rebuilds a table on a connection of its own when it finds a *sql.DB,
// rebuilds it inside the transaction.
type preparedTx struct {
	*sql.Tx
	pool *preparedPool
}

func (t *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.pool.stmt(ctx, query); s != nil {
		return t.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.pool.stmt(ctx, query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.pool.stmt(ctx, query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
