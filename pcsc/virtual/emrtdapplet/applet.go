package emrtdapplet

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/asn1"
	"io"
	"math/big"
	"sync"

	"github.com/puce-id/puce/pcsc/apdu"
)

// AID is the LDS1 eMRTD application identifier (ICAO 9303-10 §3.10.1).
func AID() []byte { return []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01} }

// File identifiers the applet serves (ICAO 9303-10 §4.6; the low byte is the
// short EF identifier).
const (
	fidCardAccess uint16 = 0x011C
	fidDIR        uint16 = 0x2F00 // EF.DIR, in the MF (ISO/IEC 7816-4 §8.2.1.1)
	fidATRInfo    uint16 = 0x2F01 // EF.ATR/INFO, in the MF (ISO/IEC 7816-4 §8.2.1.1)
	fidSOD        uint16 = 0x011D
	fidCOM        uint16 = 0x011E
	fidDG3        uint16 = 0x0103
	fidDG4        uint16 = 0x0104
)

// Status words the card answers besides apdu's.
const (
	swAuthFailed   uint16 = 0x6300 // authentication failed (BAC, PACE token)
	swOffsetBeyond uint16 = 0x6B00 // offset outside the file
	swEndOfFile    uint16 = 0x6282 // end of file reached before reading Ne bytes
)

// access is the security status reached.
type access int

const (
	accessNone access = iota
	accessBAC
	accessPACE
)

// Applet is the eMRTD LDS1 application of a virtual card: EF.CardAccess,
// EF.COM, EF.SOD and the data groups, behind PACE (generic mapping, ECDH) and
// BAC, with secure messaging, Chip, Terminal and Active Authentication. DG3
// and DG4 need EAC Terminal Authentication: without it the applet answers
// 6982.
//
// The applet also holds the card's master file (virtual.MasterFileHolder):
// after reset the MF is current and serves EF.CardAccess (011C, short EF
// identifier 1C), EF.DIR (2F00, 1E), EF.ATR/INFO (2F01, 01) where present
// and, after PACE, EF.CardSecurity (011D, 1D) when personalised with it
// (Options.CardSecurity), and PACE runs there, so that a reader follows ICAO 9303-11 §4.2: read
// EF.CardAccess, PACE, then SELECT the application under secure messaging.
// In the application's context EF.CardAccess is readable too, as on chips
// with a flat file system, for hosts that select the application first.
//
// Its methods are safe for concurrent use; ReplaceFile lets tests alter the
// card's files.
type Applet struct {
	mu sync.Mutex

	files   map[uint16][]byte
	rand    io.Reader
	mrzInfo []byte // for BAC and PACE with the MRZ
	can     []byte
	bac     bool
	pace    *paceConfig       // nil: no PACE
	ca      *chipKey          // nil: no Chip Authentication
	ta      *taConfig         // nil: no Terminal Authentication
	aa      *ecdsa.PrivateKey // nil: no Active Authentication with ECDSA
	aaRSA   *rsa.PrivateKey   // nil: no Active Authentication with RSA
	// cardSecurity is EF.CardSecurity of the MF (cardsecurity.go), nil
	// when absent.
	cardSecurity []byte

	// inMF: the master file is the current DF, not the application (ISO/IEC
	// 7816-4 §7.1.1): true after reset and SELECT MF, false after SELECT of
	// the application.
	inMF bool

	// Volatile state, cleared by Reset, Deselect and a plain SELECT.
	level     access
	sm        *session
	current   uint16 // current EF, 0 for none
	challenge []byte // RND.IC of BAC
	run       *paceRun
	// idIC identifies the chip to Terminal Authentication (ICAO 9303-11
	// §7.1): Comp(PK_IC) of PACE, or the document number and check digit.
	idIC []byte
	// Chip Authentication: MSE:Set AT received, keys to switch to after
	// the current answer, done, and Comp(PK_PCD) for Terminal
	// Authentication.
	caPending         bool
	nextSM            *session
	chipAuthenticated bool
	compPCD           []byte
	terminal          taState
}

