package emrtd

import (
	"bytes"
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/puce-id/puce/pcsc/apdu"
)

// ErrActiveAuthentication: the chip's Active Authentication signature does
// not verify under DG15's public key: the chip does not hold that key (a
// clone carrying copied files) or DG15 was altered. Do not trust the
// document.
var ErrActiveAuthentication = errors.New("emrtd: active authentication failed: the chip does not hold DG15's private key")

// ecdsaPlainHash maps ecdsa-plain-SHA* (BSI TR-03111 §5.2.1) to its hash.
func ecdsaPlainHash(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	s, h, ok := sigAlgorithm(oid)
	return h, ok && s == schemeECDSAPlain
}

// ActiveAuthenticationKey is DG15's public key: an ECDSA key (Curve, X,
// Y) or an RSA key (RSA). Both are nil for a key this package cannot use
// (an unknown curve or algorithm).
type ActiveAuthenticationKey struct {
	Curve elliptic.Curve
	X, Y  *big.Int
	// RSA is an RSA key, used with ISO/IEC 9796-2 (ICAO 9303-11 §6.1).
	RSA *rsa.PublicKey
}

// ParseDG15 decodes DG15, 6F { SubjectPublicKeyInfo } (ICAO 9303-10
// §4.7.15).
func ParseDG15(b []byte) (*ActiveAuthenticationKey, error) {
	v, err := outer(b, 0x6F)
	if err != nil {
		return nil, err
	}
	curve, x, y, err := parseECSPKI(v)
	if err != nil {
		return nil, err
	}
	if curve == nil {
		if pub, err := x509.ParsePKIXPublicKey(v); err == nil {
			if k, ok := pub.(*rsa.PublicKey); ok {
				return &ActiveAuthenticationKey{RSA: k}, nil
			}
		} else if isRSASPKI(v) {
			return nil, malformed("DG15 RSA key: %v", err)
		}
	}
	return &ActiveAuthenticationKey{Curve: curve, X: x, Y: y}, nil
}

// isRSASPKI reports a SubjectPublicKeyInfo naming rsaEncryption.
func isRSASPKI(der []byte) bool {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	_, err := asn1.Unmarshal(der, &spki)
	return err == nil && spki.Algorithm.Algorithm.Equal(oidRSAEncryption)
}

// ISO/IEC 10118-3 hash function identifiers of the ISO/IEC 9796-2 trailer
// 'xx CC'.
var trailerHashes = map[byte]crypto.Hash{0x33: crypto.SHA1, 0x34: crypto.SHA256, 0x35: crypto.SHA512, 0x36: crypto.SHA384, 0x38: crypto.SHA224}

// verify9796 checks an RSA Active Authentication signature: ISO/IEC 9796-2
// digital signature scheme 1 with partial message recovery (ICAO 9303-11
// §6.1), M2 the terminal's challenge. The representative F = s^e mod n (or
// n − that, which the scheme lets the signer send instead) must read 6A ‖
// M1 ‖ H(M1 ‖ M2) ‖ trailer, the trailer BC (implicit hash, SHA-1) or an
// ISO/IEC 10118-3 hash identifier followed by CC, and
// M1 filling the rest: the header 6A says partial recovery with no padding,
// the only form whose message M1 ‖ M2 goes beyond the representative.
func verify9796(pub *rsa.PublicKey, challenge, sig []byte) bool {
	size := (pub.N.BitLen() + 7) / 8
	if len(sig) != size || pub.E < 2 {
		return false
	}
	s := new(big.Int).SetBytes(sig)
	if s.Sign() <= 0 || s.Cmp(pub.N) >= 0 {
		return false
	}
	j := new(big.Int).Exp(s, big.NewInt(int64(pub.E)), pub.N)
	if j.Bit(0)|j.Bit(1)<<1|j.Bit(2)<<2|j.Bit(3)<<3 != 0xC {
		j.Sub(pub.N, j)
	}
	f := j.FillBytes(make([]byte, size))
	var h crypto.Hash
	var t int
	switch {
	case f[size-1] == 0xBC:
		h, t = crypto.SHA1, 1
	case f[size-1] == 0xCC:
		h, t = trailerHashes[f[size-2]], 2
	}
	if h == 0 || !h.Available() || f[0] != 0x6A || size < 1+h.Size()+t+1 {
		return false
	}
	m1, digest := f[1:size-t-h.Size()], f[size-t-h.Size():size-t]
	d := h.New()
	d.Write(m1)
	d.Write(challenge)
	return subtle.ConstantTimeCompare(d.Sum(nil), digest) == 1
}

