package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore/internal/sqlhook"
)

// TestPanicReleasesWriteLock: a panic in a write on SQLite (the driver's,
// say), recovered above as an HTTP server recovers a handler's, leaves
// the store's write lock free. ConsumeChallenge released it after its
// statement rather than in a defer, so the lock stayed taken and every
// later write of the handle waited for its context. In a unit's
// transaction the deferred end rolls back and releases it.
func TestPanicReleasesWriteLock(t *testing.T) {
	var armed atomic.Bool
	opener := func(name, dsn string) (*sql.DB, error) {
		db, err := sql.Open(name, "")
		if err != nil {
			return nil, err
		}
		d := db.Driver()
		db.Close()
		return sql.OpenDB(panicConnector{d, dsn, &armed}), nil
	}
	ctx := sqlhook.With(context.Background(), opener)
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	put := func(ctx context.Context) (*identity.Challenge, error) {
		ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: "p", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		return ch, s.PutChallenge(ctx, ch)
	}
	ch, err := put(ctx)
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the driver did not panic")
			}
		}()
		s.ConsumeChallenge(ctx, ch.ID, now)
	}()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := put(short); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the write lock stayed taken after a panic in ConsumeChallenge")
	} else if err != nil {
		t.Fatal(err)
	}

	// The same panic inside a unit's transaction: the lock is free, the
	// transaction rolled back.
	if ch, err = put(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the driver did not panic")
			}
		}()
		s.CommitUnit(ctx, &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: now,
			Events: []identity.Event{{Time: now, Subject: "p", Action: "login", Result: identity.Success}}})
	}()
	short2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if _, err := s.ConsumeChallenge(short2, ch.ID, now); err != nil {
		t.Fatalf("after a panic in a unit: %v", err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
		t.Fatal(err)
	}
}

// panicConnector's connections panic, once armed, on the statement that
// consumes a challenge.
type panicConnector struct {
	d     driver.Driver
	dsn   string
	armed *atomic.Bool
}

func (c panicConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &panicConn{conn, c.armed}, nil
}

func (c panicConnector) Driver() driver.Driver { return c.d }

type panicConn struct {
	driver.Conn
	armed *atomic.Bool
}

func (c *panicConn) trip(q string) {
	if strings.Contains(q, "UPDATE puce_challenges SET consumed_at") && c.armed.CompareAndSwap(true, false) {
		panic("driver panic")
	}
}

func (c *panicConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &panicStmt{st, c, q}, nil
}

func (c *panicConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *panicConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.trip(q)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *panicConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.trip(q)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

type panicStmt struct {
	driver.Stmt
	c *panicConn
	q string
}

func (s *panicStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.trip(s.q)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *panicStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.trip(s.q)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}
