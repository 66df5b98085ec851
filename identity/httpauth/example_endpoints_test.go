package httpauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/webauthn"
)

// The JSON endpoints for password + TOTP, mounted at /auth/. A page's
// script reads the session (and its CSRF token), posts the password, then
// begins and finishes a TOTP login; openapi.json documents each call.
func ExampleManager_Endpoints() {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)) // or nil: the system clock
	throttle := &identity.Throttle{Store: store, Clock: clock}
	svc := &identity.Services{Store: store, Clock: clock, Throttle: throttle}
	sealer, _ := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	codes, err := totp.New(svc, sealer, "Example Bank")
	if err != nil {
		log.Fatal(err)
	}
	passwords := &identity.Passwords{Store: store, Throttle: throttle, Audit: store, Clock: clock}

	m, _ := httpauth.New(httpauth.Config{Store: store, Origin: "https://bank.example", Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	api, err := m.Endpoints(httpauth.EndpointsConfig{Factors: []identity.Authenticator{codes}, Passwords: passwords})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", api)

	// An account with a password and a TOTP key (set up elsewhere).
	passwords.Create(ctx, "alice", "correct horse battery", "192.0.2.1")
	ch, _ := codes.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: "https://bank.example"})
	key, _ := totp.ParseURI(string(ch.Payload))
	code := func() string { c, _ := pqtotp.GenerateCode(key.Base32(), clock.Now()); return c }
	codes.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example", Data: []byte(code())})
	clock.Advance(30 * time.Second)

	// The page's script: fetch with credentials, X-CSRF-Token from the
	// latest answer.
	var cookie, csrf string
	call := func(method, path, body string) map[string]any {
		r := httptest.NewRequest(method, "https://bank.example"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Origin", "https://bank.example")
		r.Header.Set(httpauth.CSRFHeader, csrf)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: cookie})
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		for _, c := range w.Result().Cookies() {
			cookie = c.Value
		}
		var out map[string]any
		json.Unmarshal(w.Body.Bytes(), &out)
		if t, ok := out["csrfToken"].(string); ok {
			csrf = t
		}
		return out
	}
	call("GET", "/auth/session", "")
	st := call("POST", "/auth/password", `{"username": "alice", "password": "correct horse battery"}`)
	fmt.Println("password:", st["subject"], "complete:", st["complete"], "next:", st["next"])
	begun := call("POST", "/auth/login/totp/begin", `{}`)
	st = call("POST", "/auth/login/totp/finish", fmt.Sprintf(`{"challengeId": %q, "response": %q}`, begun["challengeId"], code()))
	fmt.Println("code:", st["subject"], "complete:", st["complete"], "level:", st["level"])
	// Output:
	// password: alice complete: false next: [totp]
	// code: alice complete: true level: AAL2
}

// Payment approval: the application says which payment is pending for the
// session and executes it once approved. The client only shows it; the
// approval is bound to the application's copy.
func ExampleEndpointsConfig_payments() {
	store := memstore.New()
	m, _ := httpauth.New(httpauth.Config{Store: store, Origin: "https://bank.example", Logger: slog.New(slog.DiscardHandler)})
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	keys, err := webauthn.New(svc, webauthn.Config{RPID: "bank.example", Origins: []string{"https://bank.example"}}) // an httpauth.Approver
	if err != nil {
		log.Fatal(err)
	}

	// The application's own table of payments awaiting approval, keyed by
	// the session's subject.
	var mu sync.Mutex
	pending := map[identity.Subject]identity.Transaction{}

	api, err := m.Endpoints(httpauth.EndpointsConfig{
		Factors: []identity.Authenticator{keys},
		PendingPayment: func(r *http.Request, s *httpauth.Session) (*identity.Transaction, error) {
			mu.Lock()
			defer mu.Unlock()
			tx, ok := pending[s.Subject()]
			if !ok {
				return nil, nil // answered as "start again"
			}
			return &tx, nil
		},
		PaymentApproved: func(r *http.Request, s *httpauth.Session, tx identity.Transaction, proof identity.Proof) error {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := pending[s.Subject()]; !ok {
				return identity.ErrReplayed // paid already: never twice
			}
			delete(pending, s.Subject())
			// Execute tx, recording proof (its Transaction is tx's digest).
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", api) // POST /auth/approve/webauthn/begin, …/finish

	// Approvals are for a completed login only (ExampleNewSite_payment
	// goes through one).
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "https://bank.example/auth/session", nil))
	var st struct{ CSRFToken string }
	json.Unmarshal(w.Body.Bytes(), &st)
	r := httptest.NewRequest("POST", "https://bank.example/auth/approve/webauthn/begin", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(httpauth.CSRFHeader, st.CSRFToken)
	r.AddCookie(w.Result().Cookies()[0])
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output: 403 {"error":"Please sign in first, then try again."}
}
