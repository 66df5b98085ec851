package cardauth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
)

const origin = "https://bank.example"

// env is a card factor on a memstore with a test PKI and an in-process
// OCSP responder signing as a delegated responder.
type env struct {
	pki    *testPKI
	clock  *identitytest.Clock
	store  *memstore.Store
	svc    *identity.Services
	ocsp   *ocspresponder.Responder
	factor *cardauth.Factor
}

func newEnv(t testing.TB, mod func(*cardauth.Config)) *env {
	clock := identitytest.NewClock(identitytest.Epoch())
	e := &env{pki: newPKI(t, clock.Now()), clock: clock, store: memstore.New()}
	e.svc = &identity.Services{Store: e.store, Clock: clock}
	e.ocsp = ocspresponder.New(e.pki.issuing, e.pki.responderKey, e.pki.responder, clock.Now)
	cfg := cardauth.Config{Roots: e.pki.roots, Intermediates: e.pki.intermediates, OCSP: e.ocsp}
	if mod != nil {
		mod(&cfg)
	}
	f, err := cardauth.New(e.svc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.factor = f
	return e
}

// token signs a challenge's nonce for origin with the card key.
func token(t testing.TB, key crypto.Signer, cert *x509.Certificate, origin string, ch *identity.Challenge) []byte {
	tok, err := cardauth.NewToken(key, cert, origin, string(ch.Payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) enroll(t testing.TB, subject identity.Subject, cert *x509.Certificate, key crypto.Signer) (*identity.Credential, error) {
	ctx := context.Background()
	ch, err := e.factor.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	return e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: token(t, key, cert, origin, ch)})
}

func (e *env) login(t testing.TB, subject identity.Subject, cert *x509.Certificate, key crypto.Signer) (*identity.Proof, error) {
	ctx := context.Background()
	ch, err := e.factor.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		return nil, err
	}
	return e.factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: token(t, key, cert, origin, ch)})
}

type cardClient struct {
	cert  *x509.Certificate
	key   crypto.Signer
	wrong crypto.Signer
}

func (c cardClient) Answer(t *testing.T, ch *identity.Challenge, good bool) []byte {
	key := c.key
	if !good {
		key = c.wrong // the same certificate, another key: a forged signature
	}
	return token(t, key, c.cert, ch.Origin, ch)
}

func TestConformance(t *testing.T) {
	pki := newPKI(t, identitytest.Epoch())
	identitytest.Run(t, identitytest.Harness{
		New: func(t *testing.T, env *identitytest.Env) identity.Authenticator {
			resp := ocspresponder.New(pki.issuing, pki.responderKey, pki.responder, env.Clock.Now)
			f, err := cardauth.New(env.Services, cardauth.Config{Roots: pki.roots, Intermediates: pki.intermediates, OCSP: resp})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		Enroll: func(t *testing.T, env *identitytest.Env, a identity.Authenticator, subject identity.Subject) identitytest.Client {
			cert, key := pki.card(t, string(subject), leafOpts{})
			ctx := context.Background()
			ch, err := a.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: env.Origin})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: env.Origin,
				Data: token(t, key, cert, env.Origin, ch)}); err != nil {
				t.Fatal(err)
			}
			return cardClient{cert: cert, key: key, wrong: newKey(t)}
		},
	})
}

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	cert, key := e.pki.card(t, "alice", leafOpts{})
	cred, err := e.enroll(t, "alice", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	card, err := cardauth.CardOf(cred)
	if err != nil || card.Mode != cardauth.ModeCertificate || !strings.Contains(card.Subject, "CN=alice") || card.Serial == "" {
		t.Fatalf("enrolled card %+v, %v", card, err)
	}
	p, err := e.login(t, "alice", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if p.Assurance != identity.Level3 || !p.Factors.Has(identity.Possession|identity.Knowledge) || p.CredentialID != cred.ID {
		t.Fatalf("proof %+v", p)
	}
	want := map[string]string{"commonName": "alice", "givenName": "Alice", "surname": "Martin", "serialNumber": "PNOFR-alice",
		"policies": "1.3.6.1.4.1.99999.1", "revocation": "good (OCSP)"}
	for k, v := range want {
		if p.Claims[k] != v {
			t.Errorf("claim %s = %q, want %q", k, p.Claims[k], v)
		}
	}
	if e.ocsp.Queries() != 2 {
		t.Fatalf("%d OCSP queries for an enrolment and a login, want 2", e.ocsp.Queries())
	}
	// The same card cannot be bound to a second account.
	if _, err := e.enroll(t, "bob", cert, key); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("the same card for bob: %v", err)
	}
}

