package ocsp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/internal/opensslocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// fixture is a test PKI, a card certificate under it and a responder.
type fixture struct {
	card *testcard.Card
	now  time.Time
	resp *ocspresponder.Responder
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.test.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{card: card, now: time.Now()}
	f.resp = ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, func() time.Time { return f.now })
	return f
}

// delegate certifies a responder key under the issuing CA.
func (f *fixture) delegate(t *testing.T, ekus ...x509.ExtKeyUsage) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "delegated responder"},
		NotBefore: f.now.Add(-time.Hour), NotAfter: f.now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: ekus},
		f.card.PKI.Issuing, &key.PublicKey, f.card.PKI.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func (f *fixture) check(c *ocsp.Checker) (ocsp.Result, error) {
	if c.Client == nil {
		c.Client = f.resp
	}
	return c.Check(context.Background(), f.card.AuthCert, f.card.PKI.Issuing, f.now)
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	r, err := f.check(&ocsp.Checker{})
	if err != nil || r.Revoked || r.Responder != "http://ocsp.test.invalid/" || f.now.Sub(r.ThisUpdate) > time.Minute {
		t.Fatalf("good certificate: %+v, %v", r, err)
	}

	rc, rk := f.delegate(t, x509.ExtKeyUsageOCSPSigning)
	f.resp = ocspresponder.New(f.card.PKI.Issuing, rk, rc, func() time.Time { return f.now })
	if _, err := f.check(&ocsp.Checker{}); err != nil {
		t.Fatalf("authorised delegated responder: %v", err)
	}
	at := f.now.Add(-time.Hour).Truncate(time.Second)
	f.resp.Revoke(f.card.AuthCert.SerialNumber, at, 1)
	r, err = f.check(&ocsp.Checker{})
	if !errors.Is(err, ocsp.ErrRevoked) || !r.Revoked || !r.RevokedAt.Equal(at) || r.Reason != 1 {
		t.Fatalf("revoked: %+v, %v", r, err)
	}
}

func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture, c *ocsp.Checker)
		want  error
	}{
		{"responder down", func(t *testing.T, f *fixture, c *ocsp.Checker) { f.resp.Misbehave(false, 0, true) }, ocsp.ErrUnavailable},
		{"no responder named", func(t *testing.T, f *fixture, c *ocsp.Checker) {
			f.card.AuthCert.OCSPServer = nil
		}, ocsp.ErrUnavailable},
		{"nonce not echoed", func(t *testing.T, f *fixture, c *ocsp.Checker) { f.resp.Misbehave(true, 0, false) }, ocsp.ErrUnacceptable},
		{"stale", func(t *testing.T, f *fixture, c *ocsp.Checker) { f.resp.Misbehave(false, time.Hour, false) }, ocsp.ErrUnacceptable},
		{"stale for a stricter checker", func(t *testing.T, f *fixture, c *ocsp.Checker) {
			f.resp.Misbehave(false, 5*time.Minute, false)
			c.MaxAge = time.Minute
		}, ocsp.ErrUnacceptable},
		{"from the future", func(t *testing.T, f *fixture, c *ocsp.Checker) { f.resp.Misbehave(false, -time.Hour, false) }, ocsp.ErrUnacceptable},
		{"delegated responder without id-kp-OCSPSigning", func(t *testing.T, f *fixture, c *ocsp.Checker) {
			rc, rk := f.delegate(t, x509.ExtKeyUsageServerAuth)
			f.resp = ocspresponder.New(f.card.PKI.Issuing, rk, rc, func() time.Time { return f.now })
		}, ocsp.ErrUnacceptable},
		{"another CA's responder", func(t *testing.T, f *fixture, c *ocsp.Checker) {
			other, _ := testcard.New(testcard.Options{})
			f.resp = ocspresponder.New(other.PKI.Issuing, other.PKI.IssuingKey, nil, func() time.Time { return f.now })
		}, ocsp.ErrUnacceptable},
		{"tryLater", func(t *testing.T, f *fixture, c *ocsp.Checker) { c.Client = fixed(xocsp.TryLaterErrorResponse) }, ocsp.ErrUnavailable},
		{"garbage", func(t *testing.T, f *fixture, c *ocsp.Checker) { c.Client = fixed([]byte("<html>")) }, ocsp.ErrUnacceptable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := &ocsp.Checker{}
			tc.setup(t, f, c)
			r, err := f.check(c)
			if !errors.Is(err, tc.want) || r != (ocsp.Result{}) {
				t.Fatalf("got %+v, %v; want %v", r, err, tc.want)
			}
		})
	}
}

