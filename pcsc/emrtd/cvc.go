package emrtd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Card verifiable certificates of EAC Terminal Authentication (BSI
// TR-03110-3 Appendix C; ISO/IEC 7816-8): a CVCA (the issuing state's trust
// point, which the chip stores) certifies document verifiers (DV), which
// certify inspection systems (IS). Each certificate's CHAT carries a role
// and the data groups its holder may read; the chip grants the AND of the
// chain's rights.

// Object identifiers of Terminal Authentication (BSI TR-03110-3 §A.1.1,
// §C.4.1).
var (
	oidTAECDSA = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2, 2}
	// oidRoleIS is id-IS, the CHAT of ePassport inspection systems.
	oidRoleIS = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 1, 2, 1}
)

// taHash maps id-TA-ECDSA-SHA-* to its hash.
func taHash(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	if len(oid) != len(oidTAECDSA)+1 || !hasPrefix(oid, oidTAECDSA) {
		return 0, false
	}
	switch oid[len(oid)-1] {
	case 1:
		return crypto.SHA1, true
	case 2:
		return crypto.SHA224, true
	case 3:
		return crypto.SHA256, true
	case 4:
		return crypto.SHA384, true
	case 5:
		return crypto.SHA512, true
	}
	return 0, false
}

// taAlgorithm is id-TA-ECDSA-SHA-* for a hash.
func taAlgorithm(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	n := map[crypto.Hash]int{crypto.SHA1: 1, crypto.SHA224: 2, crypto.SHA256: 3, crypto.SHA384: 4, crypto.SHA512: 5}[h]
	if n == 0 {
		return nil, false
	}
	return append(append(asn1.ObjectIdentifier{}, oidTAECDSA...), n), true
}

// Role is the certificate holder's role in an inspection system CHAT (BSI
// TR-03110-3 §C.4.1, the two high bits).
type Role uint8

const (
	RoleIS         Role = 0 // inspection system
	RoleDVForeign  Role = 1 // document verifier, foreign
	RoleDVDomestic Role = 2 // document verifier, domestic
	RoleCVCA       Role = 3 // country verifying CA
)

func (r Role) String() string {
	return [...]string{"IS", "DV (foreign)", "DV (domestic)", "CVCA"}[r&3]
}

// Rights are the read rights of an inspection system CHAT (BSI TR-03110-3
// §C.4.1): the low bits of its one-byte discretionary data.
type Rights uint8

const (
	ReadDG3 Rights = 0x01 // fingerprints
	ReadDG4 Rights = 0x02 // irises
)

// allows reports whether the rights cover a data group that needs Terminal
// Authentication.
func (r Rights) allows(dg DG) bool {
	switch dg {
	case DG3:
		return r&ReadDG3 != 0
	case DG4:
		return r&ReadDG4 != 0
	}
	return false
}

// CVCertificate is a decoded card verifiable certificate with an ECDSA key.
type CVCertificate struct {
	// Raw is the whole certificate, 7F21 { 7F4E body, 5F37 signature };
	// Body is the signed 7F4E object.
	Raw, Body []byte
	// Signature is ECDSA r ‖ s (BSI TR-03111 §5.2.1).
	Signature []byte
	// CAR names the key that signed it, CHR its holder's key: country,
	// mnemonic, sequence number ("UTCVCA00001").
	CAR, CHR string
	// Algorithm is id-TA-ECDSA-SHA-*, the algorithm the key signs with.
	Algorithm asn1.ObjectIdentifier
	// Curve is set only when the certificate carries domain parameters
	// (CVCA certificates do; the others inherit them).
	Curve elliptic.Curve
	// PublicKey is the uncompressed point 04 ‖ x ‖ y.
	PublicKey []byte
	Role      Role
	Rights    Rights
	// EffectiveDate and ExpirationDate are days, UTC (the certificate is
	// valid through the expiration day).
	EffectiveDate, ExpirationDate time.Time
}

// SelfSigned reports a CVCA certificate signed by its own key (CAR = CHR):
// the trust point a chip stores, never sent to it.
func (c *CVCertificate) SelfSigned() bool { return c.CAR == c.CHR }

// Hash is the hash of the certificate's algorithm.
func (c *CVCertificate) Hash() crypto.Hash {
	h, _ := taHash(c.Algorithm)
	return h
}

