package httpauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/puce-id/puce/identity"
)

// CSRFHeader and CSRFField carry the synchroniser token of an unsafe
// request: the header for a page's fetch calls, the field for a plain form.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// Protect wraps the application's handlers. For every request it bounds the
// body to Config.MaxBodyBytes and loads the session, if any, for Load. An
// unsafe request (any method but GET, HEAD, OPTIONS and TRACE) is refused
// before next runs unless:
//
//   - Sec-Fetch-Site, when present, is same-origin, and Origin, when present,
//     is Config.Origin — browsers send at least one of them, so a cross-site
//     form cannot pass even with a token it somehow learnt;
//   - it has a live session, and
//   - it carries the session's CSRF token (CSRFHeader or CSRFField): a
//     client that sends neither header must still prove it read our page.
//
// Refusals are answered with WriteError: 403 (ErrCSRF), 401
// (identity.ErrNoSession), 413 (ErrTooLarge).
func (m *Manager) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > m.cfg.MaxBodyBytes {
			m.WriteError(w, r, fmt.Errorf("%w: Content-Length %d exceeds %d", ErrTooLarge, r.ContentLength, m.cfg.MaxBodyBytes))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, m.cfg.MaxBodyBytes)
		}
		s, err := m.guard(r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		if s != nil {
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// guard returns the request's session (nil when a safe request has none) or
// why the request is refused.
func (m *Manager) guard(r *http.Request) (*Session, error) {
	if safeMethod(r.Method) {
		s, err := m.Load(r)
		if err != nil && !errors.Is(err, identity.ErrNoSession) {
			return nil, err
		}
		return s, nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return nil, fmt.Errorf("%w: Sec-Fetch-Site is %q", ErrCSRF, site)
	}
	if o := r.Header.Get("Origin"); o != "" && o != m.cfg.Origin {
		return nil, fmt.Errorf("%w: Origin %q is not %q", ErrCSRF, o, m.cfg.Origin)
	}
	s, err := m.Load(r)
	if err != nil {
		return nil, err
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		// Parsing the form reads the body, within the limit set above.
		if err := m.parseForm(r); err != nil {
			return nil, err
		}
		got = r.PostForm.Get(CSRFField)
	}
	if got == "" {
		return nil, fmt.Errorf("%w: no CSRF token", ErrCSRF)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken())) != 1 {
		return nil, fmt.Errorf("%w: wrong CSRF token", ErrCSRF)
	}
	return s, nil
}

func (m *Manager) parseForm(r *http.Request) error {
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		err = r.ParseMultipartForm(m.cfg.MaxBodyBytes)
	} else {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: httpauth: form: %w", identity.ErrBadInput, err)
}

// WriteError answers a JSON request with err's public status and message,
// {"error": message}, and a Retry-After header when err says when to retry.
// The detail goes to the Logger: at Warn for what the client caused, at
// Error for server faults. An error Public does not know is a server fault
// (500): an application's handler wraps what its client got wrong, such as
// a body its JSON decoder refused, with identity.ErrBadInput (400), as
// fmt.Errorf("%w: %v", identity.ErrBadInput, err).
func (m *Manager) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	m.writeError(w, r, err, nil)
}

// errorJSON is an error answer; TriesLeft only where Manager.TriesLeft
// allows telling it.
type errorJSON struct {
	Error     string `json:"error"`
	TriesLeft *int   `json:"triesLeft,omitempty"`
}

func (m *Manager) writeError(w http.ResponseWriter, r *http.Request, err error, triesLeft *int) {
	if err == nil {
		// A caller's slip, answered as a fault rather than a success.
		err = errors.New("httpauth: WriteError called with a nil error")
	}
	status, msg := Public(err)
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	m.log.LogAttrs(r.Context(), level, "httpauth: request refused",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("error", err.Error()))
	h := w.Header()
	if d := RetryAfter(err); d > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(d.Seconds()), 10))
	}
	m.securityHeaders(h)
	jsonHeaders(h)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorJSON{msg, triesLeft})
}