func TestUsernameless(t *testing.T) {
	e := newEnv(t, nil)
	cert, key := e.pki.card(t, "alice", leafOpts{})
	if _, err := e.enroll(t, "alice", cert, key); err != nil {
		t.Fatal(err)
	}
	p, err := e.login(t, "", cert, key)
	if err != nil || p.Subject != "alice" {
		t.Fatalf("login without a subject: %+v, %v", p, err)
	}
	stranger, skey := e.pki.card(t, "stranger", leafOpts{})
	if _, err := e.login(t, "", stranger, skey); !errors.Is(err, cardauth.ErrUnknownCard) {
		t.Fatalf("an unenrolled card: %v", err)
	}
}

func TestRejections(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	cert, key := e.pki.card(t, "alice", leafOpts{})
	if _, err := e.enroll(t, "alice", cert, key); err != nil {
		t.Fatal(err)
	}
	bobCert, bobKey := e.pki.card(t, "bob", leafOpts{})
	if _, err := e.enroll(t, "bob", bobCert, bobKey); err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, targets ...error) {
		t.Helper()
		for _, target := range targets {
			if !errors.Is(err, target) {
				t.Errorf("%s: %v, want %v", name, err, target)
			}
		}
	}
	begin := func() *identity.Challenge {
		ch, err := e.factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	finish := func(ch *identity.Challenge, data []byte) error {
		_, err := e.factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: data})
		return err
	}

	ch := begin()
	check("signed for another origin", finish(ch, token(t, key, cert, "https://evil.example", ch)), cardauth.ErrBadSignature, identity.ErrInvalidResponse)

	ch = begin()
	other := *ch
	other.Payload = []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	check("signed another nonce", finish(ch, token(t, key, cert, origin, &other)), cardauth.ErrBadSignature)

	ch = begin()
	data := token(t, key, cert, origin, ch)
	if err := finish(ch, data); err != nil {
		t.Fatal(err)
	}
	check("reused nonce", finish(ch, data), identity.ErrReplayed)

	ch = begin()
	e.clock.Advance(5 * time.Minute)
	check("expired nonce", finish(ch, token(t, key, cert, origin, ch)), identity.ErrExpired)

	ch = begin()
	check("bob's card answering alice's challenge", finish(ch, token(t, bobKey, bobCert, origin, ch)), cardauth.ErrUnknownCard, identity.ErrNotEnrolled)

	ch = begin()
	tok := string(token(t, key, cert, origin, ch))
	check("unsupported algorithm", finish(ch, []byte(strings.Replace(tok, `"ES256"`, `"HS256"`, 1))), cardauth.ErrUnsupportedAlgorithm)
	ch = begin()
	tok = string(token(t, key, cert, origin, ch))
	check("algorithm not fitting the key", finish(ch, []byte(strings.Replace(tok, `"ES256"`, `"RS256"`, 1))), cardauth.ErrUnsupportedAlgorithm)
	for name, bad := range map[string]string{
		"oversized":       `{"format":"web-eid:1.0","x":"` + strings.Repeat("A", cardauth.MaxTokenSize) + `"}`,
		"not JSON":        `web-eid`,
		"trailing data":   tok + `{}`,
		"format 2":        strings.Replace(tok, `web-eid:1.0`, `web-eid:2.0`, 1),
		"bad certificate": strings.Replace(tok, `"unverifiedCertificate":"MII`, `"unverifiedCertificate":"MIJ`, 1),
		"signature !b64":  strings.Replace(tok, `"signature":"`, `"signature":"*`, 1),
	} {
		ch = begin()
		check(name, finish(ch, []byte(bad)), cardauth.ErrMalformedToken, identity.ErrInvalidResponse)
	}

	// Certificate validity: after it expires, and before it starts.
	short, shortKey := e.pki.card(t, "carol", leafOpts{notAfter: e.clock.Now().Add(2 * time.Hour)})
	if _, err := e.enroll(t, "carol", short, shortKey); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(3 * time.Hour)
	_, err := e.login(t, "carol", short, shortKey)
	check("expired certificate", err, cardauth.ErrCertificateNotValid, identity.ErrUntrusted)
	e.clock.Advance(-6 * time.Hour)
	_, err = e.login(t, "carol", short, shortKey)
	check("certificate not yet valid", err, cardauth.ErrCertificateNotValid)
	e.clock.Advance(3 * time.Hour)

	// Revoked: OCSP says so.
	e.ocsp.Revoke(cert.SerialNumber, e.clock.Now().Add(-time.Minute), 1)
	_, err = e.login(t, "alice", cert, key)
	check("revoked", err, cardauth.ErrRevoked, identity.ErrRevoked)
}

