package identitytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// StoreFactory tells RunStore how to make and inspect the store under test.
type StoreFactory struct {
	// Open returns a new, empty store.
	Open func(t *testing.T) identity.Store
	// Second returns another handle on the same data as s, with its own
	// connections, as a second server instance would have. Nil when the store
	// cannot be shared (then races run on one handle).
	Second func(t *testing.T, s identity.Store) identity.Store
	// OpenAudit returns a new, empty store with the given audit
	// configuration; it must have a Checkpoint(ctx) error method. Nil skips
	// the checkpoint and tamper tests.
	OpenAudit func(t *testing.T, c identity.AuditConfig) identity.Store
	// AuditHandle returns another handle on s's data (s from OpenAudit),
	// as another server instance would hold, that writes the audit trail
	// with c and dates its checkpoints by clock; it must have a
	// Checkpoint(ctx) error method. Nil skips the key rotation tests.
	AuditHandle func(t *testing.T, s identity.Store, c identity.AuditConfig, clock identity.Clock) identity.Store
	// TamperAudit hands the store's whole trail to f and writes back what f
	// left, behind the store's back, as an attacker with write access to the
	// database would. Nil skips the tamper tests.
	TamperAudit func(t *testing.T, s identity.Store, f func(*auditchain.Trail))
	// SeedLegacy writes records of the single chain of older versions (and
	// its head) into a new, empty store, as they were before the upgrade.
	// Nil skips the legacy test.
	SeedLegacy func(t *testing.T, s identity.Store, records []identity.AuditRecord, head auditchain.Head)
	// Dump returns everything the store keeps at rest (a database dump, the
	// files). Nil skips the at-rest test.
	Dump func(t *testing.T, s identity.Store) []byte
}

// RunStore runs the store conformance suite.
func RunStore(t *testing.T, f StoreFactory) {
	second := func(t *testing.T, s identity.Store) identity.Store {
		if f.Second == nil {
			return s
		}
		return f.Second(t, s)
	}
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, f.Open(t)) })
	t.Run("AdvanceCounter", func(t *testing.T) { testAdvanceCounter(t, f.Open(t)) })
	t.Run("AdvanceCounterRace", func(t *testing.T) {
		s := f.Open(t)
		testAdvanceCounterRace(t, s, second(t, s))
	})
	t.Run("UpdateRace", func(t *testing.T) {
		s := f.Open(t)
		testUpdateRace(t, s, second(t, s))
	})
	t.Run("DeleteRace", func(t *testing.T) {
		s := f.Open(t)
		testDeleteRace(t, s, second(t, s))
	})
	t.Run("Challenges", func(t *testing.T) { testChallenges(t, f.Open(t)) })
	t.Run("ConsumeRace", func(t *testing.T) {
		s := f.Open(t)
		testConsumeRace(t, s, second(t, s))
	})
	t.Run("Throttle", func(t *testing.T) { testThrottleStore(t, f.Open(t)) })
	t.Run("ThrottleRace", func(t *testing.T) {
		s := f.Open(t)
		testThrottleRace(t, s, second(t, s))
	})
	t.Run("ThrottleBound", func(t *testing.T) { testThrottleBound(t, f.Open(t)) })
	t.Run("ClientThrottle", func(t *testing.T) { testClientThrottle(t, f.Open(t)) })
	t.Run("HostileInput", func(t *testing.T) { testHostileInput(t, f.Open(t)) })
	t.Run("BadText", func(t *testing.T) { testBadText(t, f.Open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, f.Open(t)) })
	t.Run("SessionRace", func(t *testing.T) {
		s := f.Open(t)
		testSessionRace(t, s, second(t, s))
	})
	t.Run("SessionRenew", func(t *testing.T) { testSessionRenew(t, f.Open(t)) })
	t.Run("SessionRenewRace", func(t *testing.T) {
		s := f.Open(t)
		testSessionRenewRace(t, s, second(t, s))
	})
	t.Run("SessionRevoke", func(t *testing.T) { testSessionRevoke(t, f.Open(t)) })
	t.Run("SessionRevokeRace", func(t *testing.T) {
		s := f.Open(t)
		testSessionRevokeRace(t, s, second(t, s))
	})
	t.Run("Unit", func(t *testing.T) { testUnit(t, f.Open(t)) })
	t.Run("UnitOrder", func(t *testing.T) { testUnitOrder(t, f.Open(t)) })
	t.Run("UnitSequence", func(t *testing.T) { testUnitSequence(t, f.Open(t)) })
	t.Run("UnitThrottleClear", func(t *testing.T) { testUnitThrottleClear(t, f.Open(t)) })
	t.Run("UnitClearAbsent", func(t *testing.T) { testUnitClearAbsent(t, f.Open(t)) })
	t.Run("UnitRace", func(t *testing.T) {
		s := f.Open(t)
		testUnitRace(t, s, second(t, s))
	})
	t.Run("Audit", func(t *testing.T) { testAudit(t, f.Open(t)) })
	t.Run("AuditTimes", func(t *testing.T) { testAuditTimes(t, f.Open(t)) })
	t.Run("AuditRace", func(t *testing.T) {
		s := f.Open(t)
		testAuditRace(t, s, second(t, s))
	})
	t.Run("AuditCheckpoints", func(t *testing.T) {
		if f.OpenAudit == nil {
			t.Skip("store takes no audit configuration")
		}
		testAuditCheckpoints(t, f)
	})
	t.Run("AuditTamper", func(t *testing.T) {
		if f.OpenAudit == nil || f.TamperAudit == nil {
			t.Skip("store offers no raw access to tamper with")
		}
		testAuditTamper(t, f)
	})
	t.Run("AuditMark", func(t *testing.T) {
		if f.OpenAudit == nil || f.TamperAudit == nil {
			t.Skip("store offers no raw access to tamper with")
		}
		testAuditMark(t, f)
	})
	t.Run("AuditFresh", func(t *testing.T) {
		if f.OpenAudit == nil || f.AuditHandle == nil || f.TamperAudit == nil {
			t.Skip("store offers no second handle with a clock, or no raw access to tamper with")
		}
		testAuditFresh(t, f)
	})
	t.Run("AuditKeysChecked", func(t *testing.T) { testAuditKeysChecked(t, f.Open(t)) })
	t.Run("AuditRotation", func(t *testing.T) {
		if f.OpenAudit == nil || f.AuditHandle == nil {
			t.Skip("store cannot open two writers with different audit keys")
		}
		testAuditRotation(t, f)
	})
	t.Run("AuditLegacy", func(t *testing.T) {
		if f.OpenAudit == nil || f.SeedLegacy == nil || f.TamperAudit == nil {
			t.Skip("store has no legacy trail")
		}
		testAuditLegacy(t, f)
	})
	t.Run("SealedAtRest", func(t *testing.T) {
		if f.Dump == nil {
			t.Skip("store keeps nothing at rest")
		}
		testSealedAtRest(t, f)
	})
}

func mustNoErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func testCredentials(t *testing.T, s identity.Store) {
	ctx := context.Background()
	at := Epoch()
	c := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Name: "phone",
		Secret: []byte{1, 2, 3}, Public: []byte("pub"), Active: false, CreatedAt: at}
	c.Revision = 42 // the store's to set
	mustNoErr(t, s.CreateCredential(ctx, c), "create")
	if c.Revision != 1 {
		t.Fatalf("created at revision %d, want 1", c.Revision)
	}
	wantErr(t, s.CreateCredential(ctx, c), identity.ErrExists, "create twice")
	// The same ID under another subject is taken too: IDs are unique per kind.
	dup := *c
	dup.Subject = "bob"
	wantErr(t, s.CreateCredential(ctx, &dup), identity.ErrExists, "same ID, other subject")

	got, err := s.Credential(ctx, c.Ref())
	mustNoErr(t, err, "load")
	if got.Name != "phone" || !bytes.Equal(got.Secret, c.Secret) || string(got.Public) != "pub" || got.Active || !got.CreatedAt.Equal(at) || got.Counter != 0 || got.Revision != 1 {
		t.Fatalf("loaded %+v, stored %+v", got, c)
	}
	// A caller changing what it got must not change the store.
	got.Secret[0] = 9
	again, _ := s.Credential(ctx, c.Ref())
	if again.Secret[0] != 1 {
		t.Fatal("store shares its bytes with callers")
	}
	// So must changing or growing what a list returned, however the store
	// packs it (one credential is the common answer at login).
	list, err := s.Credentials(ctx, "alice", identity.KindTOTP)
	mustNoErr(t, err, "list one")
	if len(list) != 1 || !bytes.Equal(list[0].Secret, c.Secret) || string(list[0].Public) != "pub" {
		t.Fatalf("list one: %+v", list)
	}
	list[0].Secret[0], list[0].Public[0] = 9, 'P'
	if grown := append(list[0].Secret, 7, 7, 7, 7); len(grown) != 7 || string(list[0].Public) != "Pub" {
		t.Fatalf("growing a listed secret changed its public bytes to %q", list[0].Public)
	}
	if grown := append(list, identity.Credential{ID: "grown"}); len(grown) != 2 {
		t.Fatal("append to a list")
	}
	if again, _ := s.Credential(ctx, c.Ref()); !bytes.Equal(again.Secret, []byte{1, 2, 3}) || string(again.Public) != "pub" {
		t.Fatalf("store shares a list's bytes with callers: %+v", again)
	}
	_, err = s.Credential(ctx, identity.CredentialRef{Subject: "bob", Kind: identity.KindTOTP, ID: "c1"})
	wantErr(t, err, identity.ErrNotEnrolled, "load under another subject")
	_, err = s.Credential(ctx, identity.CredentialRef{Subject: "alice", Kind: identity.KindWebAuthn, ID: "c1"})
	wantErr(t, err, identity.ErrNotEnrolled, "load under another kind")

	byID, err := s.CredentialByID(ctx, identity.KindTOTP, "c1")
	mustNoErr(t, err, "by ID")
	if byID.Subject != "alice" {
		t.Fatalf("by ID: subject %q", byID.Subject)
	}
	_, err = s.CredentialByID(ctx, identity.KindTOTP, "nope")
	wantErr(t, err, identity.ErrNotEnrolled, "by unknown ID")

	got.Name, got.Active, got.Secret, got.LastUsedAt = "work phone", true, []byte{4}, at.Add(time.Minute)
	got.Counter = 99 // UpdateCredential must not move the counter
	stale := *again
	mustNoErr(t, s.UpdateCredential(ctx, got), "update")
	got2, _ := s.Credential(ctx, c.Ref())
	if got2.Name != "work phone" || !got2.Active || !bytes.Equal(got2.Secret, []byte{4}) || !got2.LastUsedAt.Equal(at.Add(time.Minute)) || got2.Counter != 0 ||
		got2.Revision != 2 || got.Revision != 2 {
		t.Fatalf("after update %+v (caller's copy at revision %d)", got2, got.Revision)
	}
	// An update built on the first read would undo the one above: refused,
	// and nothing of it written.
	stale.Name, stale.Active = "old phone", false
	wantErr(t, s.UpdateCredential(ctx, &stale), identity.ErrChanged, "update from a stale read")
	if got3, _ := s.Credential(ctx, c.Ref()); got3.Name != "work phone" || !got3.Active || got3.Revision != 2 {
		t.Fatalf("after the stale update %+v", got3)
	}
	if stale.Revision != 1 {
		t.Fatalf("a refused update moved the caller's revision to %d", stale.Revision)
	}
	missing := *got
	missing.ID = "zz"
	wantErr(t, s.UpdateCredential(ctx, &missing), identity.ErrNotEnrolled, "update missing")

	c2 := &identity.Credential{Subject: "alice", Kind: identity.KindWebAuthn, ID: "w1", CreatedAt: at.Add(time.Second)}
	c3 := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c0", CreatedAt: at.Add(2 * time.Second)}
	mustNoErr(t, s.CreateCredential(ctx, c2), "create w1")
	mustNoErr(t, s.CreateCredential(ctx, c3), "create c0")
	all, err := s.Credentials(ctx, "alice", "")
	mustNoErr(t, err, "list")
	if len(all) != 3 || all[0].ID != "c1" || all[1].ID != "w1" || all[2].ID != "c0" {
		t.Fatalf("list all: %+v", all)
	}
	totps, _ := s.Credentials(ctx, "alice", identity.KindTOTP)
	if len(totps) != 2 {
		t.Fatalf("list totp: %d", len(totps))
	}
	none, _ := s.Credentials(ctx, "carol", "")
	if len(none) != 0 {
		t.Fatalf("list for nobody: %d", len(none))
	}

	wantErr(t, s.DeleteCredential(ctx, identity.CredentialRef{Subject: "bob", Kind: identity.KindTOTP, ID: "c1"}), identity.ErrNotEnrolled, "delete under another subject")
	mustNoErr(t, s.DeleteCredential(ctx, c.Ref()), "delete")
	wantErr(t, s.DeleteCredential(ctx, c.Ref()), identity.ErrNotEnrolled, "delete twice")
	_, err = s.Credential(ctx, c.Ref())
	wantErr(t, err, identity.ErrNotEnrolled, "load deleted")
}