// AuthenticateActive runs Active Authentication (ICAO 9303-11 §6.1): it
// reads DG15 (the public key) and DG14 (for an ECDSA key, the signature
// algorithm, ActiveAuthenticationInfo), sends a fresh 8-byte challenge in
// INTERNAL AUTHENTICATE and verifies the signature over it: plain ECDSA,
// or ISO/IEC 9796-2 scheme 1 for an RSA key. A chip without DG15's private
// key fails with ErrActiveAuthentication. It returns DG15 as read; passive
// authentication must cover it (Session.Read with
// ReadOptions.ActiveAuthentication does). A key of another kind gives
// ErrUnsupported.
func (s *Session) AuthenticateActive(ctx context.Context, rand io.Reader) ([]byte, error) {
	challenge := make([]byte, ActiveChallengeSize)
	if _, err := io.ReadFull(randReader(rand), challenge); err != nil {
		return nil, fmt.Errorf("%w: random: %v", ErrCrypto, err)
	}
	dg15, _, _, err := s.active(ctx, challenge)
	return dg15, err
}

// ActiveChallengeSize is the length of an Active Authentication challenge
// (RND.IFD, ICAO 9303-11 §6.1).
const ActiveChallengeSize = 8

// ActiveProof is a chip's Active Authentication signature over a challenge
// chosen by someone other than the reader: a remote receiver of a
// Disclosure derives the challenge from its own single-use nonce, so the
// signature shows the chip itself answered for this exchange, which copied
// data groups cannot. ICAO 9303-11 §6.1 warns that such a signature is
// evidence, to anyone, that the chip took part ("challenge semantics"): the
// holder gives it only with the disclosure they chose.
type ActiveProof struct {
	Challenge []byte `json:"challenge"`
	Signature []byte `json:"signature"`
}

// ProveActive runs Active Authentication with the given 8-byte challenge,
// checks the signature under DG15 as AuthenticateActive does, and returns
// it as a proof for a receiver (Disclosure.Active). The disclosure must
// carry DG15 (and DG14) as read for the receiver to verify it:
// Session.PrepareDisclosure does all of this.
func (s *Session) ProveActive(ctx context.Context, challenge []byte) (*ActiveProof, error) {
	if len(challenge) != ActiveChallengeSize {
		return nil, fmt.Errorf("%w: Active Authentication challenge of %d bytes, want %d", ErrInvalidKey, len(challenge), ActiveChallengeSize)
	}
	_, _, sig, err := s.active(ctx, challenge)
	if err != nil {
		return nil, err
	}
	return &ActiveProof{Challenge: bytes.Clone(challenge), Signature: sig}, nil
}

