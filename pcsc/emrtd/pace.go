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

// errPACENeedsExtended: the variant is one this package implements, but not
// over this reader; Open treats it as a variant it cannot run and, with an
// MRZ key, uses BAC (ICAO 9303-11 §4.2).
var errPACENeedsExtended = fmt.Errorf("%w: PACE with these parameters needs extended-length APDUs, which the reader lacks", ErrUnsupported)

// paceCipher maps a PACE protocol OID to its cipher (ICAO 9303-11 §9.2.1).
// Generic mapping over ECDH and over DH, and Chip Authentication Mapping
// (generic mapping over ECDH plus the chip's proof, pacecam.go), are
// implemented.
func paceCipher(oid asn1.ObjectIdentifier) (Cipher, bool) {
	switch {
	case oid.Equal(oidPACEDHGM3DES):
		return Cipher3DES, true
	case oid.Equal(oidPACEDHGMAES128):
		return CipherAES128, true
	case oid.Equal(oidPACEDHGMAES192):
		return CipherAES192, true
	case oid.Equal(oidPACEDHGMAES256):
		return CipherAES256, true
	case oid.Equal(oidPACEECDHGM3DES):
		return Cipher3DES, true
	case oid.Equal(oidPACEECDHGMAES128):
		return CipherAES128, true
	case oid.Equal(oidPACEECDHGMAES192):
		return CipherAES192, true
	case oid.Equal(oidPACEECDHGMAES256):
		return CipherAES256, true
	case oid.Equal(oidPACECAMAES128):
		return CipherAES128, true
	case oid.Equal(oidPACECAMAES192):
		return CipherAES192, true
	case oid.Equal(oidPACECAMAES256):
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
// 9303-11 §9.5.1, Table 6). IDs 0-2 are MODP groups (DH): paceDHGroup.
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

// PACE runs PACE with generic mapping over ECDH or DH, or with Chip
// Authentication Mapping (ICAO 9303-11 §4.4), with the variant info
// announces in EF.CardAccess, and returns the secure channel it
// establishes (SSC zero, §9.8.7.3 for AES). A chip that refuses the password
// gives ErrAccessDenied; an unsupported variant ErrUnsupported. rand supplies
// the ephemeral keys (crypto/rand when nil). After Chip Authentication
// Mapping PACE checks only that the chip sent its encrypted chip
// authentication data; the proof needs the chip's static key from
// EF.CardSecurity, which Open reads and checks (pacecam.go).
func PACE(ctx context.Context, t apdu.Transport, key AccessKey, info PACEInfo, rand io.Reader) (*SecureChannel, error) {
	r, err := runPACE(ctx, t, key, info, rand)
	if err != nil {
		return nil, err
	}
	return r.sm, nil
}

// pace is PACE; it also returns ID_IC for Terminal Authentication,
// Comp(PK_IC) of the chip's ephemeral public key (ICAO 9303-11 §7.1): its
// x-coordinate for ECDH, SHA-1 of y for DH.
func pace(ctx context.Context, t apdu.Transport, key AccessKey, info PACEInfo, rand io.Reader) (*SecureChannel, []byte, error) {
	r, err := runPACE(ctx, t, key, info, rand)
	if err != nil {
		return nil, nil, err
	}
	return r.sm, r.idIC, nil
}

// paceResult is what one PACE run established.
type paceResult struct {
	sm   *SecureChannel
	idIC []byte // Comp(PK_IC) of the chip's ephemeral key
	// compPCD is Comp(PK_PCD) of the terminal's ephemeral key (ECDH only),
	// which Terminal Authentication signs after Chip Authentication
	// Mapping (pacecam.go).
	compPCD []byte
	// cam is the chip's decrypted chip authentication data after Chip
	// Authentication Mapping, nil otherwise.
	cam *camData
}

func runPACE(ctx context.Context, t apdu.Transport, key AccessKey, info PACEInfo, rand io.Reader) (*paceResult, error) {
	sm, idIC, compPCD, cam, err := paceSteps(ctx, t, key, info, rand)
	if err != nil {
		return nil, err
	}
	return &paceResult{sm: sm, idIC: idIC, compPCD: compPCD, cam: cam}, nil
}

// paceSteps runs the protocol (§4.4.3, §4.4.4).
func paceSteps(ctx context.Context, t apdu.Transport, key AccessKey, info PACEInfo, rand io.Reader) (sm *SecureChannel, idIC, compPCD []byte, cam *camData, err error) {
	c, ok := paceCipher(info.Protocol)
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("%w: PACE protocol %v", ErrUnsupported, info.Protocol)
	}
	grp, ne, err := newPACEGroup(info)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if ne > apdu.MaxShortNe {
		// A 2048-bit DH key does not fit a short APDU, and ISO command
		// chaining would collide with the chaining bit that marks the
		// PACE steps (ICAO 9303-11 §4.4.4.2): only extended length
		// carries it.
		if e, ok := t.(apdu.ExtendedLengthCapable); !ok || !e.ExtendedLength() {
			return nil, nil, nil, nil, fmt.Errorf("%w: PACE domain parameters %d", errPACENeedsExtended, info.ParameterID)
		}
	}
	if key == nil {
		return nil, nil, nil, nil, fmt.Errorf("%w: no access key", ErrInvalidKey)
	}
	secret, err := key.paceSecret()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	rand = randReader(rand)
	client := &apdu.Client{Transport: t}

	// MSE:Set AT: protocol, password reference, domain parameters
	// (§4.4.4.1).
	oidDER, err := asn1.Marshal(info.Protocol)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	var b apdu.TLVBuilder
	b.Add(0x80, oidDER[2:]) // the OID's content bytes, without tag and length
	b.Add(0x83, []byte{key.paceRef()})
	if info.ParameterID >= 0 {
		b.Add(0x84, []byte{byte(info.ParameterID)})
	}
	mse, err := b.Bytes()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if _, err := client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x22, P1: 0xC1, P2: 0xA4, Data: mse}); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("emrtd: PACE MSE:Set AT: %w", err)
	}

	// Step 1: the encrypted nonce z; s = D(Kπ, z) (§4.4.3.1, §4.4.3.2).
	z, err := generalAuthenticate(ctx, client, false, 0, nil, 0x80, ne)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("emrtd: PACE nonce: %w", err)
	}
	s, err := decryptNonce(c, kdf(c, secret, kdfPi), z)
	if err != nil {
		return nil, nil, nil, nil, err
	}

	// Step 2: generic mapping, G' = s·G + H (ECDH) or g' = g^s · h (DH),
	// H or h the shared secret of an ephemeral key agreement (§4.4.3.3.1).
	skMap, pkMap, err := grp.newKey(rand)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pkMapIC, err := generalAuthenticate(ctx, client, false, 0x81, pkMap, 0x82, ne)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("emrtd: PACE mapping: %w", err)
	}
	if err := grp.mapGeneric(s, skMap, pkMapIC); err != nil {
		return nil, nil, nil, nil, err
	}

	// Step 3: anonymous key agreement on the mapped generator (§4.4.3.3,
	// §9.6).
	skEph, pkIFD, err := grp.newKey(rand)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pkIC, err := generalAuthenticate(ctx, client, false, 0x83, pkIFD, 0x84, ne)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("emrtd: PACE key agreement: %w", err)
	}
	if bytes.Equal(pkIC, pkIFD) {
		// §4.4.3.3.2 (and §4.4.1 d)): the chip's ephemeral public key
		// must differ from the terminal's; a relay that reflects ours
		// would otherwise agree a key with us alone.
		return nil, nil, nil, nil, fmt.Errorf("%w: chip echoed our ephemeral key", ErrProtocol)
	}
	shared, err := grp.agree(skEph, pkIC)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ksEnc, ksMAC := kdf(c, shared, kdfEnc), kdf(c, shared, kdfMAC)

	// Step 4: mutual authentication tokens over the other side's ephemeral
	// public key (§4.4.3.4), each as that side sent it.
	tIFD, err := authToken(c, ksMAC, info.Protocol, grp.keyTag(), pkIC)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	last, err := generalAuthenticateData(ctx, client, true, 0x85, tIFD, apdu.MaxShortNe)
	if err != nil {
		// The token is keyed by the holder's password: whatever status
		// word the chip refuses it with (6300, or 6983/6984/6985/6A80/
		// 6A88, all of which BSI TR-03110-3 Appendix B allows for GENERAL
		// AUTHENTICATE), the password has been tried. ErrAccessDenied
		// keeps Open from asking again with BAC and the same MRZ (ICAO
		// 9303-11 §4.2: BAC is for a chip without usable PACE, not a
		// second try of a refused key).
		if isStatus(err) {
			return nil, nil, nil, nil, fmt.Errorf("%w: PACE: %w", ErrAccessDenied, err)
		}
		return nil, nil, nil, nil, fmt.Errorf("emrtd: PACE mutual authentication: %w", err)
	}
	tIC, err := findDynamic(last, 0x86)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	want, err := authToken(c, ksMAC, info.Protocol, grp.keyTag(), pkIFD)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if subtle.ConstantTimeCompare(tIC, want) != 1 {
		return nil, nil, nil, nil, fmt.Errorf("%w: chip's PACE token does not verify", ErrAccessDenied)
	}
	if isPACECAM(info.Protocol) {
		// The chip's token verified: the password was right, and what
		// follows concerns the chip's identity, not the holder's key.
		ec := grp.(*ecPACE)
		if cam, err = decryptCAM(c, ksEnc, ec.curve, last, pkMapIC); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if sm, err = NewSecureChannel(t, c, ksEnc, ksMAC, make([]byte, c.blockSize())); err != nil {
		return nil, nil, nil, nil, err
	}
	if ec, ok := grp.(*ecPACE); ok {
		compPCD = ec.compress(pkIFD)
	}
	return sm, grp.compress(pkIC), compPCD, cam, nil
}