// ParseCVCertificate decodes a CV certificate (BSI TR-03110-3 §C.1): 7F21 {
// 7F4E { 5F29 profile 0, 42 CAR, 7F49 public key, 5F20 CHR, 7F4C CHAT, 5F25
// effective date, 5F24 expiration date, [65 extensions] }, 5F37 signature }.
// Only ECDSA keys and the inspection system CHAT are accepted; the signature
// is not checked (VerifyCVChain does).
func ParseCVCertificate(b []byte) (*CVCertificate, error) {
	t, rest, err := apdu.DecodeTLV(b)
	if err != nil || t.Tag != 0x7F21 {
		return nil, malformed("CV certificate: no 7F21 object")
	}
	c := &CVCertificate{Raw: b[:len(b)-len(rest)]}
	objs, err := apdu.DecodeTLVs(t.Value)
	if err != nil || len(objs) != 2 || objs[0].Tag != 0x7F4E || objs[1].Tag != 0x5F37 {
		return nil, malformed("CV certificate: want body 7F4E and signature 5F37")
	}
	_, afterBody, _ := apdu.DecodeTLV(t.Value)
	c.Body = t.Value[:len(t.Value)-len(afterBody)]
	c.Signature = objs[1].Value
	fields, err := apdu.DecodeTLVs(objs[0].Value)
	if err != nil {
		return nil, malformed("CV certificate body: %v", err)
	}
	want := []apdu.Tag{0x5F29, 0x42, 0x7F49, 0x5F20, 0x7F4C, 0x5F25, 0x5F24}
	if len(fields) < len(want) || len(fields) > len(want)+1 {
		return nil, malformed("CV certificate body of %d objects", len(fields))
	}
	for i, tag := range want {
		if fields[i].Tag != tag {
			return nil, malformed("CV certificate body: %v where %v belongs", fields[i].Tag, tag)
		}
	}
	if len(fields) == len(want)+1 && fields[len(want)].Tag != 0x65 {
		return nil, malformed("CV certificate body: unexpected %v", fields[len(want)].Tag)
	}
	if len(fields[0].Value) != 1 || fields[0].Value[0] != 0 {
		return nil, malformed("CV certificate profile %X", fields[0].Value)
	}
	if c.CAR, err = reference(fields[1].Value, "CAR"); err != nil {
		return nil, err
	}
	if c.CHR, err = reference(fields[3].Value, "CHR"); err != nil {
		return nil, err
	}
	if err := c.parsePublicKey(fields[2].Value); err != nil {
		return nil, err
	}
	if err := c.parseCHAT(fields[4].Value); err != nil {
		return nil, err
	}
	if c.EffectiveDate, err = cvDate(fields[5].Value); err != nil {
		return nil, err
	}
	if c.ExpirationDate, err = cvDate(fields[6].Value); err != nil {
		return nil, err
	}
	if c.ExpirationDate.Before(c.EffectiveDate) {
		return nil, malformed("CV certificate expires before it takes effect")
	}
	return c, nil
}

// reference checks a certification authority or holder reference: 8 to 16
// printable characters (TR-03110-3 §A.6.1: country, mnemonic, sequence).
func reference(b []byte, what string) (string, error) {
	if len(b) < 8 || len(b) > 16 {
		return "", malformed("CV certificate %s of %d characters", what, len(b))
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return "", malformed("CV certificate %s not printable", what)
		}
	}
	return string(b), nil
}