// active reads DG15 and DG14, has the chip sign challenge, and verifies the
// signature.
func (s *Session) active(ctx context.Context, challenge []byte) (dg15, dg14, sig []byte, err error) {
	dg15, err = s.ReadDataGroup(ctx, DG15)
	if err != nil {
		if errors.Is(err, apdu.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("%w: the chip has no DG15, no Active Authentication: %w", ErrUnsupported, err)
		}
		return nil, nil, nil, err
	}
	dg14, err = s.ReadDataGroup(ctx, DG14)
	if errors.Is(err, apdu.ErrNotFound) {
		dg14, err = nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	// Check the keys before asking the chip, so that an unusable DG15
	// costs no signature.
	if err := checkActive(dg15, dg14, challenge, nil); err != nil && !errors.Is(err, ErrActiveAuthentication) {
		return nil, nil, nil, err
	}
	sig, err = s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x88, Data: challenge, Ne: apdu.MaxShortNe})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("emrtd: Active Authentication INTERNAL AUTHENTICATE: %w", err)
	}
	if err := checkActive(dg15, dg14, challenge, sig); err != nil {
		return nil, nil, nil, err
	}
	s.eac.active, s.eac.dg15 = true, dg15
	if dg14 != nil {
		// DG14 named the signature algorithm: passive authentication
		// must cover these very bytes too.
		s.eac.dg14 = dg14
	}
	return dg15, dg14, sig, nil
}

// verifyActiveProof checks a chip's Active Authentication signature for a
// receiver (VerifyDisclosure): rec has passed passive authentication, so
// its DG15, and DG14 when present, are the issuer's; challenge is the one
// the receiver expects. On success it marks rec ActiveAuthenticated. A
// missing proof, a wrong challenge or signature gives
// ErrActiveAuthentication; a record without DG15, ErrUnsupported.
func verifyActiveProof(rec *Record, challenge []byte, p *ActiveProof) error {
	if rec == nil || !rec.Verified() {
		return fmt.Errorf("%w: the record has not passed passive authentication", ErrActiveAuthentication)
	}
	if p == nil {
		return fmt.Errorf("%w: the disclosure carries no signature", ErrActiveAuthentication)
	}
	dg15 := rec.DataGroups[DG15]
	if dg15 == nil {
		return fmt.Errorf("%w: the disclosure carries no DG15", ErrUnsupported)
	}
	if p == nil || len(challenge) != ActiveChallengeSize || subtle.ConstantTimeCompare(p.Challenge, challenge) != 1 {
		return fmt.Errorf("%w: the signature is not over this exchange's challenge", ErrActiveAuthentication)
	}
	if err := checkActive(dg15, rec.DataGroups[DG14], challenge, p.Signature); err != nil {
		return err
	}
	rec.ActiveAuthenticated, rec.ActiveAuthenticationKey = true, bytes.Clone(dg15)
	return nil
}

// checkActive verifies sig over challenge under DG15's key with DG14's
// algorithm (the curve's usual hash without DG14). A nil sig only checks
// that the keys are usable, reporting ErrActiveAuthentication for the
// missing signature.
func checkActive(dg15, dg14, challenge, sig []byte) error {
	key, err := ParseDG15(dg15)
	if err != nil {
		return &DataGroupError{DG: DG15, Err: err}
	}
	if key.RSA != nil {
		if sig == nil || !verify9796(key.RSA, challenge, sig) {
			return ErrActiveAuthentication
		}
		return nil
	}
	if key.Curve == nil {
		return fmt.Errorf("%w: Active Authentication key of DG15 is neither RSA nor ECDSA on a known curve", ErrUnsupported)
	}
	h := ecdsaHash(key.Curve)
	if dg14 != nil {
		si, err := ParseDG14(dg14)
		if err != nil {
			return &DataGroupError{DG: DG14, Err: err}
		}
		if si.ActiveAuthentication != nil && si.ActiveAuthentication.SignatureAlgorithm != nil {
			var ok bool
			if h, ok = ecdsaPlainHash(si.ActiveAuthentication.SignatureAlgorithm); !ok || !h.Available() {
				return fmt.Errorf("%w: Active Authentication algorithm %v", ErrUnsupported, si.ActiveAuthentication.SignatureAlgorithm)
			}
		}
	}
	if sig == nil || !verifyPlain(key.Curve, encodePoint(key.X, key.Y, (key.Curve.Params().BitSize+7)/8), h, challenge, sig) {
		return ErrActiveAuthentication
	}
	return nil
}

// ActiveAuthenticated reports whether Active Authentication succeeded in
// this session.
func (s *Session) ActiveAuthenticated() bool { return s.eac.active }
