package sqlstore_test

import (
	"context"
	"errors"
	"strings"
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

// TestEmptyAuditKeyWarned: WithAudit with an empty key (a configuration
// variable that is unset) is warned of at Open, once, naming what to set;
// a store opened without WithAudit, or with a key, is not. The warning
// carries no key material.
func TestEmptyAuditKeyWarned(t *testing.T) {
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		logs := logged(t)
		empty := sqlstore.WithAudit(identity.AuditConfig{Key: []byte{}, Partitions: 4})
		open(empty)
		if l := logs(); strings.Count(l, "WithAudit was given an empty key: this store's audit records are not sealed") != 1 ||
			!strings.Contains(l, "AuditConfig.Key") || !strings.Contains(l, "level=WARN") {
			t.Fatalf("an empty audit key at Open logged:\n%s", l)
		}
		before := logs()
		open()
		open(sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointInterval: -1}))
		if l := logs(); l != before {
			t.Fatalf("warned without cause:\n%s", strings.TrimPrefix(l, before))
		}
		mustCheckpoint(t, watched(open)) // the trail is sealed from here
		open(empty)
		if l := strings.TrimPrefix(logs(), before); !strings.Contains(l, "empty key on a sealed audit trail") || !strings.Contains(l, "refuses to append") {
			t.Fatalf("an empty audit key on a sealed trail at Open logged:\n%s", l)
		}
	})
}
