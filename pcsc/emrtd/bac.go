package emrtd

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/puce-id/puce/pcsc/apdu"
)

// BAC runs Basic Access Control (ICAO 9303-11 §4.3) over t, the LDS1
// application selected, and returns the 3DES secure channel it establishes.
// A chip that refuses the key gives ErrAccessDenied. rand supplies RND.IFD
// and K.IFD (crypto/rand when nil).
func BAC(ctx context.Context, t apdu.Transport, key MRZKey, rand io.Reader) (*SecureChannel, error) {
	seed, err := key.bacSeed()
	if err != nil {
		return nil, err
	}
	// Document basic access keys (§9.7.2, Appendix D.1).
	kEnc, kMAC := kdf(Cipher3DES, seed, kdfEnc), kdf(Cipher3DES, seed, kdfMAC)
	c := &apdu.Client{Transport: t}

	// GET CHALLENGE: RND.IC, 8 bytes (§4.3.4.1).
	rndIC, err := c.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x84, Ne: 8})
	if err != nil {
		return nil, fmt.Errorf("emrtd: BAC GET CHALLENGE: %w", err)
	}
	if len(rndIC) != 8 {
		return nil, fmt.Errorf("%w: challenge of %d bytes", ErrProtocol, len(rndIC))
	}
	rnd := make([]byte, 24)
	if _, err := io.ReadFull(randReader(rand), rnd); err != nil {
		return nil, fmt.Errorf("%w: random: %v", ErrCrypto, err)
	}
	rndIFD, kIFD := rnd[:8], rnd[8:24]
	eIFD, mIFD, err := bacCryptogram(kEnc, kMAC, rndIFD, rndIC, kIFD)
	if err != nil {
		return nil, err
	}

	// EXTERNAL AUTHENTICATE (mutual authentication): E.IFD ‖ M.IFD, answer
	// E.IC ‖ M.IC (§4.3.4.2).
	resp, err := c.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x82, Data: append(eIFD, mIFD...), Ne: 40})
	if err != nil {
		if errors.Is(err, apdu.ErrSecurityStatus) || errors.Is(err, apdu.ErrConditions) || isWarning(err) {
			return nil, fmt.Errorf("%w: BAC: %w", ErrAccessDenied, err)
		}
		return nil, fmt.Errorf("emrtd: BAC EXTERNAL AUTHENTICATE: %w", err)
	}
	kIC, err := bacOpen(kEnc, kMAC, resp, rndIC, rndIFD)
	if err != nil {
		return nil, err
	}
	ks := make([]byte, 16)
	subtle.XORBytes(ks, kIFD, kIC)
	ksEnc, ksMAC := kdf(Cipher3DES, ks, kdfEnc), kdf(Cipher3DES, ks, kdfMAC)
	// SSC: the four least significant bytes of RND.IC then of RND.IFD
	// (§9.8.6.3).
	ssc := append(bytes.Clone(rndIC[4:]), rndIFD[4:]...)
	return NewSecureChannel(t, Cipher3DES, ksEnc, ksMAC, ssc)
}

// bacCryptogram builds E.IFD = E(K.Enc, RND.IFD ‖ RND.IC ‖ K.IFD) and its
// MAC M.IFD (§4.3.4.2, Appendix D.3).
func bacCryptogram(kEnc, kMAC, rndIFD, rndIC, kIFD []byte) (e, m []byte, err error) {
	s := make([]byte, 0, 32)
	s = append(append(append(s, rndIFD...), rndIC...), kIFD...)
	blk, err := newBlock(Cipher3DES, kEnc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	e = cbcEncrypt(blk, make([]byte, 8), s)
	m, err = retailMAC(kMAC, pad(e, 8))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	return e, m, nil
}

// bacOpen checks M.IC, decrypts R = RND.IC ‖ RND.IFD ‖ K.IC, checks both
// nonces and returns K.IC.
func bacOpen(kEnc, kMAC, resp, rndIC, rndIFD []byte) ([]byte, error) {
	if len(resp) != 40 {
		return nil, fmt.Errorf("%w: BAC answer of %d bytes", ErrProtocol, len(resp))
	}
	e, m := resp[:32], resp[32:]
	want, err := retailMAC(kMAC, pad(e, 8))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	if subtle.ConstantTimeCompare(m, want) != 1 {
		return nil, fmt.Errorf("%w: BAC answer does not authenticate under the MRZ key", ErrAccessDenied)
	}
	blk, err := newBlock(Cipher3DES, kEnc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrypto, err)
	}
	r := cbcDecrypt(blk, make([]byte, 8), e)
	if !bytes.Equal(r[:8], rndIC) || !bytes.Equal(r[8:16], rndIFD) {
		return nil, fmt.Errorf("%w: BAC answer does not return our nonces", ErrAccessDenied)
	}
	return r[16:32], nil
}

// isWarning reports 63xx answers, which chips use for a failed
// authentication (ISO/IEC 7816-4 §5.6).
func isWarning(err error) bool {
	sw, ok := apdu.StatusWord(err)
	return ok && sw>>8 == 0x63
}
