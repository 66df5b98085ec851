package emrtdapplet

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/big"
	"slices"
	"strings"
	"time"
)

// ErrProfile reports a holder profile or options the applet cannot encode.
var ErrProfile = errors.New("emrtdapplet: invalid profile")

// Profile is the holder and document a virtual eMRTD is personalised with.
// Text is expected in Latin capitals for the MRZ fields; DG11 keeps it as
// given.
type Profile struct {
	// DocumentCode is "P" for a passport (TD3 MRZ) or "I"/"ID" for an
	// identity card (TD1 MRZ).
	DocumentCode   string
	IssuingState   string // three-letter code, e.g. "UTO"
	DocumentNumber string // 1 to 9 characters
	Surname        string
	GivenNames     string
	Nationality    string // three-letter code
	Sex            string // "M", "F" or "" (unspecified)
	BirthDate      time.Time
	ExpiryDate     time.Time
	PlaceOfBirth   []string // e.g. {"ZENITH", "UTOPIA"}
	Address        []string // lines
	PersonalNumber string
	Height         int    // centimetres, DG13
	EyeColour      string // "brown", "blue", … (DG2 and DG13)
	// Photo is the face as a JPEG (DG2); SamplePhoto makes one.
	Photo            []byte
	IssuingAuthority string
	IssueDate        time.Time
	// Fingerprints is the DG3 payload; a placeholder when empty.
	Fingerprints []byte
}

// PACECipher selects the PACE suite with generic mapping over ECDH (ICAO
// 9303-11 §9.2.1): the last arc of id-PACE-ECDH-GM-*.
type PACECipher int

const (
	PACE3DES   PACECipher = 1 // id-PACE-ECDH-GM-3DES-CBC-CBC
	PACEAES128 PACECipher = 2 // id-PACE-ECDH-GM-AES-CBC-CMAC-128
	PACEAES192 PACECipher = 3 // id-PACE-ECDH-GM-AES-CBC-CMAC-192
	PACEAES256 PACECipher = 4 // id-PACE-ECDH-GM-AES-CBC-CMAC-256
)

