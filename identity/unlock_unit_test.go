package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

const unlockerKind identity.Kind = "unlocker-test"

var unlocking = identity.Unlocking{By: "recovery code", Kinds: []identity.Kind{identity.KindTOTP, identity.KindCard, identity.KindWebAuthn}}

// proveUnlocking runs one ProveUnlocking whose check succeeds (ok) or
// fails; issued runs after the challenge is issued.
func proveUnlocking(t *testing.T, svc *identity.Services, ok bool, issued func()) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := svc.Issue(ctx, unlockerKind, identity.PurposeAuthenticate, identity.Request{Subject: "alice", Origin: "https://bank.example"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example", RemoteAddr: "192.0.2.7:4711"}
	if issued != nil {
		issued()
	}
	return svc.ProveUnlocking(ctx, unlockerKind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		if !ok {
			return identity.ErrInvalidResponse
		}
		ev.CredentialID, p.CredentialID, p.Factors, p.Assurance = "code-1", "code-1", identity.Possession, identity.Level1
		return nil
	}, unlocking)
}

// lockOut records failures of alice's TOTP and WebAuthn (not her card).
func lockOut(t *testing.T, s identity.Store) {
	t.Helper()
	for _, k := range []identity.Kind{identity.KindTOTP, identity.KindWebAuthn} {
		if ok, err := s.SwapThrottle(context.Background(), identity.ThrottleKey{Subject: "alice", Kind: k}, identity.ThrottleState{},
			identity.ThrottleState{Failures: 9, NotBefore: identitytest.Epoch().Add(time.Hour), Version: 1}); !ok || err != nil {
			t.Fatalf("lock alice's %s: %v, %v", k, ok, err)
		}
	}
}

// checkUnlocks: the failure records of alice's TOTP and WebAuthn are gone
// (unlocked) or still there, and the trail's last events say so.
func checkUnlocks(t *testing.T, s identity.Store, unlocked bool) {
	t.Helper()
	ctx := context.Background()
	for _, k := range []identity.Kind{identity.KindTOTP, identity.KindWebAuthn} {
		st, err := s.LoadThrottle(ctx, identity.ThrottleKey{Subject: "alice", Kind: k})
		if err != nil || (st.Version == 0) != unlocked {
			t.Fatalf("alice's %s record after the login: %+v, %v (unlocked: %v)", k, st, err, unlocked)
		}
	}
	recs, err := s.(identity.AuditLog).AuditEvents(ctx, "alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the unlocks follow the login they came with, as Unlock
	// after Prove wrote them.
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Event.Kind)+" "+r.Event.Action+" "+string(r.Event.Result))
	}
	want := []string{"webauthn unlock success", "totp unlock success", "unlocker-test login success"}
	if !unlocked {
		want = []string{"unlocker-test login failure"}
		got = got[:1]
	}
	if len(got) != len(want) {
		t.Fatalf("last events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("last events %v, want %v", got, want)
		}
	}
	if unlocked && recs[0].Event.Reason != "unlocked by recovery code" {
		t.Fatalf("unlock reason %q", recs[0].Event.Reason)
	}
}

// TestProveUnlockingOneUnit: a verification that unlocks other factors
// (a recovery code) reads their throttle records with its own and clears
// them in its commit: 2 round trips and 1 commit on PostgreSQL, 1 commit
// on SQLite, whether there is something to unlock or not; a failure
// unlocks nothing.
func TestProveUnlockingOneUnit(t *testing.T) {
	for _, eng := range sqlstoretest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s, c := eng.Open(t)
			svc := &identity.Services{Store: s, Clock: identitytest.NewClock(identitytest.Epoch()), Throttle: &identity.Throttle{Store: s}}
			lockOut(t, s)
			for round, locked := range []bool{true, false} {
				if _, err := proveUnlocking(t, svc, true, c.Reset); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				n := c.Counts()
				if n.Committed() != 1 {
					t.Errorf("round %d (locked %v): %d commits, want 1", round, locked, n.Committed())
				}
				if s.Engine() == "postgres" && n.RoundTrips != 2 {
					t.Errorf("round %d (locked %v): %d round trips, want 2", round, locked, n.RoundTrips)
				}
				if locked {
					checkUnlocks(t, s, true)
				}
			}
			lockOut(t, s)
			if _, err := proveUnlocking(t, svc, false, nil); !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("failed check: %v", err)
			}
			checkUnlocks(t, s, false)
			if _, err := s.VerifyAudit(context.Background(), identity.AuditKeys{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestProveUnlockingMemstore: the same on memstore; and without a unit
// store, or with one that does not read UnitRead.Unlocks, Unlock runs after
// the verification, with the same records and events.
func TestProveUnlockingMemstore(t *testing.T) {
	for name, store := range map[string]func() identity.Store{
		"unit":                             func() identity.Store { return memstore.New() },
		"no unit":                          func() identity.Store { return &noUnit{memstore.New()} },
		"unit store that reads no Unlocks": func() identity.Store { return &oldUnit{memstore.New()} },
	} {
		t.Run(name, func(t *testing.T) {
			s := store()
			svc := &identity.Services{Store: s, Clock: identitytest.NewClock(identitytest.Epoch()), Throttle: &identity.Throttle{Store: s}}
			lockOut(t, s)
			if _, err := proveUnlocking(t, svc, true, nil); err != nil {
				t.Fatal(err)
			}
			checkUnlocks(t, s, true)
			lockOut(t, s)
			if _, err := proveUnlocking(t, svc, false, nil); !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("failed check: %v", err)
			}
			checkUnlocks(t, s, false)
		})
	}
}

// noUnit hides memstore's UnitStore methods.
type noUnit struct{ *memstore.Store }

func (noUnit) ReadUnit() {}

// oldUnit is a unit store written before UnitRead.Unlocks: it reads none.
type oldUnit struct{ *memstore.Store }

func (o *oldUnit) ReadUnit(ctx context.Context, r *identity.UnitRead) error {
	err := o.Store.ReadUnit(ctx, r)
	r.UnlockStates = nil
	return err
}
