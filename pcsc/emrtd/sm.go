package emrtd

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
	"sync"

	"github.com/puce-id/puce/pcsc/apdu"
)

// SecureChannel is an apdu.Transport that protects every command with the
// secure messaging of ICAO 9303-11 §9.8 and checks and decrypts every
// response. BAC and PACE return one; an apdu.Client on top of it speaks plain
// APDUs.
//
// Commands: the class byte gets the SM indication (ISO/IEC 7816-4 §5.4.1),
// the data field is padded, encrypted and sent in DO'87' (DO'85' for odd
// instructions), Le travels in DO'97', and DO'8E' carries the MAC over the
// send sequence counter, the padded header and those objects (§9.8.4, §9.8.5).
// Responses: DO'87'/DO'85', DO'99' with the status word, DO'8E' over the
// incremented counter and those objects. The protected APDUs go through an
// apdu.Client, so long protected responses come through GET RESPONSE and long
// protected commands through chaining or extended length, below the secure
// messaging layer.
//
// A response that fails its MAC, lacks DO'99' or DO'8E', or comes back plain
// ends the channel: later calls fail with ErrClosed (ICAO 9303-11 §9.8.5: the
// chip has dropped its session keys). The channel serialises its callers.
type SecureChannel struct {
	raw *apdu.Client
	ext bool
	c   Cipher
	bs  int

	mu     sync.Mutex
	enc    cipher.Block
	mac    macFunc
	ssc    []byte
	broken error
}

// NewSecureChannel returns a secure channel over t with the session keys and
// the initial send sequence counter (8 bytes for 3DES, 16 for AES; BAC
// derives it from the nonces, PACE starts at zero: ICAO 9303-11 §9.8.2,
// §9.8.7.3). It copies the keys.
func NewSecureChannel(t apdu.Transport, c Cipher, ksEnc, ksMAC, ssc []byte) (*SecureChannel, error) {
	if t == nil {
		return nil, apdu.ErrNoTransport
	}
	if c < Cipher3DES || c > CipherAES256 {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, c)
	}
	if len(ssc) != c.blockSize() {
		return nil, fmt.Errorf("%w: SSC of %d bytes for %v", ErrCrypto, len(ssc), c)
	}
	enc, err := newBlock(c, ksEnc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	mac, err := newMAC(c, ksMAC)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	ext := false
	if e, ok := t.(apdu.ExtendedLengthCapable); ok {
		ext = e.ExtendedLength()
	}
	return &SecureChannel{
		raw: &apdu.Client{Transport: t},
		ext: ext,
		c:   c,
		bs:  c.blockSize(),
		enc: enc,
		mac: mac,
		ssc: bytes.Clone(ssc),
	}, nil
}

// Cipher reports the channel's cipher.
func (s *SecureChannel) Cipher() Cipher { return s.c }

// ExtendedLength reports whether the transport below accepts extended-length
// APDUs, so that a Client above may ask for more than 256 bytes at once.
func (s *SecureChannel) ExtendedLength() bool { return s.ext }

// Transmit protects one plain command APDU, exchanges it, and returns the
// plain response APDU (data and the status word of DO'99').
func (s *SecureChannel) Transmit(ctx context.Context, command []byte) ([]byte, error) {
	cmd, _, err := apdu.ParseCommand(command)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, fmt.Errorf("%w: %w", ErrClosed, s.broken)
	}
	protected, err := s.wrap(cmd)
	if err != nil {
		return nil, err
	}
	r, err := s.raw.Send(ctx, protected)
	if err != nil {
		// The chip may or may not have seen the command: the counters can no
		// longer be trusted to agree.
		s.broken = err
		return nil, err
	}
	plain, err := s.unwrap(r)
	if err != nil {
		s.broken = err
		return nil, err
	}
	return plain.Bytes(), nil
}

// smCLA sets the secure messaging indication of ISO/IEC 7816-4 §5.4.1:
// bits 4-3 = 11 (header authenticated) in the first interindustry classes,
// bit 6 in the further ones.
func smCLA(cla byte) (byte, error) {
	switch {
	case cla&0x80 != 0:
		return 0, fmt.Errorf("%w: proprietary class %02X has no secure messaging indication", apdu.ErrCommandLength, cla)
	case cla&0x40 != 0:
		return cla | 0x20, nil
	}
	return cla | 0x0C, nil
}

// incSSC increments the send sequence counter (ICAO 9303-11 §9.8.2: before
// each command and each response).
func incSSC(ssc []byte) {
	for i := len(ssc) - 1; i >= 0; i-- {
		ssc[i]++
		if ssc[i] != 0 {
			return
		}
	}
}

// iv is the CBC initialisation vector: zero for 3DES (§9.8.6.1),
// E(KSenc, SSC) for AES (§9.8.7.1).
func (s *SecureChannel) iv() []byte {
	iv := make([]byte, s.bs)
	if s.c != Cipher3DES {
		s.enc.Encrypt(iv, s.ssc)
	}
	return iv
}