// paceConfig is the PACE variant the chip announces in EF.CardAccess.
type paceConfig struct {
	oid   asn1.ObjectIdentifier
	suite suite
	param int
	curve elliptic.Curve // ECDH, or
	dh    *dhGroup       // DH (id-PACE-DH-GM-*)
	// explicit: EF.CardAccess gives dh in a PACEDomainParameterInfo
	// under param.
	explicit bool
	// camOID, when set, is id-PACE-ECDH-CAM-* (pacecam.go), announced
	// beside oid and run with the Chip Authentication key.
	camOID asn1.ObjectIdentifier
}

// paceRun is the chip's state within one PACE execution (ICAO 9303-11
// §4.4.3).
type paceRun struct {
	oid    asn1.ObjectIdentifier // the variant MSE:Set AT chose
	cam    bool                  // oid is the Chip Authentication Mapping
	skMap  []byte                // SK_Map,IC, for CA_IC
	step   int                   // GENERAL AUTHENTICATE steps done
	secret []byte
	nonce  []byte
	gen    point    // mapped generator (ECDH)
	genDH  *big.Int // mapped generator (DH)
	sk     []byte
	pkIC   []byte
	pkPCD  []byte
	ksEnc  []byte
	ksMAC  []byte
}

// AID implements virtual.Applet.
func (a *Applet) AID() []byte { return AID() }

// Select implements virtual.Applet: a plain SELECT of the application ends
// any secure messaging session (ICAO 9303-11 §9.8: a plain command aborts
// it).
func (a *Applet) Select(_ context.Context, cmd apdu.Command) (apdu.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sw := a.selectP2(cmd); sw != apdu.SWOK {
		return apdu.Status(sw), nil
	}
	a.clear()
	a.inMF = false
	return dfAnswer(cmd), nil
}

// SelectMF implements virtual.MasterFileHolder: a plain SELECT MF makes the
// master file current and, being plain, ends secure messaging (ICAO 9303-11
// §9.8). It answers the MF's FCP when P2 asks for it.
func (a *Applet) SelectMF(_ context.Context, cmd apdu.Command) (apdu.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clear()
	a.inMF = true
	return fcpAnswer(cmd, mfFCP()), nil
}

// Reset implements virtual.Resetter: the chip forgets its security status
// and the MF is current again.
func (a *Applet) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clear()
	a.inMF = true
}

// Deselect implements virtual.Deselecter.
func (a *Applet) Deselect() { a.Reset() }

// HandlesChain reports the commands whose chained blocks the applet answers
// one by one instead of as one reassembled command: the GENERAL AUTHENTICATE
// steps of PACE, which ICAO 9303-11 §4.4.4.2 sends with the chaining bit
// set, each with its own answer. A card runtime that honours it passes such
// commands through unassembled.
func (a *Applet) HandlesChain(cmd apdu.Command) bool { return cmd.INS == 0x86 }

func (a *Applet) clear() {
	a.level, a.sm, a.current, a.challenge, a.run = accessNone, nil, 0, nil, nil
	a.idIC, a.caPending, a.nextSM, a.chipAuthenticated, a.compPCD = nil, false, nil, false, nil
	a.terminal = taState{}
}

// ReplaceFile replaces the content of an elementary file (by file
// identifier, e.g. 0x0101 for DG1), or adds it; nil removes it. For tests
// that alter a data group behind EF.SOD's back.
func (a *Applet) ReplaceFile(fid uint16, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if data == nil {
		delete(a.files, fid)
		return
	}
	a.files[fid] = bytes.Clone(data)
}

// File returns a copy of a file's content, nil when absent.
func (a *Applet) File(fid uint16) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.files[fid])
}

