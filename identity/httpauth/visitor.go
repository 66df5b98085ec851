package httpauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/identity"
)

// A visitor — someone who has proven nothing — gets a session that lives
// in the cookie only: its CSRF token is derived from the cookie's token
// (token.csrf), so nothing needs storing to check a form. The store gets a
// row under the same ID the first time the session carries something worth
// keeping: a ceremony under way (its challenge binding key), or a value the
// application saves. A proof moves it to a new ID at once (AddProof
// renews). Until then a crawler or a bot costs no write, however many
// requests it sends, and there is nothing to bound per address.
//
// A visitor's cookie carries its own mark (visitorMark), so that the cookie
// of a session that ended — logout, timeout, EndSessions — is not taken for
// a visitor's and still answers identity.ErrNoSession. Anyone can make up a
// visitor's cookie, as anyone could start an anonymous session before: it
// grants nothing, and the __Host- cookie prefix keeps other hosts from
// planting one (a planted one is left behind by the renewal at sign-in).

// visitor is the unstored session of a visitor whose cookie carries t.
func (m *Manager) visitor(t token) *Session {
	now := m.now()
	return &Session{rec: identity.SessionRecord{ID: identity.SessionIDOf(t[:]), CreatedAt: now, LastSeenAt: now}, token: t}
}

// unstored reports whether the store holds no row for s yet: a visitor's
// session, whose writes begin with a create.
func (s *Session) unstored() bool { return s.rec.Version == 0 }

// storeVisitor writes a visitor's session for the first time, under the
// ID its cookie already names. When a parallel request of the same
// browser stored it first, it fails with identity.ErrChanged, as Save
// does when another request wrote first.
func (m *Manager) storeVisitor(ctx context.Context, s *Session) error {
	ensureBind(s)
	data, err := m.encode(s)
	if err != nil {
		return err
	}
	now := m.now()
	if err := m.purge(ctx, now); err != nil {
		return err
	}
	rec := s.rec
	rec.Data, rec.LastSeenAt = data, now
	rec.ExpiresAt = m.expiry(s, now)
	err = m.cfg.Store.CreateSession(ctx, &rec)
	if errors.Is(err, identity.ErrExists) {
		return fmt.Errorf("%w: httpauth: another request of this browser stored the session first", identity.ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("httpauth: create session: %w", err)
	}
	s.rec = rec
	return nil
}

// adoptStored takes into s the session a parallel request stored under
// s's ID, when s had nothing of its own to write but a binding key: two
// ceremonies begun at once in a new visitor's tabs both go on, bound to
// the key that was stored.
func (m *Manager) adoptStored(ctx context.Context, s *Session) bool {
	if s.data.Login != nil || len(s.data.Pending) > 0 || len(s.data.Values) > 0 {
		return false
	}
	fresh, err := m.load(ctx, s.token)
	if err != nil || len(fresh.data.Bind) != bindLen {
		return false
	}
	*s = *fresh
	return true
}
