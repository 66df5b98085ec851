package httpauth_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

// The pattern EndpointsConfig.PaymentApproved documents for a payment kept
// in the session (take it off, Save, then pay) pays once when two
// approvals of it, each with its own challenge, finish at the same time.
func TestPaymentInSessionPaysOnce(t *testing.T) {
	var site *httpauth.Site
	var paid atomic.Int32
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store: memstore.New(), Origin: "https://bank.example", WebAuthn: &webauthn.Config{}, SignUp: true,
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
	key := &virtualKey{rp: virtualwebauthn.RelyingParty{Name: "bank.example", ID: "bank.example", Origin: "https://bank.example"},
		auth: virtualwebauthn.NewAuthenticator(), cred: virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)}
	b.call("GET", "/auth/session", nil)
	b.call("POST", "/auth/signup", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch := b.call("POST", "/auth/enroll/webauthn/begin", nil)
	b.call("POST", "/auth/enroll/webauthn/finish", map[string]any{"challengeId": ch["challengeId"], "response": key.create(ch["payload"])})
	b.call("POST", "/auth/logout", nil)
	b.call("GET", "/auth/session", nil)
	b.call("POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch = b.call("POST", "/auth/login/webauthn/begin", nil)
	if st := b.call("POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch["challengeId"], "response": key.get(ch["payload"])}); st["level"] != "AAL2" {
		t.Fatalf("login: %v", st)
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
