package sqlstore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/puce-id/puce/identity"
)

// validText refuses, with identity.ErrBadInput, text that no column of
// both engines holds as given: a NUL byte or invalid UTF-8. PostgreSQL
// refuses them (SQLSTATE 22021) with an error a caller cannot branch on,
// where SQLite stores them, so the same write passed on one engine and
// failed on the other (TestTextBounds). Keys (subject, kind, credential
// ID) are checked by identity.ValidateKeys, which bounds their length too;
// this is for the other text columns.
func validText(field, v string) error {
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s must be text without NUL bytes", identity.ErrBadInput, field)
	}
	return nil
}

// validEvent checks an audit event's columns before it is appended:
// identity's own events are cleaned already (RecordOutcome), this is for
// an application's.
func validEvent(e *identity.Event) error {
	if err := identity.ValidateKeys(e.Subject, "", e.CredentialID); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{
		{"event kind", string(e.Kind)}, {"event action", e.Action}, {"event result", string(e.Result)},
		{"event remote address", e.RemoteAddr}, {"event reason", e.Reason},
	} {
		if err := validText(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// validSession checks the columns of a session record: its subject, which
// is empty for an anonymous visitor.
func validSession(r *identity.SessionRecord) error {
	return identity.ValidateKeys(r.Subject, "", "")
}
