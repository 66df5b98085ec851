package emrtd

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/puce-id/puce/pcsc/apdu"
)

// EF.CardSecurity (ICAO 9303-11 §9.2.11; BSI TR-03110-3 §A.1.2): a file of
// the master file, 011D with short EF identifier 1D, readable after PACE,
// holding the chip's SecurityInfos — every one of EF.CardAccess and more —
// signed by a document signer. It authenticates EF.CardAccess as DG14 does,
// on chips that keep their security infos in the MF.
//
// It is no File constant: in the application 011D is EF.SOD (FileSOD). The
// master file and the application are separate namespaces (ISO/IEC 7816-4
// §7.1.1), and a short EF identifier names a file of the current DF.
const sfiCardSecurity = 0x1D

// oidSecurityObject is id-SecurityObject, the eContentType of the
// SignedData in EF.CardSecurity: bsi-de applications(3) eID(2) 1 (BSI
// TR-03110-3 §A.1.2.5).
var oidSecurityObject = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 2, 1}

// CardSecurity is a decoded EF.CardSecurity. ParseCardSecurity checks its
// structure only; Verify checks its signer.
type CardSecurity struct {
	// Signer is the document signer certificate embedded in the file.
	Signer *x509.Certificate
	// Infos are the signed SecurityInfos.
	Infos []SecurityInfo

	signed *SOD // the SignedData, for the signature checks EF.SOD has
}

// ParseCardSecurity decodes EF.CardSecurity: ContentInfo { signedData,
// SignedData { id-SecurityObject, SecurityInfos } } with one SignerInfo and
// its certificate (ICAO 9303-11 §9.2.11; BSI TR-03110-3 §A.1.2.5; RFC 5652).
// Unlike EF.SOD the file carries no application tag: it starts with the
// ContentInfo's SEQUENCE. Bytes after it (padding) are ignored, as for LDS
// files. Malformed input gives ErrMalformed.
func ParseCardSecurity(b []byte) (*CardSecurity, error) {
	n, err := tlvLength(b)
	if err != nil {
		return nil, err
	}
	if n > len(b) || b[0] != 0x30 {
		return nil, malformed("EF.CardSecurity is no complete ContentInfo")
	}
	s, err := parseSignedData(b[:n], oidSecurityObject, "EF.CardSecurity")
	if err != nil {
		return nil, err
	}
	infos, err := parseSecurityInfos(s.content, "EF.CardSecurity")
	if err != nil {
		return nil, err
	}
	return &CardSecurity{Signer: s.Signer, Infos: infos, signed: s}, nil
}

// Verify checks EF.CardSecurity as passive authentication checks EF.SOD
// (ICAO 9303-11 §5.1, which §9.2.11 applies to it: the file is signed by a
// document signer): the signature, the signer's chain to one of
// opts.CSCAs at opts.Time, its revocation in opts.CRLs, and its country,
// against its CSCA and, when dg1 is given, the issuing state of the MRZ. It
// returns the CSCA. A failure matches ErrCardSecurity and its cause
// (ErrSignature, ErrUntrustedSigner, ErrRevoked, ErrCountryMismatch).
func (c *CardSecurity) Verify(opts PassiveOptions, dg1 []byte) (*x509.Certificate, error) {
	if c == nil || c.signed == nil || c.Signer == nil {
		return nil, fmt.Errorf("%w: %w", ErrCardSecurity, malformed("EF.CardSecurity not decoded by ParseCardSecurity"))
	}
	ca, err := verifySigner(c.signed, opts)
	if err == nil {
		err = checkCountry(c.Signer, dg1)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCardSecurity, err)
	}
	return ca, nil
}

// announcesCardSecurity reports an EF.CardAccess that lists a protocol for
// which ICAO 9303-11 §9.2.11 makes EF.CardSecurity REQUIRED: PACE with Chip
// Authentication Mapping (id-PACE-*-CAM-*, §9.2.1), or Chip or Terminal
// Authentication in the master file (a ChipAuthenticationInfo or
// TerminalAuthenticationInfo in EF.CardAccess, BSI TR-03110-3 §A.1.2.1).
// Open reads EF.CardSecurity at once after PACE on such a chip; on others
// Read looks for it only when DG14 is absent, so that a chip without it
// costs no APDU.
func (ca *CardAccess) announcesCardSecurity() bool {
	for _, info := range ca.Infos {
		oid := info.Protocol
		switch {
		case hasPrefix(oid, oidPACECAM), hasPrefix(oid, oidCA), oid.Equal(oidTA):
			return true
		}
	}
	return false
}

// oidPACECAM is the arc of the PACE suites with Chip Authentication
// Mapping, id-PACE-ECDH-CAM (ICAO 9303-11 §9.2.1).
var oidPACECAM = append(append(asn1.ObjectIdentifier{}, oidPACE...), 6)

