package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// Vectors of the Argon2 reference implementation (phc-winner-argon2,
// src/test.c, version 0x13, Argon2id), salt "somesalt".
var argon2Vectors = []struct{ password, phc string }{
	{"password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	{"password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
	{"password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
	{"password", "$argon2id$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$9qWtwbpyPd3vm1rB1GThgPzZ3/ydHL92zKL+15XZypg"},
	{"differentpassword", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$C4TWUs9rDEvq7w3+J4umqA32aWKB1+DSiRuBfYxFj94"},
}

// fast parameters keep the tests quick; production uses the defaults.
var fast = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordReferenceVectors(t *testing.T) {
	for _, v := range argon2Vectors {
		h, err := identity.ParsePasswordHash(v.phc)
		if err != nil {
			t.Fatalf("parse %s: %v", v.phc, err)
		}
		if h.String() != v.phc {
			t.Fatalf("re-encoded %s as %s", v.phc, h.String())
		}
		rehash, err := identity.VerifyPassword(v.phc, v.password, h.Params)
		if err != nil || rehash {
			t.Fatalf("verify %q against %s: rehash %v, %v", v.password, v.phc, rehash, err)
		}
		_, err = identity.VerifyPassword(v.phc, v.password+"x", h.Params)
		if !errors.Is(err, identity.ErrPasswordMismatch) || !errors.Is(err, identity.ErrInvalidResponse) {
			t.Fatalf("wrong password: %v", err)
		}
	}
}

func TestPasswordRehash(t *testing.T) {
	enc, err := identity.HashPassword("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PHC string %s", enc)
	}
	stronger := fast
	stronger.Time = 2
	rehash, err := identity.VerifyPassword(enc, "correct horse", stronger)
	if err != nil || !rehash {
		t.Fatalf("parameters changed: rehash %v, %v", rehash, err)
	}
	enc2, _ := identity.HashPassword("correct horse", fast)
	if enc == enc2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestPasswordNormalization(t *testing.T) {
	// "é" precomposed (U+00E9) and decomposed (e + U+0301) are one password
	// under NFKC, as NIST SP 800-63B asks.
	enc, _ := identity.HashPassword("caf\u00e9-au-lait", fast)
	if _, err := identity.VerifyPassword(enc, "cafe\u0301-au-lait", fast); err != nil {
		t.Fatalf("decomposed form rejected: %v", err)
	}
	if _, err := identity.VerifyPassword(enc, "\xff\xfe", fast); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := identity.HashPassword(strings.Repeat("a", identity.MaxPasswordLen+1), fast); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("over-long password: %v", err)
	}
}

func TestParsePasswordHashRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"password",
		"$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA", // argon2i
		"$argon2id$v=16$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",      // no version
		"$argon2id$v=19$t=2,m=65536,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", // order
		"$argon2id$v=19$m=065536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=2,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ=$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", // padding
		"$argon2id$v=19$m=65536,t=2,p=1$c29t$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",         // salt too short
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXP",                                     // key too short
		"$argon2id$v=19$m=65536,t=2,p=1,x=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	} {
		if _, err := identity.ParsePasswordHash(s); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("ParsePasswordHash(%q) = %v, want ErrBadInput", s, err)
		}
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	for _, v := range argon2Vectors {
		f.Add(v.phc)
	}
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := identity.ParsePasswordHash(s)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What parses is canonical: it encodes back to itself.
		if h.String() != s {
			t.Fatalf("parsed %q, re-encoded %q", s, h.String())
		}
	})
}

func newPasswords(t *testing.T) (*identity.Passwords, *memstore.Store, *identitytest.Clock) {
	s := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	return &identity.Passwords{Store: s, Clock: clock, Params: fast, Audit: s,
		Throttle: &identity.Throttle{Store: s, Clock: clock, Free: 2, LockAfter: 5}}, s, clock
}

