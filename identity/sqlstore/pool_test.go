package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestPoolKeepsConnections runs more concurrent operations than
// database/sql's default of two idle connections and checks that the
// store closed none for being idle: before WithPool, every request past
// the second opened a connection (on PostgreSQL, a server process) and
// closed it again.
func TestPoolKeepsConnections(t *testing.T) {
	sqlite := func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pool.db"), sqlstore.WithPool(6))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	postgres := func(t *testing.T) *sqlstore.Store {
		s, _ := sqlstoretest.Postgres(t, sqlstore.WithPool(6))
		return s
	}
	for name, open := range map[string]func(*testing.T) *sqlstore.Store{"SQLite": sqlite, "Postgres": postgres} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			now := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 20 {
						ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: identity.Subject("pool"),
							CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
						if err := s.PutChallenge(ctx, ch); err != nil {
							errs <- err
							return
						}
						if _, err := s.ConsumeChallenge(ctx, ch.ID, now); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			st := s.DB().Stats()
			if st.MaxOpenConnections != 6 {
				t.Errorf("MaxOpenConnections = %d, want 6 (WithPool)", st.MaxOpenConnections)
			}
			if st.MaxIdleClosed != 0 {
				t.Errorf("%d connections closed for want of room among the idle ones: the pool does not keep what it opens", st.MaxIdleClosed)
			}
			if st.OpenConnections > 6 || st.OpenConnections < 1 {
				t.Errorf("OpenConnections = %d, want 1 to 6", st.OpenConnections)
			}
		})
	}
}

func TestWithPoolRefusesZero(t *testing.T) {
	_, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "p.db"), sqlstore.WithPool(0))
	if !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("WithPool(0): %v, want ErrBadInput", err)
	}
}

// TestDurableCommits: every connection of a SQLite store opened with
// WithDurableCommits commits with synchronous=FULL (2), and without it
// with NORMAL (1); several connections are held at once so that each one
// the pool opened is asked.
func TestDurableCommits(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		opts []sqlstore.Option
		want int
	}{{nil, 1}, {[]sqlstore.Option{sqlstore.WithDurableCommits()}, 2}} {
		s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "durable.db"), c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var conns []interface{ Close() error }
		for range 4 {
			conn, err := s.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
			var level int
			if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil || level != c.want {
				t.Fatalf("%d options: PRAGMA synchronous = %d, %v; want %d", len(c.opts), level, err, c.want)
			}
		}
		for _, conn := range conns {
			conn.Close()
		}
		s.Close()
	}
}
