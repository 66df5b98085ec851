package totp

import (
	"github.com/puce-id/puce/identity"
)

// Sentinel errors of this package. Each wraps identity's sentinels, so
// errors.Is(err, identity.ErrBadInput) holds for all three, and
// errors.Is(err, identity.ErrInvalidResponse) for ErrMalformedCode too. A call
// that returns one of them has changed nothing: no challenge was consumed, no
// attempt counted, no credential written.
var (
	// ErrMalformedCode: the code is not 6 or 8 ASCII digits (it is empty,
	// too long, holds a space, a letter or a non-ASCII digit). Ask the user to
	// type it again; the challenge is still valid.
	ErrMalformedCode = identity.Sentinel("totp: malformed code", identity.ErrInvalidResponse, identity.ErrBadInput)
	// ErrBadSecret: a secret to import is not base32 (RFC 4648 §6), or is
	// shorter than RFC 4226 §4 allows.
	ErrBadSecret = identity.Sentinel("totp: bad secret", identity.ErrBadInput)
	// ErrBadURI: an otpauth:// URI (or a Key) is malformed or asks for
	// something this package does not do: HOTP, an unknown algorithm, other
	// than 6 or 8 digits, a period out of range.
	ErrBadURI = identity.Sentinel("totp: bad otpauth URI", identity.ErrBadInput)
)
