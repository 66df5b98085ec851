package emrtd

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of the PACE protocols (ICAO 9303-11 §9.2.1; BSI
// TR-03110-3 §A.1.1): id-PACE = bsi-de protocols smartcard 4.
var (
	oidPACE = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4}

	// The PACE suites with generic mapping over ECDH this package
	// implements: id-PACE-ECDH-GM-3DES-CBC-CBC, -AES-CBC-CMAC-128, -192,
	// -256.
	oidPACEECDHGM3DES   = append(append(asn1.ObjectIdentifier{}, oidPACE...), 2, 1)
	oidPACEECDHGMAES128 = append(append(asn1.ObjectIdentifier{}, oidPACE...), 2, 2)
	oidPACEECDHGMAES192 = append(append(asn1.ObjectIdentifier{}, oidPACE...), 2, 3)
	oidPACEECDHGMAES256 = append(append(asn1.ObjectIdentifier{}, oidPACE...), 2, 4)

	// Generic mapping over DH: id-PACE-DH-GM-3DES-CBC-CBC, -AES-CBC-CMAC-128,
	// -192, -256, on the MODP groups of parameter IDs 0-2.
	oidPACEDHGM       = append(append(asn1.ObjectIdentifier{}, oidPACE...), 1)
	oidPACEDHGM3DES   = append(append(asn1.ObjectIdentifier{}, oidPACEDHGM...), 1)
	oidPACEDHGMAES128 = append(append(asn1.ObjectIdentifier{}, oidPACEDHGM...), 2)
	oidPACEDHGMAES192 = append(append(asn1.ObjectIdentifier{}, oidPACEDHGM...), 3)
	oidPACEDHGMAES256 = append(append(asn1.ObjectIdentifier{}, oidPACEDHGM...), 4)

	// Chip Authentication Mapping over ECDH: id-PACE-ECDH-CAM-AES-CBC-CMAC-128,
	// -192, -256 (ICAO 9303-11 §9.2.1; BSI TR-03110-3 §A.1.1.1). There is
	// no 3DES variant.
	oidPACECAMAES128 = append(append(asn1.ObjectIdentifier{}, oidPACECAM...), 2)
	oidPACECAMAES192 = append(append(asn1.ObjectIdentifier{}, oidPACECAM...), 3)
	oidPACECAMAES256 = append(append(asn1.ObjectIdentifier{}, oidPACECAM...), 4)
)

// isPACECAM reports an id-PACE-ECDH-CAM-* protocol.
func isPACECAM(oid asn1.ObjectIdentifier) bool {
	return len(oid) == len(oidPACECAM)+1 && hasPrefix(oid, oidPACECAM)
}

// isPACEDH reports an id-PACE-DH-GM-* protocol.
func isPACEDH(oid asn1.ObjectIdentifier) bool {
	return len(oid) == len(oidPACEDHGM)+1 && oid[:len(oidPACEDHGM)].Equal(oidPACEDHGM)
}

// SecurityInfo is one entry of EF.CardAccess (ICAO 9303-11 §9.2): the
// protocol and its DER-encoded parameters as stored.
type SecurityInfo struct {
	Protocol     asn1.ObjectIdentifier
	RequiredData []byte // DER of the second element
	OptionalData []byte // DER of the third element, nil when absent
}

// PACEInfo announces one PACE variant (ICAO 9303-11 §9.2.1).
type PACEInfo struct {
	Protocol asn1.ObjectIdentifier
	Version  int
	// ParameterID is the standardized domain parameter identifier
	// (§9.5.1, Table 6), 32 or more for the explicit parameters of a
	// PACEDomainParameterInfo, or -1 when absent (explicit parameters).
	// Explicit parameters are supported for DH only.
	ParameterID int

	explicit   bool     // a PACEDomainParameterInfo gives the parameters
	explicitDH *dhGroup // and they pass checkDHGroup
}

