package webauthn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/webauthn"
)

// The benchmarks compare finishing a login through the factor (memstore:
// challenge consumed once, throttle, credential lookup, go-webauthn's
// checks, atomic counter, audit chain) with the anchors the issue names:
// raw go-webauthn on the same assertion (parse, then ValidateLogin), and a
// bare ecdsa.Verify of the same signature. Figures are in BENCHMARKS.part.md.

// benchLogins prepares n answered login challenges (by username when
// subject is set) so that the timed loop only finishes them.
func benchLogins(b *testing.B, e *testEnv, d *device, subject identity.Subject, n int) []identity.Response {
	b.Helper()
	ctx := context.Background()
	out := make([]identity.Response, n)
	for i := range out {
		ch, err := e.f.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: d.get(b, ch.Payload)}
	}
	return out
}

func benchFactorFinish(b *testing.B, subject identity.Subject) {
	e := newEnv(b, nil)
	d := newDevice()
	e.enroll(b, "alice", d)
	resps := benchLogins(b, e, d, subject, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.f.Finish(ctx, resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinishLogin is the factor's Finish by username (throttled).
func BenchmarkFinishLogin(b *testing.B) { benchFactorFinish(b, "alice") }

// BenchmarkFinishLoginUsernameless is the factor's Finish for a passkey
// login without username.
func BenchmarkFinishLoginUsernameless(b *testing.B) { benchFactorFinish(b, "") }

// rawFixture is one assertion answered to raw go-webauthn's BeginLogin.
type rawFixture struct {
	wa   *gowebauthn.WebAuthn
	user *rawUser
	sess gowebauthn.SessionData
	data []byte
	d    *device
}

type rawUser struct {
	id    []byte
	creds []gowebauthn.Credential
}

func (u *rawUser) WebAuthnID() []byte                           { return u.id }
func (u *rawUser) WebAuthnName() string                         { return "alice" }
func (u *rawUser) WebAuthnDisplayName() string                  { return "Alice" }
func (u *rawUser) WebAuthnCredentials() []gowebauthn.Credential { return u.creds }

func newRawFixture(b *testing.B) *rawFixture {
	b.Helper()
	e := newEnv(b, nil)
	d := newDevice()
	c := e.enroll(b, "alice", d)
	rec, err := webauthn.DecodeRecord(c)
	if err != nil {
		b.Fatal(err)
	}
	wa, err := gowebauthn.New(&gowebauthn.Config{RPID: rpID, RPDisplayName: "Example Bank", RPOrigins: []string{origin}})
	if err != nil {
		b.Fatal(err)
	}
	u := &rawUser{id: rec.UserHandle, creds: []gowebauthn.Credential{{
		ID: rec.ID, PublicKey: rec.PublicKey, AttestationType: rec.AttestationType, AttestationFormat: rec.AttestationFormat,
		Flags:         gowebauthn.CredentialFlags{UserPresent: true, UserVerified: true},
		Authenticator: gowebauthn.Authenticator{AAGUID: rec.AAGUID[:]},
	}}}
	assertion, sess, err := wa.BeginLogin(u)
	if err != nil {
		b.Fatal(err)
	}
	opts, _ := json.Marshal(assertion)
	return &rawFixture{wa: wa, user: u, sess: *sess, data: d.get(b, opts), d: d}
}

// BenchmarkGoWebAuthnValidateLogin is the anchor: what a go-webauthn user
// runs per login given the response bytes (parse, then ValidateLogin).
func BenchmarkGoWebAuthnValidateLogin(b *testing.B) {
	fx := newRawFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := protocol.ParseCredentialRequestResponseBytes(fx.data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fx.wa.ValidateLogin(fx.user, fx.sess, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoWebAuthnValidateLoginParsed is ValidateLogin alone, on a
// response parsed once.
func BenchmarkGoWebAuthnValidateLoginParsed(b *testing.B) {
	fx := newRawFixture(b)
	p, err := protocol.ParseCredentialRequestResponseBytes(fx.data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fx.wa.ValidateLogin(fx.user, fx.sess, p); err != nil {
			b.Fatal(err)
		}
	}
}

// signedAssertion is what an assertion's signature covers (§7.2:
// authenticatorData ‖ SHA-256(clientDataJSON)) and the signature.
type signedAssertion struct{ msg, sig []byte }

func parseAssertion(tb testing.TB, data []byte) signedAssertion {
	tb.Helper()
	var m struct {
		Response struct {
			AuthenticatorData, ClientDataJSON, Signature string
		}
	}
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatal(err)
	}
	dec := base64.RawURLEncoding
	ad, err1 := dec.DecodeString(m.Response.AuthenticatorData)
	cd, err2 := dec.DecodeString(m.Response.ClientDataJSON)
	sig, err3 := dec.DecodeString(m.Response.Signature)
	if err1 != nil || err2 != nil || err3 != nil {
		tb.Fatal("assertion: bad base64url")
	}
	ch := sha256.Sum256(cd)
	return signedAssertion{msg: append(ad, ch[:]...), sig: sig}
}

// verify hashes the signed bytes and checks the signature, as the factor
// must at the least.
func (a signedAssertion) verify(pub *ecdsa.PublicKey) error {
	digest := sha256.Sum256(a.msg)
	if !ecdsa.VerifyASN1(pub, digest[:], a.sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

func devicePublicKey(tb testing.TB, d *device) *ecdsa.PublicKey {
	tb.Helper()
	priv, err := x509.ParsePKCS8PrivateKey(d.cred.Key.Data)
	if err != nil {
		tb.Fatal(err)
	}
	return &priv.(*ecdsa.PrivateKey).PublicKey
}

// BenchmarkECDSAVerify is the floor: the P-256 signature check of the same
// assertion (§7.2: over authenticatorData ‖ SHA-256(clientDataJSON)).
func BenchmarkECDSAVerify(b *testing.B) {
	fx := newRawFixture(b)
	var m struct {
		Response struct {
			AuthenticatorData, ClientDataJSON, Signature string
		}
	}
	if err := json.Unmarshal(fx.data, &m); err != nil {
		b.Fatal(err)
	}
	dec := base64.RawURLEncoding
	ad, _ := dec.DecodeString(m.Response.AuthenticatorData)
	cd, _ := dec.DecodeString(m.Response.ClientDataJSON)
	sig, _ := dec.DecodeString(m.Response.Signature)
	priv, err := x509.ParsePKCS8PrivateKey(fx.d.cred.Key.Data)
	if err != nil {
		b.Fatal(err)
	}
	pub := &priv.(*ecdsa.PrivateKey).PublicKey
	ch := sha256.Sum256(cd)
	msg := append(append([]byte{}, ad...), ch[:]...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		digest := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkRoundTripsWebAuthn is issue 22's baseline for a WebAuthn login by
// username (throttled): Finish on SQLite and PostgreSQL through the counting
// driver, with statements, round trips and commits per verification, beside
// a bare transaction writing the same rows on the same database
// (sqlstoretest.BenchFinish). The assertions come from a
// virtualwebauthn authenticator whose signature counter moves forward with
// each, as a hardware key's does, so Finish also stores the new count.
func BenchmarkRoundTripsWebAuthn(b *testing.B) {
	sqlstoretest.BenchFinish(b, func(tb testing.TB, s *sqlstore.Store) sqlstoretest.Finisher {
		return benchFinisher(tb, s, "alice")
	})
}

// BenchmarkParallelWebAuthn is the same login with several goroutines at
// once, each a subject of its own, beside the same-tables anchor run the
// same way (sqlstoretest.BenchFinishParallel).
func BenchmarkParallelWebAuthn(b *testing.B) {
	sqlstoretest.BenchFinishParallel(b, benchFinisher)
}

// benchFinisher readies WebAuthn logins of subject on s for the
// benchmarks above.
func benchFinisher(tb testing.TB, s *sqlstore.Store, subject identity.Subject) sqlstoretest.Finisher {
	ctx := context.Background()
	// newEnv's factor and throttle, on the SQL store.
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: s, Clock: clock,
		Throttle: &identity.Throttle{Store: s, Clock: clock, Free: 5, BaseDelay: time.Second, MaxDelay: time.Hour, LockAfter: 100}}
	f, err := webauthn.New(svc, webauthn.Config{RPID: rpID, RPDisplayName: "Example Bank", Origins: []string{origin}})
	if err != nil {
		tb.Fatal(err)
	}
	e := &testEnv{store: s, clock: clock, svc: svc, f: f}
	d := newDevice()
	e.enroll(tb, subject, d)
	pub := devicePublicKey(tb, d)
	var resps []identity.Response
	var checks []signedAssertion
	return sqlstoretest.Finisher{
		Prepare: func(n int) {
			clock.Advance(time.Second)
			resps, checks = resps[:0], checks[:0]
			for range n {
				ch, err := f.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
				if err != nil {
					tb.Fatal(err)
				}
				data := d.get(tb, ch.Payload)
				resps = append(resps, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: data})
				checks = append(checks, parseAssertion(tb, data))
			}
		},
		Finish: func(i int) error {
			_, err := f.Finish(ctx, resps[i])
			return err
		},
		// The floor: the assertion's P-256 signature checked alone.
		Primitive: func(i int) error { return checks[i].verify(pub) },
	}
}