// wrap builds the protected command (ICAO 9303-11 §9.8.4, Figure 5).
func (s *SecureChannel) wrap(cmd apdu.Command) (apdu.Command, error) {
	cla, err := smCLA(cmd.CLA)
	if err != nil {
		return apdu.Command{}, err
	}
	incSSC(s.ssc)
	header := []byte{cla, cmd.INS, cmd.P1, cmd.P2}
	var body []byte
	if len(cmd.Data) > 0 {
		ct := cbcEncrypt(s.enc, s.iv(), pad(cmd.Data, s.bs))
		if cmd.INS&1 == 1 {
			// Odd instructions carry BER-TLV data: DO'85' without the
			// padding-content indicator (§9.8.4).
			body, err = apdu.AppendTLV(body, 0x85, ct)
		} else {
			body, err = apdu.AppendTLV(body, 0x87, append([]byte{0x01}, ct...))
		}
		if err != nil {
			return apdu.Command{}, err
		}
	}
	if cmd.Ne > 0 {
		// DO'97': Le on one byte up to 256 (00 meaning 256), on two bytes
		// beyond (0000 meaning 65536).
		le := []byte{byte(cmd.Ne)}
		if cmd.Ne > apdu.MaxShortNe {
			le = []byte{byte(cmd.Ne >> 8), byte(cmd.Ne)}
		}
		body, _ = apdu.AppendTLV(body, 0x97, le)
	}
	macInput := make([]byte, 0, 2*s.bs+len(body)+s.bs)
	macInput = append(macInput, s.ssc...)
	macInput = append(macInput, pad(header, s.bs)...)
	macInput = append(macInput, body...)
	mac, err := s.mac(pad(macInput, s.bs))
	if err != nil {
		return apdu.Command{}, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	body, _ = apdu.AppendTLV(body, 0x8E, mac)
	ne := apdu.MaxShortNe
	if s.ext && (cmd.Ne > apdu.MaxShortNe || len(body) > apdu.MaxShortData) {
		ne = apdu.MaxExtendedNe
	}
	return apdu.Command{CLA: cla, INS: cmd.INS, P1: cmd.P1, P2: cmd.P2, Data: body, Ne: ne}, nil
}

// unwrap checks and decrypts a protected response (ICAO 9303-11 §9.8.5,
// Figure 6). It advances the counter even when it fails, as the chip did.
func (s *SecureChannel) unwrap(r apdu.Response) (apdu.Response, error) {
	incSSC(s.ssc)
	return unwrapResponse(s.c, s.enc, s.mac, s.ssc, r)
}

// unwrapResponse is the stateless part of unwrap, shared with the fuzz
// target: ssc is the counter for this response.
func unwrapResponse(c Cipher, enc cipher.Block, mac macFunc, ssc []byte, r apdu.Response) (apdu.Response, error) {
	bs := c.blockSize()
	if len(r.Data) == 0 {
		// A plain status: the chip refused the protected command outright
		// (6987, 6988) and has dropped secure messaging, or does not speak it.
		return apdu.Response{}, fmt.Errorf("%w: plain status %04X instead of a protected response: %w",
			ErrSecureMessaging, r.SW, apdu.StatusErr(r.SW))
	}
	var (
		cryptogram []byte
		sw         []byte
		tag        []byte
		covered    int // bytes of r.Data the MAC covers
	)
	rest := r.Data
	for len(rest) > 0 {
		t, next, err := apdu.DecodeTLV(rest)
		if err != nil {
			return apdu.Response{}, fmt.Errorf("%w: %w", ErrSecureMessaging, err)
		}
		if tag != nil {
			return apdu.Response{}, fmt.Errorf("%w: data after DO'8E'", ErrSecureMessaging)
		}
		switch t.Tag {
		case 0x87:
			if cryptogram != nil || sw != nil || len(t.Value) < 1 || t.Value[0] != 0x01 {
				return apdu.Response{}, fmt.Errorf("%w: misplaced or malformed DO'87'", ErrSecureMessaging)
			}
			cryptogram = t.Value[1:]
		case 0x85:
			if cryptogram != nil || sw != nil {
				return apdu.Response{}, fmt.Errorf("%w: misplaced DO'85'", ErrSecureMessaging)
			}
			cryptogram = t.Value
		case 0x99:
			if sw != nil || len(t.Value) != 2 {
				return apdu.Response{}, fmt.Errorf("%w: malformed DO'99'", ErrSecureMessaging)
			}
			sw = t.Value
		case 0x8E:
			tag = t.Value
			covered = len(r.Data) - len(rest)
		default:
			return apdu.Response{}, fmt.Errorf("%w: unexpected data object %v", ErrSecureMessaging, t.Tag)
		}
		rest = next
	}
	if sw == nil || tag == nil {
		return apdu.Response{}, fmt.Errorf("%w: response lacks DO'99' or DO'8E'", ErrSecureMessaging)
	}
	macInput := make([]byte, 0, len(ssc)+covered+bs)
	macInput = append(macInput, ssc...)
	macInput = append(macInput, r.Data[:covered]...)
	want, err := mac(pad(macInput, bs))
	if err != nil {
		return apdu.Response{}, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	if len(tag) != len(want) || subtle.ConstantTimeCompare(tag, want) != 1 {
		return apdu.Response{}, fmt.Errorf("%w: response MAC does not verify", ErrSecureMessaging)
	}
	out := apdu.Response{SW: uint16(sw[0])<<8 | uint16(sw[1])}
	if cryptogram != nil {
		if len(cryptogram) == 0 || len(cryptogram)%bs != 0 {
			return apdu.Response{}, fmt.Errorf("%w: cryptogram of %d bytes", ErrSecureMessaging, len(cryptogram))
		}
		iv := make([]byte, bs)
		if c != Cipher3DES {
			enc.Encrypt(iv, ssc)
		}
		// DO'85' and DO'87' both carry padded plaintext (§9.8.4); they
		// differ only in the padding-content indicator.
		if out.Data, err = unpad(cbcDecrypt(enc, iv, cryptogram)); err != nil {
			return apdu.Response{}, err
		}
	}
	return out, nil
}
