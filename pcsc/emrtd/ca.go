package emrtd

import (
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"github.com/puce-id/puce/pcsc/apdu"
)

// eacState is what Extended Access Control established in a session.
type eacState struct {
	chip     bool
	terminal bool
	active   bool
	// cam: chip came from PACE with Chip Authentication Mapping
	// (pacecam.go), its key in EF.CardSecurity, not DG14.
	cam bool
	// camKey is the key of EF.CardSecurity the chip proved in PACE-CAM,
	// which Read matches against DG14 (checkCAMKey).
	camKey *ChipAuthenticationPublicKey
	// compPCD is Comp(PK_PCD), the x-coordinate of the terminal's ephemeral
	// Chip Authentication key, which Terminal Authentication signs (ICAO
	// 9303-11 §7.1).
	compPCD []byte
	// dg14 is DG14 as read for Chip (or Active) Authentication; Read
	// reuses these very bytes so that passive authentication covers the
	// key (or algorithm) that was used.
	dg14 []byte
	// dg15 is DG15 as read for Active Authentication, kept for the same
	// reason.
	dg15 []byte
	// rights are the data groups the terminal's certificate chain unlocked.
	rights Rights
}

// AuthenticateChip runs Chip Authentication (ICAO 9303-11 §6.2, BSI
// TR-03110-1 §3.4 version 1): it reads DG14, agrees a key by ECDH between a
// fresh ephemeral key and the chip's static key, and restarts secure
// messaging under the session keys derived from it (send sequence counter
// zero). With 3DES the key travels in MSE:Set KAT (§6.2.4.1), with AES in
// MSE:Set AT and GENERAL AUTHENTICATE (§6.2.4.2).
//
// After PACE with Chip Authentication Mapping the chip is already
// authenticated (Session.ChipAuthenticated; pacecam.go) and
// AuthenticateChip returns nil at once.
//
// Only a chip holding the private key of DG14 computes the same keys: a
// chip that does not — a clone carrying a genuine chip's files — fails the
// first command under the new keys, which AuthenticateChip sends at once, and
// the error matches ErrChipAuthentication; the session is then unusable.
// DG14 itself is genuine only if passive authentication covers it, which
// Session.Read does when it reads DG14 after this call.
func (s *Session) AuthenticateChip(ctx context.Context, rand io.Reader) error {
	if s.eac.chip {
		return nil
	}
	raw := s.eac.dg14
	if raw == nil {
		var err error
		if raw, err = s.ReadFile(ctx, DG14.File()); err != nil {
			if errors.Is(err, apdu.ErrNotFound) {
				return fmt.Errorf("%w: the chip has no DG14, no Chip Authentication: %w", ErrUnsupported, err)
			}
			return err
		}
	}
	info, err := ParseDG14(raw)
	if err != nil {
		return &DataGroupError{DG: DG14, Err: err}
	}
	proto, pk, err := info.chooseCA()
	if err != nil {
		return err
	}
	c, _ := caCipher(proto)
	curve := pk.Curve
	size := (curve.Params().BitSize + 7) / 8
	sk, err := randomScalar(curve, randReader(rand))
	if err != nil {
		return err
	}
	ex, ey := curve.ScalarBaseMult(sk)
	pkPCD := encodePoint(ex, ey, size)
	var keyRef []byte
	if pk.KeyID >= 0 {
		keyRef = minimalInt(pk.KeyID)
	}
	var b apdu.TLVBuilder
	if c == Cipher3DES {
		// MSE:Set KAT: 91 ephemeral public key, 84 key reference.
		b.Add(0x91, pkPCD)
		if keyRef != nil {
			b.Add(0x84, keyRef)
		}
		data, err := b.Bytes()
		if err != nil {
			return err
		}
		if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x22, P1: 0x41, P2: 0xA6, Data: data}); err != nil {
			return fmt.Errorf("emrtd: Chip Authentication MSE:Set KAT: %w", err)
		}
	} else {
		// MSE:Set AT: 80 protocol, 84 key reference; then GENERAL
		// AUTHENTICATE 7C { 80 ephemeral public key }, answered 7C { }.
		oidDER, err := asn1.Marshal(proto)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCrypto, err)
		}
		b.Add(0x80, oidDER[2:])
		if keyRef != nil {
			b.Add(0x84, keyRef)
		}
		data, err := b.Bytes()
		if err != nil {
			return err
		}
		if _, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x22, P1: 0x41, P2: 0xA4, Data: data}); err != nil {
			return fmt.Errorf("emrtd: Chip Authentication MSE:Set AT: %w", err)
		}
		var ga apdu.TLVBuilder
		ga.AddConstructed(0x7C, func(b *apdu.TLVBuilder) { b.Add(0x80, pkPCD) })
		if data, err = ga.Bytes(); err != nil {
			return err
		}
		resp, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x86, Data: data, Ne: apdu.MaxShortNe})
		if err != nil {
			return fmt.Errorf("emrtd: Chip Authentication GENERAL AUTHENTICATE: %w", err)
		}
		if t, _, err := apdu.DecodeTLV(resp); len(resp) > 0 && (err != nil || t.Tag != 0x7C) {
			return fmt.Errorf("%w: Chip Authentication answer is no 7C template", ErrProtocol)
		}
	}
	// K = KA(SK_PCD, PK_IC): the x-coordinate of the shared point (§6.2.1,
	// BSI TR-03111 §4.3.1).
	kx, ky := curve.ScalarMult(pk.X, pk.Y, sk)
	if kx.Sign() == 0 && ky.Sign() == 0 {
		return fmt.Errorf("%w: shared point at infinity", ErrProtocol)
	}
	shared := kx.FillBytes(make([]byte, size))
	sm, err := NewSecureChannel(s.t, c, kdf(c, shared, kdfEnc), kdf(c, shared, kdfMAC), make([]byte, c.blockSize()))
	if err != nil {
		return err
	}
	s.sm, s.client = sm, &apdu.Client{Transport: sm}
	if s.chunk > shortChunk && !sm.ExtendedLength() {
		s.chunk = shortChunk
	}
	// The chip answered under the old keys; only a command under the new
	// ones shows whether it agreed the same. A one-byte read of EF.COM costs
	// one APDU.
	if _, _, err := readBinary(ctx, s.client, apdu.Command{CLA: 0x00, INS: 0xB0, P1: 0x80 | FileCOM.SFI(), Ne: 1}); err != nil {
		if errors.Is(err, ErrSecureMessaging) {
			return fmt.Errorf("%w: %w", ErrChipAuthentication, err)
		}
		return fmt.Errorf("emrtd: Chip Authentication check: %w", err)
	}
	// Comp(PK_PCD) for Terminal Authentication is the x-coordinate
	// (TR-03110-3 §A.2.2.3) as a field element: an octet string of the
	// field's length (BSI TR-03111 §3.1.3, FE2OS), leading zeros kept.
	// OpenPACE drops them and fails in one key in 256
	// (TestOpenPACE/EAC-Comp-leading-zero).
	s.eac.chip, s.eac.compPCD, s.eac.dg14 = true, ex.FillBytes(make([]byte, size)), raw
	return nil
}

