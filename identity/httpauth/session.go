package httpauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/puce-id/puce/identity"
)

// Session is one browser's session as a request sees it. Change it only
// through the Manager; it is not safe for concurrent use.
type Session struct {
	rec   identity.SessionRecord
	data  sessionData
	token token
}

// sessionData is what SessionRecord.Data holds, as JSON.
type sessionData struct {
	// Login is the completed login and its step-ups.
	Login *identity.Session `json:"login,omitempty"`
	// Pending are the proofs of a login under way (the password, before the
	// second factor finishes).
	Pending []identity.Proof `json:"pending,omitempty"`
	// Values are the application's own small values.
	Values map[string]string `json:"values,omitempty"`
	// Bind is the key that binds the challenges this session begins to
	// it (binding.go); it never leaves the server.
	Bind []byte `json:"bind,omitempty"`
}

// maxData bounds a session's encoded data: it is read on every request.
const maxData = 16 << 10

// maxPending bounds the proofs a login under way may gather.
const maxPending = 4

// Subject is who the session is about: empty for an anonymous visitor, set
// from the first proof on.
func (s *Session) Subject() identity.Subject { return s.rec.Subject }

// Login returns the completed login (a copy), or nil while no login is
// complete.
func (s *Session) Login() *identity.Session {
	if s.data.Login == nil {
		return nil
	}
	l := *s.data.Login
	l.Proofs = slices.Clone(l.Proofs)
	return &l
}

// Level is the assurance level of the completed login, identity.LevelNone
// before.
func (s *Session) Level() identity.Level {
	if s.data.Login == nil {
		return identity.LevelNone
	}
	return s.data.Login.Level
}

// Pending returns the proofs of a login under way: a first factor waiting
// for the second.
func (s *Session) Pending() []identity.Proof { return slices.Clone(s.data.Pending) }

// CSRFToken is the token a page of ours puts into its forms (field
// csrf_token) or sends in the X-CSRF-Token header. It changes with the
// session ID.
func (s *Session) CSRFToken() string { return s.token.csrf() }

// Value returns an application value (see SetValue).
func (s *Session) Value(key string) string { return s.data.Values[key] }

// SetValue sets an application value in memory; Manager.Save writes it.
// Keep values small: the session is read on every request. An empty value
// deletes the key.
func (s *Session) SetValue(key, value string) {
	if value == "" {
		delete(s.data.Values, key)
		return
	}
	if s.data.Values == nil {
		s.data.Values = map[string]string{}
	}
	s.data.Values[key] = value
}

type ctxKey struct{}

// idle is the idle timeout that applies to the session's state.
func (m *Manager) idle(d *sessionData) time.Duration {
	switch {
	case d.Login != nil || len(d.Pending) > 0:
		return m.cfg.IdleTimeout
	case len(d.Values) == 0:
		// Nothing but a ceremony's binding key: the row ends with the
		// ceremony, so that what anyone can make by beginning one and
		// walking away lives no longer than its challenge (OWASP ASVS
		// 5.0 V2.4.1: no garbage-data creation). The cookie stays a
		// visitor's.
		return m.cfg.PendingTimeout
	}
	return m.cfg.AnonymousIdleTimeout
}

// expiry is when the session ends if no request comes.
func (m *Manager) expiry(s *Session, now time.Time) time.Time {
	e := now.Add(m.idle(&s.data))
	if end := s.rec.CreatedAt.Add(m.cfg.MaxLifetime); end.Before(e) {
		return end
	}
	return e
}

// Load returns the request's session: the one Protect found, or the one its
// cookie names. It fails with identity.ErrNoSession when there is none or it
// expired. The request's context bounds the store's work. Load checks
// neither the request's origin nor its CSRF token: an unsafe request is
// checked only when its handler runs under Protect.
func (m *Manager) Load(r *http.Request) (*Session, error) {
	if s, ok := r.Context().Value(ctxKey{}).(*Session); ok {
		return s, nil
	}
	c, err := r.Cookie(m.cookie)
	if err != nil {
		return nil, identity.ErrNoSession
	}
	t, visitor, ok := parseCookie(c.Value)
	if !ok {
		return nil, fmt.Errorf("%w: malformed cookie", identity.ErrNoSession)
	}
	s, err := m.load(r.Context(), t)
	if visitor && errors.Is(err, identity.ErrNoSession) {
		// A visitor's session lives in the cookie until it needs a row.
		return m.visitor(t), nil
	}
	return s, err
}

