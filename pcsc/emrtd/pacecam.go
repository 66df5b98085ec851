package emrtd

import (
	"bytes"
	"crypto/elliptic"
	"fmt"
	"math/big"
)

// PACE with Chip Authentication Mapping (PACE-CAM; ICAO 9303-11 §4.4.3.3.3,
// §4.4.3.5; BSI TR-03110-2 §3.4): generic mapping over ECDH, then, in
// the answer to the mutual authentication step, the chip's encrypted chip
// authentication data A_IC = E(KSenc, CA_IC) in DO'8A', with CA_IC =
// SK_IC^-1 · SK_Map,IC mod n: SK_IC its static Chip Authentication key,
// SK_Map,IC its ephemeral mapping key. The terminal checks PK_Map,IC =
// CA_IC · PK_IC with PK_IC from EF.CardSecurity (§4.4.3.5). Only a chip
// holding SK_IC can choose SK_Map,IC so (it must know SK_Map,IC to run the
// mapping); a clone carrying a genuine chip's files cannot. Once passive
// authentication has checked EF.CardSecurity's signature, the chip is
// authenticated without a second protocol run (Chip Authentication, §6.2).

// ErrPACECAM: the chip ran PACE with Chip Authentication Mapping but did
// not prove that it holds the static key of its EF.CardSecurity: no
// encrypted chip authentication data (DO'8A'), data that does not decrypt,
// no EF.CardSecurity, one that does not read or parse, no Chip
// Authentication key on the PACE curve in it, CA_IC · PK_IC ≠ PK_Map,IC
// (ICAO 9303-11 §4.4.3.5), or (Session.Read) a proved key that DG14 does
// not name (§9.2.11). The chip is not
// the one the issuer personalised (a clone with copied files), or someone
// altered the answer. It matches ErrChipAuthentication. Do not trust the
// document; the session is closed.
var ErrPACECAM = fmt.Errorf("%w: PACE Chip Authentication Mapping does not verify", ErrChipAuthentication)

// camData is the chip's chip authentication data of one PACE-CAM run.
type camData struct {
	curve   elliptic.Curve
	caIC    *big.Int
	pkMapIC []byte // PK_Map,IC as the chip sent it in the mapping step
}