// Options configures Personalise.
type Options struct {
	// Rand is crypto/rand when nil; it feeds the CAN, the PKI and the chip's
	// nonces and keys.
	Rand io.Reader
	// CAN is the card access number; six random digits when empty.
	CAN string
	// DisablePACE makes a BAC-only chip: no EF.CardAccess.
	DisablePACE bool
	// DisableBAC makes a PACE-only chip.
	DisableBAC bool
	// PACEParameterID is the standardized domain parameter ID (ICAO 9303-11
	// Table 6): 8 to 18; 0 means 13, brainpoolP256r1, as on current EU
	// identity cards.
	PACEParameterID int
	// PACECipher is the suite; 0 means PACEAES128.
	PACECipher PACECipher
	// PACEDH announces PACE with generic mapping over DH,
	// id-PACE-DH-GM-* with PACECipher, instead of ECDH; PACEParameterID
	// then names the MODP group (ICAO 9303-11 Table 6): 0 the 1024-bit
	// group with 160-bit subgroup, 1 and 2 the 2048-bit groups with 224- and
	// 256-bit subgroups (RFC 5114), which need a card with extended length.
	PACEDH bool
	// PACEDHExplicit, with PACEDH, gives that MODP group explicitly in a
	// PACEDomainParameterInfo (dhpublicnumber p, g, q; ICAO 9303-11
	// §9.2.1) under the proprietary parameter ID 32, which the PACEInfo and
	// MSE:Set AT then name.
	PACEDHExplicit bool
	// PACECAM announces, beside generic mapping, PACE with Chip
	// Authentication Mapping, id-PACE-ECDH-CAM-AES-CBC-CMAC-* with
	// PACECipher (an AES suite: CAM has no 3DES variant), on the PACE
	// curve, and runs it with the Chip Authentication key, which must be on
	// that curve (ICAO 9303-11 §4.4.3.3.3, §4.4.3.5). It implies
	// CardSecurity: the terminal takes the key from EF.CardSecurity
	// (§9.2.11 makes the file REQUIRED on such a chip).
	PACECAM bool
	// Issuer signs EF.SOD; a fresh one for the issuing state when nil.
	Issuer *Issuer
	// Now dates the PKI and the signing time; time.Now when zero.
	Now time.Time
	// UnsignedDataGroups are data groups written to the chip but left out
	// of EF.SOD, for tests of passive authentication.
	UnsignedDataGroups []int
	// DisableChipAuthentication leaves out DG14 and the chip's key
	// agreement key (a chip without EAC).
	DisableChipAuthentication bool
	// ChipAuthenticationParameterID picks the curve of the Chip
	// Authentication key, as PACEParameterID does (ICAO 9303-11 Table 6);
	// 0 means the PACE curve, or brainpoolP256r1 (also on a PACEDH chip).
	ChipAuthenticationParameterID int
	// ChipAuthenticationCipher picks id-CA-ECDH-3DES-CBC-CBC (PACE3DES) or
	// an AES suite; 0 means PACEAES128.
	ChipAuthenticationCipher PACECipher
	// CVCA is the issuing state's CVCA certificate (a CV certificate,
	// 7F21), the chip's trust point for Terminal Authentication; the chip's
	// current date starts at Now. Without it the chip refuses DG3 and DG4
	// to everyone.
	CVCA []byte
	// ActiveAuthentication gives the chip an ECDSA P-256 key for Active
	// Authentication: DG15 carries its public half, DG14 names
	// ecdsa-plain-SHA256 (ICAO 9303-11 §6.1).
	ActiveAuthentication bool
	// ActiveAuthenticationRSA gives the chip an RSA key of 1024 bits for
	// Active Authentication instead, as many passports have: DG15 carries
	// its public half, and INTERNAL AUTHENTICATE answers an ISO/IEC 9796-2
	// scheme 1 signature with SHA-1 (ICAO 9303-11 §6.1).
	ActiveAuthenticationRSA bool
	// ExplicitDomainParameters writes DG14's key with the curve spelled
	// out (ECParameters) instead of its name, as many issuers do.
	ExplicitDomainParameters bool
	// CardSecurity puts EF.CardSecurity in the master file (file 011D,
	// short EF identifier 1D, readable after PACE only): the chip's
	// SecurityInfos — those of DG14, a superset of EF.CardAccess — signed
	// by the document signer that signs EF.SOD (ICAO 9303-11 §9.2.11; BSI
	// TR-03110-3 §A.1.2.5). It needs PACE.
	CardSecurity bool
	// OmitDG14 leaves DG14 out of the LDS even on a PACE chip: a PACE-only
	// chip without Chip or Active Authentication data in the application,
	// whose EF.CardAccess only EF.CardSecurity can authenticate. It needs
	// DisableChipAuthentication and no ActiveAuthentication, whose keys
	// a reader finds only in DG14.
	OmitDG14 bool
}

// Personalised is a personalised eMRTD applet with what its holder and a
// verifier need: the CAN and MRZ printed on the document, and the issuing
// state's CSCA certificate for passive authentication.
type Personalised struct {
	Applet *Applet
	Issuer *Issuer
	// CSCA is Issuer.CSCA, the trust anchor for passive authentication.
	CSCA *x509.Certificate
	// CAN is the card access number printed on the card.
	CAN string
	// MRZLines is the machine readable zone as printed; MRZ joins the
	// lines with newlines.
	MRZLines []string
	MRZ      string
}

