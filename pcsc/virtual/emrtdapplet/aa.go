package emrtdapplet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"math/big"

	"github.com/puce-id/puce/pcsc/apdu"
)

// The chip's side of Active Authentication (ICAO 9303-11 §6.1) with an
// ECDSA key: INTERNAL AUTHENTICATE signs the terminal's 8-byte challenge
// with SHA-256 and answers the plain signature r ‖ s (BSI TR-03111 §5.2.1).

// oidECDSAPlainSHA256 is ecdsa-plain-SHA256 (BSI TR-03111 §5.2.1), named in
// DG14's ActiveAuthenticationInfo.
var oidECDSAPlainSHA256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}

// buildDG15 is 6F { SubjectPublicKeyInfo } (ICAO 9303-10 §4.7.15).
func buildDG15(k *ecdsa.PrivateKey) ([]byte, error) {
	spki, err := ecSPKI(k.Curve, point{k.X, k.Y}, false)
	if err != nil {
		return nil, err
	}
	return tlv(0x6F, spki), nil
}

func newAAKey(rnd io.Reader) (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rnd)
}

// internalAuthenticate signs the challenge (Active Authentication). It
// answers only after BAC or PACE, as every command but EF.CardAccess.
func (a *Applet) internalAuthenticate(cmd apdu.Command) apdu.Response {
	if a.aa == nil && a.aaRSA == nil {
		return apdu.Status(apdu.SWINSNotSupported)
	}
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return apdu.Status(apdu.SWWrongP1P2)
	}
	if a.level == accessNone {
		return apdu.Status(apdu.SWSecurityStatus)
	}
	if len(cmd.Data) != 8 {
		return apdu.Status(apdu.SWWrongLength)
	}
	if a.aaRSA != nil {
		sig, err := sign9796(a.rand, a.aaRSA, cmd.Data)
		if err != nil {
			return apdu.Status(apdu.SWNoPreciseDiagnosis)
		}
		return apdu.Response{Data: sig, SW: apdu.SWOK}
	}
	h := sha256.Sum256(cmd.Data)
	r, s, err := ecdsa.Sign(a.rand, a.aa, h[:])
	if err != nil {
		return apdu.Status(apdu.SWNoPreciseDiagnosis)
	}
	n := (a.aa.Curve.Params().N.BitLen() + 7) / 8
	sig := make([]byte, 2*n)
	r.FillBytes(sig[:n])
	s.FillBytes(sig[n:])
	return apdu.Response{Data: sig, SW: apdu.SWOK}
}

// buildDG15RSA is 6F { SubjectPublicKeyInfo } of an RSA key (ICAO 9303-10
// §4.7.15).
func buildDG15RSA(k *rsa.PrivateKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return tlv(0x6F, spki), nil
}

// sign9796 is the chip's RSA Active Authentication signature (ICAO 9303-11
// §6.1): ISO/IEC 9796-2 digital signature scheme 1 with partial message
// recovery and SHA-1. M1 is a random nonce filling the representative, M2
// the terminal's challenge; F = 6A ‖ M1 ‖ SHA-1(M1 ‖ M2) ‖ BC (header 6A:
// partial recovery, no padding; trailer BC: implicit hash), signed with
// the private exponent.
func sign9796(rnd io.Reader, k *rsa.PrivateKey, challenge []byte) ([]byte, error) {
	size := (k.N.BitLen() + 7) / 8
	m1 := make([]byte, size-1-sha1.Size-1)
	if _, err := io.ReadFull(rnd, m1); err != nil {
		return nil, err
	}
	d := sha1.New()
	d.Write(m1)
	d.Write(challenge)
	f := append(append(append([]byte{0x6A}, m1...), d.Sum(nil)...), 0xBC)
	s := new(big.Int).Exp(new(big.Int).SetBytes(f), k.D, k.N)
	return s.FillBytes(make([]byte, size)), nil
}
