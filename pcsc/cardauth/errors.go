package cardauth

import (
	"fmt"

	"github.com/puce-id/puce/identity"
)

// Errors of the card factor. Each wraps an identity sentinel, so callers that
// only branch on identity errors keep working.
var (
	// ErrMalformedToken: the token is not Web eID JSON of a known format,
	// or too large. Wraps identity.ErrInvalidResponse.
	ErrMalformedToken = fmt.Errorf("%w: malformed Web eID token", identity.ErrInvalidResponse)
	// ErrUnsupportedAlgorithm: the token names an algorithm puce does not
	// accept, or one that does not fit the certificate's key.
	ErrUnsupportedAlgorithm = fmt.Errorf("%w: unsupported signature algorithm", identity.ErrInvalidResponse)
	// ErrBadSignature: the signature does not verify for this origin and
	// nonce with the certificate's key.
	ErrBadSignature = fmt.Errorf("%w: signature does not verify", identity.ErrInvalidResponse)
	// ErrCertificateNotValid: the certificate is expired or not yet valid.
	// Wraps identity.ErrUntrusted.
	ErrCertificateNotValid = fmt.Errorf("%w: certificate not valid at this time", identity.ErrUntrusted)
	// ErrKeyUsage: the certificate is not for authentication (key usage
	// digitalSignature, extended key usage clientAuth when present).
	ErrKeyUsage = fmt.Errorf("%w: certificate not meant for authentication", identity.ErrUntrusted)
	// ErrUntrustedCA: the certificate does not chain to a trusted CA.
	ErrUntrustedCA = fmt.Errorf("%w: certificate does not chain to a trusted CA", identity.ErrUntrusted)
	// ErrOCSP: the OCSP answer cannot be relied on (unauthorised responder,
	// stale, nonce not echoed, status unknown).
	ErrOCSP = fmt.Errorf("%w: OCSP response not acceptable", identity.ErrUntrusted)
	// ErrOCSPUnavailable: no OCSP answer could be had and the policy is to
	// fail closed.
	ErrOCSPUnavailable = fmt.Errorf("%w: OCSP responder unavailable", identity.ErrUntrusted)
	// ErrRevoked: OCSP says the certificate is revoked. Wraps
	// identity.ErrRevoked.
	ErrRevoked = fmt.Errorf("%w: certificate revoked", identity.ErrRevoked)
	// ErrUnknownCard: the card is not enrolled for the account. Wraps
	// identity.ErrNotEnrolled.
	ErrUnknownCard = fmt.Errorf("%w: this card is not enrolled for the account", identity.ErrNotEnrolled)
)