// Process implements virtual.Applet.
func (a *Applet) Process(_ context.Context, cmd apdu.Command) (apdu.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	protected := cmd.CLA&0x80 == 0 && (cmd.CLA&0x40 == 0 && cmd.CLA&0x0C == 0x0C || cmd.CLA&0x60 == 0x60)
	if !protected {
		if a.sm != nil {
			// A plain command ends secure messaging (ICAO 9303-11 §9.8).
			a.clear()
		}
		return a.dispatch(cmd), nil
	}
	if a.sm == nil {
		return apdu.Status(apdu.SWSMMissing), nil
	}
	plain, err := a.sm.open(cmd)
	if err != nil {
		// Wrong MAC or objects: answer plainly and forget the keys.
		a.clear()
		return apdu.Status(apdu.SWSMIncorrect), nil
	}
	sm := a.sm
	r := a.dispatch(plain)
	if a.sm != sm {
		// The command ended the session (PACE restarted): answer plain.
		return r, nil
	}
	out := sm.seal(r, plain.INS&1 == 1)
	if a.nextSM != nil {
		// Chip Authentication: the answer went under the old keys, what
		// follows under the new ones (ICAO 9303-11 §6.2).
		a.sm, a.nextSM = a.nextSM, nil
	}
	return out, nil
}

func (a *Applet) dispatch(cmd apdu.Command) apdu.Response {
	if a.inMF {
		// The MF offers its files and PACE (ICAO 9303-11 §4.2 steps 1 and
		// 2); BAC and the authentications of the data groups' keys come
		// after the application is selected (step 3).
		switch {
		case cmd.INS == 0xA4, cmd.INS == 0xB0, cmd.INS == 0xB1, cmd.INS == 0x86 && !a.caPending,
			cmd.INS == 0x22 && cmd.P1 == 0xC1 && cmd.P2 == 0xA4:
		default:
			return apdu.Status(apdu.SWConditions)
		}
	}
	switch cmd.INS {
	case 0xA4:
		return a.selectFile(cmd)
	case 0xB0, 0xB1:
		return a.readBinary(cmd)
	case 0x84:
		if a.sm != nil {
			return a.taChallenge(cmd)
		}
		return a.getChallenge(cmd)
	case 0x82:
		if a.sm != nil {
			return a.taExternalAuthenticate(cmd)
		}
		return a.externalAuthenticate(cmd)
	case 0x22:
		switch uint16(cmd.P1)<<8 | uint16(cmd.P2) {
		case 0x41A6:
			return a.caKAT(cmd)
		case 0x41A4:
			return a.caSetAT(cmd)
		case 0x81B6:
			return a.taSetDST(cmd)
		case 0x81A4:
			return a.taSetAT(cmd)
		}
		return a.mseSetAT(cmd)
	case 0x86:
		if a.caPending {
			return a.caGeneralAuthenticate(cmd)
		}
		return a.generalAuthenticate(cmd)
	case 0x2A:
		return a.psoVerifyCertificate(cmd)
	case 0x88:
		return a.internalAuthenticate(cmd)
	}
	return apdu.Status(apdu.SWINSNotSupported)
}

// getChallenge starts BAC: RND.IC, 8 bytes (ICAO 9303-11 §4.3.4.1).
func (a *Applet) getChallenge(cmd apdu.Command) apdu.Response {
	if !a.bac {
		return apdu.Status(apdu.SWINSNotSupported)
	}
	if cmd.Ne != 8 {
		return apdu.Status(apdu.SWWrongLength)
	}
	a.clear()
	a.challenge = make([]byte, 8)
	if _, err := io.ReadFull(a.rand, a.challenge); err != nil {
		return apdu.Status(apdu.SWNoPreciseDiagnosis)
	}
	return apdu.Response{Data: bytes.Clone(a.challenge), SW: apdu.SWOK}
}

