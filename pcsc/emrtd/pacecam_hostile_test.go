package emrtd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

// hostileAnswer is a last GENERAL AUTHENTICATE answer whose A_IC a hostile
// chip, which knows KSenc as any PACE party does, made from plain of its
// choice (no padding added: plain is encrypted as given, whole blocks).
func (v camVector) hostileAnswer(t testing.TB, plain []byte) []byte {
	t.Helper()
	iv, err := camIV(CipherAES128, v.ksEnc)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := newBlock(CipherAES128, v.ksEnc)
	aIC := cbcEncrypt(blk, iv, plain)
	b := []byte{0x86, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x8A, 0x81, byte(len(aIC))}
	b = append(b, aIC...)
	return append([]byte{0x7C, 0x81, byte(len(b))}, b...)
}

// caOf is the vector's CA_IC (newCAMVector's keys).
func caOf() *big.Int {
	n := elliptic.P256().Params().N
	ca := new(big.Int).ModInverse(big.NewInt(0x1234567), n)
	return ca.Mul(ca, new(big.Int).SetBytes(bytes.Repeat([]byte{0x5A}, 31))).Mod(ca, n)
}

// infosWith is EF.CardSecurity's SecurityInfos holding one
// ChipAuthenticationPublicKeyInfo with the given SubjectPublicKeyInfo.
func infosWith(t testing.TB, spki []byte) []byte {
	t.Helper()
	info, err := asn1.Marshal(struct {
		Protocol asn1.ObjectIdentifier
		Key      asn1.RawValue
	}{oidPKECDH, asn1.RawValue{FullBytes: spki}})
	if err != nil {
		t.Fatal(err)
	}
	infos, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: info})
	return infos
}

// A hostile chip knows KSenc and so chooses CA_IC's plaintext freely:
// zero, n, n+1, n-CA_IC (which gives -PK_Map,IC, the same x-coordinate),
// a value one byte too long, no padding, only padding, bad padding, six
// blocks. Each is ErrPACECAM, with the same error for a padding failure
// as for a wrong point as far as a caller branches (errors.Is): the reader
// ends the PACE run at the first failure and never decrypts twice under
// one KSenc, so no padding oracle arises (ICAO 9303-11 §4.4.3.5). A
// CA_IC sent without its leading zero bytes is the same integer and
// verifies. EF.CardSecurity keys off the curve, at infinity, or on another
// curve than PACE's give ErrPACECAM too.
func TestPACECAMHostileChip(t *testing.T) {
	v := newCAMVector(t)
	n := elliptic.P256().Params().N
	field := func(x *big.Int) []byte { return x.FillBytes(make([]byte, 32)) }
	ca := caOf()
	neg := new(big.Int).Sub(n, ca)
	for _, c := range []struct {
		name  string
		plain []byte
		ok    bool
	}{
		{"genuine", pad(field(ca), 16), true},
		{"leading zeros dropped", pad(ca.Bytes(), 16), true},
		{"zero", pad(make([]byte, 32), 16), false},
		{"n", pad(field(n), 16), false},
		{"n+1", pad(field(new(big.Int).Add(n, big.NewInt(1))), 16), false},
		{"n-CA_IC", pad(field(neg), 16), false},
		{"33 bytes", pad(append([]byte{0}, field(ca)...), 16), false},
		{"unpadded", append(field(ca)[:16:16], field(ca)[16:]...), false},
		{"padding only", pad(nil, 16), false},
		{"bad padding", append(field(ca), bytes.Repeat([]byte{0x01}, 16)...), false},
		{"six blocks", pad(append(make([]byte, 64), field(ca)...), 16), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := v.check(v.hostileAnswer(t, c.plain), v.infos)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrPACECAM)) {
				t.Fatalf("%v", err)
			}
		})
	}
	// EF.CardSecurity's key: off the curve, the point at infinity (no
	// uncompressed encoding; 00 is its octet string), on P-384.
	c := elliptic.P256()
	skIC := big.NewInt(0x1234567)
	px, py := c.ScalarBaseMult(skIC.Bytes())
	good, err := x509.MarshalPKIXPublicKey(&ecdsa.PublicKey{Curve: c, X: px, Y: py})
	if err != nil {
		t.Fatal(err)
	}
	off := bytes.Clone(good)
	off[len(off)-1] ^= 1
	inf := bytes.Clone(good[:len(good)-65])
	inf[1] -= 64          // outer SEQUENCE length
	inf[len(inf)-1] -= 64 // BIT STRING length
	inf = append(inf, 0x00)
	qx, qy := elliptic.P384().ScalarBaseMult(skIC.Bytes())
	p384, err := x509.MarshalPKIXPublicKey(&ecdsa.PublicKey{Curve: elliptic.P384(), X: qx, Y: qy})
	if err != nil {
		t.Fatal(err)
	}
	for name, spki := range map[string][]byte{"off the curve": off, "at infinity": inf, "P-384": p384} {
		if err := v.check(v.answer, infosWith(t, spki)); !errors.Is(err, ErrPACECAM) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := v.check(v.answer, infosWith(t, good)); err != nil {
		t.Fatalf("the key itself: %v", err)
	}
}