// Supported reports whether this package can run the variant: generic
// mapping or Chip Authentication Mapping over ECDH with a standardized
// curve, or generic mapping over DH with a
// standardized MODP group (IDs 0-2) or explicit parameters that pass the
// group checks of the package documentation.
func (p PACEInfo) Supported() bool {
	_, ok := paceCipher(p.Protocol)
	if !ok || p.Version != 2 {
		return false
	}
	_, _, err := newPACEGroup(p)
	return err == nil
}

// CardAccess is the decoded EF.CardAccess.
type CardAccess struct {
	PACE  []PACEInfo
	Infos []SecurityInfo // every entry, PACEInfos included
}

// maxExplicitDH bounds the PACEDomainParameterInfo an EF.CardAccess may
// list.
const maxExplicitDH = 4

// ParseCardAccess decodes EF.CardAccess: SecurityInfos ::= SET OF
// SecurityInfo, SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER,
// requiredData ANY, optionalData ANY OPTIONAL } (ICAO 9303-11 §9.2).
func ParseCardAccess(b []byte) (*CardAccess, error) {
	infos, err := parseSecurityInfos(b, "EF.CardAccess")
	if err != nil {
		return nil, err
	}
	ca := &CardAccess{Infos: infos}
	var explicit []paceDomainParams
	for _, info := range infos {
		oid := info.Protocol
		if oid.Equal(oidPACEDHGM) {
			// PACEDomainParameterInfo with explicit DH parameters
			// (ICAO 9303-11 §9.2.1).
			if len(explicit) == maxExplicitDH {
				// Each set costs two primality tests of up to 2048
				// bits: a chip listing hundreds would hold the reader
				// for seconds. Chips list one, if any.
				return nil, malformed("more than %d PACEDomainParameterInfo", maxExplicitDH)
			}
			d, err := parseDHDomainParams(info.RequiredData, info.OptionalData)
			if err != nil {
				return nil, err
			}
			explicit = append(explicit, d)
			continue
		}
		if len(oid) == len(oidPACE)+2 && oid[:len(oidPACE)].Equal(oidPACE) {
			p := PACEInfo{Protocol: oid, ParameterID: -1}
			v := cryptobyte.String(info.RequiredData)
			var version int64
			if !v.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version < 0 || version > 255 {
				return nil, malformed("PACEInfo version")
			}
			p.Version = int(version)
			if info.OptionalData != nil {
				o := cryptobyte.String(info.OptionalData)
				var id int64
				// 0-31 are the standardized domain parameters (Table 6),
				// higher IDs name a PACEDomainParameterInfo.
				if !o.ReadASN1Int64WithTag(&id, cbasn1.INTEGER) || id < 0 || id > 255 {
					return nil, malformed("PACEInfo parameterId")
				}
				p.ParameterID = int(id)
			}
			ca.PACE = append(ca.PACE, p)
		}
	}
	// A DH PACEInfo takes the explicit parameters whose parameterId it
	// names, or the only ones when it names none (§9.2.1: parameterId
	// MUST be used when the chip provides several sets).
	for i, p := range ca.PACE {
		if !isPACEDH(p.Protocol) || p.ParameterID >= 0 && p.ParameterID < 32 {
			continue
		}
		for _, d := range explicit {
			if d.id == p.ParameterID || p.ParameterID < 0 && len(explicit) == 1 {
				ca.PACE[i].explicitDH = d.grp
				ca.PACE[i].explicit = true
			}
		}
	}
	return ca, nil
}

// parseSecurityInfos decodes SecurityInfos, the SET OF SecurityInfo of
// EF.CardAccess and DG14 (ICAO 9303-11 §9.2), keeping each entry's data as
// DER for the protocol-specific decoders.
func parseSecurityInfos(b []byte, what string) ([]SecurityInfo, error) {
	in := cryptobyte.String(b)
	var set cryptobyte.String
	if !in.ReadASN1(&set, cbasn1.SET) {
		return nil, malformed("%s is not a SET", what)
	}
	var infos []SecurityInfo
	for !set.Empty() {
		var seq cryptobyte.String
		var oid asn1.ObjectIdentifier
		var req cryptobyte.String
		if !set.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) ||
			!seq.ReadAnyASN1Element(&req, nil) {
			return nil, malformed("%s SecurityInfo", what)
		}
		info := SecurityInfo{Protocol: oid, RequiredData: []byte(req)}
		if !seq.Empty() {
			var opt cryptobyte.String
			if !seq.ReadAnyASN1Element(&opt, nil) || !seq.Empty() {
				return nil, malformed("%s SecurityInfo trailing data", what)
			}
			info.OptionalData = []byte(opt)
		}
		infos = append(infos, info)
	}
	if !in.Empty() {
		return nil, malformed("%s trailing data", what)
	}
	return infos, nil
}

