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

// ValidateText is for store authors: it refuses, with ErrBadInput, text that
// no column of every store holds as given, a NUL byte or invalid UTF-8, for
// the text columns that are no keys (a credential's name, a challenge's
// origin). PostgreSQL refuses such text with an error a caller cannot
// branch on (SQLSTATE 22021) where SQLite and memstore would keep it, so a
// write that passed in tests would fail in production. field names the
// value in the error.
func ValidateText(field, v string) error {
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s must be text without NUL bytes", ErrBadInput, field)
	}
	return nil
}

// ValidateEvent is for store authors: ValidateKeys of an audit event's
// subject and credential ID, and ValidateText of its other text (kind,
// action, result, remote address, reason), before the event is appended.
// identity's own events are clean already; this is for an application's.
func ValidateEvent(e *Event) error {
	if err := ValidateKeys(e.Subject, "", e.CredentialID); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{
		{"event kind", string(e.Kind)}, {"event action", e.Action}, {"event result", string(e.Result)},
		{"event remote address", e.RemoteAddr}, {"event reason", e.Reason},
	} {
		if err := ValidateText(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}
