package httpauth

import (
	"context"
	"fmt"
	"strconv"

	"github.com/puce-id/puce/identity"
)

// EndSessions signs subject out everywhere: it ends every session of
// subject in the store, on every instance and browser, and audits it as an
// "end-sessions" event naming who did it (by: an administrator's name,
// "fraud team", "card revoked") and how many sessions ended. Call it when
// the account's protection can no longer be trusted or has been taken
// away: fraud, a card reported lost or revoked, a password reset by
// support, an account disabled or deleted (OWASP ASVS 5.0 V7.4.2), an
// administrator ending a user's sessions (V7.4.5). The cookies of those
// sessions load nothing from then on (identity.ErrNoSession), on whatever
// instance.
//
// It fails with ErrCannotEndSessions when Config.Store is not an
// identity.SessionRevoker; the event is then audited as a failure, so the
// trail shows that a sign-out was asked for and did not happen.
func (m *Manager) EndSessions(ctx context.Context, subject identity.Subject, by, remoteAddr string) (int64, error) {
	return m.endSessions(ctx, subject, identity.SessionID{}, "ended by "+by, remoteAddr)
}

// EndOtherSessions ends every session of s's subject but s itself, and
// audits it as EndSessions does. Call it after the signed-in user changed
// or removed something that protects the account — their password, a
// second factor added or removed — so that whoever else held a session
// (made with the old password, with the removed card, or before a new
// factor was added by someone who should not have) is signed out, and the
// user is not (OWASP ASVS 4.0.3 V3.3.3, 5.0 V7.4.3). The library's own
// enrolment endpoint calls it; an application's own pages that change
// factors call it too (see examples/internal/loginsrv). It fails with identity.ErrNoSession when s
// has no signed-in subject.
func (m *Manager) EndOtherSessions(ctx context.Context, s *Session, reason, remoteAddr string) (int64, error) {
	if s == nil || s.Subject() == "" || s.data.Login == nil {
		return 0, fmt.Errorf("%w: httpauth: no signed-in session to keep", identity.ErrNoSession)
	}
	return m.endSessions(ctx, s.Subject(), s.rec.ID, reason, remoteAddr)
}

func (m *Manager) endSessions(ctx context.Context, subject identity.Subject, keep identity.SessionID, reason, remoteAddr string) (int64, error) {
	if err := subject.Validate(); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if r, ok := m.cfg.Store.(identity.SessionRevoker); ok {
		n, err = r.RevokeSessions(ctx, subject, keep)
		if err != nil {
			err = fmt.Errorf("httpauth: end sessions: %w", err)
		}
	} else {
		err = fmt.Errorf("%w (%T)", ErrCannotEndSessions, m.cfg.Store)
	}
	ev := identity.Event{Time: m.now(), Subject: subject, Action: "end-sessions", RemoteAddr: remoteAddr,
		Reason: reason + ": " + strconv.FormatInt(n, 10) + " session(s) ended"}
	if keep != (identity.SessionID{}) {
		ev.Reason += ", this one kept"
	}
	return n, identity.RecordOutcome(ctx, m.cfg.Audit, ev, err)
}
