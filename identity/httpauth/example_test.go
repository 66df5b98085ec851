package httpauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
)

// A Manager over the application's store. Share the store (sqlstore on
// PostgreSQL) between instances and they share the sessions.
func ExampleNew() {
	store := memstore.New() // or sqlstore.Open(ctx, dsn)
	m, err := httpauth.New(httpauth.Config{
		Store:  store,
		Origin: "https://bank.example",
		// Tighter than the default five minutes, for a payments back office.
		IdleTimeout: 3 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.CookieName())
	// Output: __Host-puce_session
}

// Protect guards every handler; a page with a form starts the session and
// puts its CSRF token in the form; the POST handler finds the session
// Protect checked.
func ExampleManager_Protect() {
	m, _ := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: "https://bank.example", Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Start(w, r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		fmt.Fprintf(w, `<form method="post"><input type="hidden" name="%s" value="%s">…</form>`, httpauth.CSRFField, s.CSRFToken())
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the form came from our page")
	})
	h := m.Protect(mux)

	// The browser loads the page, then posts the form back.
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "https://bank.example/login", nil))
	cookie := page.Result().Cookies()[0]
	token := strings.Split(strings.Split(page.Body.String(), `value="`)[1], `"`)[0]

	post := func(origin, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "https://bank.example/login", strings.NewReader(url.Values{httpauth.CSRFField: {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", origin)
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	fmt.Print(post("https://bank.example", token).Body.String())
	refused := post("https://evil.example", token)
	fmt.Print(refused.Code, " ", refused.Body.String())
	// Output:
	// the form came from our page
	// 403 {"error":"This page is out of date or was opened from another site. Reload it and try again."}
}

// A login in two steps: the password's proof waits in the session, the
// second factor's completes the login. Each step moves the session to a
// new ID.
func ExampleManager_AddProof() {
	ctx := context.Background()
	m, _ := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: "https://bank.example"})
	w := httptest.NewRecorder()
	s, _ := m.Start(w, httptest.NewRequest("GET", "https://bank.example/login", nil))

	// In the password handler, after identity.Passwords accepted it:
	password := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge,
		Assurance: identity.Level1, Time: time.Now()}
	_, err := m.AddProof(ctx, w, s, password)
	var need *identity.StepUpError
	if errors.As(err, &need) {
		fmt.Println("ask for a second factor of", need.Need)
	}

	// In the TOTP handler, with the proof totp.Factor.Finish returned:
	code := identity.Proof{Subject: "alice", Kind: identity.KindTOTP, Factors: identity.Possession,
		Assurance: identity.Level2, Time: time.Now()}
	login, err := m.AddProof(ctx, w, s, code)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(login.Subject, "signed in at", login.Level)
	fmt.Println("cookies set:", len(w.Result().Cookies()))
	// Output:
	// ask for a second factor of AAL2
	// alice signed in at AAL2
	// cookies set: 3
}

// Public is what a page may show; the error itself goes to the log. A
// wrong password and a wrong code read the same.
func ExamplePublic() {
	wrongPassword := identity.ErrPasswordMismatch
	wrongCode := fmt.Errorf("%w: code 123456 does not match step 5881201", identity.ErrInvalidResponse)
	for _, err := range []error{wrongPassword, wrongCode, &identity.ThrottledError{RetryAfter: 30 * time.Second, Failures: 5}} {
		status, msg := httpauth.Public(err)
		fmt.Println(status, msg, httpauth.RetryAfter(err))
	}
	// Output:
	// 401 Sign-in failed: what you entered was not accepted. Check it and try again. 0s
	// 401 Sign-in failed: what you entered was not accepted. Check it and try again. 0s
	// 429 Too many failed attempts. Please wait, then try again. 30s
}

// Signing a user out everywhere: the fraud team's tool, or the handler of
// a card reported lost, calls EndSessions; every browser of the account is
// signed out at its next request, and the audit trail says who did it.
func ExampleManager_EndSessions() {
	ctx := context.Background()
	store := memstore.New() // sqlstore too: both implement identity.SessionRevoker
	m, _ := httpauth.New(httpauth.Config{Store: store, Origin: "https://bank.example", Audit: store})
	for range 2 { // alice signed in on her laptop and her phone
		s, _ := m.Start(httptest.NewRecorder(), httptest.NewRequest("GET", "https://bank.example/login", nil))
		m.AddProof(ctx, httptest.NewRecorder(), s, identity.Proof{Subject: "alice", Kind: identity.KindPassword,
			Factors: identity.Knowledge, Assurance: identity.Level1, Time: time.Now()})
	}
	n, err := m.EndSessions(ctx, "alice", "fraud team", "192.0.2.1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "sessions ended")
	// Output: 2 sessions ended
}