// externalAuthenticate is the chip's side of BAC mutual authentication
// (ICAO 9303-11 §4.3.4.2).
func (a *Applet) externalAuthenticate(cmd apdu.Command) apdu.Response {
	rndIC := a.challenge
	a.challenge = nil
	if rndIC == nil || !a.bac {
		return apdu.Status(apdu.SWConditions)
	}
	if len(cmd.Data) != 40 {
		return apdu.Status(apdu.SWWrongLength)
	}
	seed := sha1Sum(a.mrzInfo)[:16]
	kEnc, kMAC := fixParity(deriveKey(suite3DES, seed, 1)), fixParity(deriveKey(suite3DES, seed, 2))
	eIFD, mIFD := cmd.Data[:32], cmd.Data[32:]
	if subtle.ConstantTimeCompare(macOf(suite3DES, kMAC, padISO(eIFD, 8)), mIFD) != 1 {
		return apdu.Status(swAuthFailed)
	}
	blk, _ := blockCipher(suite3DES, kEnc)
	s := make([]byte, 32)
	cipher.NewCBCDecrypter(blk, make([]byte, 8)).CryptBlocks(s, eIFD)
	if !bytes.Equal(s[8:16], rndIC) {
		return apdu.Status(swAuthFailed)
	}
	rndIFD, kIFD := s[:8], s[16:32]
	kIC := make([]byte, 16)
	if _, err := io.ReadFull(a.rand, kIC); err != nil {
		return apdu.Status(apdu.SWNoPreciseDiagnosis)
	}
	r := append(append(append([]byte(nil), rndIC...), rndIFD...), kIC...)
	eIC := make([]byte, 32)
	cipher.NewCBCEncrypter(blk, make([]byte, 8)).CryptBlocks(eIC, r)
	mIC := macOf(suite3DES, kMAC, padISO(eIC, 8))
	seedS := make([]byte, 16)
	subtle.XORBytes(seedS, kIFD, kIC)
	ssc := append(append([]byte(nil), rndIC[4:]...), rndIFD[4:]...)
	sm, err := newSession(suite3DES, fixParity(deriveKey(suite3DES, seedS, 1)), fixParity(deriveKey(suite3DES, seedS, 2)), ssc)
	if err != nil {
		return apdu.Status(apdu.SWNoPreciseDiagnosis)
	}
	a.sm, a.level = sm, accessBAC
	a.idIC = bytes.Clone(a.mrzInfo[:len(a.mrzInfo)-14])
	return apdu.Response{Data: append(eIC, mIC...), SW: apdu.SWOK}
}

// mseSetAT selects the PACE variant and password (ICAO 9303-11 §4.4.4.1).
func (a *Applet) mseSetAT(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0xC1 || cmd.P2 != 0xA4 {
		return apdu.Status(apdu.SWWrongP1P2)
	}
	if a.pace == nil {
		return apdu.Status(apdu.SWFuncNotSupported)
	}
	a.clear()
	objs, err := apdu.DecodeTLVs(cmd.Data)
	if err != nil {
		return apdu.Status(apdu.SWWrongData)
	}
	oid, _ := asn1.Marshal(a.pace.oid)
	camOID, _ := asn1.Marshal(a.pace.camOID)
	var secret []byte
	okOID, cam := false, false
	for _, o := range objs {
		switch o.Tag {
		case 0x80:
			okOID = bytes.Equal(o.Value, oid[2:])
			if a.pace.camOID != nil && bytes.Equal(o.Value, camOID[2:]) {
				okOID, cam = true, true
			}
		case 0x83:
			switch {
			case bytes.Equal(o.Value, []byte{1}):
				s := sha1Sum(a.mrzInfo)
				secret = s[:]
			case bytes.Equal(o.Value, []byte{2}):
				secret = a.can
			default:
				return apdu.Status(apdu.SWReferencedDataNotFound)
			}
		case 0x84:
			if !bytes.Equal(o.Value, []byte{byte(a.pace.param)}) {
				return apdu.Status(apdu.SWReferencedDataNotFound)
			}
		}
	}
	if !okOID {
		return apdu.Status(apdu.SWReferencedDataNotFound)
	}
	if secret == nil {
		return apdu.Status(apdu.SWWrongData)
	}
	a.run = &paceRun{secret: secret, oid: a.pace.oid, cam: cam}
	if cam {
		a.run.oid = a.pace.camOID
	}
	return apdu.Status(apdu.SWOK)
}

