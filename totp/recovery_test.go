package totp_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

func (e *env) enrollRecovery(t *testing.T, subject identity.Subject) []string {
	t.Helper()
	ctx := context.Background()
	ch, err := e.recovery.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	codes := totp.RecoveryCodes(ch)
	if _, err := e.recovery.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: []byte(codes[3])}); err != nil {
		t.Fatal(err)
	}
	return codes
}

func (e *env) recover(t *testing.T, subject identity.Subject, code string) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.recovery.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	return e.recovery.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: []byte(code)})
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	rec := &recordingStore{Store: memstore.New()}
	e := newEnv(t, rec)
	codes := e.enrollRecovery(t, "alice")
	if len(codes) != totp.DefaultRecoveryCodes {
		t.Fatalf("%d codes", len(codes))
	}
	shape := regexp.MustCompile(`^[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}$`)
	seen := map[string]bool{}
	var needles [][]byte
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: wrong shape or repeated", c)
		}
		seen[c] = true
		needles = append(needles, []byte(c), []byte(strings.ReplaceAll(c, "-", "")))
	}
	if rec.holds(needles...) {
		t.Fatal("the store holds a recovery code in clear")
	}
	if n, _ := e.recovery.Remaining(ctx, "alice"); n != 10 {
		t.Fatalf("remaining %d, want 10", n)
	}

	// Typed as printed, without hyphens, or with spaces: all accepted.
	for i, typed := range []string{codes[0], strings.ReplaceAll(codes[1], "-", ""), strings.ReplaceAll(codes[2], "-", " ")} {
		e.clock.Advance(time.Minute)
		p, err := e.recover(t, "alice", typed)
		if err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
		left := []string{"9", "8", "7"}[i]
		if p.Kind != identity.KindRecovery || p.Assurance != identity.Level1 || !p.Factors.Has(identity.Possession) || p.Claims[totp.ClaimRemaining] != left {
			t.Fatalf("proof %+v", p)
		}
		recs, _ := e.store.AuditEvents(ctx, "alice", 1)
		if ev := recs[0].Event; ev.Kind != identity.KindRecovery || ev.Result != identity.Success || ev.CredentialID != p.CredentialID || !strings.Contains(ev.Reason, left+" left") {
			t.Fatalf("audit event %+v", ev)
		}
	}
	if n, _ := e.recovery.Remaining(ctx, "alice"); n != 7 {
		t.Fatalf("remaining %d, want 7", n)
	}
	// Single use.
	_, err := e.recover(t, "alice", codes[0])
	wantErr(t, err, identity.ErrInvalidResponse, "a used recovery code")
	// Another user's code does not work for alice.
	bobs := e.enrollRecovery(t, "bob")
	_, err = e.recover(t, "alice", bobs[0])
	wantErr(t, err, identity.ErrInvalidResponse, "bob's code for alice")

	// With a password, a recovery login stays below AAL2: step-up is needed.
	pol := &identity.Policy{Clock: e.clock}
	p, err := e.recover(t, "alice", codes[5])
	if err != nil {
		t.Fatal(err)
	}
	pw := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: e.clock.Now()}
	s, err := pol.Combine(pw, *p)
	if !errors.Is(err, identity.ErrStepUpRequired) || s.Level != identity.Level1 {
		t.Fatalf("password + recovery code: level %v, %v; want Level1 and a step-up", s.Level, err)
	}

	// A new set replaces the old one.
	fresh := e.enrollRecovery(t, "alice")
	_, err = e.recover(t, "alice", codes[6])
	wantErr(t, err, identity.ErrInvalidResponse, "a code of the replaced set")
	if n, _ := e.recovery.Remaining(ctx, "alice"); n != 10 {
		t.Fatalf("remaining after re-issue %d, want 10", n)
	}
	// The code typed to confirm the set stays valid.
	if _, err := e.recover(t, "alice", fresh[3]); err != nil {
		t.Fatalf("the confirmation code: %v", err)
	}

	// Malformed codes change nothing.
	ch, _ := e.recovery.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	for _, b := range []string{"", "1234", "1234-5678-9012-345", "1234-5678-9012-34567", "1234_5678_9012_3456", "abcd-efgh-ijkl-mnop", "١٢٣٤-5678-9012-3456", strings.Repeat("-", 40)} {
		_, err := e.recovery.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(b)})
		if !errors.Is(err, totp.ErrMalformedCode) || !errors.Is(err, identity.ErrBadInput) {
			t.Fatalf("recovery Finish(%q): %v", b, err)
		}
	}
	if _, err := e.recovery.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(fresh[0])}); err != nil {
		t.Fatalf("good code on the challenge after malformed ones: %v", err)
	}
}

// raceRecovery: one recovery code, n concurrent logins spread over the given
// stores (server instances), each with its own challenge: exactly one
// succeeds.
func raceRecovery(t *testing.T, n int, stores ...identity.Store) {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, stores[0])
	codes := e.enrollRecovery(t, "alice")
	var recs []*totp.Recovery
	for _, s := range stores {
		svc := &identity.Services{Store: s, Clock: e.clock, Throttle: &identity.Throttle{Store: s, Clock: e.clock, Free: 4 * n, LockAfter: identity.MaxLockout}}
		r, err := totp.NewRecovery(svc, e.sealer, 0)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	resps := make([]identity.Response, n)
	for i := range resps {
		ch, err := recs[i%len(recs)].Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codes[0])}
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range resps {
		wg.Go(func() {
			<-start
			_, err := recs[i%len(recs)].Finish(ctx, resps[i])
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, identity.ErrReplayed), errors.Is(err, identity.ErrInvalidResponse):
			default:
				t.Errorf("racer: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d logins with one recovery code on %d instances succeeded", wins.Load(), n, len(stores))
	}
	if left, _ := recs[0].Remaining(ctx, "alice"); left != len(codes)-1 {
		t.Fatalf("%d codes left", left)
	}
}

func TestRecoveryRace(t *testing.T) { raceRecovery(t, 32, memstore.New()) }

// TestRecoveryUnlocks: an attacker who knows the password can lock the
// holder's authenticator app by failing codes; the holder's recovery code
// clears that lock, and the unlock is in the audit trail.
func TestRecoveryUnlocks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, memstore.New())
	e.svc.Throttle.LockAfter = 3
	e.enroll(t, "alice")
	codes := e.enrollRecovery(t, "alice")
	for range 3 {
		e.clock.Advance(time.Second)
		e.login(t, "alice", "000000")
	}
	if err := e.svc.Throttle.Status(ctx, "alice", identity.KindTOTP); !errors.Is(err, identity.ErrThrottled) {
		t.Fatalf("after three wrong codes: %v, want locked", err)
	}
	if _, err := e.recover(t, "alice", codes[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Throttle.Status(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatalf("after a recovery code: %v, want unlocked", err)
	}
	recs, _ := e.store.AuditEvents(ctx, "alice", 1)
	if ev := recs[0].Event; ev.Action != "unlock" || ev.Kind != identity.KindTOTP || !strings.Contains(ev.Reason, "recovery code") {
		t.Fatalf("newest audit event %+v, want the unlock of totp by a recovery code", ev)
	}
}