// readCardSecurity reads EF.CardSecurity by its short EF identifier in the
// master file, which must be the current DF, under the session's secure
// messaging. A chip without the file (6A82), or one that keeps it from this
// session (6982), gives nil and no error: EF.CardAccess is then checked
// against DG14.
func readCardSecurity(ctx context.Context, c *apdu.Client, chunk int) ([]byte, error) {
	b, err := readFileSFI(ctx, c, sfiCardSecurity, "EF.CardSecurity", chunk)
	if err != nil && (errors.Is(err, apdu.ErrNotFound) || errors.Is(err, apdu.ErrSecurityStatus)) {
		return nil, nil
	}
	return b, err
}

// readCardSecurityInMF is readCardSecurity right after PACE in Open, which
// expects the MF to be current, as it is after reset. An earlier session
// on the same card, without reset, may have left the application selected
// (ISO/IEC 7816-4 §7.1.1), on a chip that serves EF.CardAccess there too;
// SFI 1D then names EF.SOD, whose tag 77 (ICAO 9303-10 §4.6.2) no
// EF.CardSecurity, a ContentInfo SEQUENCE, starts with. Then it selects
// the MF under secure messaging and reads again: an APDU only in that
// case.
func readCardSecurityInMF(ctx context.Context, c *apdu.Client, chunk int) ([]byte, error) {
	b, err := readCardSecurity(ctx, c, chunk)
	if err != nil || len(b) == 0 || b[0] != 0x77 {
		return b, err
	}
	if _, err := c.Do(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x00, P2: 0x0C}); err != nil {
		if isStatus(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("emrtd: select the master file for EF.CardSecurity: %w", err)
	}
	return readCardSecurity(ctx, c, chunk)
}

// fetchCardSecurity reads EF.CardSecurity once the application is selected:
// SELECT MF, the read, SELECT of the application again, all under secure
// messaging (a plain command would end it, ICAO 9303-11 §9.8). Read does
// it for a PACE chip whose EF.COM and EF.SOD list no DG14, the one case where
// EF.CardSecurity is the only signed copy of EF.CardAccess.
func (s *Session) fetchCardSecurity(ctx context.Context) error {
	s.csTried = true
	if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x00, P2: 0x0C}); err != nil {
		if isStatus(err) {
			// A refused SELECT leaves the application current (ISO/IEC
			// 7816-4 §7.1.1): no EF.CardSecurity, as if absent.
			return nil
		}
		return fmt.Errorf("emrtd: select the master file for EF.CardSecurity: %w", err)
	}
	b, err := readCardSecurity(ctx, s.client, s.chunk)
	if err != nil {
		return err
	}
	s.cardSecurity = b
	return selectLDS1(ctx, s.client)
}

// checkSignedCardAccess authenticates EF.CardAccess after passive
// authentication (ICAO 9303-11 §4.2 step 3, §9.2.11): against
// EF.CardSecurity when the chip gave it, verified like EF.SOD when CSCAs
// are configured, and against DG14 otherwise (checkCardAccess).
func (s *Session) checkSignedCardAccess(groups map[DG][]byte, pa PassiveOptions) error {
	if s.cardSecurity == nil {
		if err := checkCardAccess(s.seen, s.cardAccess, groups[DG14]); err != nil {
			return err
		}
		if dg14 := groups[DG14]; dg14 != nil && s.seen == cardAccessRead {
			// checkCardAccess parsed it already.
			if si, err := ParseDG14(dg14); err == nil {
				return s.checkCAMDowngrade(si.Infos, "DG14")
			}
		}
		return nil
	}
	cs, err := ParseCardSecurity(s.cardSecurity)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCardSecurity, err)
	}
	if len(pa.CSCAs) > 0 {
		if _, err := cs.Verify(pa, groups[DG1]); err != nil {
			return err
		}
	}
	if err := matchCardAccess(s.cardAccess, cs.Infos, "EF.CardSecurity"); err != nil {
		return err
	}
	return s.checkCAMDowngrade(cs.Infos, "EF.CardSecurity")
}

// matchCardAccess checks that every SecurityInfo of EF.CardAccess is among
// the signed ones, with the same parameters (ICAO 9303-11 §9.2.11: DG14 and
// EF.CardSecurity each hold the SecurityInfos of EF.CardAccess).
func matchCardAccess(cardAccess []byte, signed []SecurityInfo, source string) error {
	infos, err := parseSecurityInfos(cardAccess, "EF.CardAccess")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCardAccessMismatch, err)
	}
	for _, info := range infos {
		if !slicesContainsInfo(signed, info) {
			return fmt.Errorf("%w: EF.CardAccess lists %v, %s does not", ErrCardAccessMismatch, info.Protocol, source)
		}
	}
	return nil
}
