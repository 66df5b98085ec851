package identity

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind names a factor. Stores key credentials, challenges and throttle counters
// by it, so its value is part of the stored data: never rename one.
type Kind string

// Validate reports whether k can name a factor: 1 to 64 bytes of valid UTF-8
// without NUL or '/'. Throttle records are keyed "kind/subject" in SQL
// stores, so a kind with '/' could share a key with another kind's subject.
func (k Kind) Validate() error {
	switch {
	case k == "" || len(k) > 64:
		return fmt.Errorf("%w: factor kind must be 1 to 64 bytes", ErrBadInput)
	case strings.IndexByte(string(k), '/') >= 0:
		return fmt.Errorf("%w: factor kind %q contains '/'", ErrBadInput, string(k))
	}
	return checkField("factor kind", string(k))
}

// The factors puce knows. A factor package may define others.
const (
	KindPassword Kind = "password"
	KindTOTP     Kind = "totp"
	KindWebAuthn Kind = "webauthn"
	KindCard     Kind = "card"
	KindRecovery Kind = "recovery"
)

// Subject is the stable, opaque identifier of an account (a user ID, not a
// display name that may change). It is what every credential, challenge and
// proof is bound to.
type Subject string

// Validate reports whether s can be a subject: 1 to 256 bytes of valid
// UTF-8 without NUL, what every store can key on. Begin checks it; a factor
// that writes without a challenge (an import) calls it itself.
func (s Subject) Validate() error {
	if s == "" {
		return fmt.Errorf("%w: empty subject", ErrBadInput)
	}
	return checkField("subject", string(s))
}

// maxFieldLen bounds subjects, kinds and credential IDs: they travel in
// requests and become database keys, so an attacker must not make them huge.
const maxFieldLen = 256

// checkField refuses what no database text column can hold faithfully:
// over-long values, invalid UTF-8 and NUL bytes (PostgreSQL rejects them).
func checkField(name, v string) error {
	switch {
	case len(v) > maxFieldLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrBadInput, name, maxFieldLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadInput, name)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrBadInput, name)
	}
	return nil
}

// Clock tells the time. Every component takes one so that tests can move time
// (see identitytest.Clock); nil means the system clock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

func clockOr(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}
