package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

// TestKeylessStoreOnSealedTrail: a handle opened without the audit key on
// a trail that has checkpoints refuses to append (its records would carry
// no seal, which VerifyAudit reports as tampering) and writes nothing of a
// unit that would; it still reads. A keyless handle on a trail without
// checkpoints appends as before.
func TestKeylessStoreOnSealedTrail(t *testing.T) {
	ctx := context.Background()
	keys := identity.AuditKeys{Current: watchKey}
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		early := open() // before the first checkpoint: appends
		login(t, early, "alice", 0)

		keyed := watched(open)
		login(t, keyed, "alice", 1)
		mustCheckpoint(t, keyed)

		late := open()
		e := identity.Event{Time: time.Now(), Subject: "alice", Action: "login", Result: identity.Success}
		if err := late.Audit(ctx, e); !errors.Is(err, sqlstore.ErrNoAuditKey) {
			t.Fatalf("keyless Audit on a sealed trail: %v, want ErrNoAuditKey", err)
		}
		key := identity.ThrottleKey{Subject: "alice", Kind: identity.KindTOTP}
		err := late.CommitUnit(ctx, &identity.UnitWrites{
			ThrottleKey: key, Count: true,
			Next:   identity.ThrottleState{Version: 1, Failures: 1, NotBefore: time.Now()},
			Events: []identity.Event{e},
		})
		if !errors.Is(err, sqlstore.ErrNoAuditKey) {
			t.Fatalf("keyless unit on a sealed trail: %v, want ErrNoAuditKey", err)
		}
		if st, err := keyed.LoadThrottle(ctx, key); err != nil || st.Version != 0 {
			t.Fatalf("the refused unit wrote its throttle record: %+v, %v", st, err)
		}
		// Reading, as a verifier does, works.
		if _, err := late.VerifyAudit(ctx, keys); err != nil {
			t.Fatalf("keyless handle verifying with the key: %v", err)
		}
		if recs, err := late.AuditEvents(ctx, "alice", 10); err != nil || len(recs) != 2 {
			t.Fatalf("keyless handle reading: %d records, %v", len(recs), err)
		}
	})
}
