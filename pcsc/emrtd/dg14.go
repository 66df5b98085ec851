package emrtd

import (
	"crypto/elliptic"
	"encoding/asn1"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of DG14 (BSI TR-03110-3 §A.1.1; ICAO 9303-11 §9.2.5,
// §9.2.6, §9.2.7).
var (
	oidBSIProtocols = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2}
	oidPK           = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1}
	oidPKECDH       = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 2}
	oidTA           = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2}
	oidCA           = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3}
	oidCAECDH       = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2}
	oidAA           = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}
	oidECPublicKeyX = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	// oidStandardizedDP is standardizedDomainParameters, bsi-de
	// algorithms(1) 2: an AlgorithmIdentifier whose parameters are the
	// INTEGER ID of ICAO 9303-11 Table 6 (BSI TR-03110-3 §A.2.1.1), as
	// German documents write their Chip Authentication keys.
	oidStandardizedDP = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 2}
)

// hasPrefix reports whether oid lies under arc.
func hasPrefix(oid, arc asn1.ObjectIdentifier) bool {
	return len(oid) > len(arc) && oid[:len(arc)].Equal(arc)
}

// caCipher maps a Chip Authentication protocol to its secure messaging
// cipher: id-CA-ECDH-3DES-CBC-CBC, -AES-CBC-CMAC-128, -192, -256 (ICAO
// 9303-11 §9.2.5). DH variants are not implemented.
func caCipher(oid asn1.ObjectIdentifier) (Cipher, bool) {
	if len(oid) != len(oidCAECDH)+1 || !hasPrefix(oid, oidCAECDH) {
		return 0, false
	}
	switch oid[len(oid)-1] {
	case 1:
		return Cipher3DES, true
	case 2:
		return CipherAES128, true
	case 3:
		return CipherAES192, true
	case 4:
		return CipherAES256, true
	}
	return 0, false
}

// ChipAuthenticationInfo announces a Chip Authentication protocol (ICAO
// 9303-11 §9.2.5).
type ChipAuthenticationInfo struct {
	Protocol asn1.ObjectIdentifier
	Version  int
	// KeyID names the key among several; -1 when absent.
	KeyID int
}

// ChipAuthenticationPublicKey is the chip's static key agreement key of
// DG14 (ChipAuthenticationPublicKeyInfo, ICAO 9303-11 §9.2.6): an ECDH point
// on a named or explicitly given curve, or one named by its standardized
// domain parameter ID (BSI TR-03110-3 §A.2.1.1). Passive authentication of DG14 is
// what makes it trustworthy.
type ChipAuthenticationPublicKey struct {
	Protocol asn1.ObjectIdentifier // id-PK-ECDH
	Curve    elliptic.Curve
	X, Y     *big.Int
	KeyID    int // -1 when absent
}

// ActiveAuthenticationInfo names the signature algorithm of Active
// Authentication with an ECDSA key (ICAO 9303-11 §9.2.7).
type ActiveAuthenticationInfo struct {
	Version            int
	SignatureAlgorithm asn1.ObjectIdentifier
}

// SecurityInfos is the decoded DG14: the chip's security protocols.
// Entries of protocols this package does not implement stay in Infos only.
type SecurityInfos struct {
	ChipAuthentication   []ChipAuthenticationInfo
	ChipAuthenticationPK []ChipAuthenticationPublicKey
	ActiveAuthentication *ActiveAuthenticationInfo
	// TerminalAuthentication is the version of TerminalAuthenticationInfo,
	// 0 when absent.
	TerminalAuthentication int
	Infos                  []SecurityInfo
}

// ParseDG14 decodes DG14, 6E { SecurityInfos } (ICAO 9303-10 §4.7.14,
// 9303-11 §9.2). Keys on curves this package does not know, and DH keys,
// are kept in Infos only.
func ParseDG14(b []byte) (*SecurityInfos, error) {
	v, err := outer(b, 0x6E)
	if err != nil {
		return nil, err
	}
	infos, err := parseSecurityInfos(v, "DG14")
	if err != nil {
		return nil, err
	}
	return securityInfosFrom(infos)
}

