package emrtdapplet

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// The chip's side of EAC Terminal Authentication version 1 (ICAO 9303-11
// §7; BSI TR-03110-1 §2.5, §3.5; TR-03110-3 §B.11, Appendix C), written
// apart from pcsc/emrtd's host side: its own CV certificate decoder and
// ECDSA verification.

// Read rights of the inspection system CHAT (TR-03110-3 §C.4.1).
const (
	rightDG3 = 0x01
	rightDG4 = 0x02
)

// CHAT roles, the two high bits.
const (
	roleIS         = 0
	roleDVForeign  = 1
	roleDVDomestic = 2
	roleCVCA       = 3
)

// cvKey is a public key the chip trusts for the rest of the session: its
// trust point, or one imported by PSO:Verify Certificate, with the
// effective rights of the chain that led to it.
type cvKey struct {
	chr    string
	role   int
	rights byte
	curve  elliptic.Curve
	pub    point
	hash   crypto.Hash
}

// taConfig is the chip's permanent EAC state: the CVCA trust point and the
// chip's notion of the current date (TR-03110-1 §2.5.1: set at
// personalisation, advanced by the effective dates of certificates issued
// by the CVCA).
type taConfig struct {
	trust *cvKey
	date  time.Time
}

// taState is Terminal Authentication within one session.
type taState struct {
	keys      map[string]*cvKey
	dst       *cvKey // verifies the next certificate (MSE:Set DST)
	is        *cvKey // the terminal's key (MSE:Set AT)
	challenge []byte
	done      bool
	rights    byte
}

// cvCert is the card's decoding of a CV certificate body.
type cvCert struct {
	car, chr          string
	hash              crypto.Hash
	curve             elliptic.Curve // nil without domain parameters
	pub               []byte
	role              int
	rights            byte
	effective, expiry time.Time
	body, signature   []byte
}

// oidTAECDSA is id-TA-ECDSA (TR-03110-3 §A.1.1.2).
var oidTAECDSA = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2, 2}

// decodeCV reads 7F4E { 5F29, 42, 7F49, 5F20, 7F4C, 5F25, 5F24, [65] }
// followed by 5F37, as PSO:Verify Certificate carries it.
func decodeCV(data []byte) (*cvCert, error) {
	bodyTLV, rest, err := apdu.DecodeTLV(data)
	if err != nil || bodyTLV.Tag != 0x7F4E {
		return nil, fmt.Errorf("no certificate body")
	}
	c := &cvCert{body: data[:len(data)-len(rest)]}
	sig, rest, err := apdu.DecodeTLV(rest)
	if err != nil || sig.Tag != 0x5F37 || len(rest) != 0 {
		return nil, fmt.Errorf("no signature")
	}
	c.signature = sig.Value
	objs, err := apdu.DecodeTLVs(bodyTLV.Value)
	if err != nil {
		return nil, err
	}
	get := map[apdu.Tag][]byte{}
	for _, o := range objs {
		get[o.Tag] = o.Value
	}
	if !bytes.Equal(get[0x5F29], []byte{0}) {
		return nil, fmt.Errorf("profile")
	}
	c.car, c.chr = string(get[0x42]), string(get[0x5F20])
	if len(c.car) < 8 || len(c.chr) < 8 {
		return nil, fmt.Errorf("references")
	}
	// Public key.
	keyObjs, err := apdu.DecodeTLVs(get[0x7F49])
	if err != nil || len(keyObjs) == 0 || keyObjs[0].Tag != 0x06 {
		return nil, fmt.Errorf("public key")
	}
	oid := parseOIDBytes(keyObjs[0].Value)
	if len(oid) != len(oidTAECDSA)+1 || !oid[:len(oidTAECDSA)].Equal(oidTAECDSA) {
		return nil, fmt.Errorf("algorithm %v", oid)
	}
	c.hash = map[int]crypto.Hash{1: crypto.SHA1, 2: crypto.SHA224, 3: crypto.SHA256, 4: crypto.SHA384, 5: crypto.SHA512}[oid[len(oid)-1]]
	if c.hash == 0 {
		return nil, fmt.Errorf("hash")
	}
	kp := map[apdu.Tag][]byte{}
	for _, o := range keyObjs[1:] {
		kp[o.Tag] = o.Value
	}
	c.pub = kp[0x86]
	if p, g, n := kp[0x81], kp[0x84], kp[0x85]; p != nil && g != nil && n != nil {
		for id := 8; id <= 18; id++ {
			cv := domainParameters(id)
			cp := cv.Params()
			if cp.P.Cmp(new(big.Int).SetBytes(p)) == 0 && cp.N.Cmp(new(big.Int).SetBytes(n)) == 0 &&
				bytes.Equal(g, point{cp.Gx, cp.Gy}.bytes(cv)) {
				c.curve = cv
			}
		}
		if c.curve == nil {
			return nil, fmt.Errorf("unknown curve")
		}
	}
	// CHAT: id-IS and one byte of role and rights.
	chat, err := apdu.DecodeTLVs(get[0x7F4C])
	if err != nil || len(chat) != 2 || chat[1].Tag != 0x53 || len(chat[1].Value) != 1 ||
		!parseOIDBytes(chat[0].Value).Equal(asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 1, 2, 1}) {
		return nil, fmt.Errorf("CHAT")
	}
	c.role, c.rights = int(chat[1].Value[0]>>6), chat[1].Value[0]&0x03
	if c.effective, err = bcdDate(get[0x5F25]); err != nil {
		return nil, err
	}
	if c.expiry, err = bcdDate(get[0x5F24]); err != nil {
		return nil, err
	}
	return c, nil
}

