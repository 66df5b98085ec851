package emrtd

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/osanderson/brainpool"

	"github.com/puce-id/puce/pcsc/apdu"
)

// paceCipher maps a PACE protocol OID to its cipher (ICAO 9303-11 §9.2.1).
// Only generic mapping over ECDH is implemented.
func paceCipher(oid asn1.ObjectIdentifier) (Cipher, bool) {
	switch {
	case oid.Equal(oidPACEECDHGM3DES):
		return Cipher3DES, true
	case oid.Equal(oidPACEECDHGMAES128):
		return CipherAES128, true
	case oid.Equal(oidPACEECDHGMAES192):
		return CipherAES192, true
	case oid.Equal(oidPACEECDHGMAES256):
		return CipherAES256, true
	}
	return 0, false
}

// p192 is NIST P-192 (FIPS 186-4 §D.1.2.1), which the standard library
// lacks; a = -3 lets elliptic.CurveParams compute on it.
var p192 = sync.OnceValue(func() elliptic.Curve {
	p := &elliptic.CurveParams{Name: "P-192", BitSize: 192}
	p.P, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffeffffffffffffffff", 16)
	p.N, _ = new(big.Int).SetString("ffffffffffffffffffffffff99def836146bc9b1b4d22831", 16)
	p.B, _ = new(big.Int).SetString("64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1", 16)
	p.Gx, _ = new(big.Int).SetString("188da80eb03090f67cbf20eb43a18800f4ff0afd82ff1012", 16)
	p.Gy, _ = new(big.Int).SetString("07192b95ffc8da78631011ed6b24cdd573f977a11e794811", 16)
	return p
})

// paceCurve maps a standardized domain parameter ID to its curve (ICAO
// 9303-11 §9.5.1, Table 6). IDs 0-2 are MODP groups (DH), not implemented.
func paceCurve(id int) (elliptic.Curve, bool) {
	switch id {
	case 8:
		return p192(), true
	case 9:
		return brainpool.P192r1(), true
	case 10:
		return elliptic.P224(), true
	case 11:
		return brainpool.P224r1(), true
	case 12:
		return elliptic.P256(), true
	case 13:
		return brainpool.P256r1(), true
	case 14:
		return brainpool.P320r1(), true
	case 15:
		return elliptic.P384(), true
	case 16:
		return brainpool.P384r1(), true
	case 17:
		return brainpool.P512r1(), true
	case 18:
		return elliptic.P521(), true
	}
	return nil, false
}

func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// PACE runs PACE with generic mapping over ECDH (ICAO 9303-11 §4.4) with the
// variant info announces in EF.CardAccess, and returns the secure channel it
// establishes (SSC zero, §9.8.7.3 for AES). A chip that refuses the password
// gives ErrAccessDenied; an unsupported variant ErrUnsupported. rand supplies
// the ephemeral keys (crypto/rand when nil).
func PACE(ctx context.Context, t apdu.Transport, key AccessKey, info PACEInfo, rand io.Reader) (*SecureChannel, error) {
	sm, _, err := pace(ctx, t, key, info, rand)
	return sm, err
}

