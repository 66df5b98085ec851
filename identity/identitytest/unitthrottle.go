package identitytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// afterRead is a UnitStore that runs a function once, right after the next
// ReadUnit: another request committing between a verification's read and
// its commit, deterministically.
type afterRead struct {
	identity.UnitStore
	mu   sync.Mutex
	then func()
}

func (s *afterRead) ReadUnit(ctx context.Context, r *identity.UnitRead) error {
	err := s.UnitStore.ReadUnit(ctx, r)
	s.mu.Lock()
	f := s.then
	s.then = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return err
}

// testUnitThrottleClear checks that a success does not outrun failures
// counted after it read the throttle record. Request A (a right guess) reads
// the record at one failure; request B (a wrong guess) fails and locks the
// key; then A commits. Were A's clear unconditional, A would succeed on a
// locked key and erase B's failure: an attacker sending many guesses at
// once would have every one of them judged against the record they all
// read, not one per allowed attempt. A's clear must conflict instead, and
// A, read again, be refused.
func testUnitThrottleClear(t *testing.T, s identity.Store) {
	us, ok := s.(identity.UnitStore)
	if !ok {
		t.Skip("not a UnitStore")
	}
	ctx := context.Background()
	clock := NewClock(Epoch())
	hook := &afterRead{UnitStore: us}
	svc := &identity.Services{Store: hook, Clock: clock,
		Throttle: &identity.Throttle{Store: hook, LockAfter: 2, LockFor: time.Hour}}
	const subject identity.Subject = "carol"
	req := identity.Request{Subject: subject, Origin: "https://bank.example", RemoteAddr: "192.0.2.9"}
	try := func(good bool) error {
		ch, err := svc.Issue(ctx, identity.KindTOTP, identity.PurposeAuthenticate, req, nil, nil)
		mustNoErr(t, err, "issue")
		_, err = svc.Prove(ctx, identity.KindTOTP, identity.Response{ChallengeID: ch.ID, Subject: req.Subject, Origin: req.Origin, RemoteAddr: req.RemoteAddr},
			func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
				if !good {
					return identity.ErrInvalidResponse
				}
				ev.CredentialID, p.Factors, p.Assurance = "c1", identity.Possession, identity.Level2
				return nil
			})
		return err
	}
	wantErr(t, try(false), identity.ErrInvalidResponse, "a first wrong guess")
	hook.then = func() { wantErr(t, try(false), identity.ErrInvalidResponse, "a second wrong guess, which locks") }
	err := try(true)
	var te *identity.ThrottledError
	if !errors.As(err, &te) || !te.Locked {
		t.Fatalf("a right guess that read the record before another request locked it: %v, want the lock", err)
	}
	if st, _ := s.LoadThrottle(ctx, identity.ThrottleKey{Subject: subject, Kind: identity.KindTOTP}); st.Failures != 2 {
		t.Fatalf("after the race the record holds %+v, want both failures", st)
	}

	// The same race on an account with no failures yet: the right guess
	// read no record, and the record a wrong guess then writes (locking,
	// with LockAfter 1) must make it read again, not let it pass beside the
	// lock: otherwise the first burst of guesses at a clean account is
	// judged all at once.
	const dave identity.Subject = "dave"
	req.Subject = dave
	svc.Throttle = &identity.Throttle{Store: hook, LockAfter: 1, LockFor: time.Hour}
	hook.then = func() {
		wantErr(t, try(false), identity.ErrInvalidResponse, "a wrong guess at a clean account, which locks")
	}
	err = try(true)
	if !errors.As(err, &te) || !te.Locked {
		t.Fatalf("a right guess that read no record before another request locked the account: %v, want the lock", err)
	}
	if st, _ := s.LoadThrottle(ctx, identity.ThrottleKey{Subject: dave, Kind: identity.KindTOTP}); st.Failures != 1 {
		t.Fatalf("after the race the record holds %+v, want the failure", st)
	}
}

// testUnitClearAbsent: a unit that only clears the throttle at version 0
// (no challenge, no credential write to carry the condition) commits while
// the record is absent, writing nothing, and conflicts once a failure is
// recorded, leaving it.
func testUnitClearAbsent(t *testing.T, s identity.Store) {
	us, ok := s.(identity.UnitStore)
	if !ok {
		t.Skip("not a UnitStore")
	}
	ctx := context.Background()
	key := identity.ThrottleKey{Subject: "erin", Kind: identity.KindPassword}
	clear := &identity.UnitWrites{ThrottleKey: key, Clear: true}
	mustNoErr(t, us.CommitUnit(ctx, clear), "clear an absent record")
	if st, err := s.LoadThrottle(ctx, key); err != nil || st.Version != 0 {
		t.Fatalf("after the clear the record is %+v (%v), want none", st, err)
	}
	failed := identity.ThrottleState{Failures: 1, NotBefore: Epoch(), Version: 1}
	if ok, err := s.SwapThrottle(ctx, key, identity.ThrottleState{}, failed); err != nil || !ok {
		t.Fatalf("record a failure: %v %v", ok, err)
	}
	if err := us.CommitUnit(ctx, &identity.UnitWrites{ThrottleKey: key, Clear: true}); !identity.IsUnitConflict(err) {
		t.Fatalf("a clear that read no record, with one there now: %v, want a conflict", err)
	}
	if st, _ := s.LoadThrottle(ctx, key); st.Failures != 1 {
		t.Fatalf("the conflicting clear left %+v, want the failure", st)
	}
}
