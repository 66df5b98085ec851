package emrtd

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"

	"github.com/puce-id/puce/pcsc/apdu"
)

// ErrTerminalAuthentication: the chip refused Terminal Authentication — a
// certificate of the chain (unknown CVCA, bad signature, expired, roles out
// of order) or the terminal's signature. It matches ErrNotAuthorised: the
// protected data groups stay closed.
var ErrTerminalAuthentication = fmt.Errorf("emrtd: terminal authentication refused: %w", ErrNotAuthorised)

// Terminal is an inspection system's credentials for EAC Terminal
// Authentication: its CV certificate chain and its private key.
type Terminal struct {
	// Chain lists the certificates from the CVCA (optional: the chip holds
	// it as its trust point) through the DV to the inspection system's own
	// certificate, last.
	Chain []*CVCertificate
	// Key signs the chip's challenge; its public key is the last
	// certificate's. An ECDSA key, possibly in a hardware module.
	Key crypto.Signer
	// Rand feeds the signature; crypto/rand when nil.
	Rand io.Reader
}

// AuthenticateTerminal runs EAC Terminal Authentication version 1 (ICAO
// 9303-11 §7.1, §7.2; BSI TR-03110-1 §3.5, TR-03110-3 §B.11), after Chip
// Authentication, which it runs first if the session has not: for each
// certificate the chip does not already hold, MSE:Set DST with its CAR and
// PSO:Verify Certificate; then MSE:Set AT with the inspection system's CHR,
// GET CHALLENGE, and EXTERNAL AUTHENTICATE with the signature over ID_IC ‖
// r_IC ‖ Comp(PK_PCD). The chip checks the chain against its CVCA and its
// current date and grants the AND of the chain's rights; a refusal gives
// ErrTerminalAuthentication with the chip's status word.
func (s *Session) AuthenticateTerminal(ctx context.Context, term *Terminal) error {
	if term == nil || len(term.Chain) == 0 || term.Key == nil {
		return fmt.Errorf("%w: Terminal Authentication needs a certificate chain and a key", ErrCVCertificate)
	}
	is := term.Chain[len(term.Chain)-1]
	if is == nil || is.Role != RoleIS {
		return fmt.Errorf("%w: the chain must end with the inspection system's certificate", ErrCVCertificate)
	}
	pub, ok := term.Key.Public().(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: terminal key %T is not ECDSA", ErrCVCertificate, term.Key.Public())
	}
	if err := s.AuthenticateChip(ctx, term.Rand); err != nil {
		return err
	}
	refused := func(step string, err error) error {
		if isStatus(err) {
			return fmt.Errorf("%w: %s: %w", ErrTerminalAuthentication, step, err)
		}
		return fmt.Errorf("emrtd: Terminal Authentication %s: %w", step, err)
	}
	rights := Rights(3)
	for _, c := range term.Chain {
		if c == nil {
			return fmt.Errorf("%w: nil certificate", ErrCVCertificate)
		}
		rights &= c.Rights
		if c.SelfSigned() {
			continue // the chip's trust point itself
		}
		var dst apdu.TLVBuilder
		dst.Add(0x83, []byte(c.CAR))
		data, err := dst.Bytes()
		if err != nil {
			return err
		}
		if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x22, P1: 0x81, P2: 0xB6, Data: data}); err != nil {
			return refused("MSE:Set DST "+c.CAR, err)
		}
		// PSO:Verify Certificate takes the body and the signature, without
		// the 7F21 wrapper (TR-03110-3 §B.11.5).
		var pso apdu.TLVBuilder
		pso.AddRaw(c.Body)
		pso.Add(0x5F37, c.Signature)
		if data, err = pso.Bytes(); err != nil {
			return err
		}
		if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x2A, P1: 0x00, P2: 0xBE, Data: data}); err != nil {
			return refused("PSO:Verify Certificate "+c.CHR, err)
		}
	}
	var at apdu.TLVBuilder
	at.Add(0x83, []byte(is.CHR))
	data, err := at.Bytes()
	if err != nil {
		return err
	}
	if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x22, P1: 0x81, P2: 0xA4, Data: data}); err != nil {
		return refused("MSE:Set AT", err)
	}
	rIC, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x84, Ne: 8})
	if err != nil {
		return refused("GET CHALLENGE", err)
	}
	if len(rIC) != 8 {
		return fmt.Errorf("%w: challenge of %d bytes", ErrProtocol, len(rIC))
	}
	msg := make([]byte, 0, len(s.idIC)+8+len(s.eac.compPCD))
	msg = append(append(append(msg, s.idIC...), rIC...), s.eac.compPCD...)
	h := is.Hash()
	if h == 0 {
		return fmt.Errorf("%w: %s has no ECDSA algorithm", ErrCVCertificate, is.CHR)
	}
	sig, err := signPlain(term.Rand, term.Key, pub.Curve, h, msg)
	if err != nil {
		return err
	}
	if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x82, Data: sig}); err != nil {
		return refused("EXTERNAL AUTHENTICATE", err)
	}
	s.eac.terminal, s.eac.rights = true, rights
	return nil
}

