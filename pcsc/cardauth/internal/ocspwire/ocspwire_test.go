package ocspwire_test

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/internal/ocspwire"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestSetResponseNonce: the nonce set in a response x/crypto/ocsp made is
// read back from its responseExtensions, and the response, signed again,
// still verifies under the issuer as x/crypto/ocsp checks it.
func TestSetResponseNonce(t *testing.T) {
	card, der, now := goodAnswer(t)
	pki := card.PKI
	if n, err := ocspwire.ResponseNonce(mustParse(t, der, pki).TBSResponseData); err != nil || n != nil {
		t.Fatalf("no nonce yet: %x, %v", n, err)
	}
	nonce := bytes.Repeat([]byte{0x5a}, 32)
	with, err := ocspwire.SetResponseNonce(der, nonce, pki.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	resp := mustParse(t, with, pki)
	if n, err := ocspwire.ResponseNonce(resp.TBSResponseData); err != nil || !bytes.Equal(n, nonce) {
		t.Fatalf("nonce read back: %x, %v", n, err)
	}
	if resp.Status != xocsp.Good || !resp.ThisUpdate.Equal(now) || len(resp.Extensions) != 0 {
		t.Fatalf("response changed: %+v", resp)
	}
}

func mustParse(t testing.TB, der []byte, pki testcard.PKI) *xocsp.Response {
	t.Helper()
	resp, err := xocsp.ParseResponse(der, pki.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// FuzzResponseNonce: the reader of a response's data refuses or reads,
// never panics, and a nonce it reads is the content of an OCTET STRING
// among the bytes given (RFC 8954 §2.1), not something made up.
func FuzzResponseNonce(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x16, 0xa1, 0x03, 0x02, 0x01, 0x00, 0x18, 0x0f, '2', '0', '2', '6', '1', '2', '0', '6', '0', '0', '0', '0', '0', '0', 'Z'})
	card, der, _ := goodAnswer(f)
	with, err := ocspwire.SetResponseNonce(der, bytes.Repeat([]byte{0x5a}, 32), card.PKI.IssuingKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustParse(f, with, card.PKI).TBSResponseData)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ocspwire.ResponseNonce(b)
		if err != nil && n != nil {
			t.Fatalf("a nonce %x with an error %v", n, err)
		}
		if !bytes.Contains(b, n) {
			t.Fatalf("nonce %x is not in %x", n, b)
		}
	})
}

// FuzzCheckCertID: the CertID check reads what a response's data holds: it
// refuses or accepts, never panics.
func FuzzCheckCertID(f *testing.F) {
	card, der, _ := goodAnswer(f)
	pki := card.PKI
	resp, err := xocsp.ParseResponse(der, pki.Issuing)
	if err != nil {
		f.Fatal(err)
	}
	if err := ocspwire.CheckCertID(resp.TBSResponseData, card.AuthCert.SerialNumber, pki.Issuing); err != nil {
		f.Fatalf("the issuer's own answer: %v", err)
	}
	f.Add(resp.TBSResponseData)
	f.Add([]byte{0x30, 0x00})
	// RFC 6960 §4.1.1: a CertID names the issuer by the hashes of its name
	// and key, under one algorithm. Whatever is accepted holds both.
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(pki.Issuing.RawSubjectPublicKeyInfo, &spki); err != nil {
		f.Fatal(err)
	}
	var issuerHashes [][2][]byte
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		n, k := h.New(), h.New()
		n.Write(pki.Issuing.RawSubject)
		k.Write(spki.PublicKey.RightAlign())
		issuerHashes = append(issuerHashes, [2][]byte{n.Sum(nil), k.Sum(nil)})
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ocspwire.CheckCertID(b, card.AuthCert.SerialNumber, pki.Issuing) != nil {
			return
		}
		for _, h := range issuerHashes {
			if bytes.Contains(b, h[0]) && bytes.Contains(b, h[1]) {
				return
			}
		}
		t.Fatalf("accepted a CertID without the issuer's hashes: %x", b)
	})
}

// goodAnswer is x/crypto/ocsp's "good" answer about a test card's
// certificate, signed by its issuing CA, no nonce; now is its thisUpdate.
func goodAnswer(t testing.TB) (*testcard.Card, []byte, time.Time) {
	t.Helper()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	now := time.Now().Truncate(time.Second)
	der, err := xocsp.CreateResponse(pki.Issuing, pki.Issuing, xocsp.Response{Status: xocsp.Good, SerialNumber: card.AuthCert.SerialNumber,
		ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, pki.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	return card, der, now
}
