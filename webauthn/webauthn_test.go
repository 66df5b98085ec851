package webauthn_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/webauthn"
)

func TestRegisterAndLogin(t *testing.T) {
	model := webauthn.AAGUID{0x74, 0x65, 0x73, 0x74, 1}
	pki := newPKI(t, model)
	for _, tc := range []struct {
		name     string
		opts     []deviceOpt
		fmt, typ string
	}{
		{"none/ES256", []deviceOpt{withAttestation(attestNone, nil)}, "none", "none"},
		{"none/RS256", []deviceOpt{withRSA(), withAttestation(attestNone, nil)}, "none", "none"},
		{"packed-self/ES256", []deviceOpt{withAttestation(attestSelf, nil)}, "packed", "basic_surrogate"},
		{"packed-self/RS256", []deviceOpt{withRSA(), withAttestation(attestSelf, nil)}, "packed", "basic_surrogate"},
		{"packed-x5c/ES256", []deviceOpt{withAAGUID(model), withAttestation(attestPacked, pki)}, "packed", "basic_full"},
		{"packed-x5c/RS256", []deviceOpt{withRSA(), withAAGUID(model), withAttestation(attestPacked, pki)}, "packed", "basic_full"},
		{"packed-x5c/ES256, roots", []deviceOpt{withAAGUID(model), withAttestation(attestPacked, pki)}, "packed", "basic_full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// With the attestation policy's roots, the chain is checked and
			// the device-bound key reaches AAL3; without, whatever the
			// attestation says, AAL2.
			trusted := strings.HasSuffix(tc.name, ", roots")
			var policy func(*webauthn.Config)
			if trusted {
				policy = func(c *webauthn.Config) { c.Policy.Roots = []*x509.Certificate{pki.root} }
			}
			level := identity.Level2
			if trusted {
				level = identity.Level3
			}
			e := newEnv(t, policy)
			d := newDevice(tc.opts...)
			c := e.enroll(t, "alice", d)
			if c.Kind != webauthn.Kind || c.ID != webauthn.CredentialID(d.cred.ID) || c.Subject != "alice" || c.Name != "key" || !c.Active {
				t.Fatalf("credential %+v", c)
			}
			rec, err := webauthn.DecodeRecord(c)
			if err != nil {
				t.Fatal(err)
			}
			if rec.AttestationFormat != tc.fmt || rec.AttestationType != tc.typ || rec.AAGUID != webauthn.AAGUID(d.auth.Aaguid) ||
				len(rec.UserHandle) != 32 || !rec.UserVerified || rec.BackupEligible {
				t.Fatalf("record %+v", rec)
			}

			// By username, then username-less; the counter moves each time.
			for i, subject := range []identity.Subject{"alice", ""} {
				p, err := e.login(t, subject, d)
				if err != nil {
					t.Fatalf("login %d (%q): %v", i, subject, err)
				}
				if p.Subject != "alice" || p.CredentialID != c.ID || p.Kind != webauthn.Kind ||
					p.Assurance != level || !p.Factors.Has(identity.Possession|identity.Knowledge) ||
					p.Claims["aaguid"] != rec.AAGUID.String() || p.Claims["attestation_type"] != tc.typ || p.Claims["backup_state"] != "false" ||
					p.Claims["attestation_trusted"] != boolString(trusted) || rec.TrustedAttestation != trusted {
					t.Fatalf("proof %+v", p)
				}
				stored, _ := e.store.Credential(context.Background(), c.Ref())
				if stored.Counter != uint64(d.cred.Counter) || !stored.LastUsedAt.Equal(e.clock.Now()) {
					t.Fatalf("stored counter %d (device %d), last used %s", stored.Counter, d.cred.Counter, stored.LastUsedAt)
				}
			}
		})
	}
}

