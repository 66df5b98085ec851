package identitytest

import (
	"context"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// testAuditFresh: given AuditKeys.Fresh, VerifyAudit reports a trail whose
// newest checkpoint is older than Fresh at Now — cut back to an earlier
// checkpoint, which the key alone lets through — and a trail with none.
func testAuditFresh(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	cfg := identity.AuditConfig{Key: auditKey, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1}
	s := f.OpenAudit(t, cfg)
	clock := NewClock(Epoch())
	h := f.AuditHandle(t, s, cfg, clock)
	for _, d := range []time.Duration{0, time.Hour} {
		clock.Set(Epoch().Add(d))
		for i := range 3 {
			mustNoErr(t, h.Audit(ctx, identity.Event{Time: clock.Now(), Subject: "alice", Action: "login", Result: identity.Success, Reason: string(rune('a' + i))}), "audit")
		}
		mustNoErr(t, h.(checkpointer).Checkpoint(ctx), "checkpoint")
	}
	at := func(d time.Duration) identity.AuditKeys {
		return identity.AuditKeys{Current: auditKey, Fresh: 10 * time.Minute, Now: Epoch().Add(d)}
	}
	_, err := s.VerifyAudit(ctx, at(time.Hour+9*time.Minute))
	mustNoErr(t, err, "verify with the newest checkpoint 9 minutes old, 10 allowed")
	_, err = s.VerifyAudit(ctx, at(time.Hour+11*time.Minute))
	wantErr(t, err, identity.ErrAuditBroken, "verify with the newest checkpoint 11 minutes old, 10 allowed")
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Fresh: time.Minute})
	wantErr(t, err, identity.ErrBadInput, "Fresh without a key")

	// Cut back to the first checkpoint: what it covers kept, the rest gone.
	p := auditchain.Partition("alice", 4)
	f.TamperAudit(t, s, func(tr *auditchain.Trail) {
		tr.Checkpoints = tr.Checkpoints[:1]
		cut(tr, p, 4)
	})
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
	mustNoErr(t, err, "verify the cut trail with the key alone (the window Fresh closes)")
	_, err = s.VerifyAudit(ctx, at(time.Hour+time.Minute))
	wantErr(t, err, identity.ErrAuditBroken, "verify the cut trail with Fresh")
	t.Log(err)
	f.TamperAudit(t, s, func(tr *auditchain.Trail) { tr.Checkpoints = nil })
	_, err = s.VerifyAudit(ctx, at(time.Hour+time.Minute))
	wantErr(t, err, identity.ErrAuditBroken, "verify a trail without checkpoints with Fresh")
}