// generalAuthenticate runs the chip's four PACE steps (ICAO 9303-11
// §4.4.3, §4.4.4.2). ICAO sends steps 1 to 3 with the chaining bit set and
// the runtime passes them through (HandlesChain); like many chips, the
// applet does not insist on the bit.
func (a *Applet) generalAuthenticate(cmd apdu.Command) apdu.Response {
	run, cfg := a.run, a.pace
	if run == nil || cfg == nil || cmd.P1 != 0 || cmd.P2 != 0 {
		return apdu.Status(apdu.SWConditions)
	}
	t, rest, err := apdu.DecodeTLV(cmd.Data)
	if err != nil || t.Tag != 0x7C || len(rest) != 0 {
		a.run = nil
		return apdu.Status(apdu.SWWrongData)
	}
	var in apdu.TLV
	if len(t.Value) > 0 {
		if in, _, err = apdu.DecodeTLV(t.Value); err != nil {
			a.run = nil
			return apdu.Status(apdu.SWWrongData)
		}
	}
	c := cfg.curve
	var tag apdu.Tag
	var out []byte
	fail := func(sw uint16) apdu.Response {
		a.run = nil
		return apdu.Status(sw)
	}
	switch run.step {
	case 0: // encrypted nonce z = E(Kπ, s)
		if len(t.Value) != 0 {
			return fail(apdu.SWWrongData)
		}
		run.nonce = make([]byte, 16)
		if _, err := io.ReadFull(a.rand, run.nonce); err != nil {
			return fail(apdu.SWNoPreciseDiagnosis)
		}
		kpi := deriveKey(cfg.suite, run.secret, 3)
		if cfg.suite == suite3DES {
			kpi = fixParity(kpi)
		}
		blk, _ := blockCipher(cfg.suite, kpi)
		out = make([]byte, 16)
		cipher.NewCBCEncrypter(blk, make([]byte, cfg.suite.block())).CryptBlocks(out, run.nonce)
		tag = 0x80
	case 1: // mapping: G' = s·G + SK_map,IC · PK_map,IFD
		if cfg.dh != nil {
			if in.Tag != 0x81 {
				return fail(apdu.SWWrongData)
			}
			gen, pk, ok, err := cfg.dh.mapGeneric(a.rand, run.nonce, in.Value)
			if err != nil {
				return fail(apdu.SWNoPreciseDiagnosis)
			}
			if !ok {
				return fail(apdu.SWWrongData)
			}
			run.genDH, out, tag = gen, pk, 0x82
			break
		}
		pk, ok := parsePoint(c, in.Value)
		if in.Tag != 0x81 || !ok {
			return fail(apdu.SWWrongData)
		}
		sk, err := a.scalar(c)
		if err != nil {
			return fail(apdu.SWNoPreciseDiagnosis)
		}
		hx, hy := c.ScalarMult(pk.x, pk.y, sk)
		sx, sy := c.ScalarBaseMult(run.nonce)
		gx, gy := c.Add(sx, sy, hx, hy)
		run.gen = point{gx, gy}
		if (point{hx, hy}).infinity() || run.gen.infinity() {
			return fail(apdu.SWWrongData)
		}
		mx, my := c.ScalarBaseMult(sk)
		run.skMap = sk
		out, tag = point{mx, my}.bytes(c), 0x82
	case 2: // key agreement on G'
		if cfg.dh != nil {
			if in.Tag != 0x83 {
				return fail(apdu.SWWrongData)
			}
			pk, shared, ok, err := cfg.dh.agree(a.rand, run.genDH, in.Value)
			if err != nil {
				return fail(apdu.SWNoPreciseDiagnosis)
			}
			// ICAO 9303-11 §4.4.3.3.2: the two ephemeral keys differ.
			if !ok || bytes.Equal(pk, in.Value) {
				return fail(apdu.SWWrongData)
			}
			run.pkIC, run.pkPCD = pk, bytes.Clone(in.Value)
			run.ksEnc, run.ksMAC = sessionKeys(cfg.suite, shared)
			out, tag = pk, 0x84
			break
		}
		pk, ok := parsePoint(c, in.Value)
		if in.Tag != 0x83 || !ok {
			return fail(apdu.SWWrongData)
		}
		sk, err := a.scalar(c)
		if err != nil {
			return fail(apdu.SWNoPreciseDiagnosis)
		}
		ex, ey := c.ScalarMult(run.gen.x, run.gen.y, sk)
		run.pkIC, run.pkPCD = point{ex, ey}.bytes(c), bytes.Clone(in.Value)
		if bytes.Equal(run.pkIC, run.pkPCD) {
			return fail(apdu.SWWrongData)
		}
		kx, ky := c.ScalarMult(pk.x, pk.y, sk)
		if (point{kx, ky}).infinity() {
			return fail(apdu.SWWrongData)
		}
		run.ksEnc, run.ksMAC = sessionKeys(cfg.suite, kx.FillBytes(make([]byte, coordLen(c))))
		out, tag = run.pkIC, 0x84
	case 3: // mutual authentication tokens
		if in.Tag != 0x85 {
			return fail(apdu.SWWrongData)
		}
		if subtle.ConstantTimeCompare(a.token(run.oid, run.ksMAC, run.pkIC), in.Value) != 1 {
			// Wrong password: the chip's and the host's keys differ.
			return fail(swAuthFailed)
		}
		sm, err := newSession(cfg.suite, run.ksEnc, run.ksMAC, make([]byte, cfg.suite.block()))
		if err != nil {
			return fail(apdu.SWNoPreciseDiagnosis)
		}
		tIC := a.token(run.oid, run.ksMAC, run.pkPCD)
		var aIC []byte
		if run.cam {
			if aIC, err = a.camData(run); err != nil {
				return fail(apdu.SWNoPreciseDiagnosis)
			}
		}
		a.run, a.sm, a.level = nil, sm, accessPACE
		if cfg.dh != nil {
			a.idIC = compDH(run.pkIC)
		} else {
			a.idIC = bytes.Clone(run.pkIC[1 : 1+coordLen(c)])
		}
		b, _ := apdu.AppendTLV(nil, 0x86, tIC)
		if run.cam {
			// ICAO 9303-11 §4.4.3.5: with CAM the chip is authenticated
			// once the terminal checks A_IC; Terminal Authentication
			// then signs the terminal's PACE key (pacecam.go).
			b, _ = apdu.AppendTLV(b, 0x8A, aIC)
			a.chipAuthenticated = true
			a.compPCD = bytes.Clone(run.pkPCD[1 : 1+coordLen(c)])
		}
		resp, _ := apdu.AppendTLV(nil, 0x7C, b)
		return apdu.Response{Data: resp, SW: apdu.SWOK}
	}
	run.step++
	b, _ := apdu.AppendTLV(nil, tag, out)
	resp, _ := apdu.AppendTLV(nil, 0x7C, b)
	return apdu.Response{Data: resp, SW: apdu.SWOK}
}