// TestAssurance: AAL3 needs a device-bound key that verified its user and
// whose attestation chained to the policy's roots at registration (NIST SP
// 800-63B §4.3: a hardware-based authenticator); the flags alone, which a
// software authenticator sets as it likes, give AAL2.
func TestAssurance(t *testing.T) {
	model := webauthn.AAGUID{0x74, 0x65, 0x73, 0x74, 2}
	pki := newPKI(t, model)
	for _, tc := range []struct {
		name    string
		opts    virtualwebauthn.AuthenticatorOptions
		trusted bool
		level   identity.Level
		factors identity.Factors
	}{
		{"device-bound with UV, attested", virtualwebauthn.AuthenticatorOptions{}, true, identity.Level3, identity.Possession | identity.Knowledge | identity.Inherence},
		{"device-bound with UV, attestation not checked", virtualwebauthn.AuthenticatorOptions{}, false, identity.Level2, identity.Possession | identity.Knowledge | identity.Inherence},
		{"synced passkey with UV, attested", virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true}, true, identity.Level2, identity.Possession | identity.Knowledge | identity.Inherence},
		{"backup-eligible, not backed up, attested", virtualwebauthn.AuthenticatorOptions{BackupEligible: true}, true, identity.Level2, identity.Possession | identity.Knowledge | identity.Inherence},
		{"device-bound without UV, attested", virtualwebauthn.AuthenticatorOptions{UserNotVerified: true}, true, identity.Level2, identity.Possession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var policy func(*webauthn.Config)
			opts := []deviceOpt{withOptions(tc.opts)}
			if tc.trusted {
				policy = func(c *webauthn.Config) { c.Policy.Roots = []*x509.Certificate{pki.root} }
				opts = append(opts, withAAGUID(model), withAttestation(attestPacked, pki))
			}
			e := newEnv(t, policy)
			d := newDevice(opts...)
			e.enroll(t, "alice", d)
			p, err := e.login(t, "alice", d)
			if err != nil {
				t.Fatal(err)
			}
			if p.Assurance != tc.level || p.Factors != tc.factors {
				t.Fatalf("got %s %s, want %s %s", p.Assurance, p.Factors, tc.level, tc.factors)
			}
			if p.Claims["backup_eligible"] != boolString(tc.opts.BackupEligible) || p.Claims["user_verified"] != boolString(!tc.opts.UserNotVerified) ||
				p.Claims["attestation_trusted"] != boolString(tc.trusted) {
				t.Fatalf("claims %v", p.Claims)
			}
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// The browser sends the options JSON to navigator.credentials.*: check the
// members it needs are there.
func TestOptionsJSON(t *testing.T) {
	e := newEnv(t, func(c *webauthn.Config) {
		c.ResidentKey = webauthn.ResidentKeyRequired
		c.UserVerification = webauthn.VerificationRequired
	})
	ctx := context.Background()
	d := newDevice()
	c := e.enroll(t, "alice", d)

	ch, err := e.f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin, UserName: "alice@bank.example", DisplayName: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	var creation struct {
		PublicKey struct {
			RP        struct{ ID, Name string }
			User      struct{ ID, Name, DisplayName string }
			Challenge string
			Timeout   int
			Exclude   []struct{ ID, Type string } `json:"excludeCredentials"`
			Selection struct {
				ResidentKey        string `json:"residentKey"`
				RequireResidentKey bool   `json:"requireResidentKey"`
				UserVerification   string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string
			Extensions  map[string]any
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(ch.Payload, &creation); err != nil {
		t.Fatal(err)
	}
	pk := creation.PublicKey
	rec, _ := webauthn.DecodeRecord(c)
	if pk.RP.ID != rpID || pk.RP.Name != "Example Bank" || pk.User.Name != "alice@bank.example" || pk.User.DisplayName != "Alice" ||
		pk.User.ID != webauthn.CredentialID(rec.UserHandle) || len(pk.Challenge) < 43 || pk.Timeout != 300000 ||
		len(pk.Exclude) != 1 || pk.Exclude[0].ID != c.ID || pk.Selection.ResidentKey != "required" || !pk.Selection.RequireResidentKey ||
		pk.Selection.UserVerification != "required" || pk.Attestation != "none" || pk.Extensions["credProps"] != true {
		t.Fatalf("creation options %s", ch.Payload)
	}
	if len(ch.State) == 0 || string(ch.State) == string(ch.Payload) {
		t.Fatal("session data must stay server-side, apart from the options")
	}

	for _, tc := range []struct {
		name      string
		begin     func() (*identity.Challenge, error)
		allow     int
		mediation string
	}{
		{"username", func() (*identity.Challenge, error) {
			return e.f.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
		}, 1, ""},
		{"username-less", func() (*identity.Challenge, error) { return e.f.Begin(ctx, identity.Request{Origin: origin}) }, 0, ""},
		{"conditional", func() (*identity.Challenge, error) {
			return e.f.BeginConditional(ctx, identity.Request{Origin: origin})
		}, 0, "conditional"},
	} {
		ch, err := tc.begin()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var assertion struct {
			PublicKey struct {
				Challenge        string
				RPID             string                      `json:"rpId"`
				Allow            []struct{ ID, Type string } `json:"allowCredentials"`
				UserVerification string                      `json:"userVerification"`
			} `json:"publicKey"`
			Mediation string `json:"mediation"`
		}
		if err := json.Unmarshal(ch.Payload, &assertion); err != nil {
			t.Fatal(err)
		}
		if assertion.PublicKey.RPID != rpID || len(assertion.PublicKey.Allow) != tc.allow || assertion.Mediation != tc.mediation ||
			assertion.PublicKey.UserVerification != "required" || len(assertion.PublicKey.Challenge) < 43 {
			t.Fatalf("%s: request options %s", tc.name, ch.Payload)
		}
	}
	if _, err := e.f.BeginConditional(ctx, identity.Request{Subject: "alice", Origin: origin}); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("conditional login with a subject: %v", err)
	}
}

func TestConditionalLogin(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice()
	c := e.enroll(t, "alice", d)
	ctx := context.Background()
	ch, err := e.f.BeginConditional(ctx, identity.Request{Origin: origin, RemoteAddr: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Subject != "" {
		t.Fatalf("conditional challenge bound to %q", ch.Subject)
	}
	p, err := e.f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Origin: origin, Data: d.get(t, ch.Payload), RemoteAddr: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || p.CredentialID != c.ID {
		t.Fatalf("proof %+v", p)
	}
	recs, _ := e.store.AuditEvents(ctx, "alice", 1)
	if len(recs) != 1 || recs[0].Event.Result != identity.Success || recs[0].Event.CredentialID != c.ID || recs[0].Event.Subject != "alice" {
		t.Fatalf("audit %+v", recs)
	}
}

func TestExcludeAndDuplicate(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice()
	e.enroll(t, "alice", d)
	ctx := context.Background()

	// A second key for alice shares her user handle.
	d2 := newDevice()
	c2 := e.enroll(t, "alice", d2)
	recs, err := e.f.Credentials(ctx, "alice")
	if err != nil || len(recs) != 2 {
		t.Fatalf("credentials: %v %v", recs, err)
	}
	if string(recs[0].UserHandle) != string(recs[1].UserHandle) {
		t.Fatal("two user handles for one account")
	}
	// Login by username offers both; the second logs in.
	if p, err := e.login(t, "alice", d2); err != nil || p.CredentialID != c2.ID {
		t.Fatalf("second key: %v %v", p, err)
	}

	// A client that ignores excludeCredentials and registers the same
	// credential again (for alice or bob) is refused.
	for _, subject := range []identity.Subject{"alice", "bob"} {
		ch, err := e.f.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		dup := d.clone()
		data := dup.createIgnoringExclusion(t, ch.Payload)
		_, err = e.f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: data})
		if !errors.Is(err, identity.ErrExists) || !errors.Is(err, identity.ErrInvalidResponse) {
			t.Fatalf("duplicate registration for %s: %v", subject, err)
		}
	}
}

func (d *device) createIgnoringExclusion(t *testing.T, payload []byte) []byte {
	opts, err := virtualwebauthn.ParseAttestationOptions(string(payload))
	if err != nil {
		t.Fatal(err)
	}
	opts.ExcludeCredentials = nil
	return []byte(virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *opts))
}

func TestCounterlessAuthenticator(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(withoutCounter(), withOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true}))
	c := e.enroll(t, "alice", d)
	for i := range 3 {
		if _, err := e.login(t, "alice", d); err != nil {
			t.Fatalf("login %d of a passkey without counter: %v", i, err)
		}
		stored, _ := e.store.Credential(context.Background(), c.Ref())
		if stored.Counter != 0 || !stored.LastUsedAt.Equal(e.clock.Now()) {
			t.Fatalf("counter %d, last used %s", stored.Counter, stored.LastUsedAt)
		}
	}
}

func TestBackupStateFollowsAssertions(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(withOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true}))
	c := e.enroll(t, "alice", d)
	d.auth.Options.BackupState = true // the passkey got synced
	p, err := e.login(t, "alice", d)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := e.store.Credential(context.Background(), c.Ref())
	rec, _ := webauthn.DecodeRecord(stored)
	if !rec.BackupState || p.Claims["backup_state"] != "true" || rec.SignCount != 1 || rec.Name != "key" {
		t.Fatalf("record after sync: %+v, claims %v", rec, p.Claims)
	}
}

