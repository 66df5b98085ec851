package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/internal/sqlhook"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// sentConn keeps every byte pgx sends to PostgreSQL.
type sentConn struct {
	net.Conn
	mu   *sync.Mutex
	sent *bytes.Buffer
}

func (c sentConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.sent.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// keyForms are the ways a key could travel in a statement or a parameter:
// raw, hex (as bytea's text form), base64.
func keyForms(key []byte) [][]byte {
	return [][]byte{key, []byte(hex.EncodeToString(key)), []byte(strings.ToUpper(hex.EncodeToString(key))),
		[]byte(base64.StdEncoding.EncodeToString(key)), key[:16], key[16:]}
}

// auditWorkload appends sealed records, checkpoints and verifies, and
// returns one record's MAC as the database holds it.
func auditWorkload(t *testing.T, s *sqlstore.Store, key []byte) []byte {
	ctx := context.Background()
	for i := range 20 {
		e := identity.Event{Time: time.Unix(1_700_000_000+int64(i), 0), Subject: identity.Subject(fmt.Sprint("user", i%5)), Action: "login", Result: identity.Success}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.AuditEvents(ctx, "user1", 1)
	if err != nil || len(recs) != 1 || len(recs[0].MAC) == 0 {
		t.Fatalf("records %+v, %v", recs, err)
	}
	return recs[0].MAC
}

// TestAuditKeyNeverSentToPostgres: the audit key seals records and
// checkpoints in Go, and nothing derived from it but the MACs themselves
// is sent: every byte written to PostgreSQL's socket while a store with a
// key appends, checkpoints and verifies is searched for the key.
func TestAuditKeyNeverSentToPostgres(t *testing.T) {
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	key := bytes.Repeat([]byte("\x8e\x13\xd7\x42"), 8)
	var mu sync.Mutex
	sent := &bytes.Buffer{}
	ctx := sqlhook.With(context.Background(), func(name, dsn string) (*sql.DB, error) {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		dial := cfg.DialFunc
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return sentConn{Conn: c, mu: &mu, sent: sent}, nil
		}
		return sql.OpenDB(stdlib.GetConnector(*cfg)), nil
	})
	s, err := sqlstore.OpenPostgres(ctx, dsn, sqlstore.WithAudit(identity.AuditConfig{Key: key, Partitions: 4}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mac := auditWorkload(t, s, key)
	mu.Lock()
	defer mu.Unlock()
	// What is sent is seen: the record MACs go out as parameters.
	if !bytes.Contains(sent.Bytes(), mac) {
		t.Fatalf("a record's MAC is not among the %d bytes sent (TLS?): the search below would prove nothing", sent.Len())
	}
	for _, f := range keyForms(key) {
		if bytes.Contains(sent.Bytes(), f) {
			t.Fatalf("the audit key (%x) was sent to PostgreSQL", f)
		}
	}
}

// TestAuditKeyNotInSQLiteFiles: nor is it kept in SQLite's files.
func TestAuditKeyNotInSQLiteFiles(t *testing.T) {
	key := bytes.Repeat([]byte("\x8e\x13\xd7\x42"), 8)
	path := filepath.Join(t.TempDir(), "puce.db")
	s := sqlstoretest.SQLiteAt(t, path, sqlstore.WithAudit(identity.AuditConfig{Key: key, Partitions: 4}))
	mac := auditWorkload(t, s, key)
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Contains(all, mac) {
		t.Fatal("a record's MAC is not in the files: the search below would prove nothing")
	}
	for _, f := range keyForms(key) {
		if bytes.Contains(all, f) {
			t.Fatalf("the audit key (%x) is in SQLite's files", f)
		}
	}
}