// Personalise builds the applet's files from the profile — EF.CardAccess
// (PACE), EF.COM, DG1, DG2, DG3, DG11, DG12, DG13 — and EF.SOD signed by the
// issuer's document signer.
func Personalise(p Profile, opts *Options) (*Personalised, error) {
	if opts == nil {
		opts = &Options{}
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if p.BirthDate.IsZero() || p.ExpiryDate.IsZero() || p.Surname == "" {
		return nil, fmt.Errorf("%w: surname, birth date and expiry date are required", ErrProfile)
	}
	lines, err := buildMRZ(&p)
	if err != nil {
		return nil, err
	}
	can := opts.CAN
	if can == "" {
		n, err := rand.Int(rnd, big.NewInt(1000000))
		if err != nil {
			return nil, err
		}
		can = fmt.Sprintf("%06d", n)
	}
	if strings.Trim(can, "0123456789") != "" {
		return nil, fmt.Errorf("%w: a CAN is digits", ErrProfile)
	}
	is := opts.Issuer
	if is == nil {
		if is, err = NewIssuer(p.IssuingState, now, rnd); err != nil {
			return nil, err
		}
	}
	if len(p.Fingerprints) == 0 {
		p.Fingerprints = make([]byte, 64)
	}
	groups := map[int][]byte{
		1:  buildDG1(lines),
		2:  buildDG2(&p),
		3:  buildDG3(&p),
		11: buildDG11(&p),
		12: buildDG12(&p),
		13: buildDG13(&p),
	}
	var aa *ecdsa.PrivateKey
	var aaAlg asn1.ObjectIdentifier
	if opts.ActiveAuthentication {
		if aa, err = newAAKey(rnd); err != nil {
			return nil, err
		}
		if groups[15], err = buildDG15(aa); err != nil {
			return nil, err
		}
		aaAlg = oidECDSAPlainSHA256
	}
	var aaRSA *rsa.PrivateKey
	if opts.ActiveAuthenticationRSA {
		if aa != nil {
			return nil, fmt.Errorf("%w: one Active Authentication key, ECDSA or RSA", ErrProfile)
		}
		if aaRSA, err = rsa.GenerateKey(rnd, 1024); err != nil {
			return nil, err
		}
		if groups[15], err = buildDG15RSA(aaRSA); err != nil {
			return nil, err
		}
	}
	var pace *paceConfig
	var access []byte // EF.CardAccess
	if !opts.DisablePACE {
		id := opts.PACEParameterID
		if id == 0 && !opts.PACEDH {
			id = 13
		}
		c := opts.PACECipher
		if c == 0 {
			c = PACEAES128
		}
		if c < PACE3DES || c > PACEAES256 {
			return nil, fmt.Errorf("%w: PACE cipher %d", ErrProfile, c)
		}
		if opts.PACEDH {
			// id-PACE-DH-GM-* (ICAO 9303-11 §9.2.1).
			grp := dhDomainParameters(id)
			if grp == nil {
				return nil, fmt.Errorf("%w: PACE DH parameter %d", ErrProfile, id)
			}
			pace = &paceConfig{oid: asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 1, int(c)}, suite: suite(c), param: id, dh: grp}
			if opts.PACEDHExplicit {
				pace.param, pace.explicit = 32, true
			}
		} else {
			curve := domainParameters(id)
			if curve == nil {
				return nil, fmt.Errorf("%w: PACE parameter %d, cipher %d", ErrProfile, id, c)
			}
			pace = &paceConfig{oid: asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, int(c)}, suite: suite(c), param: id, curve: curve}
			if opts.PACECAM {
				if c == PACE3DES {
					return nil, fmt.Errorf("%w: PACE-CAM has no 3DES variant", ErrProfile)
				}
				pace.camOID = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 6, int(c)}
			}
		}
		if access, err = cardAccess(pace); err != nil {
			return nil, err
		}
	}
	var ca *chipKey
	if !opts.DisableChipAuthentication {
		id := opts.ChipAuthenticationParameterID
		if id == 0 && !opts.PACEDH {
			// The PACE curve; a DH chip's key agreement key is on
			// brainpoolP256r1.
			id = opts.PACEParameterID
		}
		if id == 0 {
			id = 13
		}
		c := opts.ChipAuthenticationCipher
		if c == 0 {
			c = PACEAES128
		}
		curve := domainParameters(id)
		if curve == nil || c < PACE3DES || c > PACEAES256 {
			return nil, fmt.Errorf("%w: Chip Authentication parameter %d, cipher %d", ErrProfile, id, c)
		}
		if ca, err = newChipKey(curve, suite(c), rnd); err != nil {
			return nil, err
		}
	}
	if opts.PACECAM {
		switch {
		case pace == nil || pace.curve == nil:
			return nil, fmt.Errorf("%w: PACE-CAM needs PACE over ECDH", ErrProfile)
		case ca == nil || ca.curve != pace.curve:
			return nil, fmt.Errorf("%w: PACE-CAM needs a Chip Authentication key on the PACE curve", ErrProfile)
		}
	}
	// DG14 holds the keys' SecurityInfos and, on a PACE chip, every
	// SecurityInfo of EF.CardAccess, also without Chip Authentication (ICAO
	// 9303-11 §9.2.11), so that a reader can authenticate EF.CardAccess.
	var dg14 []byte
	if ca != nil || access != nil || aaAlg != nil {
		if dg14, err = buildDG14(ca, opts.ExplicitDomainParameters, aaAlg, access); err != nil {
			return nil, err
		}
	}
	if opts.OmitDG14 {
		if ca != nil || aa != nil || aaRSA != nil {
			return nil, fmt.Errorf("%w: Chip and Active Authentication need DG14", ErrProfile)
		}
	} else if dg14 != nil {
		groups[14] = dg14
	}
	var cardSecurity []byte
	if opts.CardSecurity || opts.PACECAM {
		if access == nil {
			return nil, fmt.Errorf("%w: EF.CardSecurity is read after PACE, which the chip lacks", ErrProfile)
		}
		infos, err := dg14Infos(dg14)
		if err != nil {
			return nil, err
		}
		if cardSecurity, err = signCardSecurity(is, infos, now, rnd); err != nil {
			return nil, err
		}
	}
	signed := map[int][]byte{}
	for n, b := range groups {
		if !slices.Contains(opts.UnsignedDataGroups, n) {
			signed[n] = b
		}
	}
	sod, err := signSOD(is, signed, now, rnd)
	if err != nil {
		return nil, err
	}
	var tags []byte
	for _, n := range []int{1, 2, 3, 11, 12, 13, 14, 15} {
		if _, ok := groups[n]; ok {
			tags = append(tags, []byte{0, 0x61, 0x75, 0x63, 0, 0, 0, 0, 0, 0, 0, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F}[n])
		}
	}
	var ta *taConfig
	if opts.CVCA != nil {
		if ca == nil {
			return nil, fmt.Errorf("%w: Terminal Authentication needs Chip Authentication", ErrProfile)
		}
		if ta, err = trustPoint(opts.CVCA, now); err != nil {
			return nil, err
		}
	}
	a := &Applet{
		ta:    ta,
		aa:    aa,
		aaRSA: aaRSA,
		files: map[uint16][]byte{fidCOM: buildCOM(tags), fidSOD: sod, fidDIR: buildDIR()},
		rand:  rnd,
		inMF:  true, // the MF is current at power-up (ISO/IEC 7816-4 §7.1.1)
		can:   []byte(can),
		bac:   !opts.DisableBAC,
		ca:    ca,

		cardSecurity: cardSecurity,
	}
	for n, b := range groups {
		a.files[0x0100|uint16(n)] = b
	}
	a.mrzInfo = mrzInformation(lines)
	if pace != nil {
		a.pace = pace
		a.files[fidCardAccess] = access
	}
	return &Personalised{
		Applet: a, Issuer: is, CSCA: is.CSCA, CAN: can,
		MRZLines: lines, MRZ: strings.Join(lines, "\n"),
	}, nil
}