func TestRename(t *testing.T) {
	e := newEnv(t, nil)
	c := e.enroll(t, "alice", newDevice())
	ctx := context.Background()
	if err := e.f.Rename(ctx, "alice", c.ID, "YubiKey 5 — blue"); err != nil {
		t.Fatal(err)
	}
	recs, _ := e.f.Credentials(ctx, "alice")
	if recs[0].Name != "YubiKey 5 — blue" {
		t.Fatalf("name %q", recs[0].Name)
	}
	if err := e.f.Rename(ctx, "bob", c.ID, "mine now"); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("rename another subject's key: %v", err)
	}
	if err := e.f.Rename(ctx, "alice", c.ID, "bad\x00name"); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("control character: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	s := &identity.Services{Store: nil}
	if _, err := webauthn.New(s, webauthn.Config{RPID: rpID, Origins: []string{origin}}); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("no store: %v", err)
	}
	e := newEnv(t, nil)
	for name, cfg := range map[string]webauthn.Config{
		"no RP ID":           {Origins: []string{origin}},
		"IP RP ID":           {RPID: "192.0.2.1", Origins: []string{"https://192.0.2.1"}},
		"no origins":         {RPID: rpID},
		"http origin":        {RPID: rpID, Origins: []string{"http://bank.example"}},
		"origin off RP ID":   {RPID: rpID, Origins: []string{"https://evil.example"}},
		"origin suffix":      {RPID: rpID, Origins: []string{"https://notbank.example"}},
		"origin with path":   {RPID: rpID, Origins: []string{"https://bank.example/login"}},
		"bad UV":             {RPID: rpID, Origins: []string{origin}, UserVerification: "always"},
		"bad conveyance":     {RPID: rpID, Origins: []string{origin}, Conveyance: "all"},
		"none with a policy": {RPID: rpID, Origins: []string{origin}, Conveyance: webauthn.ConveyanceNone, Policy: webauthn.AttestationPolicy{AAGUIDs: []webauthn.AAGUID{{1}}}},
	} {
		if _, err := webauthn.New(e.svc, cfg); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Localhost over http is a secure context for browsers.
	if _, err := webauthn.New(e.svc, webauthn.Config{RPID: "localhost", Origins: []string{"http://localhost:8080"}}); err != nil {
		t.Fatalf("localhost: %v", err)
	}
	// Begin refuses an origin that is not configured.
	if _, err := e.f.Begin(context.Background(), identity.Request{Subject: "alice", Origin: "https://evil.example"}); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("Begin from another origin: %v", err)
	}
}