// newPACEGroup returns the group of info's protocol and domain parameters
// and the Ne its GENERAL AUTHENTICATE answers need.
func newPACEGroup(info PACEInfo) (paceGroup, int, error) {
	if isPACEDH(info.Protocol) {
		g, ok := paceDHGroup(info.ParameterID)
		if info.explicit {
			g, ok = info.explicitDH, info.explicitDH != nil
		}
		if !ok {
			return nil, 0, fmt.Errorf("%w: PACE DH domain parameters %d", ErrUnsupported, info.ParameterID)
		}
		// 7C L 84 L y: y of len(p) bytes and at most eight bytes of
		// tags and lengths.
		ne := apdu.MaxShortNe
		if g.size()+8 > apdu.MaxShortNe {
			ne = apdu.MaxExtendedNe
		}
		return &dhPACE{grp: g, gen: g.g}, ne, nil
	}
	curve, ok := paceCurve(info.ParameterID)
	if !ok {
		return nil, 0, fmt.Errorf("%w: PACE domain parameters %d", ErrUnsupported, info.ParameterID)
	}
	return &ecPACE{curve: curve}, apdu.MaxShortNe, nil
}

// ecPACE is the ECDH group state of one PACE run.
type ecPACE struct {
	curve  elliptic.Curve
	gx, gy *big.Int // mapped generator; nil before the mapping
}