// chooseCA picks the protocol and key: the first ChipAuthenticationInfo
// this package implements whose key (by keyId) DG14 holds; without any
// ChipAuthenticationInfo, 3DES (ICAO 9303-11 §9.2.5: a chip that announces
// only the key supports id-CA-ECDH-3DES-CBC-CBC).
func (si *SecurityInfos) chooseCA() (asn1.ObjectIdentifier, *ChipAuthenticationPublicKey, error) {
	if len(si.ChipAuthenticationPK) == 0 {
		return nil, nil, fmt.Errorf("%w: DG14 holds no ECDH Chip Authentication key", ErrUnsupported)
	}
	if len(si.ChipAuthentication) == 0 {
		return append(append(asn1.ObjectIdentifier{}, oidCAECDH...), 1), &si.ChipAuthenticationPK[0], nil
	}
	for _, ci := range si.ChipAuthentication {
		if _, ok := caCipher(ci.Protocol); !ok || ci.Version != 1 {
			continue
		}
		for i, pk := range si.ChipAuthenticationPK {
			if ci.KeyID < 0 || pk.KeyID < 0 || ci.KeyID == pk.KeyID {
				return ci.Protocol, &si.ChipAuthenticationPK[i], nil
			}
		}
	}
	return nil, nil, fmt.Errorf("%w: no Chip Authentication protocol of DG14 is implemented (ECDH version 1 only)", ErrUnsupported)
}

// minimalInt encodes a non-negative integer on as few bytes as it needs.
func minimalInt(v int) []byte {
	b := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
