package identity

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// MaxCredentialIDLen bounds a credential ID in every store and in the
// audit trail: a WebAuthn credential ID of 1023 bytes, base64url-encoded,
// fits, and with its kind it stays under the largest PostgreSQL B-tree
// entry (a third of a page).
const MaxCredentialIDLen = 2048

// ValidateKeys is for store authors: it refuses, with ErrBadInput, a
// subject or kind Validate refuses and a credential ID that is over
// MaxCredentialIDLen or not text (invalid UTF-8, NUL), before they become
// index entries. A database refuses them too, but with errors a caller
// cannot branch on (PostgreSQL: SQLSTATE 54000 for an entry over a third
// of a page); memstore and sqlstore both call it, so that tests on the
// one fail where production on the other would. An empty subject, kind or
// ID is not checked (a username-less challenge has none).
func ValidateKeys(subject Subject, kind Kind, id string) error {
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
	if len(id) > MaxCredentialIDLen || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("%w: credential ID must be at most %d bytes of text", ErrBadInput, MaxCredentialIDLen)
	}
	return nil
}

// ValidateCounter is for store authors: it refuses, with ErrBadInput, a
// counter a SQL BIGINT cannot hold (above math.MaxInt64).
func ValidateCounter(n uint64) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("%w: counter %d does not fit the database", ErrBadInput, n)
	}
	return nil
}