func parseOIDBytes(b []byte) asn1.ObjectIdentifier {
	der := append([]byte{0x06}, appendLen(nil, len(b))...)
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(append(der, b...), &oid); err != nil {
		return nil
	}
	return oid
}

// bcdDate reads YYMMDD as six digits, one per byte, in the 2000s.
func bcdDate(b []byte) (time.Time, error) {
	if len(b) != 6 {
		return time.Time{}, fmt.Errorf("date")
	}
	for _, d := range b {
		if d > 9 {
			return time.Time{}, fmt.Errorf("date")
		}
	}
	y, m, d := 2000+int(b[0])*10+int(b[1]), time.Month(int(b[2])*10+int(b[3])), int(b[4])*10+int(b[5])
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Month() != m || t.Day() != d {
		return time.Time{}, fmt.Errorf("date")
	}
	return t, nil
}

// trustPoint makes the CVCA key from its self-signed certificate (7F21 {
// 7F4E, 5F37 }), checking the self-signature.
func trustPoint(cert []byte, now time.Time) (*taConfig, error) {
	t, _, err := apdu.DecodeTLV(cert)
	if err != nil || t.Tag != 0x7F21 {
		return nil, fmt.Errorf("%w: CVCA certificate is no 7F21 object", ErrProfile)
	}
	c, err := decodeCV(t.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: CVCA certificate: %v", ErrProfile, err)
	}
	if c.role != roleCVCA || c.curve == nil {
		return nil, fmt.Errorf("%w: CVCA certificate without the CVCA role or domain parameters", ErrProfile)
	}
	pub, ok := parsePoint(c.curve, c.pub)
	if !ok || !verifyPlain(c.curve, pub, c.hash, c.body, c.signature) {
		return nil, fmt.Errorf("%w: CVCA certificate not self-signed", ErrProfile)
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return &taConfig{trust: &cvKey{chr: c.chr, role: roleCVCA, rights: c.rights, curve: c.curve, pub: pub, hash: c.hash}, date: day}, nil
}

// verifyPlain checks an ECDSA signature r ‖ s (BSI TR-03111 §5.2.1) over
// msg: crypto/ecdsa for the NIST curves, the card's own arithmetic on the
// others.
func verifyPlain(c elliptic.Curve, pub point, h crypto.Hash, msg, sig []byte) bool {
	// r and s each as an octet string of the order's length (BSI TR-03111
	// §5.2.1), no other split of the same integers.
	if len(sig) != 2*((c.Params().N.BitLen()+7)/8) || !h.Available() {
		return false
	}
	d := h.New()
	d.Write(msg)
	digest := d.Sum(nil)
	r, s := new(big.Int).SetBytes(sig[:len(sig)/2]), new(big.Int).SetBytes(sig[len(sig)/2:])
	switch c {
	case elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521():
		return ecdsa.Verify(&ecdsa.PublicKey{Curve: c, X: pub.x, Y: pub.y}, digest, r, s)
	}
	n := c.Params().N
	if r.Sign() < 1 || s.Sign() < 1 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return false
	}
	e := new(big.Int).SetBytes(digest)
	if over := len(digest)*8 - n.BitLen(); over > 0 {
		e.Rsh(e, uint(over))
	}
	sInv := new(big.Int).ModInverse(s, n)
	u1 := new(big.Int).Mod(new(big.Int).Mul(e, sInv), n)
	u2 := new(big.Int).Mod(new(big.Int).Mul(r, sInv), n)
	x1, y1 := c.ScalarBaseMult(u1.Bytes())
	x2, y2 := c.ScalarMult(pub.x, pub.y, u2.Bytes())
	x, y := c.Add(x1, y1, x2, y2)
	if x1.Cmp(x2) == 0 && y1.Cmp(y2) == 0 {
		x, y = c.Double(x1, y1)
	}
	if (point{x, y}).infinity() {
		return false
	}
	return new(big.Int).Mod(x, n).Cmp(r) == 0
}

// lookup finds a key by reference: the trust point or one imported in this
// session.
func (a *Applet) lookup(ref []byte) *cvKey {
	if a.ta == nil {
		return nil
	}
	if string(ref) == a.ta.trust.chr {
		return a.ta.trust
	}
	return a.terminal.keys[string(ref)]
}