// TestCheckOverHTTP goes through the network client and a loopback
// responder, its URL overriding the certificate's.
func TestCheckOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := f.resp.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &ocsp.Checker{Client: ocsp.HTTP{}, ResponderURL: url}
	if r, err := c.Check(ctx, f.card.AuthCert, f.card.PKI.Issuing, time.Time{}); err != nil || r.Responder != url {
		t.Fatalf("over HTTP: %+v, %v", r, err)
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Check(context.Background(), f.card.AuthCert, f.card.PKI.Issuing, time.Time{}); !errors.Is(err, ocsp.ErrUnavailable) {
		t.Fatalf("responder gone: %v", err)
	}
}

// fixed is a client that answers the same bytes to every request.
type fixed []byte

func (b fixed) Query(context.Context, string, []byte) ([]byte, error) { return b, nil }

// FuzzCheck feeds responders' answers, bytes from outside, to the checker:
// it must never panic, and never call an answer good unless it is signed
// by the issuer and echoes the nonce, which random bytes cannot.
func FuzzCheck(f *testing.F) {
	fx := newFixture(f)
	good, err := fx.resp.Respond(mustRequest(f, fx))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(xocsp.TryLaterErrorResponse)
	f.Add(xocsp.MalformedRequestErrorResponse)
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		r, err := (&ocsp.Checker{Client: fixed(der)}).Check(context.Background(), fx.card.AuthCert, fx.card.PKI.Issuing, fx.now)
		if err == nil {
			t.Fatalf("accepted %x as good: %+v", der, r)
		}
		if !errors.Is(err, ocsp.ErrUnavailable) && !errors.Is(err, ocsp.ErrUnacceptable) && !errors.Is(err, ocsp.ErrRevoked) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// mustRequest is a request for the fixture's card, as the checker sends.
func mustRequest(t testing.TB, f *fixture) []byte {
	var req []byte
	c := &ocsp.Checker{Client: clientFunc(func(b []byte) ([]byte, error) { req = b; return nil, errors.New("captured") })}
	c.Check(context.Background(), f.card.AuthCert, f.card.PKI.Issuing, f.now)
	if req == nil {
		t.Fatal("no request captured")
	}
	return req
}

type clientFunc func([]byte) ([]byte, error)

func (fn clientFunc) Query(_ context.Context, _ string, b []byte) ([]byte, error) { return fn(b) }

// TestCheckOpenSSLResponder asks OpenSSL's responder (`openssl ocsp
// -index`): its answers are signed by the issuing CA with the CA's own
// certificate embedded (RFC 6960 §4.2.1 lets a response carry certificates
// that help verify it), which x/crypto/ocsp alone refuses, taking any
// embedded certificate for a delegated responder's. Good, revoked (time
// and reason) and unknown are read as OpenSSL meant them; another CA's
// answer, its own certificate embedded, is still refused.
func TestCheckOpenSSLResponder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	pki, cert := f.card.PKI, f.card.AuthCert
	peer := opensslocsp.New(t, pki.Issuing, pki.IssuingKey)
	c := &ocsp.Checker{Client: peer}
	peer.Valid(cert)
	if r, err := c.Check(ctx, cert, pki.Issuing, time.Time{}); err != nil || r.Revoked {
		t.Fatalf("good: %+v, %v", r, err)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	peer.Revoke(t, cert, at, 1)
	if r, err := c.Check(ctx, cert, pki.Issuing, time.Time{}); !errors.Is(err, ocsp.ErrRevoked) || !r.RevokedAt.Equal(at) || r.Reason != 1 {
		t.Fatalf("revoked: %+v, %v", r, err)
	}
	unknown := newFixture(t).card
	if _, err := c.Check(ctx, unknown.AuthCert, unknown.PKI.Issuing, time.Time{}); !errors.Is(err, ocsp.ErrUnacceptable) {
		t.Fatalf("a certificate the responder does not know, of another CA: %v", err)
	}
	stranger := opensslocsp.New(t, unknown.PKI.Issuing, unknown.PKI.IssuingKey)
	stranger.Valid(cert)
	if _, err := (&ocsp.Checker{Client: stranger}).Check(ctx, cert, pki.Issuing, time.Time{}); !errors.Is(err, ocsp.ErrUnacceptable) {
		t.Fatalf("another CA's answer with its certificate embedded: %v", err)
	}
	if peer.Calls() != 3 || stranger.Calls() != 1 {
		t.Fatalf("openssl answered %d and %d requests, want 3 and 1", peer.Calls(), stranger.Calls())
	}
}

// TestNonceOptional: a responder that answers without the nonce is refused
// unless it is listed in NonceOptional; a listed one whose answer carries
// another nonce (a replayed answer to someone else's request) is still
// refused, and freshness still applies to it.
func TestNonceOptional(t *testing.T) {
	const url = "http://ocsp.test.invalid/"
	f := newFixture(t)
	f.resp.Misbehave(true, 0, false)
	if _, err := f.check(&ocsp.Checker{}); !errors.Is(err, ocsp.ErrUnacceptable) {
		t.Fatalf("no nonce, not listed: %v", err)
	}
	if r, err := f.check(&ocsp.Checker{NonceOptional: []string{url}}); err != nil || r.Revoked {
		t.Fatalf("no nonce, listed: %+v, %v", r, err)
	}
	f.resp.Misbehave(true, time.Hour, false)
	if _, err := f.check(&ocsp.Checker{NonceOptional: []string{url}}); !errors.Is(err, ocsp.ErrUnacceptable) {
		t.Fatalf("listed, an hour old: %v", err)
	}
	f.resp.Misbehave(false, 0, false)
	other, err := f.resp.Respond(mustRequest(t, f)) // a nonce of another request
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.check(&ocsp.Checker{Client: fixed(other), NonceOptional: []string{url}}); !errors.Is(err, ocsp.ErrUnacceptable) {
		t.Fatalf("listed, another request's nonce: %v", err)
	}
}

// TestParseResponseChecksIssuer: an answer about a certificate of the same
// serial number from another CA that shares the issuer's key verifies
// under that key, and x/crypto/ocsp matches serial numbers alone; the
// CertID names the other CA, so it is refused (RFC 6960 §3.2 item 1).
// Found in review.
func TestParseResponseChecksIssuer(t *testing.T) {
	f := newFixture(t)
	pki, cert := f.card.PKI, f.card.AuthCert
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "another CA, the same key"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.Root, pki.IssuingKey.Public(), pki.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := x509.ParseCertificate(der)
	answer := func(issuer *x509.Certificate) []byte {
		der, err := xocsp.CreateResponse(issuer, issuer, xocsp.Response{Status: xocsp.Good, SerialNumber: cert.SerialNumber,
			ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, pki.IssuingKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	if _, err := ocsp.ParseResponse(answer(pki.Issuing), cert, pki.Issuing); err != nil {
		t.Fatalf("the issuer's own answer: %v", err)
	}
	if _, err := ocsp.ParseResponse(answer(other), cert, pki.Issuing); err == nil {
		t.Fatal("an answer about another CA's certificate of the same serial was taken")
	}
	if _, err := ocsp.ParseResponse(answer(pki.Issuing), cert, nil); err == nil {
		t.Fatal("parsed without an issuer to check the signature with")
	}
}
