package emrtd

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
)

// sign9796 makes an Active Authentication signature the way ICAO 9303-11
// §6.1 has the chip make it, with ISO/IEC 9796-2 digital signature scheme
// 1 and partial message recovery: M1 random, filling the capacity, M2 the
// terminal's challenge; F = 6A ‖ M1 ‖ H(M1 ‖ M2) ‖ trailer (BC for SHA-1,
// an ISO/IEC 10118-3 hash identifier and CC otherwise); the signature is
// F^d mod n, or n − that when complement is set (ISO/IEC 9796-2 lets a
// signer send the smaller of the two).
func sign9796(t *testing.T, k *rsa.PrivateKey, h crypto.Hash, trailer []byte, challenge []byte, complement bool) []byte {
	t.Helper()
	size := (k.N.BitLen() + 7) / 8
	m1 := make([]byte, size-1-h.Size()-len(trailer))
	if _, err := rand.Read(m1); err != nil {
		t.Fatal(err)
	}
	d := h.New()
	d.Write(m1)
	d.Write(challenge)
	f := append(append(append([]byte{0x6A}, m1...), d.Sum(nil)...), trailer...)
	s := new(big.Int).Exp(new(big.Int).SetBytes(f), k.D, k.N)
	if complement {
		s.Sub(k.N, s)
	}
	return s.FillBytes(make([]byte, size))
}

// RSA Active Authentication (ICAO 9303-11 §6.1: ISO/IEC 9796-2 digital
// signature scheme 1, the signature recovering part of the message, the
// challenge as the non-recoverable part), as most passports with an RSA
// DG15 answer INTERNAL AUTHENTICATE: SHA-1 with the implicit trailer BC,
// SHA-256 with the explicit trailer 34CC, and the complemented signature
// n − s. A signature over another challenge, altered, of the wrong length,
// or whose representative lacks the header 6A or a known trailer, fails
// with ErrActiveAuthentication.
func TestActiveAuthenticationRSA(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dg15 := append([]byte{0x6F, 0x81, byte(len(spki))}, spki...)
	key, err := ParseDG15(dg15)
	if err != nil || key.RSA == nil || key.RSA.N.Cmp(k.N) != 0 || key.Curve != nil {
		t.Fatalf("ParseDG15 of an RSA key: %+v, %v", key, err)
	}
	challenge := []byte{0xF1, 0x73, 0x58, 0x99, 0x74, 0xBF, 0x40, 0xC6}
	for name, sig := range map[string][]byte{
		"SHA-1, trailer BC":     sign9796(t, k, crypto.SHA1, []byte{0xBC}, challenge, false),
		"SHA-256, trailer 34CC": sign9796(t, k, crypto.SHA256, []byte{0x34, 0xCC}, challenge, false),
		"SHA-1, trailer 33CC":   sign9796(t, k, crypto.SHA1, []byte{0x33, 0xCC}, challenge, false),
		"SHA-1, complemented":   sign9796(t, k, crypto.SHA1, []byte{0xBC}, challenge, true),
	} {
		if err := checkActive(dg15, nil, challenge, sig); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	good := sign9796(t, k, crypto.SHA1, []byte{0xBC}, challenge, false)
	altered := bytes.Clone(good)
	altered[40] ^= 1
	other := bytes.Clone(challenge)
	other[0] ^= 1
	for name, c := range map[string]struct{ challenge, sig []byte }{
		"other challenge":       {other, good},
		"altered":               {challenge, altered},
		"short":                 {challenge, good[1:]},
		"long":                  {challenge, append([]byte{0}, good...)},
		"s ≥ n":                 {challenge, k.N.Bytes()},
		"trailer 34CC, SHA-1":   {challenge, sign9796(t, k, crypto.SHA1, []byte{0x34, 0xCC}, challenge, false)},
		"unknown trailer 99CC":  {challenge, sign9796(t, k, crypto.SHA1, []byte{0x99, 0xCC}, challenge, false)},
		"PKCS #1 v1.5 instead":  {challenge, pkcs1(t, k, challenge)},
		"no signature (probe)":  {challenge, nil},
		"empty signature bytes": {challenge, []byte{}},
	} {
		if err := checkActive(dg15, nil, c.challenge, c.sig); !errors.Is(err, ErrActiveAuthentication) {
			t.Errorf("%s: %v, want ErrActiveAuthentication", name, err)
		}
	}
}

func pkcs1(t *testing.T, k *rsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	d := crypto.SHA1.New()
	d.Write(msg)
	s, err := rsa.SignPKCS1v15(nil, k, crypto.SHA1, d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzCheckActiveRSA feeds an RSA Active Authentication signature, from
// the chip or from a disclosure, to its check under a fixed DG15 key: an
// error is ErrActiveAuthentication, never a panic.
func FuzzCheckActiveRSA(f *testing.F) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	dg15 := append([]byte{0x6F, 0x81, byte(len(spki))}, spki...)
	challenge := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	f.Add(make([]byte, 128))
	f.Add(k.N.Bytes())
	f.Fuzz(func(t *testing.T, sig []byte) {
		if err := checkActive(dg15, nil, challenge, sig); err != nil && !errors.Is(err, ErrActiveAuthentication) {
			t.Fatalf("error %v", err)
		}
	})
}