// BiometricTemplate is one biometric data block of DG3 or DG4 with the
// header of its biometric information template (ICAO 9303-10 §4.7.2.1,
// ISO/IEC 7816-11).
type BiometricTemplate struct {
	// Type is the biometric type of the header (81): 08 fingerprint, 10
	// iris (ISO/IEC 7816-11 Table C.1); 0 when absent.
	Type int
	// FormatOwner and FormatType (87, 88) name the data block's format;
	// 0x0101 and 0x0009 is an ISO/IEC 19794-4 finger image.
	FormatOwner, FormatType int
	// Data is the biometric data block (5F2E or 7F2E) as stored.
	Data []byte
}

// ParseDG3 decodes DG3, 63 { 7F61 { 02 count, 7F60 { A1 header, 5F2E data
// } … } } (ICAO 9303-10 §4.7.3), into its templates, the data blocks kept
// as stored (ISO/IEC 19794-4 finger images are not decoded further).
func ParseDG3(b []byte) ([]BiometricTemplate, error) {
	return parseBiometricGroup(b, 0x63)
}

// ParseDG4 decodes DG4, the iris images, like DG3 (ICAO 9303-10 §4.7.4).
func ParseDG4(b []byte) ([]BiometricTemplate, error) {
	return parseBiometricGroup(b, 0x76)
}

func parseBiometricGroup(b []byte, tag apdu.Tag) ([]BiometricTemplate, error) {
	v, err := outer(b, tag)
	if err != nil {
		return nil, err
	}
	group, err := findChild(v, 0x7F61)
	if err != nil {
		return nil, malformed("%v: %w", tag, err)
	}
	objs, err := apdu.DecodeTLVs(group)
	if err != nil {
		return nil, malformed("%v group: %v", tag, err)
	}
	var out []BiometricTemplate
	count := -1
	for _, o := range objs {
		switch o.Tag {
		case 0x02:
			if len(o.Value) != 1 {
				return nil, malformed("%v template count", tag)
			}
			count = int(o.Value[0])
		case 0x7F60:
			var bt BiometricTemplate
			parts, err := apdu.DecodeTLVs(o.Value)
			if err != nil {
				return nil, malformed("%v template: %v", tag, err)
			}
			found := false
			for _, p := range parts {
				switch p.Tag {
				case 0xA1:
					hdr, err := apdu.DecodeTLVs(p.Value)
					if err != nil {
						return nil, malformed("%v header: %v", tag, err)
					}
					for _, h := range hdr {
						switch h.Tag {
						case 0x81:
							bt.Type = beInt(h.Value)
						case 0x87:
							bt.FormatOwner = beInt(h.Value)
						case 0x88:
							bt.FormatType = beInt(h.Value)
						}
					}
				case 0x5F2E, 0x7F2E:
					bt.Data, found = p.Value, true
				}
			}
			if !found {
				return nil, malformed("%v template without biometric data block", tag)
			}
			out = append(out, bt)
		}
	}
	if count < 0 || count != len(out) {
		return nil, malformed("%v announces %d templates, holds %d", tag, count, len(out))
	}
	return out, nil
}

// beInt reads up to four bytes big-endian.
func beInt(b []byte) int {
	v := 0
	for _, c := range b[:min(len(b), 4)] {
		v = v<<8 | int(c)
	}
	return v
}

var _ = errors.New
