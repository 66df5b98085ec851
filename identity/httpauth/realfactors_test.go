package httpauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

// The errors real factors return for a wrong password, an unknown account
// and a wrong TOTP code read the same from outside, and show none of their
// own text (which names the account or the step).
func TestRealWrongFactorsLookAlike(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	throttle := &identity.Throttle{Store: store, Clock: clock}
	passwords := &identity.Passwords{Store: store, Throttle: throttle, Audit: store, Clock: clock,
		Params: identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	if _, err := passwords.Create(ctx, "u-1001", "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
	svc := &identity.Services{Store: store, Clock: clock, Throttle: throttle}
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	factor, err := totp.New(svc, sealer, "Bank")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := factor.BeginEnroll(ctx, identity.Request{Subject: "u-1001", Origin: origin, UserName: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := totp.ParseURI(string(ch.Payload))
	code := func() string { c, _ := pqtotp.GenerateCode(key.Base32(), clock.Now()); return c }
	if _, err := factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-1001", Origin: origin, Data: []byte(code())}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)

	_, wrongPassword := passwords.Verify(ctx, "u-1001", "wrong horse", "192.0.2.1")
	_, noAccount := passwords.Verify(ctx, "u-9999", "wrong horse", "192.0.2.1")
	ch, _ = factor.Begin(ctx, identity.Request{Subject: "u-1001", Origin: origin})
	wrong := "000000"
	if code() == wrong {
		wrong = "111111"
	}
	_, wrongCode := factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-1001", Origin: origin, Data: []byte(wrong)})
	errs := map[string]error{"wrong password": wrongPassword, "unknown account": noAccount, "wrong code": wrongCode}
	s0, m0 := httpauth.Public(wrongPassword)
	for name, err := range errs {
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		s, m := httpauth.Public(err)
		if s != s0 || m != m0 {
			t.Errorf("%s (%v): %d %q; wrong password: %d %q", name, err, s, m, s0, m0)
		}
		if strings.Contains(m, "u-") || strings.Contains(m, "step") || strings.Contains(m, wrong) {
			t.Errorf("%s: public message %q shows detail", name, m)
		}
	}
}