// sessionKeys derives KSenc and KSmac from the shared secret (ICAO 9303-11
// §9.7.1).
func sessionKeys(s suite, shared []byte) (enc, mac []byte) {
	enc, mac = deriveKey(s, shared, 1), deriveKey(s, shared, 2)
	if s == suite3DES {
		enc, mac = fixParity(enc), fixParity(mac)
	}
	return enc, mac
}

// token is MAC(KSmac, 7F49 { 06 OID, 86 point }), with 84 y for DH (ICAO
// 9303-11 §4.4.3.4, §9.4).
func (a *Applet) token(protocol asn1.ObjectIdentifier, ksMAC, pk []byte) []byte {
	oid, _ := asn1.Marshal(protocol)
	keyTag := byte(0x86)
	if a.pace.dh != nil {
		keyTag = 0x84
	}
	inner := append(oid, keyTag)
	inner = appendLen(inner, len(pk))
	inner = append(inner, pk...)
	data := appendLen([]byte{0x7F, 0x49}, len(inner))
	data = append(data, inner...)
	if a.pace.suite == suite3DES {
		return macOf(suite3DES, ksMAC, padISO(data, 8))
	}
	c, _ := blockCipher(a.pace.suite, ksMAC)
	return aesCMAC(c, data)[:8]
}

func appendLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	}
	return append(b, 0x82, byte(n>>8), byte(n))
}

// scalar draws a private key in [1, n-1].
func (a *Applet) scalar(c elliptic.Curve) ([]byte, error) {
	n := c.Params().N
	b := make([]byte, (n.BitLen()+7)/8)
	for {
		if _, err := io.ReadFull(a.rand, b); err != nil {
			return nil, err
		}
		if extra := len(b)*8 - n.BitLen(); extra > 0 {
			b[0] &= 0xFF >> extra
		}
		k := new(big.Int).SetBytes(b)
		if k.Sign() > 0 && k.Cmp(n) < 0 {
			return b, nil
		}
	}
}

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:]
}
