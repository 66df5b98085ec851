package piv

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"math/big"

	"github.com/puce-id/puce/pcsc/apdu"
)

// ManagementKey is the card application administration key (slot 9B) that
// guards key generation and writing data objects.
type ManagementKey struct {
	Algorithm Algorithm // Alg3DES, AlgAES128, AlgAES192 or AlgAES256
	Key       []byte
}

// DefaultManagementKey is the well-known factory key of PIV tokens:
// 0102030405060708 three times, 3DES. Change it before a card leaves the
// issuer.
func DefaultManagementKey() ManagementKey {
	k := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 3)
	return ManagementKey{Algorithm: Alg3DES, Key: k}
}

func (m ManagementKey) block() (cipher.Block, error) {
	want := map[Algorithm]int{Alg3DES: 24, AlgAES128: 16, AlgAES192: 24, AlgAES256: 32}[m.Algorithm]
	if want == 0 {
		return nil, fmt.Errorf("%w: management key algorithm %s", ErrBadInput, m.Algorithm)
	}
	if len(m.Key) != want {
		return nil, fmt.Errorf("%w: %s management key of %d bytes, want %d", ErrBadInput, m.Algorithm, len(m.Key), want)
	}
	if m.Algorithm == Alg3DES {
		return des.NewTripleDESCipher(m.Key)
	}
	return aes.NewCipher(m.Key)
}

// Authenticate proves the management key to the card and checks the card
// knows it too: GENERAL AUTHENTICATE mutual authentication with slot 9B (SP
// 800-73-4 Part 2 Appendix A.1). The card then allows key generation and
// PUT DATA until it is reset.
func (c *Card) Authenticate(ctx context.Context, key ManagementKey) error {
	blk, err := key.block()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	bs := blk.BlockSize()
	// Step 1: ask for a witness, the card's random block encrypted.
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x87, P1: byte(key.Algorithm), P2: byte(SlotManagementKey),
		Data: []byte{0x7C, 0x02, 0x80, 0x00}, Ne: 256})
	if err != nil {
		return fmt.Errorf("piv: management key: witness: %w", err)
	}
	witness, err := parseAuthResponse(resp, 0x80)
	if err != nil {
		return err
	}
	if len(witness) != bs {
		return fmt.Errorf("%w: witness of %d bytes for a %d-byte block", ErrMalformed, len(witness), bs)
	}
	// Step 2: answer the decrypted witness and challenge the card.
	decrypted := make([]byte, bs)
	blk.Decrypt(decrypted, witness)
	challenge := make([]byte, bs)
	rand.Read(challenge)
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) {
		in.Add(0x80, decrypted)
		in.Add(0x81, challenge)
		in.Add(0x82, nil)
	})
	data, err := b.Bytes()
	if err != nil {
		return err
	}
	resp, err = c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x87, P1: byte(key.Algorithm), P2: byte(SlotManagementKey), Data: data, Ne: 256})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	}
	got, err := parseAuthResponse(resp, 0x82)
	if err != nil {
		return err
	}
	want := make([]byte, bs)
	blk.Encrypt(want, challenge)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w: the card does not hold this management key", ErrAuthentication)
	}
	return nil
}

// GenerateKey makes a new key pair in a slot, on the card (GENERATE
// ASYMMETRIC KEY PAIR, SP 800-73-4 Part 2 §3.3.2), and returns its public
// key. The private key never leaves the card. Needs Authenticate first.
func (c *Card) GenerateKey(ctx context.Context, slot Slot, alg Algorithm) (crypto.PublicKey, error) {
	return c.GenerateKeyWith(ctx, slot, alg, KeyPolicy{})
}

// GenerateKeyWith is GenerateKey asking a YubiKey-compatible token for the
// key's PIN and touch policies. A plain PIV card refuses the vendor tags;
// the virtual card honours them, but keeps 9C at PINPolicyAlways.
func (c *Card) GenerateKeyWith(ctx context.Context, slot Slot, alg Algorithm, policy KeyPolicy) (crypto.PublicKey, error) {
	switch alg {
	case AlgRSA2048, AlgECCP256, AlgECCP384:
	default:
		return nil, fmt.Errorf("%w: cannot generate %s keys", ErrBadInput, alg)
	}
	if _, err := slot.certObject(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x47, P1: 0x00, P2: byte(slot),
		Data: policy.template(alg), Ne: 65536})
	if err != nil {
		return nil, fmt.Errorf("piv: generate a %s key in %s: %w", alg, slot, err)
	}
	return parsePublicKey(alg, resp)
}