func (m *Manager) load(ctx context.Context, t token) (*Session, error) {
	now := m.now()
	rec, err := m.cfg.Store.Session(ctx, identity.SessionIDOf(t[:]), now)
	if err != nil {
		return nil, fmt.Errorf("httpauth: load session: %w", err)
	}
	s := &Session{rec: *rec, token: t}
	if err := json.Unmarshal(rec.Data, &s.data); err != nil {
		return nil, fmt.Errorf("httpauth: session data: %w", err)
	}
	// The store ends a session at the expiry written with it; a timeout
	// shortened since then ends it sooner.
	if now.Sub(rec.LastSeenAt) >= m.idle(&s.data) || now.Sub(rec.CreatedAt) >= m.cfg.MaxLifetime {
		m.cfg.Store.DeleteSession(ctx, rec.ID, 0)
		return nil, fmt.Errorf("%w: timed out", identity.ErrNoSession)
	}
	if err := m.touch(ctx, s, now); err != nil {
		return nil, err
	}
	return s, nil
}

// touch moves the idle deadline on. It writes only when a sixteenth of the
// idle timeout has passed since the last write, so a page's burst of
// requests costs one write; the deadline then errs on the early side.
func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) error {
	if now.Sub(s.rec.LastSeenAt) < m.idle(&s.data)/16 {
		return nil
	}
	next := s.rec
	next.LastSeenAt, next.ExpiresAt = now, m.expiry(s, now)
	err := m.cfg.Store.UpdateSession(ctx, &next)
	switch {
	case err == nil:
		s.rec = next
		return nil
	case errors.Is(err, identity.ErrChanged):
		// A parallel request of the same browser wrote first; its version
		// is the one to build on.
		rec, err := m.cfg.Store.Session(ctx, s.rec.ID, now)
		if err != nil {
			return fmt.Errorf("httpauth: reload session: %w", err)
		}
		fresh := &Session{rec: *rec, token: s.token}
		if err := json.Unmarshal(rec.Data, &fresh.data); err != nil {
			return fmt.Errorf("httpauth: session data: %w", err)
		}
		*s = *fresh
		return nil
	}
	return fmt.Errorf("httpauth: touch session: %w", err)
}

// Start returns the request's session, or starts a visitor's session and
// sets its cookie. Call it from a page that shows a form, which needs the
// CSRF token; Protect does not start sessions. A visitor's session costs
// no store write: its CSRF token is derived from the cookie, and the store
// gets a row only once the session carries something worth keeping (a
// proof, a ceremony under way, a value the application saves), so that
// anonymous requests, a bot's included, cannot fill the store.
func (m *Manager) Start(w http.ResponseWriter, r *http.Request) (*Session, error) {
	s, err := m.Load(r)
	if err == nil || !errors.Is(err, identity.ErrNoSession) {
		return s, err
	}
	t := newToken()
	setCookie(w, m.newCookie(t.visitorCookie(), 0))
	return m.visitor(t), nil
}

// create stores s under a new token and sets the cookie; with renew, the
// store's SessionRenewer ends the session's current record in the
// same step.
func (m *Manager) create(ctx context.Context, w http.ResponseWriter, s *Session, now time.Time, renew identity.SessionRenewer) error {
	ensureBind(s)
	data, err := m.encode(s)
	if err != nil {
		return err
	}
	t := newToken()
	prev := s.rec
	rec := identity.SessionRecord{ID: identity.SessionIDOf(t[:]), Subject: s.rec.Subject, Data: data,
		CreatedAt: s.rec.CreatedAt, LastSeenAt: now}
	s.rec = rec
	rec.ExpiresAt = m.expiry(s, now)
	if renew == nil {
		if err := m.purge(ctx, now); err != nil {
			return err
		}
	}
	if renew != nil {
		// A renewal: the old ID ends and this one begins in one step.
		if err := renew.RenewSession(ctx, prev.ID, prev.Version, &rec); err != nil {
			s.rec = prev
			return fmt.Errorf("httpauth: renew session: %w", err)
		}
	} else if err := m.cfg.Store.CreateSession(ctx, &rec); err != nil {
		return fmt.Errorf("httpauth: create session: %w", err)
	}
	s.rec, s.token = rec, t
	setCookie(w, m.newCookie(t.String(), 0))
	return nil
}

// setCookie sets the session cookie and keeps the response out of every
// cache: Set-Cookie does not inhibit caching (RFC 9111 §7.3), and a
// stored response would hand this browser's session, or its end, to the
// next visitor a shared cache serves it to.
func setCookie(w http.ResponseWriter, c *http.Cookie) {
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, c)
}

