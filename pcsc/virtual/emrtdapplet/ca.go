package emrtdapplet

import (
	"bytes"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sort"

	"github.com/osanderson/brainpool"

	"github.com/puce-id/puce/pcsc/apdu"
)

// The chip's side of Chip Authentication (ICAO 9303-11 §6.2; BSI
// TR-03110-1 §3.4, version 1), written apart from pcsc/emrtd's host side.

// chipKey is the chip's static key agreement key pair, whose public half
// DG14 carries.
type chipKey struct {
	curve elliptic.Curve
	d     []byte
	pub   point
	oid   asn1.ObjectIdentifier // id-CA-ECDH-*
	suite suite
}

// Object identifiers of DG14 (BSI TR-03110-3 §A.1.1, ICAO 9303-11 §9.2).
var (
	oidIDPKECDH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 2}
	oidIDTA       = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2}
	oidIDCAECDH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2}
	oidIDECPubKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidIDAA       = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}
	oidPrimeField = asn1.ObjectIdentifier{1, 2, 840, 10045, 1, 1}
)

// curveOIDOf names the curves (RFC 5480, RFC 5639).
func curveOIDOf(c elliptic.Curve) (asn1.ObjectIdentifier, bool) {
	switch c {
	case curveP192():
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, true
	case brainpool.P192r1():
		return asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 3}, true
	case elliptic.P224():
		return asn1.ObjectIdentifier{1, 3, 132, 0, 33}, true
	case elliptic.P256():
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, true
	case elliptic.P384():
		return asn1.ObjectIdentifier{1, 3, 132, 0, 34}, true
	case elliptic.P521():
		return asn1.ObjectIdentifier{1, 3, 132, 0, 35}, true
	case brainpool.P224r1():
		return asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 5}, true
	case brainpool.P256r1():
		return asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, true
	case brainpool.P320r1():
		return asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 9}, true
	case brainpool.P384r1():
		return asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}, true
	case brainpool.P512r1():
		return asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}, true
	}
	return nil, false
}

// brainpoolP256r1AB are a and b of brainpoolP256r1 (RFC 5639 §3.4), which
// elliptic.CurveParams does not carry.
func brainpoolP256r1AB() (a, b *big.Int) {
	a, _ = new(big.Int).SetString("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9", 16)
	b, _ = new(big.Int).SetString("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6", 16)
	return a, b
}

// explicitParams encodes ECParameters with the domain spelled out (RFC 3279
// §2.3.5), as many issuers write DG14 (BSI TR-03111 §4.1.1). Only the curves
// whose a the card knows: the NIST ones and brainpoolP256r1.
func explicitParams(c elliptic.Curve) ([]byte, error) {
	p := c.Params()
	var a, b *big.Int
	switch c {
	case elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521():
		a, b = new(big.Int).Sub(p.P, big.NewInt(3)), p.B
	case brainpool.P256r1():
		a, b = brainpoolP256r1AB()
	default:
		return nil, fmt.Errorf("%w: no explicit parameters for %s", ErrProfile, p.Name)
	}
	n := coordLen(c)
	type fieldID struct {
		Type  asn1.ObjectIdentifier
		Prime *big.Int
	}
	type curve struct{ A, B []byte }
	return asn1.Marshal(struct {
		Version  int
		Field    fieldID
		Curve    curve
		Base     []byte
		Order    *big.Int
		Cofactor int
	}{1, fieldID{oidPrimeField, p.P}, curve{a.FillBytes(make([]byte, n)), b.FillBytes(make([]byte, n))},
		point{p.Gx, p.Gy}.bytes(c), p.N, 1})
}