// A hostile EF.CardSecurity, read at Open before its signature can be
// checked, lists the same key a thousand times on brainpoolP512r1 (one
// scalar multiplication there takes about 10 ms): the check must not cost
// one multiplication per key. It recovers PK_IC = CA_IC^-1 · PK_Map,IC once
// and compares (the curves of ICAO 9303-11 Table 6 have prime order, so
// the equation is the same).
func TestPACECAMManyKeys(t *testing.T) {
	c := paceCurveMust(t, 17)
	n := c.Params().N
	skIC, skMap := big.NewInt(0x1234567), new(big.Int).SetBytes(bytes.Repeat([]byte{0x5A}, 60))
	ca := new(big.Int).ModInverse(skIC, n)
	ca.Mul(ca, skMap).Mod(ca, n)
	size := (c.Params().BitSize + 7) / 8
	px, py := c.ScalarBaseMult(skIC.FillBytes(make([]byte, size)))
	mx, my := c.ScalarBaseMult(skMap.FillBytes(make([]byte, size)))
	ox, oy := c.ScalarBaseMult(big.NewInt(7).FillBytes(make([]byte, size)))
	one := func(x, y *big.Int) []byte {
		spki, err := asn1.Marshal(struct {
			Alg struct {
				OID asn1.ObjectIdentifier
				ID  int
			}
			Key asn1.BitString
		}{struct {
			OID asn1.ObjectIdentifier
			ID  int
		}{oidStandardizedDP, 17}, asn1.BitString{Bytes: encodePoint(x, y, size), BitLength: 8 * (1 + 2*size)}})
		if err != nil {
			t.Fatal(err)
		}
		info, err := asn1.Marshal(struct {
			Protocol asn1.ObjectIdentifier
			Key      asn1.RawValue
		}{oidPKECDH, asn1.RawValue{FullBytes: spki}})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	var body []byte
	other := one(ox, oy)
	for range 1000 {
		body = append(body, other...)
	}
	body = append(body, one(px, py)...)
	raw, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: body})
	list, err := parseSecurityInfos(raw, "EF.CardSecurity")
	if err != nil {
		t.Fatal(err)
	}
	d := &camData{curve: c, caIC: ca, pkMapIC: encodePoint(mx, my, size)}
	start := time.Now()
	key, err := d.verify(list)
	took := time.Since(start)
	if err != nil || key.X.Cmp(px) != 0 {
		t.Fatalf("the last of 1001 keys: %v", err)
	}
	if took > 3*time.Second {
		t.Fatalf("1001 keys took %v", took)
	}
	t.Logf("1001 keys on brainpoolP512r1: %v", took)
}

func paceCurveMust(t testing.TB, id int) elliptic.Curve {
	t.Helper()
	c, ok := paceCurve(id)
	if !ok {
		t.Fatal(id)
	}
	return c
}