func (m *Manager) encode(s *Session) ([]byte, error) {
	data, err := json.Marshal(&s.data)
	if err != nil {
		return nil, fmt.Errorf("httpauth: encode session: %w", err)
	}
	if len(data) > maxData {
		return nil, fmt.Errorf("%w: httpauth: session data of %d bytes exceeds %d", identity.ErrBadInput, len(data), maxData)
	}
	return data, nil
}

func (m *Manager) newCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: m.cookie, Value: value, Path: "/", MaxAge: maxAge,
		Secure: !m.cfg.Development, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// Save writes the session's application values; a visitor's session (see
// Start) is stored then for the first time, under the ID its cookie
// names. It fails with identity.ErrChanged when another request of the
// same browser changed (or first stored) the session since this one
// loaded it; nothing was written.
func (m *Manager) Save(ctx context.Context, s *Session) error {
	if s.unstored() {
		return m.storeVisitor(ctx, s)
	}
	data, err := m.encode(s)
	if err != nil {
		return err
	}
	next := s.rec
	next.Data = data
	err = m.cfg.Store.UpdateSession(ctx, &next)
	if m.touchedOnly(ctx, s, err) {
		next.Version, next.LastSeenAt, next.ExpiresAt = s.rec.Version, s.rec.LastSeenAt, s.rec.ExpiresAt
		err = m.cfg.Store.UpdateSession(ctx, &next)
	}
	if err != nil {
		return fmt.Errorf("httpauth: save session: %w", err)
	}
	s.rec = next
	return nil
}

// touchedOnly reports, after a write of s failed with err, whether err is
// identity.ErrChanged because parallel requests of the same browser only
// moved the idle deadline (touch): the content s was read with is still
// the stored one. It then takes the stored version into s.rec, so that
// the write can be made again on it. A proof a factor has already
// accepted, its code or challenge spent, is not lost to a keep-alive; a
// change of content (a Save, a renewal) still refuses the write.
func (m *Manager) touchedOnly(ctx context.Context, s *Session, err error) bool {
	if !errors.Is(err, identity.ErrChanged) {
		return false
	}
	fresh, ferr := m.cfg.Store.Session(ctx, s.rec.ID, m.now())
	if ferr != nil || fresh.Version <= s.rec.Version || !bytes.Equal(fresh.Data, s.rec.Data) {
		return false
	}
	s.rec.Version, s.rec.LastSeenAt, s.rec.ExpiresAt = fresh.Version, fresh.LastSeenAt, fresh.ExpiresAt
	return true
}

// Renew moves the session to a new ID and CSRF token, keeping its content,
// and sets the new cookie; the old ID is gone from the store. AddProof and
// Logout renew by themselves; call Renew when the application changes a
// session's privilege in its own way. It fails with identity.ErrChanged when
// another request changed or renewed the session first.
func (m *Manager) Renew(ctx context.Context, w http.ResponseWriter, s *Session) error {
	err := m.renew(ctx, w, s)
	if m.touchedOnly(ctx, s, err) {
		err = m.renew(ctx, w, s)
	}
	return err
}

func (m *Manager) renew(ctx context.Context, w http.ResponseWriter, s *Session) error {
	if s.unstored() {
		// A visitor's session has no row to end: its first row is
		// made under a new ID at once.
		return m.create(ctx, w, s, m.now(), nil)
	}
	// Deleting the old version first makes the renewal single: of two
	// requests renewing one session, one wins and the other is refused. A
	// failure between the delete and the create leaves the browser signed
	// out, never with two live IDs.
	if r, ok := m.cfg.Store.(identity.SessionRenewer); ok {
		return m.create(ctx, w, s, m.now(), r)
	}
	if err := m.cfg.Store.DeleteSession(ctx, s.rec.ID, s.rec.Version); err != nil {
		return fmt.Errorf("httpauth: renew session: %w", err)
	}
	return m.create(ctx, w, s, m.now(), nil)
}