// securityInfosFrom decodes the entries of DG14 or EF.CardSecurity this
// package uses.
func securityInfosFrom(infos []SecurityInfo) (*SecurityInfos, error) {
	var err error
	si := &SecurityInfos{Infos: infos}
	for _, info := range infos {
		oid := info.Protocol
		switch {
		case hasPrefix(oid, oidCA) && len(oid) == len(oidCA)+1:
			// id-CA-DH or id-CA-ECDH alone: a
			// ChipAuthenticationDomainParameterInfo, whose required data
			// is an AlgorithmIdentifier (ICAO 9303-11 §9.2.5, BSI
			// TR-03110-3 §A.1.1.2); the key carries its own parameters.
			continue
		case hasPrefix(oid, oidCA):
			ci := ChipAuthenticationInfo{Protocol: oid, KeyID: -1}
			if ci.Version, err = smallInt(info.RequiredData, "ChipAuthenticationInfo version"); err != nil {
				return nil, err
			}
			if info.OptionalData != nil {
				if ci.KeyID, err = smallInt(info.OptionalData, "ChipAuthenticationInfo keyId"); err != nil {
					return nil, err
				}
			}
			si.ChipAuthentication = append(si.ChipAuthentication, ci)
		case hasPrefix(oid, oidPK):
			if !oid.Equal(oidPKECDH) {
				continue
			}
			pk := ChipAuthenticationPublicKey{Protocol: oid, KeyID: -1}
			curve, x, y, err := parseECSPKI(info.RequiredData)
			if err != nil {
				return nil, err
			}
			if curve == nil {
				continue // an unknown curve: not usable here
			}
			pk.Curve, pk.X, pk.Y = curve, x, y
			if info.OptionalData != nil {
				if pk.KeyID, err = smallInt(info.OptionalData, "ChipAuthenticationPublicKeyInfo keyId"); err != nil {
					return nil, err
				}
			}
			si.ChipAuthenticationPK = append(si.ChipAuthenticationPK, pk)
		case oid.Equal(oidTA):
			if si.TerminalAuthentication, err = smallInt(info.RequiredData, "TerminalAuthenticationInfo version"); err != nil {
				return nil, err
			}
		case oid.Equal(oidAA):
			aa := &ActiveAuthenticationInfo{}
			if aa.Version, err = smallInt(info.RequiredData, "ActiveAuthenticationInfo version"); err != nil {
				return nil, err
			}
			if info.OptionalData != nil {
				o := cryptobyte.String(info.OptionalData)
				if !o.ReadASN1ObjectIdentifier(&aa.SignatureAlgorithm) || !o.Empty() {
					return nil, malformed("ActiveAuthenticationInfo signatureAlgorithm")
				}
			}
			si.ActiveAuthentication = aa
		}
	}
	return si, nil
}

// smallInt reads a DER INTEGER of 0 to 0xFFFF.
func smallInt(der []byte, what string) (int, error) {
	in := cryptobyte.String(der)
	var v int64
	if !in.ReadASN1Int64WithTag(&v, cbasn1.INTEGER) || !in.Empty() || v < 0 || v > 0xFFFF {
		return 0, malformed("%s", what)
	}
	return int(v), nil
}

// parseECSPKI decodes a SubjectPublicKeyInfo with an id-ecPublicKey
// algorithm (RFC 5480) and checks the point lies on the curve. An unknown
// curve or algorithm gives a nil curve and no error; a malformed structure
// or a point off the curve gives ErrMalformed.
func parseECSPKI(der []byte) (elliptic.Curve, *big.Int, *big.Int, error) {
	in := cryptobyte.String(der)
	var spki, alg cryptobyte.String
	var algOID asn1.ObjectIdentifier
	var params cryptobyte.String
	var point asn1.BitString
	if !in.ReadASN1(&spki, cbasn1.SEQUENCE) || !in.Empty() ||
		!spki.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&algOID) ||
		!spki.ReadASN1BitString(&point) || !spki.Empty() {
		return nil, nil, nil, malformed("SubjectPublicKeyInfo")
	}
	var curve elliptic.Curve
	switch {
	case algOID.Equal(oidECPublicKeyX):
		if !alg.ReadAnyASN1Element(&params, nil) || !alg.Empty() {
			return nil, nil, nil, malformed("id-ecPublicKey parameters")
		}
		c, ok := parseECParameters(params)
		if !ok {
			return nil, nil, nil, nil
		}
		curve = c
	case algOID.Equal(oidStandardizedDP):
		var id int64
		if !alg.ReadASN1Int64WithTag(&id, cbasn1.INTEGER) || !alg.Empty() {
			return nil, nil, nil, malformed("standardizedDomainParameters")
		}
		c, ok := paceCurve(int(id))
		if !ok || id < 0 || id > 255 {
			return nil, nil, nil, nil // a MODP group or unknown
		}
		curve = c
	default:
		return nil, nil, nil, nil
	}
	if point.BitLength%8 != 0 {
		return nil, nil, nil, malformed("EC public key bit string")
	}
	x, y, err := decodePoint(curve, point.Bytes)
	if err != nil {
		return nil, nil, nil, malformed("EC public key: %v", err)
	}
	return curve, x, y, nil
}
