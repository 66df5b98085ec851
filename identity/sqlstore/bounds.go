package sqlstore

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/puce-id/puce/identity"
)

// maxIDLen bounds a credential ID: a WebAuthn credential ID of 1023
// bytes, base64url-encoded, fits, and with its kind it stays under the
// largest PostgreSQL B-tree entry (a third of a page).
const maxIDLen = 2048

// checkKeys refuses, with ErrBadInput, a subject or kind identity would
// not accept, an over-long or non-text credential ID: they become index
// entries, and PostgreSQL refuses an entry over a third of a page (SQLSTATE
// 54000), invalid UTF-8 and NUL in text, with errors a caller cannot
// branch on. memstore refuses the same. An empty subject or ID is not
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

// checkCounter refuses a counter a BIGINT cannot hold.
func checkCounter(n uint64) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("%w: counter %d does not fit the database", identity.ErrBadInput, n)
	}
	return nil
}