func (e *ecPACE) size() int { return (e.curve.Params().BitSize + 7) / 8 }

func (e *ecPACE) newKey(r io.Reader) ([]byte, []byte, error) {
	sk, err := randomScalar(e.curve, r)
	if err != nil {
		return nil, nil, err
	}
	var x, y *big.Int
	if e.gx == nil {
		x, y = e.curve.ScalarBaseMult(sk)
	} else {
		x, y = e.curve.ScalarMult(e.gx, e.gy, sk)
	}
	return sk, encodePoint(x, y, e.size()), nil
}

func (e *ecPACE) mapGeneric(s, sk, pkMapIC []byte) error {
	gx, gy, err := mapGeneric(e.curve, s, sk, pkMapIC)
	if err != nil {
		return err
	}
	e.gx, e.gy = gx, gy
	return nil
}

func (e *ecPACE) agree(sk, pkIC []byte) ([]byte, error) {
	ix, iy, err := decodePoint(e.curve, pkIC)
	if err != nil {
		return nil, err
	}
	kx, ky := e.curve.ScalarMult(ix, iy, sk)
	if kx.Sign() == 0 && ky.Sign() == 0 {
		return nil, fmt.Errorf("%w: shared point at infinity", ErrProtocol)
	}
	return kx.FillBytes(make([]byte, e.size())), nil
}