// ecSPKI encodes a SubjectPublicKeyInfo for an EC point (RFC 5480).
func ecSPKI(c elliptic.Curve, pub point, explicit bool) ([]byte, error) {
	var params []byte
	if explicit {
		var err error
		if params, err = explicitParams(c); err != nil {
			return nil, err
		}
	} else {
		oid, ok := curveOIDOf(c)
		if !ok {
			return nil, fmt.Errorf("%w: no OID for %s", ErrProfile, c.Params().Name)
		}
		params, _ = asn1.Marshal(oid)
	}
	return asn1.Marshal(struct {
		Alg struct {
			OID    asn1.ObjectIdentifier
			Params asn1.RawValue
		}
		Key asn1.BitString
	}{struct {
		OID    asn1.ObjectIdentifier
		Params asn1.RawValue
	}{oidIDECPubKey, asn1.RawValue{FullBytes: params}}, asn1.BitString{Bytes: pub.bytes(c), BitLength: 8 * len(pub.bytes(c))}})
}

// newChipKey draws the chip's key pair.
func newChipKey(c elliptic.Curve, s suite, rnd io.Reader) (*chipKey, error) {
	a := &Applet{rand: rnd}
	d, err := a.scalar(c)
	if err != nil {
		return nil, err
	}
	x, y := c.ScalarBaseMult(d)
	return &chipKey{curve: c, d: d, pub: point{x, y}, oid: append(append(asn1.ObjectIdentifier{}, oidIDCAECDH...), int(s)), suite: s}, nil
}

// securityInfos encodes DG14's content (ICAO 9303-11 §9.2): the DER SET OF
// sorted by encoding (X.690 §11.6).
func securityInfos(infos ...any) ([]byte, error) {
	var enc [][]byte
	for _, i := range infos {
		b, err := asn1.Marshal(i)
		if err != nil {
			return nil, err
		}
		enc = append(enc, b)
	}
	sort.Slice(enc, func(i, j int) bool { return bytes.Compare(enc[i], enc[j]) < 0 })
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(enc, nil)})
}

// buildDG14 is 6E { SecurityInfos }: with a Chip Authentication key k,
// ChipAuthenticationInfo (version 1), ChipAuthenticationPublicKeyInfo and
// TerminalAuthenticationInfo (version 1); ActiveAuthenticationInfo when the
// chip has an ECDSA Active Authentication key; and every SecurityInfo of
// EF.CardAccess (cardAccess, nil without PACE) as encoded there (ICAO
// 9303-11 §9.2.11).
func buildDG14(k *chipKey, explicit bool, aaAlg asn1.ObjectIdentifier, cardAccess []byte) ([]byte, error) {
	type info struct {
		Protocol asn1.ObjectIdentifier
		Required asn1.RawValue
	}
	type infoOpt struct {
		Protocol asn1.ObjectIdentifier
		Required asn1.RawValue
		Optional asn1.RawValue
	}
	one, _ := asn1.Marshal(1)
	var list []any
	if k != nil {
		spki, err := ecSPKI(k.curve, k.pub, explicit)
		if err != nil {
			return nil, err
		}
		list = append(list,
			info{k.oid, asn1.RawValue{FullBytes: one}},
			info{oidIDPKECDH, asn1.RawValue{FullBytes: spki}},
			info{oidIDTA, asn1.RawValue{FullBytes: one}})
	}
	if cardAccess != nil {
		var set asn1.RawValue
		if rest, err := asn1.Unmarshal(cardAccess, &set); err != nil || len(rest) != 0 || set.Tag != asn1.TagSet {
			return nil, fmt.Errorf("%w: EF.CardAccess is no SET", ErrProfile)
		}
		for b := set.Bytes; len(b) > 0; {
			var el asn1.RawValue
			rest, err := asn1.Unmarshal(b, &el)
			if err != nil {
				return nil, fmt.Errorf("%w: EF.CardAccess: %v", ErrProfile, err)
			}
			list, b = append(list, el), rest
		}
	}
	if aaAlg != nil {
		alg, _ := asn1.Marshal(aaAlg)
		list = append(list, infoOpt{oidIDAA, asn1.RawValue{FullBytes: one}, asn1.RawValue{FullBytes: alg}})
	}
	set, err := securityInfos(list...)
	if err != nil {
		return nil, err
	}
	return tlv(0x6E, set), nil
}

