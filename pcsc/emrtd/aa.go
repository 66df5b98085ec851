package emrtd

import (
	"context"
	"crypto"
	"crypto/elliptic"
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

// ActiveAuthenticationKey is DG15's public key. Curve is nil for a key
// this package cannot use (RSA, an unknown curve).
type ActiveAuthenticationKey struct {
	Curve elliptic.Curve
	X, Y  *big.Int
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
	return &ActiveAuthenticationKey{Curve: curve, X: x, Y: y}, nil
}

// AuthenticateActive runs Active Authentication (ICAO 9303-11 §6.1) with an
// ECDSA key: it reads DG15 (the public key) and DG14 (the signature
// algorithm, ActiveAuthenticationInfo), sends a fresh 8-byte challenge in
// INTERNAL AUTHENTICATE and verifies the plain signature over it. A chip
// without DG15's private key fails with ErrActiveAuthentication. It returns
// DG15 as read; passive authentication must cover it (Session.Read with
// ReadOptions.ActiveAuthentication does). RSA keys (ISO/IEC 9796-2) give
// ErrUnsupported.
func (s *Session) AuthenticateActive(ctx context.Context, rand io.Reader) ([]byte, error) {
	dg15, err := s.ReadDataGroup(ctx, DG15)
	if err != nil {
		if errors.Is(err, apdu.ErrNotFound) {
			return nil, fmt.Errorf("%w: the chip has no DG15, no Active Authentication: %w", ErrUnsupported, err)
		}
		return nil, err
	}
	key, err := ParseDG15(dg15)
	if err != nil {
		return nil, &DataGroupError{DG: DG15, Err: err}
	}
	if key.Curve == nil {
		return nil, fmt.Errorf("%w: Active Authentication key of DG15 is not ECDSA on a known curve (RSA with ISO/IEC 9796-2 is not implemented)", ErrUnsupported)
	}
	curve, x, y := key.Curve, key.X, key.Y
	h := ecdsaHash(curve)
	dg14, err := s.ReadDataGroup(ctx, DG14)
	switch {
	case err == nil:
		si, err := ParseDG14(dg14)
		if err != nil {
			return nil, &DataGroupError{DG: DG14, Err: err}
		}
		if si.ActiveAuthentication != nil && si.ActiveAuthentication.SignatureAlgorithm != nil {
			var ok bool
			if h, ok = ecdsaPlainHash(si.ActiveAuthentication.SignatureAlgorithm); !ok || !h.Available() {
				return nil, fmt.Errorf("%w: Active Authentication algorithm %v", ErrUnsupported, si.ActiveAuthentication.SignatureAlgorithm)
			}
		}
	case !errors.Is(err, apdu.ErrNotFound):
		return nil, err
	}
	challenge := make([]byte, 8)
	if _, err := io.ReadFull(randReader(rand), challenge); err != nil {
		return nil, fmt.Errorf("%w: random: %v", ErrCrypto, err)
	}
	sig, err := s.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x88, Data: challenge, Ne: apdu.MaxShortNe})
	if err != nil {
		return nil, fmt.Errorf("emrtd: Active Authentication INTERNAL AUTHENTICATE: %w", err)
	}
	if !verifyPlain(curve, encodePoint(x, y, (curve.Params().BitSize+7)/8), h, challenge, sig) {
		return nil, ErrActiveAuthentication
	}
	s.eac.active, s.eac.dg15 = true, dg15
	return dg15, nil
}

// ActiveAuthenticated reports whether Active Authentication succeeded in
// this session.
func (s *Session) ActiveAuthenticated() bool { return s.eac.active }
