package identity_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
)

func proof(kind identity.Kind, f identity.Factors, l identity.Level, at time.Time) identity.Proof {
	return identity.Proof{Subject: "alice", Kind: kind, CredentialID: "c", Factors: f, Assurance: l, Time: at}
}

func TestPolicyLevels(t *testing.T) {
	now := identitytest.Epoch()
	pw := proof(identity.KindPassword, identity.Knowledge, identity.Level1, now)
	totp := proof(identity.KindTOTP, identity.Possession, identity.Level2, now)
	cardPIN := proof(identity.KindCard, identity.Possession|identity.Knowledge, identity.Level3, now)
	syncedPasskey := proof(identity.KindWebAuthn, identity.Possession|identity.Inherence, identity.Level2, now)
	recovery := proof(identity.KindRecovery, identity.Possession, identity.Level1, now)
	p := &identity.Policy{Clock: identitytest.NewClock(now)}
	for _, tc := range []struct {
		name   string
		proofs []identity.Proof
		want   identity.Level
		loa    identity.LoA
	}{
		{"password alone", []identity.Proof{pw}, identity.Level1, identity.LoALow},
		{"TOTP alone", []identity.Proof{totp}, identity.Level1, identity.LoALow},
		{"password + TOTP", []identity.Proof{pw, totp}, identity.Level2, identity.LoASubstantial},
		{"card with PIN alone", []identity.Proof{cardPIN}, identity.Level3, identity.LoAHigh},
		{"password + card", []identity.Proof{pw, cardPIN}, identity.Level3, identity.LoAHigh},
		{"synced passkey alone", []identity.Proof{syncedPasskey}, identity.Level2, identity.LoASubstantial},
		{"password + recovery code", []identity.Proof{pw, recovery}, identity.Level1, identity.LoALow},
	} {
		s, err := p.Combine(tc.proofs...)
		if s == nil || s.Level != tc.want || s.Level.EIDAS() != tc.loa {
			t.Errorf("%s: session %+v, want %s", tc.name, s, tc.want)
			continue
		}
		if (tc.want >= identity.Level2) != (err == nil) {
			t.Errorf("%s: Combine error %v", tc.name, err)
		}
		if tc.want < identity.Level2 && !errors.Is(err, identity.ErrStepUpRequired) {
			t.Errorf("%s: %v, want ErrStepUpRequired", tc.name, err)
		}
	}
	other := totp
	other.Subject = "bob"
	if _, err := p.Combine(pw, other); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("proofs of two subjects: %v", err)
	}
	if identity.Level3.String() != "AAL3" || identity.LoAHigh.String() != "high" {
		t.Fatal("names")
	}
}

func TestPolicyStepUp(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	p := &identity.Policy{Clock: clock, Actions: map[string]identity.StepUp{
		"change-password": {Level: identity.Level2, MaxAge: 5 * time.Minute},
		"sign":            {Level: identity.Level3},
	}}
	s, err := p.Combine(proof(identity.KindPassword, identity.Knowledge, identity.Level1, clock.Now()),
		proof(identity.KindTOTP, identity.Possession, identity.Level2, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Authorize(s, "view-account"); err != nil {
		t.Fatalf("unlisted action: %v", err)
	}
	if err := p.Authorize(s, "change-password"); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	clock.Advance(10 * time.Minute)
	var se *identity.StepUpError
	if err := p.Authorize(s, "change-password"); !errors.As(err, &se) || se.MaxAge != 5*time.Minute || se.Need != identity.Level2 {
		t.Fatalf("stale session: %v", err)
	}
	// A fresh recovery code is not enough: it does not reach Level2.
	p.Add(s, proof(identity.KindRecovery, identity.Possession, identity.Level1, clock.Now()))
	if err := p.Authorize(s, "change-password"); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Fatalf("after a recovery code: %v", err)
	}
	if err := p.Add(s, proof(identity.KindTOTP, identity.Possession, identity.Level2, clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := p.Authorize(s, "change-password"); err != nil {
		t.Fatalf("after a fresh TOTP: %v", err)
	}
	if err := p.Authorize(s, "sign"); !errors.As(err, &se) || se.Have != identity.Level2 {
		t.Fatalf("AAL3 action on an AAL2 session: %v", err)
	}
	p.Add(s, proof(identity.KindCard, identity.Possession|identity.Knowledge, identity.Level3, clock.Now()))
	if err := p.Authorize(s, "sign"); err != nil || s.Level != identity.Level3 {
		t.Fatalf("after the card: %v (level %s)", err, s.Level)
	}
	bob := proof(identity.KindTOTP, identity.Possession, identity.Level2, clock.Now())
	bob.Subject = "bob"
	if err := p.Add(s, bob); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("another subject's step-up proof: %v", err)
	}
}

// TestSecondFactors: the policy decides from what the account has. An
// account whose only second factor is switched off on this server is
// refused, not treated as one without a second factor (issue 17: the
// password alone then enrolled the attacker's own TOTP app).
func TestSecondFactors(t *testing.T) {
	p := &identity.Policy{}
	cred := func(k identity.Kind, active bool) identity.Credential {
		return identity.Credential{Subject: "alice", Kind: k, ID: string(k), Active: active}
	}
	all := func(identity.Kind) bool { return true }
	noWebAuthn := func(k identity.Kind) bool { return k != identity.KindWebAuthn }
	for _, tc := range []struct {
		name   string
		creds  []identity.Credential
		usable func(identity.Kind) bool
		want   []identity.Kind
		err    error
	}{
		{"fresh account", []identity.Credential{cred(identity.KindPassword, true)}, all, nil, identity.ErrNotEnrolled},
		{"recovery codes only", []identity.Credential{cred(identity.KindPassword, true), cred(identity.KindRecovery, true)}, all, nil, identity.ErrNotEnrolled},
		{"revoked key only", []identity.Credential{cred(identity.KindWebAuthn, false)}, all, nil, identity.ErrNotEnrolled},
		{"key only, WebAuthn off", []identity.Credential{cred(identity.KindPassword, true), cred(identity.KindWebAuthn, true)}, noWebAuthn, nil, identity.ErrFactorUnavailable},
		{"key and app, WebAuthn off", []identity.Credential{cred(identity.KindWebAuthn, true), cred(identity.KindTOTP, true)}, noWebAuthn, []identity.Kind{identity.KindTOTP}, nil},
		{"card and key", []identity.Credential{cred(identity.KindCard, true), cred(identity.KindWebAuthn, true), cred(identity.KindCard, true)}, all, []identity.Kind{identity.KindCard, identity.KindWebAuthn}, nil},
	} {
		got, err := p.SecondFactors(tc.creds, tc.usable)
		if !slices.Equal(got, tc.want) || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