func testAdvanceCounter(t *testing.T, s identity.Store) {
	ctx := context.Background()
	c := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Active: true, CreatedAt: Epoch()}
	mustNoErr(t, s.CreateCredential(ctx, c), "create")
	at := Epoch().Add(time.Hour)
	mustNoErr(t, s.AdvanceCounter(ctx, c.Ref(), 10, at), "advance to 10")
	wantErr(t, s.AdvanceCounter(ctx, c.Ref(), 10, at), identity.ErrReplayed, "advance to 10 again")
	wantErr(t, s.AdvanceCounter(ctx, c.Ref(), 9, at), identity.ErrReplayed, "move back to 9")
	mustNoErr(t, s.AdvanceCounter(ctx, c.Ref(), 1<<62, at), "advance far")
	got, _ := s.Credential(ctx, c.Ref())
	if got.Counter != 1<<62 || !got.LastUsedAt.Equal(at) {
		t.Fatalf("counter %d last used %v", got.Counter, got.LastUsedAt)
	}
	// The counter has its own guard: moving it is not a revision, so an
	// update read before a login still lands after it.
	if got.Revision != 1 {
		t.Fatalf("AdvanceCounter moved the revision to %d", got.Revision)
	}
	wantErr(t, s.AdvanceCounter(ctx, identity.CredentialRef{Subject: "bob", Kind: identity.KindTOTP, ID: "c1"}, 1<<62+1, at), identity.ErrNotEnrolled, "advance another subject's")
}