// caKAT is MSE:Set KAT (ICAO 9303-11 §6.2.4.1, 3DES): 91 ephemeral public
// key, 84 key reference. It agrees the keys at once; secure messaging
// switches after the answer.
func (a *Applet) caKAT(cmd apdu.Command) apdu.Response {
	if a.ca == nil || a.ca.suite != suite3DES {
		return apdu.Status(apdu.SWFuncNotSupported)
	}
	if a.sm == nil || a.chipAuthenticated {
		return apdu.Status(apdu.SWConditions)
	}
	objs, err := apdu.DecodeTLVs(cmd.Data)
	if err != nil {
		return apdu.Status(apdu.SWWrongData)
	}
	var pk []byte
	for _, o := range objs {
		switch o.Tag {
		case 0x91:
			pk = o.Value
		case 0x84:
		default:
			return apdu.Status(apdu.SWWrongData)
		}
	}
	return a.caAgree(pk)
}

// caSetAT is MSE:Set AT for Chip Authentication (§6.2.4.2): 80 protocol,
// 84 key reference.
func (a *Applet) caSetAT(cmd apdu.Command) apdu.Response {
	if a.ca == nil {
		return apdu.Status(apdu.SWFuncNotSupported)
	}
	if a.sm == nil || a.chipAuthenticated {
		return apdu.Status(apdu.SWConditions)
	}
	objs, err := apdu.DecodeTLVs(cmd.Data)
	if err != nil {
		return apdu.Status(apdu.SWWrongData)
	}
	oid, _ := asn1.Marshal(a.ca.oid)
	ok := false
	for _, o := range objs {
		switch o.Tag {
		case 0x80:
			ok = bytes.Equal(o.Value, oid[2:])
		case 0x84:
		default:
			return apdu.Status(apdu.SWWrongData)
		}
	}
	if !ok {
		return apdu.Status(apdu.SWReferencedDataNotFound)
	}
	a.caPending = true
	return apdu.Status(apdu.SWOK)
}

// caGeneralAuthenticate takes 7C { 80 ephemeral public key } and answers an
// empty 7C (§6.2.4.2).
func (a *Applet) caGeneralAuthenticate(cmd apdu.Command) apdu.Response {
	a.caPending = false
	t, rest, err := apdu.DecodeTLV(cmd.Data)
	if err != nil || t.Tag != 0x7C || len(rest) != 0 {
		return apdu.Status(apdu.SWWrongData)
	}
	in, _, err := apdu.DecodeTLV(t.Value)
	if err != nil || in.Tag != 0x80 {
		return apdu.Status(apdu.SWWrongData)
	}
	r := a.caAgree(in.Value)
	if r.SW != apdu.SWOK {
		return r
	}
	return apdu.Response{Data: []byte{0x7C, 0x00}, SW: apdu.SWOK}
}

// caAgree computes K = x(SK_IC · PK_PCD), derives the session keys and
// schedules the switch to them with the counter at zero (§6.2.1, §9.8).
func (a *Applet) caAgree(pkPCD []byte) apdu.Response {
	k := a.ca
	pk, ok := parsePoint(k.curve, pkPCD)
	if !ok {
		return apdu.Status(apdu.SWWrongData)
	}
	kx, ky := k.curve.ScalarMult(pk.x, pk.y, k.d)
	if (point{kx, ky}).infinity() {
		return apdu.Status(apdu.SWWrongData)
	}
	shared := kx.FillBytes(make([]byte, coordLen(k.curve)))
	enc, mac := deriveKey(k.suite, shared, 1), deriveKey(k.suite, shared, 2)
	if k.suite == suite3DES {
		enc, mac = fixParity(enc), fixParity(mac)
	}
	sm, err := newSession(k.suite, enc, mac, make([]byte, k.suite.block()))
	if err != nil {
		return apdu.Status(apdu.SWNoPreciseDiagnosis)
	}
	a.nextSM, a.chipAuthenticated = sm, true
	a.compPCD = pk.x.FillBytes(make([]byte, coordLen(k.curve)))
	return apdu.Status(apdu.SWOK)
}