// pace is PACE; it also returns ID_IC for Terminal Authentication, the
// x-coordinate of the chip's ephemeral public key (ICAO 9303-11 §7.1:
// Comp(PK_IC) after PACE).
func pace(ctx context.Context, t apdu.Transport, key AccessKey, info PACEInfo, rand io.Reader) (*SecureChannel, []byte, error) {
	c, ok := paceCipher(info.Protocol)
	if !ok {
		return nil, nil, fmt.Errorf("%w: PACE protocol %v", ErrUnsupported, info.Protocol)
	}
	curve, ok := paceCurve(info.ParameterID)
	if !ok {
		return nil, nil, fmt.Errorf("%w: PACE domain parameters %d", ErrUnsupported, info.ParameterID)
	}
	if key == nil {
		return nil, nil, fmt.Errorf("%w: no access key", ErrInvalidKey)
	}
	secret, err := key.paceSecret()
	if err != nil {
		return nil, nil, err
	}
	rand = randReader(rand)
	client := &apdu.Client{Transport: t}

	// MSE:Set AT: protocol, password reference, domain parameters
	// (§4.4.4.1).
	oidDER, err := asn1.Marshal(info.Protocol)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	var b apdu.TLVBuilder
	b.Add(0x80, oidDER[2:]) // the OID's content bytes, without tag and length
	b.Add(0x83, []byte{key.paceRef()})
	if info.ParameterID >= 0 {
		b.Add(0x84, []byte{byte(info.ParameterID)})
	}
	mse, err := b.Bytes()
	if err != nil {
		return nil, nil, err
	}
	if _, err := client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x22, P1: 0xC1, P2: 0xA4, Data: mse}); err != nil {
		return nil, nil, fmt.Errorf("emrtd: PACE MSE:Set AT: %w", err)
	}

	// Step 1: the encrypted nonce z; s = D(Kπ, z) (§4.4.3.1, §4.4.3.2).
	z, err := generalAuthenticate(ctx, client, false, 0, nil, 0x80)
	if err != nil {
		return nil, nil, fmt.Errorf("emrtd: PACE nonce: %w", err)
	}
	s, err := decryptNonce(c, kdf(c, secret, kdfPi), z)
	if err != nil {
		return nil, nil, err
	}

	// Step 2: generic mapping, G' = s·G + H with H = SK_map,IFD · PK_map,IC
	// (§4.4.3.3.1).
	size := (curve.Params().BitSize + 7) / 8
	skMap, err := randomScalar(curve, rand)
	if err != nil {
		return nil, nil, err
	}
	mx, my := curve.ScalarBaseMult(skMap)
	pkMapIC, err := generalAuthenticate(ctx, client, false, 0x81, encodePoint(mx, my, size), 0x82)
	if err != nil {
		return nil, nil, fmt.Errorf("emrtd: PACE mapping: %w", err)
	}
	gx, gy, err := mapGeneric(curve, s, skMap, pkMapIC)
	if err != nil {
		return nil, nil, err
	}

	// Step 3: anonymous ECDH on G' (§4.4.3.3, §9.6).
	skEph, err := randomScalar(curve, rand)
	if err != nil {
		return nil, nil, err
	}
	ex, ey := curve.ScalarMult(gx, gy, skEph)
	pkIFD := encodePoint(ex, ey, size)
	pkIC, err := generalAuthenticate(ctx, client, false, 0x83, pkIFD, 0x84)
	if err != nil {
		return nil, nil, fmt.Errorf("emrtd: PACE key agreement: %w", err)
	}
	ix, iy, err := decodePoint(curve, pkIC)
	if err != nil {
		return nil, nil, err
	}
	if bytes.Equal(pkIC, pkIFD) {
		// §4.4.1 d): the two ephemeral public keys must differ.
		return nil, nil, fmt.Errorf("%w: chip echoed our ephemeral key", ErrProtocol)
	}
	kx, ky := curve.ScalarMult(ix, iy, skEph)
	if kx.Sign() == 0 && ky.Sign() == 0 {
		return nil, nil, fmt.Errorf("%w: shared point at infinity", ErrProtocol)
	}
	shared := kx.FillBytes(make([]byte, size))
	ksEnc, ksMAC := kdf(c, shared, kdfEnc), kdf(c, shared, kdfMAC)

	// Step 4: mutual authentication tokens over the other side's ephemeral
	// public key (§4.4.3.4).
	tIFD, err := authToken(c, ksMAC, info.Protocol, pkIC)
	if err != nil {
		return nil, nil, err
	}
	tIC, err := generalAuthenticate(ctx, client, true, 0x85, tIFD, 0x86)
	if err != nil {
		// The token is keyed by the holder's password: whatever status
		// word the chip refuses it with (6300, or 6983/6984/6985/6A80/
		// 6A88, all of which BSI TR-03110-3 Appendix B allows for GENERAL
		// AUTHENTICATE), the password has been tried. ErrAccessDenied
		// keeps Open from asking again with BAC and the same MRZ (ICAO
		// 9303-11 §4.2: BAC is for a chip without usable PACE, not a
		// second try of a refused key).
		if isStatus(err) {
			return nil, nil, fmt.Errorf("%w: PACE: %w", ErrAccessDenied, err)
		}
		return nil, nil, fmt.Errorf("emrtd: PACE mutual authentication: %w", err)
	}
	want, err := authToken(c, ksMAC, info.Protocol, pkIFD)
	if err != nil {
		return nil, nil, err
	}
	if subtle.ConstantTimeCompare(tIC, want) != 1 {
		return nil, nil, fmt.Errorf("%w: chip's PACE token does not verify", ErrAccessDenied)
	}
	sm, err := NewSecureChannel(t, c, ksEnc, ksMAC, make([]byte, c.blockSize()))
	if err != nil {
		return nil, nil, err
	}
	return sm, ix.FillBytes(make([]byte, size)), nil
}

// generalAuthenticate sends one GENERAL AUTHENTICATE of the PACE chain
// (§4.4.4.2): dynamic authentication data 7C { tag value } (7C 00 when tag
// is 0), class 10 (chaining) but for the last step, and returns the value of
// respTag in the answer's 7C template.
func generalAuthenticate(ctx context.Context, c *apdu.Client, last bool, tag apdu.Tag, value []byte, respTag apdu.Tag) ([]byte, error) {
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(b *apdu.TLVBuilder) {
		if tag != 0 {
			b.Add(tag, value)
		}
	})
	data, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	cla := byte(0x10)
	if last {
		cla = 0x00
	}
	resp, err := c.Do(ctx, apdu.Command{CLA: cla, INS: 0x86, Data: data, Ne: apdu.MaxShortNe})
	if err != nil {
		return nil, err
	}
	v, err := apdu.FindPath(resp, 0x7C, respTag)
	if err != nil {
		return nil, fmt.Errorf("%w: GENERAL AUTHENTICATE answer lacks %v: %w", ErrProtocol, respTag, err)
	}
	return v.Value, nil
}

