package httpauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/webauthn"
)

// The pattern EndpointsConfig.PaymentApproved documents for a payment kept
// in the session (take it off, Save, then pay) pays once when two
// approvals of it, each with its own challenge, finish at the same time, on
// every store.
func TestPaymentInSessionPaysOnce(t *testing.T) {
	t.Run("memstore", func(t *testing.T) { paysOnce(t, memstore.New()) })
	t.Run("sqlite", func(t *testing.T) { paysOnce(t, sqlstoretest.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { s, _ := sqlstoretest.Postgres(t); paysOnce(t, s) })
}

func paysOnce(t *testing.T, store httpauth.SiteStore) {
	var site *httpauth.Site
	var paid atomic.Int32
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store: store, Origin: "https://bank.example", WebAuthn: &webauthn.Config{}, SignUp: true,
		Logger: slog.New(slog.DiscardHandler),
		Endpoints: httpauth.EndpointsConfig{
			PendingPayment: func(r *http.Request, s *httpauth.Session) (*identity.Transaction, error) {
				if v := s.Value("payment"); v != "" {
					return identity.ParseTransaction([]byte(v))
				}
				return nil, nil
			},
			PaymentApproved: func(r *http.Request, s *httpauth.Session, tx identity.Transaction, proof identity.Proof) error {
				s.SetValue("payment", "")
				if err := site.Manager.Save(r.Context(), s); err != nil {
					return err
				}
				paid.Add(1)
				return nil
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	site.Passwords.Params = cheapArgon2 // before it serves
	mux := http.NewServeMux()
	mux.Handle("/auth/", site)
	mux.Handle("POST /payments", site.Manager.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := site.Manager.Load(r)
		if err == nil {
			err = site.Manager.Authorize(s, "payment")
		}
		tx := identity.Transaction{Amount: "10.00", Currency: "EUR", PayeeName: "Bob", PayeeAccount: "DE89370400440532013000"}
		c, _ := tx.Canonical()
		if err == nil {
			s.SetValue("payment", string(c))
			err = site.Manager.Save(r.Context(), s)
		}
		if err != nil {
			site.Manager.WriteError(w, r, err)
		}
	})))
	b := &pageScript{h: mux, cookie: site.Manager.CookieName()}
	key := signUpAndSignIn(t, b)
	if st := b.call("GET", "/auth/session", nil); fmt.Sprint(st["approveWith"]) != "[webauthn]" {
		t.Fatalf("alice, with a security key, can approve with %v", st["approveWith"])
	}
	b.call("POST", "/payments", nil)

	for round := range 10 { // within the default start limit (Config.Starts)
		paid.Store(0)
		var reqs []*http.Request
		for range 2 {
			ch := b.call("POST", "/auth/approve/webauthn/begin", nil)
			if ch["challengeId"] == nil {
				t.Fatalf("round %d: begin: %v", round, ch)
			}
			body, _ := json.Marshal(map[string]any{"challengeId": ch["challengeId"], "response": key.get(ch["payload"]), "transaction": ch["transaction"]})
			r := httptest.NewRequest("POST", "https://bank.example/auth/approve/webauthn/finish", strings.NewReader(string(body)))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Origin", "https://bank.example")
			r.Header.Set(httpauth.CSRFHeader, b.csrf)
			r.AddCookie(&http.Cookie{Name: b.cookie, Value: b.value})
			reqs = append(reqs, r)
		}
		codes := make([]int, len(reqs))
		var wg sync.WaitGroup
		for i, r := range reqs {
			wg.Go(func() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, r)
				codes[i] = w.Code
			})
		}
		wg.Wait()
		if paid.Load() != 1 {
			t.Fatalf("round %d: paid %d times (answers %v)", round, paid.Load(), codes)
		}
		b.call("POST", "/payments", nil) // the next round's payment
	}
}