func TestEnrolmentChecks(t *testing.T) {
	e := newEnv(t, nil)
	stranger := newPKI(t, e.clock.Now())
	for name, tc := range map[string]struct {
		pki  *testPKI
		opts leafOpts
		want error
	}{
		"untrusted CA":        {stranger, leafOpts{}, cardauth.ErrUntrustedCA},
		"key usage":           {e.pki, leafOpts{keyUsage: x509.KeyUsageKeyEncipherment}, cardauth.ErrKeyUsage},
		"EKU serverAuth":      {e.pki, leafOpts{extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, cardauth.ErrKeyUsage},
		"not yet valid":       {e.pki, leafOpts{notBefore: e.clock.Now().Add(time.Hour)}, cardauth.ErrCertificateNotValid},
		"self-signed":         {e.pki, leafOpts{selfSigned: true}, cardauth.ErrUntrustedCA},
		"expired":             {e.pki, leafOpts{notBefore: e.clock.Now().Add(-48 * time.Hour), notAfter: e.clock.Now().Add(-time.Hour)}, cardauth.ErrCertificateNotValid},
		"EKU with clientAuth": {e.pki, leafOpts{extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth}}, nil},
		"no EKU":              {e.pki, leafOpts{extKeyUsage: []x509.ExtKeyUsage{}}, nil},
		// A signing certificate (nonRepudiation, ETSI EN 319 412-2 §4.3.2)
		// without an EKU is not one for logging in: Web eID's validators
		// want clientAuth, and its key is the card's signature key.
		"signing, no EKU": {e.pki, leafOpts{keyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, extKeyUsage: []x509.ExtKeyUsage{}}, cardauth.ErrKeyUsage},
		"signing, clientAuth": {e.pki, leafOpts{keyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
			extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil},
	} {
		cert, key := tc.pki.card(t, "dave-"+name, tc.opts)
		_, err := e.enroll(t, identity.Subject("dave-"+name), cert, key)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// A factor trusting another PKI refuses a card enrolled under this one.
	cert, key := e.pki.card(t, "erin", leafOpts{})
	if _, err := e.enroll(t, "erin", cert, key); err != nil {
		t.Fatal(err)
	}
	f2, _ := cardauth.New(e.svc, cardauth.Config{Roots: stranger.roots, Intermediates: stranger.intermediates, OCSP: e.ocsp})
	e.factor = f2
	if _, err := e.login(t, "erin", cert, key); !errors.Is(err, cardauth.ErrUntrustedCA) {
		t.Fatalf("login under a factor that does not trust the card's CA: %v", err)
	}
}

func TestOCSPPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      func(*cardauth.Config)
		fault    func(*env)
		want     error
		revClaim string
	}{
		{"down, fail closed", nil, func(e *env) { e.ocsp.Misbehave(false, 0, true) }, cardauth.ErrOCSPUnavailable, ""},
		{"down, fail open", func(c *cardauth.Config) { c.OnUnreachable = cardauth.FailOpen }, func(e *env) { e.ocsp.Misbehave(false, 0, true) }, nil, "not checked: OCSP responder unreachable (fail-open)"},
		{"nonce not echoed", nil, func(e *env) { e.ocsp.Misbehave(true, 0, false) }, cardauth.ErrOCSP, ""},
		{"stale response", nil, func(e *env) { e.ocsp.Misbehave(false, time.Hour, false) }, cardauth.ErrOCSP, ""},
		{"stale, fail open is no excuse", func(c *cardauth.Config) { c.OnUnreachable = cardauth.FailOpen }, func(e *env) { e.ocsp.Misbehave(false, time.Hour, false) }, cardauth.ErrOCSP, ""},
		{"responder not authorised", nil, func(e *env) {
			// A certificate of the issuing CA without id-kp-OCSPSigning.
			rogue, rkey := e.pki.card(t, "rogue responder", leafOpts{})
			e.ocsp = ocspresponder.New(e.pki.issuing, rkey, rogue, e.clock.Now)
		}, cardauth.ErrOCSP, ""},
		{"signed by the issuer itself", nil, func(e *env) {
			e.ocsp = ocspresponder.New(e.pki.issuing, e.pki.issuingKey, nil, e.clock.Now)
		}, nil, "good (OCSP)"},
		{"revocation skipped by configuration", func(c *cardauth.Config) { c.SkipRevocation = true }, func(e *env) { e.ocsp.Misbehave(false, 0, true) }, nil, "not checked: disabled by configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			cert, key := e.pki.card(t, "alice", leafOpts{})
			if _, err := e.enroll(t, "alice", cert, key); err != nil {
				t.Fatal(err)
			}
			tc.fault(e)
			cfg := cardauth.Config{Roots: e.pki.roots, Intermediates: e.pki.intermediates, OCSP: e.ocsp}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			e.factor, _ = cardauth.New(e.svc, cfg)
			p, err := e.login(t, "alice", cert, key)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !errors.Is(err, identity.ErrUntrusted) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || p.Claims["revocation"] != tc.revClaim {
				t.Fatalf("got %+v, %v; want revocation claim %q", p, err, tc.revClaim)
			}
		})
	}
}