// decryptNonce computes s = D(Kπ, z), CBC with a zero IV (§4.4.3.2).
func decryptNonce(c Cipher, kpi, z []byte) ([]byte, error) {
	if len(z) == 0 || len(z)%c.blockSize() != 0 {
		return nil, fmt.Errorf("%w: encrypted nonce of %d bytes", ErrProtocol, len(z))
	}
	blk, err := newBlock(c, kpi)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	return cbcDecrypt(blk, make([]byte, c.blockSize()), z), nil
}

// mapGeneric computes the mapped generator G' = s·G + H, H = skMap ·
// PK_map,IC, rejecting a chip key off the curve and a point at infinity
// (§4.4.3.3.1).
func mapGeneric(curve elliptic.Curve, s, skMap, pkMapIC []byte) (gx, gy *big.Int, err error) {
	px, py, err := decodePoint(curve, pkMapIC)
	if err != nil {
		return nil, nil, err
	}
	hx, hy := curve.ScalarMult(px, py, skMap)
	if hx.Sign() == 0 && hy.Sign() == 0 {
		return nil, nil, fmt.Errorf("%w: mapping point H at infinity", ErrProtocol)
	}
	sx, sy := curve.ScalarBaseMult(s)
	gx, gy = curve.Add(sx, sy, hx, hy)
	if gx.Sign() == 0 && gy.Sign() == 0 {
		return nil, nil, fmt.Errorf("%w: mapped generator at infinity", ErrProtocol)
	}
	return gx, gy, nil
}

// randomScalar draws a private key uniformly in [1, n-1] by rejection.
func randomScalar(curve elliptic.Curve, r io.Reader) ([]byte, error) {
	n := curve.Params().N
	size := (n.BitLen() + 7) / 8
	excess := uint(size*8 - n.BitLen())
	b := make([]byte, size)
	for range 64 {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("%w: random: %v", ErrCrypto, err)
		}
		b[0] &= 0xFF >> excess
		k := new(big.Int).SetBytes(b)
		if k.Sign() > 0 && k.Cmp(n) < 0 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: random source yields no scalar", ErrCrypto)
}

// encodePoint is the uncompressed encoding 04 ‖ x ‖ y (§9.4.2 / SEC 1
// §2.3.3).
func encodePoint(x, y *big.Int, size int) []byte {
	out := make([]byte, 1+2*size)
	out[0] = 0x04
	x.FillBytes(out[1 : 1+size])
	y.FillBytes(out[1+size:])
	return out
}

// decodePoint parses an uncompressed point and checks that it lies on the
// curve, so that no operation ever sees an invalid point from the chip (the
// standard library's NIST curves panic on one, the others would compute
// garbage).
func decodePoint(curve elliptic.Curve, b []byte) (x, y *big.Int, err error) {
	p := curve.Params().P
	size := (curve.Params().BitSize + 7) / 8
	if len(b) != 1+2*size || b[0] != 0x04 {
		return nil, nil, fmt.Errorf("%w: public key of %d bytes is no uncompressed point", ErrProtocol, len(b))
	}
	x = new(big.Int).SetBytes(b[1 : 1+size])
	y = new(big.Int).SetBytes(b[1+size:])
	if x.Cmp(p) >= 0 || y.Cmp(p) >= 0 || !curve.IsOnCurve(x, y) {
		return nil, nil, fmt.Errorf("%w: public key not on the curve", ErrProtocol)
	}
	return x, y, nil
}

// authToken computes T = MAC(KSmac, 7F49 { 06 OID, 86 point }) (§4.4.3.4,
// §9.4.2): CMAC truncated to 8 bytes for AES, the retail MAC over the padded
// data for 3DES.
func authToken(c Cipher, ksMAC []byte, oid asn1.ObjectIdentifier, point []byte) ([]byte, error) {
	oidDER, err := asn1.Marshal(oid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	var b apdu.TLVBuilder
	b.AddConstructed(0x7F49, func(b *apdu.TLVBuilder) {
		b.AddRaw(oidDER)
		b.Add(0x86, point)
	})
	data, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	mac, err := newMAC(c, ksMAC)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	if c == Cipher3DES {
		data = pad(data, 8)
	}
	t, err := mac(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	return t, nil
}