// taSetDST is MSE:Set DST, 83 CAR: the key that verifies the next
// certificate (TR-03110-3 §B.11.1).
func (a *Applet) taSetDST(cmd apdu.Command) apdu.Response {
	if a.ta == nil {
		return apdu.Status(apdu.SWFuncNotSupported)
	}
	if a.sm == nil {
		return apdu.Status(apdu.SWSecurityStatus)
	}
	o, _, err := apdu.DecodeTLV(cmd.Data)
	if err != nil || o.Tag != 0x83 {
		return apdu.Status(apdu.SWWrongData)
	}
	k := a.lookup(o.Value)
	if k == nil {
		return apdu.Status(apdu.SWReferencedDataNotFound)
	}
	a.terminal.dst = k
	return apdu.Status(apdu.SWOK)
}

// psoVerifyCertificate imports a certificate verified under the MSE:Set DST
// key: its signature, its issuer's reference, the order of roles (CVCA
// issues CVCA link and DV certificates, a DV issues IS certificates), and
// its expiry against the chip's date, which it then advances (TR-03110-1
// §2.5.1, §2.5.2).
func (a *Applet) psoVerifyCertificate(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x00 || cmd.P2 != 0xBE {
		return apdu.Status(apdu.SWWrongP1P2)
	}
	if a.ta == nil || a.sm == nil {
		return apdu.Status(apdu.SWFuncNotSupported)
	}
	issuer := a.terminal.dst
	a.terminal.dst = nil
	if issuer == nil {
		return apdu.Status(apdu.SWConditions)
	}
	c, err := decodeCV(cmd.Data)
	if err != nil || c.car != issuer.chr {
		return apdu.Status(apdu.SWWrongData)
	}
	if !verifyPlain(issuer.curve, issuer.pub, issuer.hash, c.body, c.signature) {
		return apdu.Status(apdu.SWWrongData)
	}
	switch {
	case issuer.role == roleCVCA && c.role != roleIS:
	case (issuer.role == roleDVDomestic || issuer.role == roleDVForeign) && c.role == roleIS:
	default:
		return apdu.Status(apdu.SWSecurityStatus)
	}
	if c.expiry.Before(a.ta.date) {
		return apdu.Status(apdu.SWSecurityStatus)
	}
	if (c.role == roleCVCA || c.role == roleDVDomestic) && c.effective.After(a.ta.date) {
		a.ta.date = c.effective
	}
	curve := issuer.curve
	if c.curve != nil {
		curve = c.curve
	}
	pub, ok := parsePoint(curve, c.pub)
	if !ok {
		return apdu.Status(apdu.SWWrongData)
	}
	if a.terminal.keys == nil {
		a.terminal.keys = map[string]*cvKey{}
	}
	a.terminal.keys[c.chr] = &cvKey{chr: c.chr, role: c.role, rights: issuer.rights & c.rights, curve: curve, pub: pub, hash: c.hash}
	return apdu.Status(apdu.SWOK)
}

// taSetAT is MSE:Set AT, 83 CHR of the terminal's certificate; Chip
// Authentication must come first in version 1 (ICAO 9303-11 §7.1).
func (a *Applet) taSetAT(cmd apdu.Command) apdu.Response {
	if a.ta == nil {
		return apdu.Status(apdu.SWFuncNotSupported)
	}
	if !a.chipAuthenticated {
		return apdu.Status(apdu.SWConditions)
	}
	o, _, err := apdu.DecodeTLV(cmd.Data)
	if err != nil || o.Tag != 0x83 {
		return apdu.Status(apdu.SWWrongData)
	}
	k := a.terminal.keys[string(o.Value)]
	if k == nil || k.role != roleIS {
		return apdu.Status(apdu.SWReferencedDataNotFound)
	}
	a.terminal.is, a.terminal.challenge = k, nil
	return apdu.Status(apdu.SWOK)
}

// taChallenge is GET CHALLENGE under secure messaging: r_IC, 8 bytes.
func (a *Applet) taChallenge(cmd apdu.Command) apdu.Response {
	if cmd.Ne != 8 {
		return apdu.Status(apdu.SWWrongLength)
	}
	a.terminal.challenge = make([]byte, 8)
	if _, err := io.ReadFull(a.rand, a.terminal.challenge); err != nil {
		a.terminal.challenge = nil
		return apdu.Status(apdu.SWNoPreciseDiagnosis)
	}
	return apdu.Response{Data: bytes.Clone(a.terminal.challenge), SW: apdu.SWOK}
}

// taExternalAuthenticate verifies the terminal's signature over ID_IC ‖
// r_IC ‖ Comp(PK_PCD) (ICAO 9303-11 §7.1) and grants the chain's rights.
// The challenge serves once.
func (a *Applet) taExternalAuthenticate(cmd apdu.Command) apdu.Response {
	k, r := a.terminal.is, a.terminal.challenge
	a.terminal.challenge = nil
	if k == nil || r == nil || !a.chipAuthenticated {
		return apdu.Status(apdu.SWConditions)
	}
	msg := append(append(append([]byte(nil), a.idIC...), r...), a.compPCD...)
	if !verifyPlain(k.curve, k.pub, k.hash, msg, cmd.Data) {
		return apdu.Status(swAuthFailed)
	}
	a.terminal.done, a.terminal.rights = true, k.rights
	return apdu.Status(apdu.SWOK)
}
