package memstore

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/puce-id/puce/identity"
)

// maxIDLen bounds a credential ID, as sqlstore does: a WebAuthn credential
// ID of 1023 bytes, base64url-encoded, fits.
const maxIDLen = 2048

// checkKeys refuses, with ErrBadInput, what sqlstore refuses: a subject
// or kind identity would not accept, an over-long or non-text credential
// ID. A store the same code runs on in tests must fail where the database
// one does, not only in production. An empty subject or ID is not
// checked (a username-less challenge has none).
func checkKeys(subject identity.Subject, kind identity.Kind, id string) error {
	if subject != "" {
		if err := subject.Validate(); err != nil {
			return err
		}
	}
	if kind != "" {
		if err := kind.Validate(); err != nil {
			return err
		}
	}
	if len(id) > maxIDLen || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("%w: credential ID must be at most %d bytes of text", identity.ErrBadInput, maxIDLen)
	}
	return nil
}

// checkCounter refuses a counter a SQL BIGINT cannot hold, as sqlstore
// does.
func checkCounter(n uint64) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("%w: counter %d does not fit the database", identity.ErrBadInput, n)
	}
	return nil
}
