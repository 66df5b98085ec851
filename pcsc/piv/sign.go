package piv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/internal/rsapss"
)

// generalAuthenticate sends data to a slot's key (SP 800-73-4 Part 2
// §3.2.4): 7C { 82 00 (response requested), 81 challenge } and returns the
// content of the answer's 82.
func (c *Card) generalAuthenticate(ctx context.Context, alg Algorithm, slot Slot, challenge []byte) ([]byte, error) {
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) {
		in.Add(0x82, nil)
		in.Add(0x81, challenge)
	})
	data, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x87, P1: byte(alg), P2: byte(slot), Data: data, Ne: 65536})
	if err != nil {
		return nil, err
	}
	return parseAuthResponse(resp, 0x82)
}

// parseAuthResponse returns the value of tag inside the 7C dynamic
// authentication template of a GENERAL AUTHENTICATE answer.
func parseAuthResponse(resp []byte, tag apdu.Tag) ([]byte, error) {
	t, rest, err := apdu.DecodeTLV(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if t.Tag != 0x7C || len(rest) != 0 {
		return nil, fmt.Errorf("%w: GENERAL AUTHENTICATE answer is not a 7C template", ErrMalformed)
	}
	v, err := apdu.Find(t.Value, tag)
	if err != nil {
		return nil, fmt.Errorf("%w: GENERAL AUTHENTICATE answer lacks tag %v", ErrMalformed, tag)
	}
	return v.Value, nil
}

// keyAlgorithm maps a public key to its PIV algorithm.
func keyAlgorithm(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return AlgECCP256, nil
		case elliptic.P384():
			return AlgECCP384, nil
		}
		return 0, fmt.Errorf("%w: ECDSA curve %s", ErrNotSupported, k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() == 2048 {
			return AlgRSA2048, nil
		}
		return 0, fmt.Errorf("%w: RSA-%d", ErrNotSupported, k.N.BitLen())
	}
	return 0, fmt.Errorf("%w: %T keys", ErrNotSupported, pub)
}

// SignerOptions tune a slot's signer.
type SignerOptions struct {
	// PIN is asked before every signature when the slot requires it (9C
	// always; others never by default: verify the PIN once with VerifyPIN).
	// It is called once per signature and its answer is never kept.
	PIN func(ctx context.Context) (string, error)
	// PINEverySignature forces the PIN before every signature on any slot.
	PINEverySignature bool
	// AllowLastTry is passed to the PIN verification.
	AllowLastTry bool
	// PINPad has the holder type the PIN on the reader's PIN pad before
	// each signature that needs it, instead of calling PIN: the PIN then
	// never reaches the host. The transport must implement
	// apdu.PINPadVerifier (Card.HasPINPad tells); otherwise signing fails
	// with an error matching apdu.ErrNoPINPad.
	PINPad bool
	// PINPadTimeout bounds the entry on the PIN pad; 0 lets the reader
	// choose.
	PINPadTimeout time.Duration
}

// Signer is a crypto.Signer whose private key stays on the card.
type Signer struct {
	card *Card
	slot Slot
	pub  crypto.PublicKey
	alg  Algorithm
	opts SignerOptions
}

var _ crypto.Signer = (*Signer)(nil)

// Signer returns the signer of a slot whose public key is pub (from its
// certificate, or from GenerateKey). Slot 9C asks opts.PIN before every
// signature, as SP 800-73-4 requires of the digital signature key.
func (c *Card) Signer(slot Slot, pub crypto.PublicKey, opts *SignerOptions) (*Signer, error) {
	alg, err := keyAlgorithm(pub)
	if err != nil {
		return nil, err
	}
	s := &Signer{card: c, slot: slot, pub: pub, alg: alg}
	if opts != nil {
		s.opts = *opts
	}
	if slot == SlotSignature {
		s.opts.PINEverySignature = true
	}
	return s, nil
}

