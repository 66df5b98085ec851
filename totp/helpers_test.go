package totp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

const origin = "https://bank.example"

// env is a factor on a store with a fake clock, as a test needs it.
type env struct {
	store    identity.Store
	clock    *identitytest.Clock
	svc      *identity.Services
	sealer   *identity.Sealer
	factor   *totp.Factor
	recovery *totp.Recovery
}

func newSealer(t testing.TB) *identity.Sealer {
	t.Helper()
	s, err := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newEnv builds the factors on store (memstore when nil) with the default
// throttle, and any options.
func newEnv(t testing.TB, store identity.Store, opts ...totp.Option) *env {
	t.Helper()
	if store == nil {
		store = memstore.New()
	}
	clock := identitytest.NewClock(identitytest.Epoch())
	e := &env{store: store, clock: clock, sealer: newSealer(t)}
	e.svc = &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock}}
	var err error
	if e.factor, err = totp.New(e.svc, e.sealer, "Example Bank", opts...); err != nil {
		t.Fatal(err)
	}
	if e.recovery, err = totp.NewRecovery(e.svc, e.sealer, 0); err != nil {
		t.Fatal(err)
	}
	return e
}

func otpAlg(a totp.Algorithm) otp.Algorithm {
	switch a {
	case totp.SHA256:
		return otp.AlgorithmSHA256
	case totp.SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}

// codeAt is what the user's app shows at t: computed by pquerna, independently
// of the factor's own walk.
func codeAt(t testing.TB, k *totp.Key, at time.Time) string {
	t.Helper()
	digits, period := k.Digits, k.Period
	if digits == 0 {
		digits = 6
	}
	if period == 0 {
		period = 30 * time.Second
	}
	c, err := pqtotp.GenerateCodeCustom(k.Base32(), at, pqtotp.ValidateOpts{
		Period: uint(period / time.Second), Digits: otp.Digits(digits), Algorithm: otpAlg(k.Algorithm)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCodeAt returns a well-formed code that matches no step within skew of at.
func wrongCodeAt(t testing.TB, k *totp.Key, at time.Time, skew int) string {
	t.Helper()
	period := k.Period
	if period == 0 {
		period = 30 * time.Second
	}
	valid := map[string]bool{}
	for i := -skew; i <= skew; i++ {
		valid[codeAt(t, k, at.Add(time.Duration(i)*period))] = true
	}
	good := codeAt(t, k, at)
	var n int
	fmt.Sscan(good, &n)
	mod := 1
	for range good {
		mod *= 10
	}
	for i := 1; ; i++ {
		c := fmt.Sprintf("%0*d", len(good), (n+i*7919)%mod)
		if !valid[c] {
			return c
		}
	}
}

// enroll runs the public enrolment ceremony for subject and returns the key
// the user's app now holds.
func (e *env) enroll(t testing.TB, subject identity.Subject) *totp.Key {
	t.Helper()
	ctx := context.Background()
	ch, err := e.factor.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin, UserName: string(subject) + "@bank.example"})
	if err != nil {
		t.Fatalf("BeginEnroll: %v", err)
	}
	k, err := totp.ParseURI(string(ch.Payload))
	if err != nil {
		t.Fatalf("ParseURI(payload): %v", err)
	}
	if _, err := e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin,
		Data: []byte(codeAt(t, k, e.clock.Now())), Name: "phone"}); err != nil {
		t.Fatalf("FinishEnroll: %v", err)
	}
	return k
}

// login runs Begin and Finish with code at the current clock time.
func (e *env) login(t testing.TB, subject identity.Subject, code string) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.factor.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return e.factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: []byte(code)})
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}
