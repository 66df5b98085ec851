package sqlstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

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
