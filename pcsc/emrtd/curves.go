package emrtd

import (
	"crypto"
	"crypto/elliptic"
	"encoding/asn1"
	"math/big"

	"github.com/osanderson/brainpool"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Named curves of X.509 and CV certificates, DG14 and DG15: the NIST curves
// (RFC 5480 §2.1.1.1, SEC 2) and the Brainpool curves (RFC 5639 §4.1).
var namedCurves = []struct {
	oid   asn1.ObjectIdentifier
	curve func() elliptic.Curve
}{
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, p192},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 33}, elliptic.P224},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 3}, brainpool.P192r1},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 5}, brainpool.P224r1},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, brainpool.P256r1},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 9}, brainpool.P320r1},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}, brainpool.P384r1},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}, brainpool.P512r1},
}

// curveByOID returns the named curve.
func curveByOID(oid asn1.ObjectIdentifier) (elliptic.Curve, bool) {
	for _, c := range namedCurves {
		if oid.Equal(c.oid) {
			return c.curve(), true
		}
	}
	return nil, false
}

// curveByDomain finds the supported curve with the prime p, the order n and
// the base point (gx, gy) given explicitly (ECParameters of RFC 3279
// §2.3.5, or the 81-87 objects of a CV certificate). Those three identify
// the curve among the supported ones; a and b are checked by the caller
// where present, as the base point lies on only one of them.
func curveByDomain(p, n, gx, gy *big.Int) (elliptic.Curve, bool) {
	for _, c := range namedCurves {
		cp := c.curve().Params()
		if cp.P.Cmp(p) == 0 && cp.N.Cmp(n) == 0 && cp.Gx.Cmp(gx) == 0 && cp.Gy.Cmp(gy) == 0 {
			return c.curve(), true
		}
	}
	return nil, false
}

// curveA returns the coefficient a of y² = x³ + ax + b, which
// elliptic.CurveParams leaves out (it assumes a = -3, true of the NIST
// curves but not of the Brainpool r1 curves, RFC 5639 §3). Only the curves
// whose CV certificates this package writes are listed.
func curveA(curve elliptic.Curve) (a, b *big.Int, ok bool) {
	switch curve {
	case elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521():
		p := curve.Params()
		return new(big.Int).Sub(p.P, big.NewInt(3)), p.B, true
	case brainpool.P256r1():
		// RFC 5639 §3.4.
		a, _ := new(big.Int).SetString("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9", 16)
		b, _ := new(big.Int).SetString("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6", 16)
		return a, b, true
	}
	return nil, nil, false
}

// parseECParameters reads the parameters of an id-ecPublicKey algorithm
// identifier: a named curve OID, or explicit ECParameters { version,
// fieldID { prime-field, p }, curve { a, b, seed }, base, order, cofactor }
// (RFC 3279 §2.3.5, as eMRTD chips write them in DG14 and DG15, BSI
// TR-03111 §4.1.1).
func parseECParameters(der []byte) (elliptic.Curve, bool) {
	in := cryptobyte.String(der)
	if in.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		var oid asn1.ObjectIdentifier
		if !in.ReadASN1ObjectIdentifier(&oid) || !in.Empty() {
			return nil, false
		}
		return curveByOID(oid)
	}
	var seq, field, curveSeq cryptobyte.String
	var version int64
	var fieldType asn1.ObjectIdentifier
	p, n := new(big.Int), new(big.Int)
	var a, b, base []byte
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 1 ||
		!seq.ReadASN1(&field, cbasn1.SEQUENCE) || !field.ReadASN1ObjectIdentifier(&fieldType) ||
		!fieldType.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 1, 1}) || !field.ReadASN1Integer(p) ||
		!seq.ReadASN1(&curveSeq, cbasn1.SEQUENCE) ||
		!curveSeq.ReadASN1Bytes(&a, cbasn1.OCTET_STRING) || !curveSeq.ReadASN1Bytes(&b, cbasn1.OCTET_STRING) ||
		!seq.ReadASN1Bytes(&base, cbasn1.OCTET_STRING) || !seq.ReadASN1Integer(n) {
		return nil, false
	}
	if p.Sign() <= 0 {
		return nil, false
	}
	size := (p.BitLen() + 7) / 8
	if len(base) != 1+2*size || base[0] != 0x04 {
		return nil, false
	}
	c, ok := curveByDomain(p, n, new(big.Int).SetBytes(base[1:1+size]), new(big.Int).SetBytes(base[1+size:]))
	if !ok {
		return nil, false
	}
	if ca, cb, known := curveA(c); known && (ca.Cmp(new(big.Int).SetBytes(a)) != 0 || cb.Cmp(new(big.Int).SetBytes(b)) != 0) {
		return nil, false
	}
	return c, true
}

// ecdsaVerify verifies an ECDSA signature (r, s) over a digest on any
// elliptic.Curve (FIPS 186-5 §6.4.2), with the curve's own arithmetic:
// crypto/ecdsa computes on the NIST curves only, and eMRTD PKIs also sign
// with Brainpool keys (BSI TR-03111 §4.2.1). The public point must have
// been checked to lie on the curve.
func ecdsaVerify(curve elliptic.Curve, qx, qy *big.Int, digest []byte, r, s *big.Int) bool {
	n := curve.Params().N
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return false
	}
	e := hashToInt(digest, n)
	w := new(big.Int).ModInverse(s, n)
	if w == nil {
		return false
	}
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, n)
	x1, y1 := curve.ScalarBaseMult(u1.Bytes())
	x2, y2 := curve.ScalarMult(qx, qy, u2.Bytes())
	var x, y *big.Int
	if x1.Cmp(x2) == 0 && y1.Cmp(y2) == 0 {
		x, y = curve.Double(x1, y1)
	} else {
		x, y = curve.Add(x1, y1, x2, y2)
	}
	if x.Sign() == 0 && y.Sign() == 0 {
		return false
	}
	x.Mod(x, n)
	return x.Cmp(r) == 0
}

// hashToInt takes the leftmost bits of the digest, as many as the order has
// (FIPS 186-5 §6.4.1 step 4).
func hashToInt(digest []byte, n *big.Int) *big.Int {
	bits := n.BitLen()
	if len(digest) > (bits+7)/8 {
		digest = digest[:(bits+7)/8]
	}
	e := new(big.Int).SetBytes(digest)
	if excess := len(digest)*8 - bits; excess > 0 {
		e.Rsh(e, uint(excess))
	}
	return e
}

// ecdsaHash is the hash for an ECDSA signature over a curve of this size
// when the algorithm does not say (BSI TR-03111 §4.2.1 pairs them).
func ecdsaHash(curve elliptic.Curve) crypto.Hash {
	switch bits := curve.Params().BitSize; {
	case bits <= 256:
		return crypto.SHA256
	case bits <= 384:
		return crypto.SHA384
	}
	return crypto.SHA512
}