// parsePublicKey reads 7F49 { 06 algorithm, [81 p, 82 a, 83 b, 84 G, 85 n],
// 86 point, [87 cofactor] } (TR-03110-3 §D.3.3).
func (c *CVCertificate) parsePublicKey(v []byte) error {
	objs, err := apdu.DecodeTLVs(v)
	if err != nil || len(objs) < 2 || objs[0].Tag != 0x06 {
		return malformed("CV certificate public key")
	}
	oid, err := parseOIDContent(objs[0].Value)
	if err != nil {
		return err
	}
	if _, ok := taHash(oid); !ok {
		return malformed("CV certificate algorithm %v is not ECDSA (id-TA-ECDSA)", oid)
	}
	c.Algorithm = oid
	var params [8][]byte
	for _, o := range objs[1:] {
		if o.Tag < 0x81 || o.Tag > 0x87 || params[o.Tag-0x80] != nil {
			return malformed("CV certificate public key object %v", o.Tag)
		}
		params[o.Tag-0x80] = o.Value
	}
	if params[6] == nil {
		return malformed("CV certificate without public point 86")
	}
	c.PublicKey = params[6]
	if params[1] == nil && params[2] == nil && params[3] == nil && params[4] == nil && params[5] == nil {
		return nil
	}
	for i := 1; i <= 5; i++ {
		if params[i] == nil {
			return malformed("CV certificate domain parameters incomplete")
		}
	}
	p, n := new(big.Int).SetBytes(params[1]), new(big.Int).SetBytes(params[5])
	size := (p.BitLen() + 7) / 8
	g := params[4]
	if size == 0 || len(g) != 1+2*size || g[0] != 0x04 {
		return malformed("CV certificate base point")
	}
	curve, ok := curveByDomain(p, n, new(big.Int).SetBytes(g[1:1+size]), new(big.Int).SetBytes(g[1+size:]))
	if !ok {
		return malformed("CV certificate domain parameters of an unsupported curve")
	}
	if a, b, known := curveA(curve); known && (a.Cmp(new(big.Int).SetBytes(params[2])) != 0 || b.Cmp(new(big.Int).SetBytes(params[3])) != 0) {
		return malformed("CV certificate curve coefficients do not match its base point")
	}
	if _, _, err := decodePoint(curve, c.PublicKey); err != nil {
		return malformed("CV certificate public point: %v", err)
	}
	c.Curve = curve
	return nil
}

// parseOIDContent decodes the content bytes of an OBJECT IDENTIFIER.
func parseOIDContent(b []byte) (asn1.ObjectIdentifier, error) {
	der, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagOID, Bytes: b})
	if err != nil {
		return nil, malformed("object identifier")
	}
	var oid asn1.ObjectIdentifier
	in := cryptobyte.String(der)
	if !in.ReadASN1ObjectIdentifier(&oid) {
		return nil, malformed("object identifier")
	}
	return oid, nil
}

// parseCHAT reads 7F4C { 06 id-IS, 53 role and rights } (TR-03110-3
// §C.1.5, §C.4.1).
func (c *CVCertificate) parseCHAT(v []byte) error {
	objs, err := apdu.DecodeTLVs(v)
	if err != nil || len(objs) != 2 || objs[0].Tag != 0x06 || objs[1].Tag != 0x53 {
		return malformed("CV certificate CHAT")
	}
	oid, err := parseOIDContent(objs[0].Value)
	if err != nil {
		return err
	}
	if !oid.Equal(oidRoleIS) {
		return malformed("CV certificate CHAT %v is not for inspection systems (id-IS)", oid)
	}
	if len(objs[1].Value) != 1 {
		return malformed("inspection system CHAT of %d bytes", len(objs[1].Value))
	}
	d := objs[1].Value[0]
	c.Role, c.Rights = Role(d>>6), Rights(d&0x03)
	return nil
}

// cvDate decodes six unpacked BCD digits YYMMDD, years 2000-2099
// (TR-03110-3 §D.2.1.3).
func cvDate(b []byte) (time.Time, error) {
	if len(b) != 6 {
		return time.Time{}, malformed("CV certificate date of %d bytes", len(b))
	}
	var d [6]int
	for i, x := range b {
		if x > 9 {
			return time.Time{}, malformed("CV certificate date digit %02X", x)
		}
		d[i] = int(x)
	}
	y, m, day := 2000+d[0]*10+d[1], time.Month(d[2]*10+d[3]), d[4]*10+d[5]
	t := time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || t.Day() != day {
		return time.Time{}, malformed("CV certificate date %d%d%d%d%d%d", d[0], d[1], d[2], d[3], d[4], d[5])
	}
	return t, nil
}

func appendCVDate(t time.Time) []byte {
	t = t.UTC()
	y, m, d := t.Year()%100, int(t.Month()), t.Day()
	return []byte{byte(y / 10), byte(y % 10), byte(m / 10), byte(m % 10), byte(d / 10), byte(d % 10)}
}