// TestOCSPOverHTTP goes through a real HTTP responder on loopback, with the
// responder URL taken from configuration.
func TestOCSPOverHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, nil)
	url, err := e.ocsp.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.factor, _ = cardauth.New(e.svc, cardauth.Config{Roots: e.pki.roots, Intermediates: e.pki.intermediates, OCSPResponderURL: url})
	cert, key := e.pki.card(t, "alice", leafOpts{})
	if _, err := e.enroll(t, "alice", cert, key); err != nil {
		t.Fatal(err)
	}
	e.ocsp.Revoke(cert.SerialNumber, e.clock.Now(), 0)
	if _, err := e.login(t, "alice", cert, key); !errors.Is(err, cardauth.ErrRevoked) {
		t.Fatalf("revoked over HTTP: %v", err)
	}
	cancel()
	time.Sleep(10 * time.Millisecond)
	e.ocsp = nil
	if _, err := e.login(t, "alice", cert, key); !errors.Is(err, cardauth.ErrOCSPUnavailable) {
		t.Fatalf("responder gone: %v", err)
	}
}

func TestSelfIssuedAndPinned(t *testing.T) {
	e := newEnv(t, func(c *cardauth.Config) { c.AllowSelfIssued = true })
	cert, key := e.pki.card(t, "frank", leafOpts{selfSigned: true})
	cred, err := e.enroll(t, "frank", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if card, _ := cardauth.CardOf(cred); card.Mode != cardauth.ModePinnedKey {
		t.Fatalf("mode %s", card.Mode)
	}
	p, err := e.login(t, "frank", cert, key)
	if err != nil || p.Claims["revocation"] != "not checked: pinned key" || p.Claims["subject"] != cert.Subject.String() {
		t.Fatalf("login with a pinned key: %+v %v", p, err)
	}
	// The same key in a certificate that names someone else still logs
	// frank in, under the names recorded at enrolment: nothing vouches for
	// the new ones.
	renamed, _ := e.pki.card(t, "mallory", leafOpts{key: key, selfSigned: true})
	p, err = e.login(t, "frank", renamed, key)
	if err != nil || p.Claims["subject"] != cert.Subject.String() || p.Claims["commonName"] != cert.Subject.CommonName ||
		p.Claims["certificateSerial"] == "" || p.Claims["certificateSerial"] == cardauth.Claims(renamed)["certificateSerial"] ||
		p.Claims["certificateExpires"] != "" {
		t.Fatalf("login with the pinned key in a renamed certificate: %+v %v", p, err)
	}
	// Another self-signed certificate for another key is not frank's card.
	other, okey := e.pki.card(t, "frank", leafOpts{selfSigned: true})
	if _, err := e.login(t, "frank", other, okey); !errors.Is(err, cardauth.ErrUnknownCard) {
		t.Fatalf("another key: %v", err)
	}
	// An administrator pins a key; any certificate carrying it then works.
	gkey := newKey(t)
	if _, err := e.factor.PinKey(context.Background(), "grace", gkey.Public(), "grace's card"); err != nil {
		t.Fatal(err)
	}
	gcert, _ := e.pki.card(t, "grace", leafOpts{key: gkey, selfSigned: true})
	if p, err := e.login(t, "grace", gcert, gkey); err != nil || p.Claims["subject"] != "" || p.Claims["commonName"] != "" {
		t.Fatalf("login with an administrator-pinned key: %+v %v", p, err)
	}
}

func TestRSA(t *testing.T) {
	e := newEnv(t, nil)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := e.pki.card(t, "henri", leafOpts{key: rk})
	if _, err := e.enroll(t, "henri", cert, rk); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []*cardauth.TokenOptions{nil, {PSS: true}, {Hash: crypto.SHA384}, {PSS: true, Hash: crypto.SHA512}} {
		ch, _ := e.factor.Begin(context.Background(), identity.Request{Subject: "henri", Origin: origin})
		tok, err := cardauth.NewToken(rk, cert, origin, string(ch.Payload), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.factor.Finish(context.Background(), identity.Response{ChallengeID: ch.ID, Subject: "henri", Origin: origin, Data: tok}); err != nil {
			t.Errorf("RSA %+v: %v", opts, err)
		}
	}
}

// TestMutualTLS runs a real TLS handshake on loopback with the card
// certificate as client certificate, then applies the login checks to it.
func TestMutualTLS(t *testing.T) {
	e := newEnv(t, nil)
	cert, key := e.pki.card(t, "alice", leafOpts{})
	if _, err := e.enroll(t, "alice", cert, key); err != nil {
		t.Fatal(err)
	}
	serverCert, serverKey := e.pki.card(t, "bank.example", leafOpts{extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}},
		// The handshake proves possession of the key; cardauth does the trust checks.
		ClientAuth: tls.RequireAnyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	states := make(chan tls.ConnectionState, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() == nil {
			states <- tc.ConnectionState()
		}
		close(states)
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: e.pki.roots, ServerName: "bank.example", InsecureSkipVerify: true, // the test server has no SAN
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw, e.pki.issuing.Raw}, PrivateKey: key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.Handshake()
	defer conn.Close()
	state, ok := <-states
	if !ok {
		t.Fatal("server handshake failed")
	}
	p, err := e.factor.VerifyConnection(context.Background(), "alice", state, "127.0.0.1")
	if err != nil || p.Subject != "alice" || p.Claims["revocation"] != "good (OCSP)" {
		t.Fatalf("mutual TLS: %+v, %v", p, err)
	}
	if _, err := e.factor.VerifyConnection(context.Background(), "bob", state, "127.0.0.1"); !errors.Is(err, cardauth.ErrUnknownCard) {
		t.Fatalf("alice's card for bob: %v", err)
	}
	if _, err := e.factor.VerifyConnection(context.Background(), "alice", tls.ConnectionState{}, ""); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("no client certificate: %v", err)
	}
	recs, _ := e.store.AuditEvents(context.Background(), "alice", 1)
	if len(recs) != 1 || recs[0].Event.Action != "login-tls" {
		t.Fatalf("audit: %+v", recs)
	}
}

func FuzzParseToken(f *testing.F) {
	for _, name := range []string{"es384.json", "rs256.json", "es384-v1.1.json"} {
		data, err := readVector(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"format":"web-eid:1","algorithm":"ES256","unverifiedCertificate":"","signature":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, cert, err := cardauth.ParseToken(data)
		if err != nil {
			if !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// A parsed token always has a certificate, and checking its
		// signature never panics, whatever the key. No seed was signed
		// over this nonce, so none verifies: the refusal is typed.
		if cert == nil {
			t.Fatal("no certificate")
		}
		err = tok.VerifySignature(cert, origin, "nonce")
		if !errors.Is(err, cardauth.ErrBadSignature) && !errors.Is(err, cardauth.ErrUnsupportedAlgorithm) && !errors.Is(err, cardauth.ErrMalformedToken) {
			t.Fatalf("signature over another nonce: %v", err)
		}
	})
}

// tickClock moves a second on every reading, so that a second reading in one
// verification shows.
type tickClock struct{ c *identitytest.Clock }

func (t tickClock) Now() time.Time { t.c.Advance(time.Second); return t.c.Now() }

// TestOneClockReading: a login judges the challenge, the certificate and the
// proof at one instant, the one the audit trail records.
func TestOneClockReading(t *testing.T) {
	e := newEnv(t, nil)
	cert, key := e.pki.card(t, "alice", leafOpts{})
	if _, err := e.enroll(t, "alice", cert, key); err != nil {
		t.Fatal(err)
	}
	e.svc.Clock = tickClock{e.clock}
	p, err := e.login(t, "alice", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.store.AuditEvents(context.Background(), "alice", 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit: %v, %v", recs, err)
	}
	if at := recs[0].Event.Time; !p.Time.Equal(at) {
		t.Fatalf("proof at %s, audited at %s: the login read the clock more than once", p.Time, at)
	}
}
