package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

// A server's store: one SQLite file, its audit trail sealed with a key kept
// outside the database (a secret store, or an environment variable). The key is checked at start: an empty one would leave the trail
// unsealed without an error (identity.AuditConfig), which a bank's auditor
// would find rather than the server. The store holds everything
// identity/httpauth needs, sessions included (httpauth.SiteStore).
func ExampleOpenSQLite() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "puce-example")
	defer os.RemoveAll(dir)
	encoded := "ZXhhbXBsZSBrZXkgLSBnZW5lcmF0ZSB5b3VyIG93biEhIQ==" // os.Getenv("BANK_AUDIT_KEY"): head -c 32 /dev/urandom | base64

	auditKey, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(auditKey) < 32 {
		log.Fatal("BANK_AUDIT_KEY must be the base64 of 32 random bytes")
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "bank.db"),
		sqlstore.WithAudit(identity.AuditConfig{Key: auditKey}),
		sqlstore.WithDurableCommits()) // a power cut takes back no commit
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// What every login writes, and what an operator's check reads back.
	store.Audit(ctx, identity.Event{Time: time.Now(), Subject: "alice", Action: "login", Result: identity.Success})
	if err := store.Checkpoint(ctx); err != nil {
		log.Fatal(err)
	}
	mark, err := store.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
	fmt.Println(store.Engine(), "trail verified:", err == nil, "mark to keep:", len(mark) > 0)
	// Output: sqlite trail verified: true mark to keep: true
}

// Rotating the audit key: the instances move to a new key, and the trail
// is verified with the old one retired. Checkpoints the old key sealed
// stay verifiable as long as it is kept.
func ExampleWithAudit_rotation() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "puce-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "puce.db")
	oldKey, newKey := make([]byte, 32), make([]byte, 32)
	rand.Read(oldKey)
	rand.Read(newKey)

	// An instance before the rotation, then one after it (a restart with
	// the new key in its configuration).
	for _, key := range [][]byte{oldKey, newKey} {
		store, err := sqlstore.OpenSQLite(ctx, path, sqlstore.WithAudit(identity.AuditConfig{Key: key}))
		if err != nil {
			panic(err)
		}
		store.Audit(ctx, identity.Event{Time: time.Now(), Subject: "alice", Action: "login", Result: identity.Success})
		if err := store.Checkpoint(ctx); err != nil {
			panic(err)
		}
		store.Close()
	}

	store, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	_, err = store.VerifyAudit(ctx, identity.AuditKeys{
		Current: newKey,
		// Newest first; the overlap covers the rolling deploy.
		Retired: []identity.RetiredAuditKey{{Key: oldKey, Overlap: 30 * time.Minute}},
	})
	fmt.Println("with the old key retired:", err == nil)
	_, err = store.VerifyAudit(ctx, identity.AuditKeys{Current: newKey})
	fmt.Println("old key destroyed, its checkpoint broken:", errors.Is(err, identity.ErrAuditBroken))
	// Output:
	// with the old key retired: true
	// old key destroyed, its checkpoint broken: true
}