func (e *ecPACE) keyTag() byte { return 0x86 }

// compress is the x-coordinate of the point (ICAO 9303-11 §7.1), in the
// field's length as the point carries it (BSI TR-03111 §3.1.3, FE2OS; see
// AuthenticateChip's Comp(PK_PCD)).
func (e *ecPACE) compress(pk []byte) []byte {
	return bytes.Clone(pk[1 : 1+e.size()])
}

// generalAuthenticate sends one GENERAL AUTHENTICATE of the PACE chain
// (§4.4.4.2): dynamic authentication data 7C { tag value } (7C 00 when tag
// is 0), class 10 (chaining) but for the last step, and returns the value of
// respTag in the answer's 7C template.
func generalAuthenticate(ctx context.Context, c *apdu.Client, last bool, tag apdu.Tag, value []byte, respTag apdu.Tag, ne int) ([]byte, error) {
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
	resp, err := c.Do(ctx, apdu.Command{CLA: cla, INS: 0x86, Data: data, Ne: ne})
	if err != nil {
		return nil, err
	}
	return findDynamic(resp, respTag)
}

// generalAuthenticateData is generalAuthenticate for a step whose answer
// holds several data objects: it returns the whole answer, for
// findDynamic.
func generalAuthenticateData(ctx context.Context, c *apdu.Client, last bool, tag apdu.Tag, value []byte, ne int) ([]byte, error) {
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(b *apdu.TLVBuilder) { b.Add(tag, value) })
	data, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	cla := byte(0x10)
	if last {
		cla = 0x00
	}
	return c.Do(ctx, apdu.Command{CLA: cla, INS: 0x86, Data: data, Ne: ne})
}

// findDynamic returns the value of tag in an answer's dynamic
// authentication data 7C.
func findDynamic(resp []byte, tag apdu.Tag) ([]byte, error) {
	v, err := apdu.FindPath(resp, 0x7C, tag)
	if err != nil {
		return nil, fmt.Errorf("%w: GENERAL AUTHENTICATE answer lacks %v: %w", ErrProtocol, tag, err)
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

// authToken computes T = MAC(KSmac, 7F49 { 06 OID, keyTag key }) (§4.4.3.4,
// §9.4): the public key data object with 86 the point (ECDH) or 84 the
// public value y (DH); CMAC truncated to 8 bytes for AES, the retail MAC over
// the padded data for 3DES.
func authToken(c Cipher, ksMAC []byte, oid asn1.ObjectIdentifier, keyTag byte, point []byte) ([]byte, error) {
	oidDER, err := asn1.Marshal(oid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	var b apdu.TLVBuilder
	b.AddConstructed(0x7F49, func(b *apdu.TLVBuilder) {
		b.AddRaw(oidDER)
		b.Add(apdu.Tag(keyTag), point)
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