// AddProof puts a proof a factor's Finish returned into the session, renews
// the session, and returns the login once it is complete:
//
//   - Before a login, the proof joins the pending ones. When together they
//     reach the policy's login level, the login is complete; otherwise
//     AddProof keeps them pending and returns a *identity.StepUpError
//     (errors.Is identity.ErrStepUpRequired): ask for the second factor.
//     Pending proofs older than Config.PendingTimeout are dropped first,
//     as are pending proofs of another subject.
//   - After a login, the proof is a step-up for the same subject.
//
// A proof for another subject than the login's is identity.ErrInvalidResponse.
func (m *Manager) AddProof(ctx context.Context, w http.ResponseWriter, s *Session, p identity.Proof) (*identity.Session, error) {
	if err := p.Subject.Validate(); err != nil {
		return nil, err
	}
	now := m.now()
	if l := s.data.Login; l != nil {
		up := *l
		up.Proofs = slices.Clone(l.Proofs)
		if err := m.policy.Add(&up, p); err != nil {
			return nil, err
		}
		s.data.Login = &up
		if err := m.Renew(ctx, w, s); err != nil {
			return nil, err
		}
		return s.Login(), nil
	}
	var pending []identity.Proof
	for _, q := range s.data.Pending {
		if q.Subject == p.Subject && now.Sub(q.Time) <= m.cfg.PendingTimeout && len(pending) < maxPending-1 {
			pending = append(pending, q)
		}
	}
	pending = append(pending, p)
	login, err := m.policy.Combine(pending...)
	if err != nil && !errors.Is(err, identity.ErrStepUpRequired) {
		return nil, err
	}
	if s.rec.Subject == "" || s.rec.Subject != p.Subject {
		// Proofs start the session's clock: the lifetime runs from the
		// first one, not from when the visitor opened the sign-in page.
		s.rec.CreatedAt = now
	}
	s.rec.Subject = p.Subject
	if err != nil {
		s.data.Pending = pending
	} else {
		s.data.Login, s.data.Pending = login, nil
	}
	if rerr := m.Renew(ctx, w, s); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, err
	}
	return s.Login(), nil
}

// Authorize reports whether the session may perform action now, by the
// policy's rules; otherwise a *identity.StepUpError says what to ask for.
// An action the policy does not list needs a completed login, so
// Authorize(s, "anything") is how an application's own handler requires
// one:
//
//	s, err := m.Load(r)
//	if err == nil {
//		err = m.Authorize(s, "pay")
//	}
//	if err != nil {
//		m.WriteError(w, r, err) // 401 without a session, 403 without a login or step-up
//		return
//	}
//
// A session whose login is not complete (a visitor, or a password waiting
// for its second factor) gets a StepUpError for the policy's login level
// that WriteError answers with "sign in first"; a signed-in session that
// lacks the action's level or a fresh enough proof gets one that asks for a
// step-up.
func (m *Manager) Authorize(s *Session, action string) error {
	if s == nil || s.data.Login == nil {
		need := m.policy.Login
		if need == identity.LevelNone {
			need = identity.Level2 // the policy's own default
		}
		return fmt.Errorf("%w: %w", errNotSignedIn, &identity.StepUpError{Action: action, Need: need})
	}
	return m.policy.Authorize(s.data.Login, action)
}

// Logout ends the session in the store and tells the browser to drop the
// cookie. A session already gone is not an error.
func (m *Manager) Logout(ctx context.Context, w http.ResponseWriter, s *Session) error {
	setCookie(w, m.newCookie("", -1))
	if s == nil {
		return nil
	}
	err := m.cfg.Store.DeleteSession(ctx, s.rec.ID, 0)
	if err != nil && !errors.Is(err, identity.ErrNoSession) {
		return fmt.Errorf("httpauth: logout: %w", err)
	}
	s.data = sessionData{}
	s.rec = identity.SessionRecord{}
	return nil
}

// Purge deletes the sessions that have expired: a store keeps them,
// unusable, until purged. The Manager calls it now and then, before it
// stores a new session (Config.PurgeEvery).
func (m *Manager) Purge(ctx context.Context) (int64, error) {
	n, err := m.cfg.Store.PurgeSessions(ctx, m.now())
	if err != nil {
		return 0, fmt.Errorf("httpauth: purge sessions: %w", err)
	}
	return n, nil
}

// purge runs Purge when this instance's last one is PurgeEvery old. One
// caller purges; the others go on without waiting.
func (m *Manager) purge(ctx context.Context, now time.Time) error {
	if m.cfg.PurgeEvery < 0 || !m.purgeMu.TryLock() {
		return nil
	}
	defer m.purgeMu.Unlock()
	if now.Sub(m.lastPurge) < m.cfg.PurgeEvery {
		return nil
	}
	if _, err := m.cfg.Store.PurgeSessions(ctx, now); err != nil {
		return fmt.Errorf("httpauth: purge sessions: %w", err)
	}
	m.lastPurge = now
	return nil
}
