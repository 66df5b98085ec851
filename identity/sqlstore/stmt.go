package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// statements prepares each query of the store once and keeps it.
//
// Without it every call parses and plans its SQL again: on SQLite that was a
// fifth of a TOTP verification (the modernc engine prepares in Go, on the
// caller's goroutine). A *sql.Stmt prepares itself once on each connection
// it meets, and Tx.StmtContext reuses those, so the cache also serves
// transactions. PostgreSQL gains less, pgx caching statements by text
// already, but it skips the rebinding of placeholders too.
//
// The keys are the store's own query texts, a small fixed set (the few
// built from parts choose among constant pieces), never user input, so the
// map cannot grow without bound.
type statements struct {
	m sync.Map // query as written (with ? placeholders) -> *sql.Stmt
	// wanted holds the queries a transaction ran unprepared (see txStmt),
	// for prepareWanted once it is over.
	wanted sync.Map // query -> struct{}
	// mu orders closing against preparing: once closed, nothing new is kept.
	mu     sync.Mutex
	closed bool
}

// stmt returns the prepared statement for q, preparing it on first use. A
// failed prepare is not kept: the caller runs the query unprepared, which
// reports the same error or, if the failure was passing (a cancelled
// context), simply works.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, bool) {
	if st, ok := s.stmts.m.Load(q); ok {
		return st.(*sql.Stmt), true
	}
	st, err := s.db.PrepareContext(ctx, s.d.rebind(q))
	if err != nil {
		return nil, false
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if s.stmts.closed {
		st.Close()
		return nil, false
	}
	if prev, loaded := s.stmts.m.LoadOrStore(q, st); loaded {
		// Another goroutine prepared it first: keep one.
		st.Close()
		return prev.(*sql.Stmt), true
	}
	return st, true
}

// closeStatements closes every kept statement; later calls run unprepared
// (and fail on the closed database, as they should).
func (s *Store) closeStatements() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	s.stmts.closed = true
	s.stmts.m.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.m.Delete(k)
		return true
	})
}

// exec runs a statement that writes (every caller's is), queued behind the
// handle's other writes on SQLite (writelock.go).
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	unlock, err := s.writer.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if st, ok := s.stmt(ctx, q); ok {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, s.d.rebind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st, ok := s.stmt(ctx, q); ok {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, s.d.rebind(q), args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st, ok := s.stmt(ctx, q); ok {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, s.d.rebind(q), args...)
}

// txStmt returns the handle's statement for q if it is prepared already.
// A transaction must not prepare one on the handle (stmt): that takes a
// second connection from the pool while the transaction holds one, and
// with one connection (":memory:", WithPool(1)) it waited for ever, the
// first audited append or unit of such a store hanging until its context
// ended (TestOneConnection); with more, a transaction still waited for
// whatever held the others. The transaction runs q unprepared instead,
// and q is prepared once the transaction is over (prepareWanted).
func (s *Store) txStmt(q string) (*sql.Stmt, bool) {
	if st, ok := s.stmts.m.Load(q); ok {
		return st.(*sql.Stmt), true
	}
	s.stmts.wanted.Store(q, struct{}{})
	return nil, false
}

// prepareWanted prepares the queries transactions ran unprepared; the
// caller holds no connection. One that fails stays unprepared until a
// transaction asks for it again.
func (s *Store) prepareWanted(ctx context.Context) {
	s.stmts.wanted.Range(func(q, _ any) bool {
		s.stmts.wanted.Delete(q)
		s.stmt(ctx, q.(string))
		return true
	})
}

// txExec and txQueryRow run q inside tx; a prepare error stays in the
// statement and surfaces when it runs.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st, ok := s.txStmt(q); ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.d.rebind(q), args...)
}

func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st, ok := s.txStmt(q); ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.d.rebind(q), args...)
}