func TestPasswords(t *testing.T) {
	ctx := context.Background()
	p, s, clock := newPasswords(t)
	if err := p.Set(ctx, "alice", "short"); !errors.Is(err, identity.ErrWeakPassword) || !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("short password: %v", err)
	}
	if err := p.Set(ctx, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	proof, err := p.Verify(ctx, "alice", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if proof.Kind != identity.KindPassword || proof.Factors != identity.Knowledge || proof.Assurance != identity.Level1 || !proof.Time.Equal(clock.Now()) {
		t.Fatalf("proof %+v", proof)
	}
	if _, err := p.Verify(ctx, "alice", "wrong horse", "192.0.2.1"); !errors.Is(err, identity.ErrPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := p.Verify(ctx, "bob", "correct horse", ""); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("unknown subject: %v", err)
	}
	recs, _ := s.AuditEvents(ctx, "alice", 0)
	if len(recs) != 2 || recs[0].Event.Result != identity.Failure || recs[1].Event.Result != identity.Success {
		t.Fatalf("audit: %+v", recs)
	}
	for _, r := range recs {
		if strings.Contains(r.Event.Reason, "horse") {
			t.Fatalf("audit event holds the password: %+v", r.Event)
		}
	}

	// Changing the parameters rehashes on the next good login.
	p.Params.Time = 2
	if _, err := p.Verify(ctx, "alice", "correct horse", ""); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Credential(ctx, identity.CredentialRef{Subject: "alice", Kind: identity.KindPassword, ID: "alice"})
	if !strings.Contains(string(c.Public), ",t=2,") {
		t.Fatalf("not rehashed: %s", c.Public)
	}
	// Setting again replaces the password.
	if err := p.Set(ctx, "alice", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx, "alice", "correct horse", ""); !errors.Is(err, identity.ErrPasswordMismatch) {
		t.Fatalf("old password after change: %v", err)
	}
}

func TestPasswordsThrottle(t *testing.T) {
	ctx := context.Background()
	p, _, clock := newPasswords(t)
	p.Set(ctx, "alice", "correct horse")
	var te *identity.ThrottledError
	for i := 0; ; i++ {
		_, err := p.Verify(ctx, "alice", "guess", "")
		if errors.As(err, &te) {
			break
		}
		if i > 5 {
			t.Fatal("never throttled")
		}
	}
	if _, err := p.Verify(ctx, "alice", "correct horse", ""); !errors.Is(err, identity.ErrThrottled) {
		t.Fatalf("right password while throttled: %v", err)
	}
	clock.Advance(te.RetryAfter)
	if _, err := p.Verify(ctx, "alice", "correct horse", ""); err != nil {
		t.Fatalf("after %s: %v", te.RetryAfter, err)
	}
	_ = time.Second
}

// TestPasswordsManyAccounts is the case a single-account test misses: every
// subject has its own password, and sign-up does not overwrite an account.
func TestPasswordsManyAccounts(t *testing.T) {
	ctx := context.Background()
	p, s, _ := newPasswords(t)
	for _, u := range []identity.Subject{"alice", "bob", "carol"} {
		if _, err := p.Create(ctx, u, "secret of "+string(u), ""); err != nil {
			t.Fatalf("create %s: %v", u, err)
		}
	}
	for _, u := range []identity.Subject{"alice", "bob", "carol"} {
		if _, err := p.Verify(ctx, u, "secret of "+string(u), ""); err != nil {
			t.Fatalf("%s with own password: %v", u, err)
		}
	}
	if _, err := p.Verify(ctx, "bob", "secret of alice", ""); !errors.Is(err, identity.ErrPasswordMismatch) {
		t.Fatalf("bob with alice's password: %v", err)
	}
	if _, err := p.Create(ctx, "bob", "another password", ""); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("sign-up over an existing account: %v", err)
	}
	if _, err := p.Verify(ctx, "bob", "secret of bob", ""); err != nil {
		t.Fatalf("bob after a refused sign-up: %v", err)
	}
	if err := p.Set(ctx, "bob", "bob's new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx, "alice", "secret of alice", ""); err != nil {
		t.Fatalf("alice after bob changed his: %v", err)
	}
	creds, _ := s.Credentials(ctx, "bob", identity.KindPassword)
	if len(creds) != 1 {
		t.Fatalf("bob has %d password credentials", len(creds))
	}
}