// race runs n goroutines, alternating between the two handles, and counts
// how many calls returned nil and how many returned an error matching loser.
func race(t *testing.T, n int, a, b identity.Store, call func(s identity.Store, i int) error, loser error) (won int) {
	t.Helper()
	var wins, losses atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := call(s, i)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, loser):
				losses.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing call failed: %v", err)
	}
	if int(wins.Load()+losses.Load()) != n && !t.Failed() {
		t.Fatalf("%d wins + %d losses != %d", wins.Load(), losses.Load(), n)
	}
	return int(wins.Load())
}

func testAdvanceCounterRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	c := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Active: true, CreatedAt: Epoch()}
	mustNoErr(t, a.CreateCredential(ctx, c), "create")
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		return s.AdvanceCounter(ctx, c.Ref(), 7, Epoch())
	}, identity.ErrReplayed)
	if won != 1 {
		t.Fatalf("%d of 64 advanced the counter to the same step; want exactly 1", won)
	}
}

// Of many updates built on the same read, exactly one lands; through
// EditCredential, which reads again after losing, every one lands.
func testUpdateRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	c := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Public: []byte{0}, Active: true, CreatedAt: Epoch()}
	mustNoErr(t, a.CreateCredential(ctx, c), "create")
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		mine := *c
		mine.Name = fmt.Sprint("writer ", i)
		return s.UpdateCredential(ctx, &mine)
	}, identity.ErrChanged)
	if won != 1 {
		t.Fatalf("%d of 64 updates built on one read landed; want exactly 1", won)
	}

	// Each edit adds one to a count kept in Public: a lost update would
	// show as a smaller count.
	const editors = 8
	race(t, editors, a, b, func(s identity.Store, i int) error {
		cur, err := s.Credential(ctx, c.Ref())
		if err != nil {
			return err
		}
		return identity.EditCredential(ctx, s, cur, func(cur *identity.Credential) error {
			cur.Public = []byte{cur.Public[0] + 1}
			return nil
		})
	}, nil)
	got, err := a.Credential(ctx, c.Ref())
	mustNoErr(t, err, "load")
	if got.Public[0] != editors || got.Revision != 2+editors {
		t.Fatalf("after %d concurrent edits: count %d, revision %d", editors, got.Public[0], got.Revision)
	}
}

func testDeleteRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	c := &identity.Credential{Subject: "alice", Kind: identity.KindRecovery, ID: "r1", Active: true, CreatedAt: Epoch()}
	mustNoErr(t, a.CreateCredential(ctx, c), "create")
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		return s.DeleteCredential(ctx, c.Ref())
	}, identity.ErrNotEnrolled)
	if won != 1 {
		t.Fatalf("%d of 64 consumed one credential; want exactly 1", won)
	}
}

