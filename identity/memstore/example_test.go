package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/memstore"
)

// An audit trail sealed with a checkpoint key the store's data does not
// hold: VerifyAudit with the key notices a record rewritten behind the
// store's back even when the attacker recomputed the chain.
func ExampleWithAudit() {
	ctx := context.Background()
	key := make([]byte, 32) // in production: 32 random bytes kept beside the Sealer's keys
	store, err := memstore.NewWith(memstore.WithAudit(identity.AuditConfig{Key: key, CheckpointEvery: 2}))
	if err != nil {
		panic(err)
	}
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	for _, r := range []identity.Result{identity.Failure, identity.Success} {
		store.Audit(ctx, identity.Event{Time: at, Subject: "alice", Action: "login", Result: r})
	}
	_, err = store.VerifyAudit(ctx, identity.AuditKeys{Current: key})
	fmt.Println("verified:", err == nil)

	// Turn the failure into a success and recompute the chain and the
	// checkpoint's heads, as someone with write access but without the key
	// can (the checkpoint's MAC they cannot recompute).
	store.TamperAudit(func(tr *auditchain.Trail) {
		r := &tr.Records[0]
		r.Event.Result = identity.Success
		r.Hash = auditchain.RecordHash(*r)
		tr.Records[1].Prev = r.Hash
		tr.Records[1].Hash = auditchain.RecordHash(tr.Records[1])
		tr.Heads[0].Hash = tr.Records[1].Hash
		tr.Checkpoints[0].Heads[0].Hash = tr.Records[1].Hash
	})
	_, err = store.VerifyAudit(ctx, identity.AuditKeys{})
	fmt.Println("chains alone pass:", err == nil)
	_, err = store.VerifyAudit(ctx, identity.AuditKeys{Current: key})
	fmt.Println("with the key:", errors.Is(err, identity.ErrAuditBroken))
	// Output:
	// verified: true
	// chains alone pass: true
	// with the key: true
}