// Public implements crypto.Signer.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign implements crypto.Signer; see SignContext.
func (s *Signer) Sign(rnd io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs a digest on the card. ECDSA signatures come back in
// ASN.1 DER, as crypto/ecdsa makes them; for RSA keys opts chooses PKCS #1
// v1.5 or, with *rsa.PSSOptions, PSS, and the padding is built here.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	var challenge []byte
	switch pub := s.pub.(type) {
	case *ecdsa.PublicKey:
		challenge = ecdsaInput(digest, pub.Curve)
	case *rsa.PublicKey:
		var err error
		if challenge, err = rsaPad(pub, digest, opts); err != nil {
			return nil, err
		}
	}
	c := s.card
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.opts.PINEverySignature && s.opts.PINPad {
		if err := c.verifyPad(ctx, s.opts.PINPadTimeout, s.opts.AllowLastTry); err != nil {
			return nil, err
		}
	} else if s.opts.PINEverySignature {
		if s.opts.PIN == nil {
			return nil, fmt.Errorf("%w: %s signs only after the PIN", ErrPINRequired, s.slot)
		}
		pin, err := s.opts.PIN(ctx)
		if err != nil {
			return nil, fmt.Errorf("piv: PIN prompt: %w", err)
		}
		block, err := pinBlock("PIN", pin)
		if err != nil {
			return nil, err
		}
		err = c.verify(ctx, block, s.opts.AllowLastTry)
		clear(block)
		if err != nil {
			return nil, err
		}
	}
	sig, err := c.generalAuthenticate(ctx, s.alg, s.slot, challenge)
	if err != nil {
		if errors.Is(err, apdu.ErrSecurityStatus) {
			return nil, fmt.Errorf("piv: sign with %s: %w (verify the PIN first)", s.slot, err)
		}
		return nil, fmt.Errorf("piv: sign with %s: %w", s.slot, err)
	}
	if _, ok := s.pub.(*ecdsa.PublicKey); ok {
		if err := checkECDSA(sig); err != nil {
			return nil, err
		}
	}
	return sig, nil
}

// ecdsaInput fits a digest to the key size, as PIV expects exactly the
// curve's byte length: a longer digest keeps its leftmost bytes (as ECDSA
// itself truncates, FIPS 186-5 §6.4.1), a shorter one is left-padded with
// zeros, which keeps its integer value.
func ecdsaInput(digest []byte, curve elliptic.Curve) []byte {
	size := (curve.Params().BitSize + 7) / 8
	if len(digest) >= size {
		return digest[:size]
	}
	out := make([]byte, size)
	copy(out[size-len(digest):], digest)
	return out
}

// checkECDSA makes sure the card answered a DER ECDSA signature.
func checkECDSA(sig []byte) error {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return fmt.Errorf("%w: not a DER ECDSA signature", ErrMalformed)
	}
	return nil
}

// DigestInfo prefixes of PKCS #1 v1.5 (RFC 8017 §9.2 note 1).
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// rsaPad builds the encoded message the card's raw RSA key turns into a
// signature.
func rsaPad(pub *rsa.PublicKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: RSA signing needs SignerOpts naming the hash", ErrBadInput)
	}
	h := opts.HashFunc()
	if h.Size() != len(digest) {
		return nil, fmt.Errorf("%w: digest of %d bytes for %s", ErrBadInput, len(digest), h)
	}
	k := (pub.N.BitLen() + 7) / 8
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		return emsaPSS(digest, h, pss.SaltLength, pub.N.BitLen()-1)
	}
	prefix, ok := digestInfo[h]
	if !ok {
		return nil, fmt.Errorf("%w: PKCS #1 v1.5 with %s", ErrNotSupported, h)
	}
	// EMSA-PKCS1-v1_5 (RFC 8017 §9.2): 00 01 FF…FF 00 DigestInfo.
	tLen := len(prefix) + len(digest)
	if k < tLen+11 {
		return nil, fmt.Errorf("%w: RSA key too short", ErrBadInput)
	}
	em := make([]byte, k)
	em[1] = 0x01
	for i := 2; i < k-tLen-1; i++ {
		em[i] = 0xFF
	}
	copy(em[k-tLen:], prefix)
	copy(em[k-len(digest):], digest)
	return em, nil
}

// emsaPSS encodes a digest per EMSA-PSS (RFC 8017 §9.1.1) with MGF1 over the
// same hash.
func emsaPSS(mHash []byte, h crypto.Hash, saltLen, emBits int) ([]byte, error) {
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	switch saltLen {
	case rsa.PSSSaltLengthAuto:
		saltLen = emLen - hLen - 2
	case rsa.PSSSaltLengthEqualsHash:
		saltLen = hLen
	}
	if saltLen < 0 || emLen < hLen+saltLen+2 {
		return nil, fmt.Errorf("%w: PSS salt of %d bytes does not fit", ErrBadInput, saltLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	hh := h.New()
	hh.Write(make([]byte, 8))
	hh.Write(mHash)
	hh.Write(salt)
	H := hh.Sum(nil)
	em := make([]byte, emLen)
	db := em[:emLen-hLen-1]
	db[len(db)-saltLen-1] = 0x01
	copy(db[len(db)-saltLen:], salt)
	rsapss.MGF1XOR(db, h, H)
	db[0] &= 0xFF >> (8*emLen - emBits)
	copy(em[emLen-hLen-1:], H)
	em[emLen-1] = 0xBC
	return em, nil
}