// mrzInformation is the document number, birth date and expiry date with
// their check digits as the MRZ prints them (ICAO 9303-11 §9.7.2).
func mrzInformation(lines []string) []byte {
	if len(lines) == 2 { // TD3
		l2 := lines[1]
		return []byte(l2[0:10] + l2[13:20] + l2[21:28])
	}
	l1, l2 := lines[0], lines[1]
	return []byte(l1[5:15] + l2[0:7] + l2[8:15])
}

// cardAccess encodes EF.CardAccess with one PACEInfo (ICAO 9303-11 §9.2.1):
// SET { SEQUENCE { protocol, version 2, parameterId } }.
func cardAccess(cfg *paceConfig) ([]byte, error) {
	info, err := asn1.Marshal(struct {
		Protocol asn1.ObjectIdentifier
		Version  int
		Param    int
	}{cfg.oid, 2, cfg.param})
	if err != nil {
		return nil, err
	}
	if cfg.camOID != nil {
		// id-PACE-ECDH-CAM-* sorts after id-PACE-ECDH-GM-* (DER SET OF,
		// X.690 §11.6): its arc is 6, GM's 2.
		cam, err := asn1.Marshal(struct {
			Protocol asn1.ObjectIdentifier
			Version  int
			Param    int
		}{cfg.camOID, 2, cfg.param})
		if err != nil {
			return nil, err
		}
		info = append(info, cam...)
	}
	if cfg.explicit {
		// PACEDomainParameterInfo { id-PACE-DH-GM, AlgorithmIdentifier
		// { dhpublicnumber, DomainParameters { p, g, q } }, parameterId }
		// (ICAO 9303-11 §9.2.1; RFC 3279 §2.3.3).
		type domainParameters struct{ P, G, Q *big.Int }
		type algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters domainParameters
		}
		dp, err := asn1.Marshal(struct {
			Protocol asn1.ObjectIdentifier
			Domain   algorithm
			Param    int
		}{asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 1},
			algorithm{asn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}, domainParameters{cfg.dh.p, cfg.dh.g, cfg.dh.q}}, cfg.param})
		if err != nil {
			return nil, err
		}
		info = append(info, dp...)
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: info})
}