// camIV is the IV for A_IC: ICAO 9303-11 §4.4.3.5, "AES SHALL be used in
// CBC-mode according to ISO/IEC 10116 with IV = E(KSEnc, -1), where -1 is
// the bit string of length 128 with all bits set to 1". JMRTD quotes that
// sentence and decrypts with the all-ones block itself as IV, which garbles
// CA_IC's first block; this package follows the text, as the peer written
// from it (testdata/openpace/cam.c) does. Secure messaging uses E(KSenc,
// SSC) instead; SSC is not yet running here.
func camIV(c Cipher, ksEnc []byte) ([]byte, error) {
	blk, err := newBlock(c, ksEnc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	iv := bytes.Repeat([]byte{0xFF}, blk.BlockSize())
	blk.Encrypt(iv, iv)
	return iv, nil
}

// decryptCAM finds DO'8A' in the last GENERAL AUTHENTICATE answer and
// recovers CA_IC = D(KSenc, A_IC): AES-CBC with IV camIV, padded by ISO/IEC
// 9797-1 method 2 (§4.4.3.5, §9.8.6.1). A chip that announced CAM and
// sends no DO'8A' is refused: without it the run is plain generic mapping
// and proves nothing about the chip, while the chip claimed it would.
func decryptCAM(c Cipher, ksEnc []byte, curve elliptic.Curve, answer, pkMapIC []byte) (*camData, error) {
	aIC, err := findDynamic(answer, 0x8A)
	if err != nil {
		return nil, fmt.Errorf("%w: no encrypted chip authentication data: %w", ErrPACECAM, err)
	}
	if len(aIC) == 0 || len(aIC)%c.blockSize() != 0 || len(aIC) > 4*c.blockSize()+c.blockSize() {
		return nil, fmt.Errorf("%w: encrypted chip authentication data of %d bytes", ErrPACECAM, len(aIC))
	}
	iv, err := camIV(c, ksEnc)
	if err != nil {
		return nil, err
	}
	blk, err := newBlock(c, ksEnc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	plain, err := unpad(cbcDecrypt(blk, iv, aIC))
	if err != nil {
		return nil, fmt.Errorf("%w: chip authentication data: bad padding", ErrPACECAM)
	}
	n := curve.Params().N
	if len(plain) == 0 || len(plain) > (n.BitLen()+7)/8 {
		return nil, fmt.Errorf("%w: CA_IC of %d bytes", ErrPACECAM, len(plain))
	}
	ca := new(big.Int).SetBytes(plain)
	if ca.Sign() == 0 || ca.Cmp(n) >= 0 {
		return nil, fmt.Errorf("%w: CA_IC outside [1, n-1]", ErrPACECAM)
	}
	return &camData{curve: curve, caIC: ca, pkMapIC: bytes.Clone(pkMapIC)}, nil
}

// verify checks PK_Map,IC = CA_IC · PK_IC (ICAO 9303-11 §4.4.3.5) for a
// Chip Authentication key of EF.CardSecurity on the PACE curve, whichever
// it is: with several, every one on that curve is compared (one scalar
// multiplication serves them all, below). It compares the whole
// point, not only the x-coordinate KA would give (§9.6): -PK_Map,IC passes
// an x-only check, and nothing is gained by accepting it. It returns the
// key the chip proved it holds, which Read matches against DG14
// (checkCAMKey).
func (d *camData) verify(infos []SecurityInfo) (*ChipAuthenticationPublicKey, error) {
	si, err := securityInfosFrom(infos)
	if err != nil {
		return nil, fmt.Errorf("%w: EF.CardSecurity: %w", ErrPACECAM, err)
	}
	var keys []ChipAuthenticationPublicKey
	for _, pk := range si.ChipAuthenticationPK {
		if sameCurve(pk.Curve, d.curve) {
			keys = append(keys, pk)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: EF.CardSecurity holds no Chip Authentication key on the PACE curve", ErrPACECAM)
	}
	mx, my, err := decodePoint(d.curve, d.pkMapIC)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPACECAM, err)
	}
	// PK_Map,IC = CA_IC · PK_IC is PK_IC = CA_IC^-1 · PK_Map,IC: the
	// curves of Table 6 have prime order n and CA_IC lies in [1, n-1]. One
	// multiplication, then comparisons: EF.CardSecurity is not yet
	// verified here, and a hostile one listing thousands of keys would
	// otherwise cost one multiplication each (about 10 ms on
	// brainpoolP512r1).
	n := d.curve.Params().N
	inv := new(big.Int).ModInverse(d.caIC, n)
	if inv == nil {
		return nil, fmt.Errorf("%w: CA_IC not invertible", ErrPACECAM)
	}
	px, py := d.curve.ScalarMult(mx, my, inv.FillBytes(make([]byte, (n.BitLen()+7)/8)))
	for i, pk := range keys {
		if pk.X.Cmp(px) == 0 && pk.Y.Cmp(py) == 0 {
			return &keys[i], nil
		}
	}
	return nil, fmt.Errorf("%w: CA_IC · PK_IC ≠ PK_Map,IC: the chip does not hold EF.CardSecurity's key", ErrPACECAM)
}

// sameCurve compares domain parameters, not curve values: a key's curve
// may come from its own decoding (named or explicit parameters).
func sameCurve(a, b elliptic.Curve) bool {
	pa, pb := a.Params(), b.Params()
	return pa.P.Cmp(pb.P) == 0 && pa.N.Cmp(pb.N) == 0 && pa.Gx.Cmp(pb.Gx) == 0 && pa.Gy.Cmp(pb.Gy) == 0 &&
		(pa.B == nil || pb.B == nil || pa.B.Cmp(pb.B) == 0)
}

// checkCAM completes PACE-CAM in Open, after EF.CardSecurity was read
// under the new secure messaging (ICAO 9303-11 §9.2.11 makes it REQUIRED
// on a CAM chip): the chip's proof against the key it carries. Passive
// authentication of EF.CardSecurity (Read, with CSCAs) then vouches for
// the key. On success the session counts as chip-authenticated, as after
// Chip Authentication, and Terminal Authentication signs the terminal's
// PACE ephemeral key as Comp(PK_PCD) (BSI TR-03110-2 §3.4: PACE-CAM
// takes the place of Chip Authentication, whose ephemeral key TA would
// otherwise sign; ICAO 9303-11 §7.1).
func (s *Session) checkCAM(r *paceResult) error {
	if s.cardSecurity == nil {
		return fmt.Errorf("%w: the chip gave no EF.CardSecurity, which holds the key to check", ErrPACECAM)
	}
	cs, err := ParseCardSecurity(s.cardSecurity)
	if err != nil {
		return fmt.Errorf("%w: EF.CardSecurity: %w", ErrPACECAM, err)
	}
	key, err := r.cam.verify(cs.Infos)
	if err != nil {
		return err
	}
	s.eac.chip, s.eac.cam, s.eac.camKey, s.eac.compPCD = true, true, key, r.compPCD
	return nil
}

// checkCAMKey binds the key PACE-CAM proved to the holder's data: DG14,
// which EF.SOD covers, must name it among its Chip Authentication keys
// when it names any (ICAO 9303-11 §9.2.11: DG14 and EF.CardSecurity each
// carry the chip's ChipAuthenticationPublicKeyInfo). CAM (§4.4.3.5) shows
// only that the chip holds EF.CardSecurity's key, and EF.CardSecurity's
// signature only that some document of the issuer holds it; without this
// check a chip whose key an attacker controls — another document's, a
// test chip's — could carry a victim's genuine data groups and EF.SOD
// beside its own genuine EF.CardSecurity and pass as the victim's chip.
// A DG14 without Chip Authentication keys (a chip with CAM only) binds
// nothing, and is accepted as the standard allows it.
func (s *Session) checkCAMKey(dg14 []byte) error {
	if !s.eac.cam || s.eac.camKey == nil || dg14 == nil {
		return nil
	}
	si, err := ParseDG14(dg14)
	if err != nil {
		return &DataGroupError{DG: DG14, Err: err}
	}
	if len(si.ChipAuthenticationPK) == 0 {
		return nil
	}
	k := s.eac.camKey
	for _, pk := range si.ChipAuthenticationPK {
		if sameCurve(pk.Curve, k.Curve) && pk.X.Cmp(k.X) == 0 && pk.Y.Cmp(k.Y) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: the key the chip proved in PACE-CAM (EF.CardSecurity's) is not DG14's: the data groups are another chip's", ErrPACECAM)
}

// checkCAMDowngrade refuses a PACE session that ran without Chip
// Authentication Mapping although the chip's signed SecurityInfos offer a
// CAM variant this package supports: EF.CardAccess, which chose the
// protocol, must have been altered (choose prefers CAM), and the chip's
// authentication went missing with it (ICAO 9303-11 §4.2, §9.2.11).
func (s *Session) checkCAMDowngrade(signed []SecurityInfo, source string) error {
	if s.protocol != ProtocolPACE || s.eac.cam {
		return nil
	}
	for _, info := range signed {
		if !isPACECAM(info.Protocol) {
			continue
		}
		p := PACEInfo{Protocol: info.Protocol, ParameterID: -1}
		var err error
		if p.Version, err = smallInt(info.RequiredData, "PACEInfo version"); err != nil {
			continue
		}
		if info.OptionalData != nil {
			if p.ParameterID, err = smallInt(info.OptionalData, "PACEInfo parameterId"); err != nil {
				continue
			}
		}
		if p.Supported() {
			return fmt.Errorf("%w: %s offers PACE-CAM (%v), the session ran without it", ErrCardAccessMismatch, source, info.Protocol)
		}
	}
	return nil
}