// CVTemplate describes a CV certificate to issue.
type CVTemplate struct {
	CAR, CHR string
	Role     Role
	Rights   Rights
	// Effective and Expiration are days (UTC), 2000 to 2099.
	Effective, Expiration time.Time
	// Hash is the algorithm's hash, id-TA-ECDSA-SHA-*; SHA-256 when 0.
	Hash crypto.Hash
	// DomainParameters writes the curve (81-85, 87) into the key, as a
	// CVCA certificate must.
	DomainParameters bool
}

// ErrCVCertificate: a CV certificate cannot be issued as asked, or a chain
// does not verify. It matches ErrNotAuthorised when returned by
// VerifyCVChain.
var ErrCVCertificate = errors.New("emrtd: CV certificate")

// CreateCVCertificate issues a CV certificate for pub signed by issuer (an
// ECDSA key; the same key as pub for a self-signed CVCA), and returns its
// encoding. pub's curve must be one whose coefficients this package knows
// when DomainParameters is set (the NIST curves, brainpoolP256r1).
func CreateCVCertificate(rand io.Reader, tmpl *CVTemplate, pub *ecdsa.PublicKey, issuer crypto.Signer) ([]byte, error) {
	if tmpl == nil || pub == nil || issuer == nil {
		return nil, fmt.Errorf("%w: template, key and issuer required", ErrCVCertificate)
	}
	if _, err := reference([]byte(tmpl.CAR), "CAR"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCVCertificate, err)
	}
	if _, err := reference([]byte(tmpl.CHR), "CHR"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCVCertificate, err)
	}
	if y := tmpl.Effective.UTC().Year(); y < 2000 || y > 2099 || tmpl.Expiration.UTC().Year() > 2099 || tmpl.Expiration.Before(tmpl.Effective) {
		return nil, fmt.Errorf("%w: dates outside 2000-2099 or reversed", ErrCVCertificate)
	}
	h := tmpl.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	alg, ok := taAlgorithm(h)
	if !ok || !h.Available() {
		return nil, fmt.Errorf("%w: hash %v", ErrCVCertificate, h)
	}
	issuerPub, ok := issuer.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: issuer key %T is not ECDSA", ErrCVCertificate, issuer.Public())
	}
	curve := pub.Curve
	size := (curve.Params().BitSize + 7) / 8
	algDER, _ := asn1.Marshal(alg)
	chatDER, _ := asn1.Marshal(oidRoleIS)
	var b apdu.TLVBuilder
	var keyErr error
	b.AddConstructed(0x7F4E, func(b *apdu.TLVBuilder) {
		b.Add(0x5F29, []byte{0})
		b.Add(0x42, []byte(tmpl.CAR))
		b.AddConstructed(0x7F49, func(b *apdu.TLVBuilder) {
			b.Add(0x06, algDER[2:])
			if tmpl.DomainParameters {
				a, bb, ok := curveA(curve)
				if !ok {
					keyErr = fmt.Errorf("%w: no domain parameters known for %s", ErrCVCertificate, curve.Params().Name)
					return
				}
				p := curve.Params()
				b.Add(0x81, p.P.FillBytes(make([]byte, size)))
				b.Add(0x82, a.FillBytes(make([]byte, size)))
				b.Add(0x83, bb.FillBytes(make([]byte, size)))
				b.Add(0x84, encodePoint(p.Gx, p.Gy, size))
				b.Add(0x85, p.N.Bytes())
			}
			b.Add(0x86, encodePoint(pub.X, pub.Y, size))
			if tmpl.DomainParameters {
				b.Add(0x87, []byte{1})
			}
		})
		b.Add(0x5F20, []byte(tmpl.CHR))
		b.AddConstructed(0x7F4C, func(b *apdu.TLVBuilder) {
			b.Add(0x06, chatDER[2:])
			b.Add(0x53, []byte{byte(tmpl.Role&3)<<6 | byte(tmpl.Rights&3)})
		})
		b.Add(0x5F25, appendCVDate(tmpl.Effective))
		b.Add(0x5F24, appendCVDate(tmpl.Expiration))
	})
	body, err := b.Bytes()
	if keyErr != nil {
		return nil, keyErr
	}
	if err != nil {
		return nil, err
	}
	sig, err := signPlain(rand, issuer, issuerPub.Curve, h, body)
	if err != nil {
		return nil, err
	}
	var out apdu.TLVBuilder
	out.AddConstructed(0x7F21, func(b *apdu.TLVBuilder) {
		b.AddRaw(body)
		b.Add(0x5F37, sig)
	})
	return out.Bytes()
}