// SampleProfile returns a fictitious holder of Utopia (the ICAO specimen
// state) with a generated photo, for examples and tests.
func SampleProfile() Profile {
	return Profile{
		DocumentCode:     "ID",
		IssuingState:     "UTO",
		DocumentNumber:   "T22000129",
		Surname:          "ERIKSSON",
		GivenNames:       "ANNA MARIA",
		Nationality:      "UTO",
		Sex:              "F",
		BirthDate:        time.Date(1974, 8, 12, 0, 0, 0, 0, time.UTC),
		ExpiryDate:       time.Date(2034, 4, 15, 0, 0, 0, 0, time.UTC),
		PlaceOfBirth:     []string{"ZENITH", "UTOPIA"},
		Address:          []string{"12 MAIN STREET", "ZENITH", "UTOPIA"},
		PersonalNumber:   "ZE184226B",
		Height:           168,
		EyeColour:        "brown",
		Photo:            SamplePhoto(240, 320),
		IssuingAuthority: "CITY OF ZENITH",
		IssueDate:        time.Date(2024, 4, 16, 0, 0, 0, 0, time.UTC),
	}
}

// SamplePhoto draws a w×h placeholder portrait as a JPEG of the size a real
// DG2 image has (about 20 kB at 240×320): a face-like ellipse over a textured
// background, deterministic.
func SamplePhoto(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(2463534242)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// xorshift noise keeps the JPEG from compressing to nothing.
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			n := uint8(seed % 48)
			dx, dy := float64(x-w/2)/float64(w/3), float64(y-h*2/5)/float64(h/3)
			c := color.RGBA{170 + n, 190 + n/2, 210, 255}
			if dx*dx+dy*dy < 1 {
				c = color.RGBA{200 + n/2, 160 + n/2, 130 + n/3, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	return b.Bytes()
}