// A signed-in user who asks to approve with a factor their account does not
// have is told so. Before, the answer was the wrong-answer message ("what
// you entered was not accepted") to someone who had entered nothing: that
// one answer for every refusal protects a login, where the account is not
// yet proven, not an approval, where it is.
func TestApproveWithoutSuchFactorSaysSo(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	sealer, _ := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store: memstore.New(), Origin: "https://bank.example", Sealer: sealer, WebAuthn: &webauthn.Config{}, SignUp: true,
		Clock: clock, Logger: slog.New(slog.DiscardHandler),
		Endpoints: httpauth.EndpointsConfig{
			PendingPayment: func(r *http.Request, s *httpauth.Session) (*identity.Transaction, error) {
				return &identity.Transaction{Amount: "10.00", Currency: "EUR", PayeeName: "Bob", PayeeAccount: "DE89370400440532013000"}, nil
			},
			PaymentApproved: func(r *http.Request, s *httpauth.Session, tx identity.Transaction, proof identity.Proof) error {
				t.Error("paid")
				return nil
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	site.Passwords.Params = cheapArgon2
	b := &pageScript{h: site, cookie: site.Manager.CookieName()}
	b.call("GET", "/auth/session", nil)
	b.call("POST", "/auth/signup", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch := b.call("POST", "/auth/enroll/totp/begin", nil)
	key, err := totp.ParseURI(ch["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	code := func() string { c, _ := pqtotp.GenerateCode(key.Base32(), clock.Now()); return c }
	b.call("POST", "/auth/enroll/totp/finish", map[string]any{"challengeId": ch["challengeId"], "response": code()})
	clock.Advance(30 * time.Second)
	ch = b.call("POST", "/auth/login/totp/begin", nil)
	if st := b.call("POST", "/auth/login/totp/finish", map[string]any{"challengeId": ch["challengeId"], "response": code()}); st["level"] != "AAL2" {
		t.Fatalf("login: %v", st)
	}

	// The session's state says so before a page offers the factor.
	if st := b.call("GET", "/auth/session", nil); st["approveWith"] != nil {
		t.Fatalf("alice, with TOTP only, can approve with %v", st["approveWith"])
	}
	out := b.call("POST", "/auth/approve/webauthn/begin", nil)
	_, wrong := httpauth.Public(identity.ErrInvalidResponse)
	if b.status != http.StatusForbidden || out["error"] == wrong || !strings.Contains(fmt.Sprint(out["error"]), "Add one") {
		t.Fatalf("approval with a factor alice does not have: %d %v", b.status, out)
	}
	// Before the login is complete nothing is said of the account's factors.
	b.call("POST", "/auth/logout", nil)
	b.call("GET", "/auth/session", nil)
	b.call("POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"})
	out = b.call("POST", "/auth/approve/webauthn/begin", nil)
	if b.status != http.StatusForbidden || strings.Contains(fmt.Sprint(out["error"]), "Add one") {
		t.Fatalf("approval before the login: %d %v", b.status, out)
	}
}

var cheapArgon2 = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// A site without a second factor is refused with what to set, not only
// that something is missing.
func TestNewSiteNamesTheFactors(t *testing.T) {
	_, err := httpauth.NewSite(httpauth.SiteConfig{Store: memstore.New(), Origin: "https://bank.example"})
	if !errors.Is(err, identity.ErrBadInput) || !strings.Contains(err.Error(), "Sealer") || !strings.Contains(err.Error(), "WebAuthn") {
		t.Fatalf("NewSite without a factor: %v", err)
	}
}

// signUpAndSignIn has alice sign up with a password and a security key on
// the site b scripts, sign out, and sign in again with both (AAL2). It
// returns her key.
func signUpAndSignIn(t *testing.T, b *pageScript) *virtualKey {
	t.Helper()
	key := newVirtualKey()
	// Each step is checked here, in the test: a refused begin would
	// otherwise reach virtualKey, whose log.Fatal names no test.
	step := func(path string, body any) map[string]any {
		t.Helper()
		out := b.call("POST", path, body)
		if b.status/100 != 2 {
			t.Fatalf("%s: %d %v", path, b.status, out)
		}
		return out
	}
	b.call("GET", "/auth/session", nil)
	step("/auth/signup", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch := step("/auth/enroll/webauthn/begin", nil)
	step("/auth/enroll/webauthn/finish", map[string]any{"challengeId": ch["challengeId"], "response": key.create(ch["payload"])})
	step("/auth/logout", nil)
	b.call("GET", "/auth/session", nil)
	step("/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch = step("/auth/login/webauthn/begin", nil)
	if st := b.call("POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch["challengeId"], "response": key.get(ch["payload"])}); st["level"] != "AAL2" {
		t.Fatalf("login: %v", st)
	}
	return key
}