// signPlain hashes msg and signs it with an ECDSA crypto.Signer, returning
// the plain r ‖ s of BSI TR-03111 §5.2.1 (a crypto.Signer answers DER).
func signPlain(rand io.Reader, key crypto.Signer, curve elliptic.Curve, h crypto.Hash, msg []byte) ([]byte, error) {
	hh := h.New()
	hh.Write(msg)
	der, err := key.Sign(randReader(rand), hh.Sum(nil), h)
	if err != nil {
		return nil, fmt.Errorf("emrtd: sign: %w", err)
	}
	var r, s *big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	r, s = new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) {
		return nil, fmt.Errorf("%w: the signer's answer is no DER ECDSA signature", ErrCrypto)
	}
	size := (curve.Params().N.BitLen() + 7) / 8
	if r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, fmt.Errorf("%w: ECDSA signature larger than the curve", ErrCrypto)
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

// plainLength reports whether sig has the length of a plain ECDSA
// signature on the curve: r and s each as an octet string of the order's
// length (BSI TR-03111 §5.2.1), so that no other byte string stands for
// the same signature.
func plainLength(curve elliptic.Curve, sig []byte) bool {
	return len(sig) == 2*((curve.Params().N.BitLen()+7)/8)
}

// verifyPlain checks a plain ECDSA signature over msg.
func verifyPlain(curve elliptic.Curve, point []byte, h crypto.Hash, msg, sig []byte) bool {
	x, y, err := decodePoint(curve, point)
	if err != nil || !plainLength(curve, sig) || !h.Available() {
		return false
	}
	hh := h.New()
	hh.Write(msg)
	n := len(sig) / 2
	return ecdsaVerify(curve, x, y, hh.Sum(nil), new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
}

// VerifyCVChain checks a chain CVCA → DV → IS the way a chip does (BSI
// TR-03110-1 §2.5): each certificate signed by the previous one (the first,
// a CVCA certificate, by itself), roles in order, and every certificate
// valid on day t. It returns the effective rights, the AND of the chain's
// CHATs. A chip relies on its own copy of the CVCA; a terminal uses this to
// check its chain before presenting it.
func VerifyCVChain(chain []*CVCertificate, t time.Time) (Rights, error) {
	if len(chain) < 2 || chain[0] == nil || chain[0].Role != RoleCVCA || chain[0].Curve == nil {
		return 0, fmt.Errorf("%w: a chain starts with a CVCA certificate with domain parameters", ErrCVCertificate)
	}
	curve := chain[0].Curve
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	rights := Rights(3)
	parent := chain[0]
	for i, c := range chain {
		if c == nil {
			return 0, fmt.Errorf("%w: nil certificate", ErrCVCertificate)
		}
		if c.CAR != parent.CHR {
			return 0, fmt.Errorf("%w: %s is not issued by %s", ErrCVCertificate, c.CHR, parent.CHR)
		}
		if !verifyPlain(curve, parent.PublicKey, parent.Hash(), c.Body, c.Signature) {
			return 0, fmt.Errorf("%w: signature of %s does not verify", ErrCVCertificate, c.CHR)
		}
		if day.Before(c.EffectiveDate) || day.After(c.ExpirationDate) {
			return 0, fmt.Errorf("%w: %s is valid from %s to %s", ErrCVCertificate, c.CHR, c.EffectiveDate.Format(time.DateOnly), c.ExpirationDate.Format(time.DateOnly))
		}
		if i > 0 {
			ok := parent.Role == RoleCVCA && c.Role != RoleIS || parent.Role != RoleCVCA && parent.Role != RoleIS && c.Role == RoleIS
			if !ok {
				return 0, fmt.Errorf("%w: a %v cannot issue for a %v", ErrCVCertificate, parent.Role, c.Role)
			}
		}
		if _, _, err := decodePoint(curve, c.PublicKey); err != nil {
			return 0, fmt.Errorf("%w: %s key: %w", ErrCVCertificate, c.CHR, err)
		}
		rights &= c.Rights
		parent = c
	}
	if parent.Role != RoleIS {
		return 0, fmt.Errorf("%w: the chain ends with a %v, not an inspection system", ErrCVCertificate, parent.Role)
	}
	return rights, nil
}