func newChallenge(at time.Time) *identity.Challenge {
	return &identity.Challenge{ID: identity.NewChallengeID(), Kind: identity.KindCard, Purpose: identity.PurposeAuthenticate,
		Subject: "alice", Origin: "https://bank.example", Payload: []byte("nonce"), State: []byte{0, 1, 2},
		CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
}

func testChallenges(t *testing.T, s identity.Store) {
	ctx := context.Background()
	ch := newChallenge(Epoch())
	mustNoErr(t, s.PutChallenge(ctx, ch), "put")
	got, err := s.ConsumeChallenge(ctx, ch.ID, Epoch().Add(time.Second))
	mustNoErr(t, err, "consume")
	if got.ID != ch.ID || got.Kind != ch.Kind || got.Purpose != ch.Purpose || got.Subject != ch.Subject || got.Origin != ch.Origin ||
		!bytes.Equal(got.Payload, ch.Payload) || !bytes.Equal(got.State, ch.State) || !got.CreatedAt.Equal(ch.CreatedAt) || !got.ExpiresAt.Equal(ch.ExpiresAt) {
		t.Fatalf("consumed %+v, put %+v", got, ch)
	}
	if len(got.Transaction) != 0 {
		t.Fatalf("a challenge without a transaction came back with %x", got.Transaction)
	}
	_, err = s.ConsumeChallenge(ctx, ch.ID, Epoch().Add(time.Second))
	wantErr(t, err, identity.ErrReplayed, "consume twice")

	// An approval challenge keeps the digest of its transaction.
	appr := newChallenge(Epoch())
	appr.Purpose, appr.Transaction = identity.PurposeApprove, bytes.Repeat([]byte{0xa7}, 32)
	mustNoErr(t, s.PutChallenge(ctx, appr), "put approval")
	got, err = s.ConsumeChallenge(ctx, appr.ID, Epoch().Add(time.Second))
	mustNoErr(t, err, "consume approval")
	if got.Purpose != identity.PurposeApprove || !bytes.Equal(got.Transaction, appr.Transaction) {
		t.Fatalf("approval challenge came back as %s with %x", got.Purpose, got.Transaction)
	}
	_, err = s.ConsumeChallenge(ctx, identity.NewChallengeID(), Epoch())
	wantErr(t, err, identity.ErrUnknownChallenge, "consume unknown")

	old := newChallenge(Epoch().Add(-time.Hour))
	fresh := newChallenge(Epoch())
	mustNoErr(t, s.PutChallenge(ctx, old), "put old")
	mustNoErr(t, s.PutChallenge(ctx, fresh), "put fresh")
	n, err := s.PurgeChallenges(ctx, Epoch())
	mustNoErr(t, err, "purge")
	if n != 1 {
		t.Fatalf("purged %d, want 1 (the expired one)", n)
	}
	_, err = s.ConsumeChallenge(ctx, old.ID, Epoch())
	wantErr(t, err, identity.ErrUnknownChallenge, "consume purged")
	_, err = s.ConsumeChallenge(ctx, fresh.ID, Epoch())
	mustNoErr(t, err, "consume fresh after purge")
}

func testConsumeRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	ch := newChallenge(Epoch())
	mustNoErr(t, a.PutChallenge(ctx, ch), "put")
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		_, err := s.ConsumeChallenge(ctx, ch.ID, Epoch())
		return err
	}, identity.ErrReplayed)
	if won != 1 {
		t.Fatalf("%d of 64 goroutines consumed one challenge; want exactly 1", won)
	}
	t.Logf("64 goroutines on two handles: exactly one consumed the challenge")
}