// parsePublicKey decodes the 7F49 template GENERATE answers with (SP
// 800-73-4 Part 2 Table 9): 81 modulus and 82 exponent, or 86 point.
func parsePublicKey(alg Algorithm, resp []byte) (crypto.PublicKey, error) {
	t, err := apdu.Find(resp, 0x7F49)
	if err != nil {
		return nil, fmt.Errorf("%w: no 7F49 public key template", ErrMalformed)
	}
	switch alg {
	case AlgRSA2048:
		n, err1 := apdu.Find(t.Value, 0x81)
		e, err2 := apdu.Find(t.Value, 0x82)
		if err1 != nil || err2 != nil || len(e.Value) == 0 || len(e.Value) > 4 {
			return nil, fmt.Errorf("%w: RSA public key", ErrMalformed)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n.Value), E: int(new(big.Int).SetBytes(e.Value).Int64())}
		if pub.N.BitLen() != 2048 || pub.E < 3 || pub.E&1 == 0 {
			return nil, fmt.Errorf("%w: RSA public key of %d bits, exponent %d", ErrMalformed, pub.N.BitLen(), pub.E)
		}
		return pub, nil
	case AlgECCP256, AlgECCP384:
		p, err := apdu.Find(t.Value, 0x86)
		if err != nil {
			return nil, fmt.Errorf("%w: EC public key without point", ErrMalformed)
		}
		curve := elliptic.P256()
		if alg == AlgECCP384 {
			curve = elliptic.P384()
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, p.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: EC point: %v", ErrMalformed, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrBadInput, alg)
}

// putData writes a data object (PUT DATA, SP 800-73-4 Part 2 §3.3.1).
func (c *Card) putData(ctx context.Context, obj, content []byte) error {
	var b apdu.TLVBuilder
	b.Add(0x5C, obj)
	b.Add(0x53, content)
	data, err := b.Bytes()
	if err != nil {
		return err
	}
	_, err = c.do(ctx, apdu.Command{CLA: 0x00, INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: data})
	return err
}

// SetCertificate writes a slot's certificate. Needs Authenticate first.
func (c *Card) SetCertificate(ctx context.Context, slot Slot, cert *x509.Certificate) error {
	obj, err := slot.certObject()
	if err != nil {
		return err
	}
	var b apdu.TLVBuilder
	b.Add(0x70, cert.Raw)
	b.Add(0x71, []byte{0x00}) // uncompressed
	b.Add(0xFE, nil)          // error detection code, empty
	content, err := b.Bytes()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.putData(ctx, obj, content); err != nil {
		return fmt.Errorf("piv: write the certificate of %s: %w", slot, err)
	}
	return nil
}

// Version asks a YubiKey-compatible token for its firmware version (vendor
// instruction FD). ErrNotSupported on other cards.
func (c *Card) Version(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0xFD, Ne: 256})
	if err != nil {
		return "", fmt.Errorf("piv: version: %w", notSupported(err))
	}
	if len(resp) != 3 {
		return "", fmt.Errorf("%w: version of %d bytes", ErrMalformed, len(resp))
	}
	return fmt.Sprintf("%d.%d.%d", resp[0], resp[1], resp[2]), nil
}

// Metadata is what a token says of a slot or PIN (vendor instruction F7).
type Metadata struct {
	Algorithm Algorithm
	// PINPolicy and TouchPolicy of a key slot (the PIN and PUK report
	// their own retry policy here, which tokens code differently).
	PINPolicy   PINPolicy
	TouchPolicy TouchPolicy
	// Default: the PIN, PUK or management key still has its factory value.
	Default bool
	// TriesTotal and TriesLeft of a PIN or PUK.
	TriesTotal, TriesLeft int
	// PublicKey is the encoded public key of a key slot (tag 04).
	PublicKey []byte
}

// SlotPIN and SlotPUK name the PIN and PUK for Metadata.
const (
	SlotPIN Slot = Slot(refPIN)
	SlotPUK Slot = Slot(refPUK)
)

// Metadata asks a YubiKey-compatible token about a slot, the PIN or the PUK.
// ErrNotSupported on other cards.
func (c *Card) Metadata(ctx context.Context, slot Slot) (*Metadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0xF7, P1: 0x00, P2: byte(slot), Ne: 256})
	if err != nil {
		return nil, fmt.Errorf("piv: metadata of %s: %w", slot, notSupported(err))
	}
	return parseMetadata(resp)
}

// parseMetadata decodes a GET METADATA answer: tag-length-value items, of
// which unknown tags and known ones of an unexpected length are skipped.
func parseMetadata(resp []byte) (*Metadata, error) {
	tlvs, err := apdu.DecodeTLVs(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrMalformed, err)
	}
	m := &Metadata{}
	for _, t := range tlvs {
		v := t.Value
		switch t.Tag {
		case 0x01:
			if len(v) == 1 {
				m.Algorithm = Algorithm(v[0])
			}
		case 0x02:
			if len(v) == 2 {
				m.PINPolicy, m.TouchPolicy = PINPolicy(v[0]), TouchPolicy(v[1])
			}
		case 0x04:
			m.PublicKey = bytes.Clone(v)
		case 0x05:
			m.Default = len(v) == 1 && v[0] == 1
		case 0x06:
			if len(v) == 2 {
				m.TriesTotal, m.TriesLeft = int(v[0]), int(v[1])
			}
		}
	}
	return m, nil
}

// Attest asks a YubiKey-compatible token for an attestation certificate of
// a key generated on it (vendor instruction F9). ErrNotSupported elsewhere.
func (c *Card) Attest(ctx context.Context, slot Slot) (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0xF9, P1: byte(slot), Ne: 65536})
	if err != nil {
		return nil, fmt.Errorf("piv: attest %s: %w", slot, notSupported(err))
	}
	cert, err := x509.ParseCertificate(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: attestation certificate: %v", ErrMalformed, err)
	}
	return cert, nil
}
