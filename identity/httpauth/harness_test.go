package httpauth_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

const origin = "https://bank.example"

// quiet drops the refusals the tests provoke on purpose.
var quiet = slog.New(slog.DiscardHandler)

// app is a small application on the layer: a sign-in page, a password step,
// a second-factor step, a page that says who is signed in, and an endpoint
// that reads its body.
type app struct {
	m       *httpauth.Manager
	clock   *identitytest.Clock
	handler http.Handler
	// ran counts the unsafe requests that reached a handler.
	ran int
}

func newManager(t testing.TB, store identity.SessionStore, clock identity.Clock) *httpauth.Manager {
	t.Helper()
	m, err := httpauth.New(httpauth.Config{Store: store, Origin: origin, Clock: clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newApp(t testing.TB, m *httpauth.Manager, clock *identitytest.Clock) *app {
	a := &app{m: m, clock: clock}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Start(w, r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		reply(w, s, "")
	})
	mux.HandleFunc("POST /password", func(w http.ResponseWriter, r *http.Request) {
		a.ran++
		s, err := m.Load(r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		if r.PostFormValue("password") != "correct horse" {
			m.WriteError(w, r, identity.ErrPasswordMismatch)
			return
		}
		_, err = m.AddProof(r.Context(), w, s, identity.Proof{Subject: identity.Subject(r.PostFormValue("user")),
			Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: clock.Now()})
		if !errors.Is(err, identity.ErrStepUpRequired) {
			m.WriteError(w, r, err)
			return
		}
		reply(w, s, "second factor")
	})
	mux.HandleFunc("POST /totp", func(w http.ResponseWriter, r *http.Request) {
		a.ran++
		s, err := m.Load(r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		if _, err := m.AddProof(r.Context(), w, s, identity.Proof{Subject: s.Subject(), Kind: identity.KindTOTP,
			Factors: identity.Possession, Assurance: identity.Level2, Time: clock.Now()}); err != nil {
			m.WriteError(w, r, err)
			return
		}
		reply(w, s, "")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Load(r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		reply(w, s, "")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		a.ran++
		b, err := io.ReadAll(r.Body)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		a.ran++
		s, _ := m.Load(r)
		if err := m.Logout(r.Context(), w, s); err != nil {
			m.WriteError(w, r, err)
		}
	})
	a.handler = m.Protect(mux)
	return a
}

type state struct {
	Subject string `json:"subject"`
	Level   string `json:"level"`
	CSRF    string `json:"csrf"`
	Next    string `json:"next"`
	Error   string `json:"error"`
}

func reply(w http.ResponseWriter, s *httpauth.Session, next string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(state{Subject: string(s.Subject()), Level: s.Level().String(), CSRF: s.CSRFToken(), Next: next})
}

// browser is one client: its cookie and the last CSRF token a page gave it.
type browser struct {
	t      testing.TB
	cookie string
	csrf   string
}

type req struct {
	method, path string
	form         url.Values
	body         io.Reader
	header       map[string]string
	// noCSRF leaves the token out; noOrigin sends neither Origin nor
	// Sec-Fetch-Site.
	noCSRF, noOrigin bool
	// chunked hides the body's length, as a chunked upload does.
	chunked bool
}

func (b *browser) do(a *app, q req) (*http.Response, state) {
	b.t.Helper()
	var body io.Reader = q.body
	if q.form != nil {
		if !q.noCSRF && q.method != http.MethodGet {
			q.form.Set(httpauth.CSRFField, b.csrf)
		}
		body = strings.NewReader(q.form.Encode())
	}
	if q.chunked {
		body = struct{ io.Reader }{body}
	}
	r := httptest.NewRequest(q.method, origin+q.path, body)
	if q.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.method != http.MethodGet && !q.noOrigin {
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	if b.cookie != "" {
		r.AddCookie(&http.Cookie{Name: a.m.CookieName(), Value: b.cookie})
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	res := w.Result()
	for _, c := range res.Cookies() {
		if c.Name == a.m.CookieName() {
			b.cookie = c.Value
		}
	}
	var st state
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		json.Unmarshal(w.Body.Bytes(), &st)
	}
	if st.CSRF != "" {
		b.csrf = st.CSRF
	}
	return res, st
}

// signIn runs the whole login: sign-in page, password, second factor.
func (b *browser) signIn(a *app) {
	b.t.Helper()
	b.do(a, req{method: "GET", path: "/login"})
	if res, st := b.do(a, req{method: "POST", path: "/password", form: url.Values{"user": {"alice"}, "password": {"correct horse"}}}); res.StatusCode != 200 || st.Next != "second factor" {
		b.t.Fatalf("password step: %d %+v", res.StatusCode, st)
	}
	if res, st := b.do(a, req{method: "POST", path: "/totp", form: url.Values{}}); res.StatusCode != 200 || st.Subject != "alice" || st.Level != identity.Level2.String() {
		b.t.Fatalf("second factor step: %d %+v", res.StatusCode, st)
	}
}

func memApp(t testing.TB) *app {
	clock := identitytest.NewClock(identitytest.Epoch())
	return newApp(t, newManager(t, memstore.New(), clock), clock)
}

type headerRecorder struct {
	h http.Header
}

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(int)             {}

func identityIs(err, target error) bool { return errors.Is(err, target) }

type bodyRecorder struct {
	headerRecorder
	status int
	body   strings.Builder
}

func (r *bodyRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *bodyRecorder) WriteHeader(s int)           { r.status = s }