func TestAAGUID(t *testing.T) {
	a := webauthn.AAGUID{0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8}
	s := a.String()
	if s != "cb69481e-8ff7-4039-93ec-0a2729a154a8" {
		t.Fatal(s)
	}
	b, err := webauthn.ParseAAGUID("CB69481E-8FF7-4039-93EC-0A2729A154A8")
	if err != nil || b != a {
		t.Fatal(b, err)
	}
	for _, bad := range []string{"", "cb69481e8ff7403993ec0a2729a154a8", "cb69481e-8ff7-4039-93ec-0a2729a154ag", "cb69481e-8ff7-4039-93ec_0a2729a154a8"} {
		if _, err := webauthn.ParseAAGUID(bad); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestOriginCanonicalForm(t *testing.T) {
	// Configured with case and default port; browsers send the serialised
	// origin "https://bank.example".
	e := newEnv(t, func(c *webauthn.Config) { c.Origins = []string{"https://BANK.example:443"} })
	d := newDevice()
	e.enroll(t, "alice", d)
	if _, err := e.login(t, "alice", d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.BeginEnroll(context.Background(), identity.Request{Origin: origin}); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("enrolment without subject: %v", err)
	}
}

// A rename that lands while a login is checked stays: the login records the
// new backup state and last use on top of it instead of writing back the
// credential it read.
func TestRenameDuringLogin(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(withOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true}))
	c := e.enroll(t, "alice", d)
	ctx := context.Background()
	ch, err := e.f.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	racy := &identitytest.Interleave{Store: e.store}
	e.svc.Store = racy
	racy.Then(func() {
		if err := e.f.Rename(ctx, "alice", c.ID, "blue key"); err != nil {
			t.Error(err)
		}
	})
	d.auth.Options.BackupState = true // the login has its own change to write
	if _, err := e.f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: d.get(t, ch.Payload)}); err != nil {
		t.Fatal(err)
	}
	stored, _ := e.store.Credential(ctx, c.Ref())
	rec, _ := webauthn.DecodeRecord(stored)
	if stored.Name != "blue key" || !rec.BackupState || !stored.LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("after a rename during login: name %q, backup state %v, last used %s", stored.Name, rec.BackupState, stored.LastUsedAt)
	}
}
