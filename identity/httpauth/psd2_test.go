package httpauth_test

import (
	"context"
	"crypto/sha1"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp/ocra"
	"github.com/puce-id/puce/webauthn"
)

// TestPSD2OneAnswer: the RTS on SCA, Article 4(3)(a), asks that a failed
// authentication never tell which element was wrong. A wrong password, a
// wrong OCRA code (whose PIN is part of the code: a wrong PIN is a wrong
// code), an approval answered for another payment and a key that did not
// verify its user all get the public answer of a wrong password — taken
// from the real errors of the library, not made up.
func TestPSD2OneAnswer(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Throttle: identity.PSD2Throttle(store, clock)}
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})

	pw := &identity.Passwords{Store: store, Throttle: svc.Throttle, Clock: clock,
		Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	if err := pw.Set(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	_, wrongPassword := pw.Verify(ctx, "alice", "wrong horse battery", "192.0.2.1")

	f, _ := ocra.New(svc, sealer, ocra.WithCurrency("EUR"))
	pinHash := sha1.Sum([]byte("1234"))
	if _, err := f.Import(ctx, "alice", "t1", "token", "OCRA-1:HOTP-SHA256-8:C-QN10-PSHA1", []byte(strings.Repeat("k", 32)), pinHash[:], ""); err != nil {
		t.Fatal(err)
	}
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	approve := func(answered identity.Transaction, code string) error {
		ch, err := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: "https://bank.example", Transaction: &tx})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example",
			Data: []byte(code), Transaction: &answered})
		return err
	}
	wrongCode := approve(tx, "12345678")
	other := tx
	other.Amount = "100.01"
	otherPayment := approve(other, "12345678")

	s0, m0 := httpauth.Public(wrongPassword)
	for name, err := range map[string]error{"a wrong OCRA code": wrongCode, "an approval for another payment": otherPayment,
		"a key without user verification": webauthn.ErrUserNotVerified} {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if s, m := httpauth.Public(err); s != s0 || m != m0 {
			t.Errorf("%s (%v): %d %q; a wrong password: %d %q", name, err, s, m, s0, m0)
		}
	}
}