func testThrottleStore(t *testing.T, s identity.Store) {
	ctx := context.Background()
	k := identity.ThrottleKey{Subject: "alice", Kind: identity.KindTOTP}
	st, err := s.LoadThrottle(ctx, k)
	mustNoErr(t, err, "load empty")
	if st != (identity.ThrottleState{}) {
		t.Fatalf("empty key has state %+v", st)
	}
	next := identity.ThrottleState{Failures: 1, NotBefore: Epoch().Add(time.Second), Version: 1}
	ok, err := s.SwapThrottle(ctx, k, st, next)
	mustNoErr(t, err, "swap")
	if !ok {
		t.Fatal("first swap refused")
	}
	ok, _ = s.SwapThrottle(ctx, k, st, next)
	if ok {
		t.Fatal("swap from a stale version accepted")
	}
	got, _ := s.LoadThrottle(ctx, k)
	if got.Failures != 1 || got.Version != 1 || !got.NotBefore.Equal(next.NotBefore) {
		t.Fatalf("loaded %+v, want %+v", got, next)
	}
	// Keys are per subject and factor.
	for _, other := range []identity.ThrottleKey{
		{Subject: "alice", Kind: identity.KindWebAuthn},
		{Subject: "bob", Kind: identity.KindTOTP},
		{Subject: "totp/alice", Kind: ""},
	} {
		if got, _ := s.LoadThrottle(ctx, other); got != (identity.ThrottleState{}) {
			t.Fatalf("%+v shares alice's TOTP record: %+v", other, got)
		}
	}
	mustNoErr(t, s.ResetThrottle(ctx, k), "reset")
	got, _ = s.LoadThrottle(ctx, k)
	if got != (identity.ThrottleState{}) {
		t.Fatalf("after reset %+v", got)
	}
	mustNoErr(t, s.ResetThrottle(ctx, identity.ThrottleKey{Subject: "never", Kind: identity.KindTOTP}), "reset unknown key")
}

// testThrottleRace shows the throttle's guarantee end to end: 64 concurrent
// attempts against a limit of 5 evaluate exactly 5.
func testThrottleRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	clock := NewClock(Epoch())
	ta := &identity.Throttle{Store: a, Clock: clock, Free: 100, LockAfter: 5}
	tb := &identity.Throttle{Store: b, Clock: clock, Free: 100, LockAfter: 5}
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		th := ta
		if s != a {
			th = tb
		}
		return th.Attempt(ctx, "alice", identity.KindTOTP)
	}, identity.ErrThrottled)
	if won != 5 {
		t.Fatalf("%d of 64 concurrent attempts were let through; the limit is 5", won)
	}
}

// errNone matches no error a store returns.
var errNone = errors.New("identitytest: no error expected")

func testSealedAtRest(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	s := f.Open(t)
	sealer, err := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	mustNoErr(t, err, "sealer")
	secret := []byte("JBSWY3DPEHPK3PXP-very-secret-seed")
	c := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Active: true, CreatedAt: Epoch()}
	c.Secret = sealer.Seal(secret, c.Ref())
	mustNoErr(t, s.CreateCredential(ctx, c), "create")
	dump := f.Dump(t, s)
	// A dump may write bytes raw (SQLite files) or encoded (pg_dump writes
	// bytea as hex): search every form, and first make sure the sealed value
	// itself is visible in one of them, or the search below proves nothing.
	forms := func(b []byte) [][]byte {
		return [][]byte{b, []byte(hex.EncodeToString(b)), []byte(base64.StdEncoding.EncodeToString(b))}
	}
	containsAny := func(b []byte) bool {
		for _, f := range forms(b) {
			if bytes.Contains(dump, f) {
				return true
			}
		}
		return false
	}
	if !bytes.Contains(dump, []byte("alice")) || !containsAny(c.Secret) {
		t.Fatal("the dump holds neither the subject nor the sealed value: it is not a dump of this store")
	}
	if containsAny(secret) {
		t.Fatal("the secret is in the store's dump in clear")
	}
	got, err := s.Credential(ctx, c.Ref())
	mustNoErr(t, err, "load")
	plain, err := sealer.Open(got.Secret, got.Ref())
	mustNoErr(t, err, "open")
	if !bytes.Equal(plain, secret) {
		t.Fatal("sealed secret did not round-trip through the store")
	}
	// Moved to another account's row, the sealed value does not open.
	moved := &identity.Credential{Subject: "mallory", Kind: identity.KindTOTP, ID: "c2", Secret: got.Secret, Active: true, CreatedAt: Epoch()}
	mustNoErr(t, s.CreateCredential(ctx, moved), "create moved")
	m, _ := s.Credential(ctx, moved.Ref())
	_, err = sealer.Open(m.Secret, m.Ref())
	wantErr(t, err, identity.ErrUnseal, "open a sealed value moved to another row")
	t.Logf("dump of %d bytes holds no secret in clear; a moved value does not open", len(dump))
}