// A password change that lands while a login with the old password is being
// checked stays changed: the login must not write the old hash back (nor
// succeed on a password that is no longer the account's).
func TestPasswordChangeDuringLogin(t *testing.T) {
	ctx := context.Background()
	p, s, _ := newPasswords(t)
	if err := p.Set(ctx, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	racy := &identitytest.Interleave{Store: s}
	p.Store = racy
	for _, rehash := range []bool{false, true} {
		if rehash {
			p.Params.Time++ // the login would also upgrade the hash
		}
		racy.Then(func() {
			if err := p.Set(ctx, "alice", "battery staple"); err != nil {
				t.Error(err)
			}
		})
		if _, err := p.Verify(ctx, "alice", "correct horse", ""); !errors.Is(err, identity.ErrPasswordMismatch) {
			t.Errorf("rehash %v: login with the password being replaced: %v", rehash, err)
		}
		if _, err := p.Verify(ctx, "alice", "battery staple", ""); err != nil {
			t.Fatalf("rehash %v: the new password no longer works: %v", rehash, err)
		}
		if _, err := p.Verify(ctx, "alice", "correct horse", ""); !errors.Is(err, identity.ErrPasswordMismatch) {
			t.Fatalf("rehash %v: the old password is back: %v", rehash, err)
		}
		if err := p.Set(ctx, "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPasswordsMemoryBudget: hashes beyond the memory budget wait, and give
// up with ErrBusy after MaxWait or with the caller's context; a request
// refused as busy is not counted as a failed attempt and writes nothing.
func TestPasswordsMemoryBudget(t *testing.T) {
	ctx := context.Background()
	p, s, _ := newPasswords(t)
	// A login of "holder" holds its hashing room until release is closed.
	store := &holdingStore{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
	p.Store = store
	// Room for exactly one hash of the test parameters.
	p.MemoryBudget, p.MaxWait = int64(fast.Memory)<<10, 50*time.Millisecond
	if err := p.Set(ctx, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go func() { p.Verify(ctx, "holder", "correct horse", "192.0.2.9"); close(held) }()
	<-store.entered

	var be *identity.BusyError
	if _, err := p.Verify(ctx, "alice", "wrong password", "192.0.2.2"); !errors.As(err, &be) || !errors.Is(err, identity.ErrBusy) || be.RetryAfter <= 0 {
		t.Fatalf("verify beyond the budget: %v, want a *BusyError", err)
	}
	if _, err := p.Create(ctx, "bob", "correct horse", ""); !errors.Is(err, identity.ErrBusy) {
		t.Fatalf("create beyond the budget: %v, want ErrBusy", err)
	}
	if _, err := s.Credential(ctx, identity.CredentialRef{Subject: "bob", Kind: identity.KindPassword, ID: "bob"}); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("a busy sign-up stored a password: %v", err)
	}
	if st, _ := s.LoadThrottle(ctx, identity.ThrottleKey{Subject: "alice", Kind: identity.KindPassword}); st.Failures != 0 {
		t.Fatalf("a busy login counted %d failures", st.Failures)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p.MaxWait = time.Minute
	if _, err := p.Verify(cctx, "alice", "correct horse", "192.0.2.2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("verify with a cancelled context while waiting: %v", err)
	}
	// A waiter gets the room as soon as the holder gives it back.
	got := make(chan error, 1)
	go func() { _, err := p.Verify(ctx, "alice", "correct horse", "192.0.2.2"); got <- err }()
	close(store.release)
	<-held
	if err := <-got; err != nil {
		t.Fatalf("verify once there is room: %v", err)
	}
}

// holdingStore blocks the first read of subject "holder"'s password until
// release is closed.
type holdingStore struct {
	identity.Store
	once             sync.Once
	entered, release chan struct{}
}

func (h *holdingStore) Credential(ctx context.Context, ref identity.CredentialRef) (*identity.Credential, error) {
	if ref.Subject == "holder" {
		h.once.Do(func() { close(h.entered); <-h.release })
	}
	return h.Store.Credential(ctx, ref)
}

// TestPasswordsCreateProof: sign-up returns the knowledge proof of the new
// password (no second argon2id run to log in) and audits the sign-up with
// the client's address; a refused sign-up gives no proof.
func TestPasswordsCreateProof(t *testing.T) {
	ctx := context.Background()
	p, s, clock := newPasswords(t)
	proof, err := p.Create(ctx, "dave", "correct horse battery", "192.0.2.44")
	if err != nil {
		t.Fatal(err)
	}
	if proof.Subject != "dave" || proof.Kind != identity.KindPassword || !proof.Factors.Has(identity.Knowledge) ||
		proof.Assurance != identity.Level1 || !proof.Time.Equal(clock.Now()) {
		t.Fatalf("proof %+v", proof)
	}
	recs, _ := s.AuditEvents(ctx, "dave", 5)
	if len(recs) != 1 || recs[0].Event.Action != "signup" || recs[0].Event.RemoteAddr != "192.0.2.44" || recs[0].Event.Result != identity.Success {
		t.Fatalf("audit trail %+v", recs)
	}
	if proof, err := p.Create(ctx, "dave", "another password", ""); proof != nil || !errors.Is(err, identity.ErrExists) {
		t.Fatalf("second sign-up: %+v, %v", proof, err)
	}
}