// choose returns the PACE variant to run: the first with Chip
// Authentication Mapping this package supports, else the first supported
// one. CAM costs no more APDUs than generic mapping and authenticates the
// chip in the same run (ICAO 9303-11 §4.4.3.3.3), where generic mapping
// needs Chip Authentication afterwards for that.
func (ca *CardAccess) choose() (PACEInfo, error) {
	for _, p := range ca.PACE {
		if isPACECAM(p.Protocol) && p.Supported() {
			return p, nil
		}
	}
	for _, p := range ca.PACE {
		if p.Supported() {
			return p, nil
		}
	}
	return PACEInfo{}, fmt.Errorf("%w: no supported PACEInfo among %d", ErrUnsupported, len(ca.PACE))
}

// ErrCardAccessMismatch: EF.CardAccess, which the chip serves unsigned and
// which chose the access protocol, is not backed by a signed copy of its
// SecurityInfos, in EF.CardSecurity or DG14 — an entry of EF.CardAccess
// missing from the signed copy, neither EF.CardSecurity nor DG14 to check it
// against, or no EF.CardAccess although DG14 announces PACE. Someone between the chip and the reader may have altered it to
// force a weaker protocol (ICAO 9303-11 §4.2). Do not trust the session's
// data; read the document again on another reader.
var ErrCardAccessMismatch = errors.New("emrtd: EF.CardAccess does not match the chip's signed security infos (EF.CardSecurity or DG14): possible protocol downgrade")

// cardAccessSeen is what Open learnt of EF.CardAccess.
type cardAccessSeen int

const (
	cardAccessNotRead cardAccessSeen = iota // Options.DisablePACE: not asked
	cardAccessRead                          // read (parsed or not)
	cardAccessAbsent                        // not found, or refused
)

// checkCardAccess compares EF.CardAccess as Open read it with DG14 (nil
// when the chip has none). ICAO 9303-11 §9.2.11: a chip that supports PACE
// keeps every SecurityInfo of EF.CardAccess in DG14 too, where passive
// authentication covers them, also without Chip Authentication; the reader
// checks them after passive authentication, since EF.CardAccess alone is
// unauthenticated and chose the protocol (§4.2).
func checkCardAccess(seen cardAccessSeen, cardAccess, dg14 []byte) error {
	if seen == cardAccessNotRead {
		return nil
	}
	var signed []SecurityInfo
	if dg14 != nil {
		si, err := ParseDG14(dg14)
		if err != nil {
			return &DataGroupError{DG: DG14, Err: err}
		}
		signed = si.Infos
	}
	if seen == cardAccessAbsent {
		for _, info := range signed {
			if hasPrefix(info.Protocol, oidPACE) {
				return fmt.Errorf("%w: the chip gave no EF.CardAccess, yet DG14 announces PACE (%v)", ErrCardAccessMismatch, info.Protocol)
			}
		}
		return nil
	}
	if dg14 == nil {
		return fmt.Errorf("%w: the chip has EF.CardAccess but neither EF.CardSecurity nor DG14 to authenticate it", ErrCardAccessMismatch)
	}
	return matchCardAccess(cardAccess, signed, "DG14")
}

// slicesContainsInfo reports an entry with the same protocol and the same
// DER parameters.
func slicesContainsInfo(list []SecurityInfo, info SecurityInfo) bool {
	for _, o := range list {
		if o.Protocol.Equal(info.Protocol) && bytes.Equal(o.RequiredData, info.RequiredData) && bytes.Equal(o.OptionalData, info.OptionalData) {
			return true
		}
	}
	return false
}
