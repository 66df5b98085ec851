package httpauth

import (
	"context"
	"fmt"
	"net/http"
)

// ProtectWith is Protect for an application whose pages are HTML forms: a
// request Protect refuses is answered by refused instead of WriteError's
// JSON, so that a user who posts an expired form sees a page that says so.
// err wraps ErrCSRF, ErrTooLarge or identity.ErrNoSession; Public(err)
// gives its status. A nil refused is WriteError, which makes ProtectWith
// Protect.
func (m *Manager) ProtectWith(next http.Handler, refused func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	if refused == nil {
		refused = m.WriteError
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > m.cfg.MaxBodyBytes {
			refused(w, r, fmt.Errorf("%w: Content-Length %d exceeds %d", ErrTooLarge, r.ContentLength, m.cfg.MaxBodyBytes))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, m.cfg.MaxBodyBytes)
		}
		s, err := m.guard(r)
		if err != nil {
			refused(w, r, err)
			return
		}
		if s != nil {
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		}
		next.ServeHTTP(w, r)
	})
}

// Reset empties the session — its login, the proofs pending and the
// application's values — and moves it to a new ID, as a new sign-in on a
// browser that was signed in (or half-way) must: nothing of the earlier
// state rides on the new one. It fails with identity.ErrChanged when
// another request changed or renewed the session first.
func (m *Manager) Reset(ctx context.Context, w http.ResponseWriter, s *Session) error {
	s.data = sessionData{}
	s.rec.Subject = ""
	s.rec.CreatedAt = m.now()
	return m.Renew(ctx, w, s)
}
