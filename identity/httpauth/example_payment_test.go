package httpauth_test

import (
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

// A payment approved with a security key, bound to its amount and payee
// (PSD2 dynamic linking). The application's own handler puts the payment
// up for approval in the session; the site's endpoints show it to the
// user's key and call PaymentApproved once the key has signed exactly that
// payment. A TOTP code cannot approve a payment: it says nothing of the
// amount or the payee (identity.ErrCannotLink).
func ExampleNewSite_payment() {
	const pendingKey = "payment" // the session value that holds the pending payment
	store := memstore.New()      // sqlstore.OpenSQLite(ctx, path, sqlstore.WithAudit(...)) in production
	var site *httpauth.Site
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store:    store,
		Origin:   "https://bank.example",
		WebAuthn: &webauthn.Config{},
		SignUp:   true,
		Throttle: identity.PSD2Throttle(store, nil), // five failures block, until an unlock
		Logger:   slog.New(slog.DiscardHandler),
		Endpoints: httpauth.EndpointsConfig{
			PendingPayment: func(r *http.Request, s *httpauth.Session) (*identity.Transaction, error) {
				if v := s.Value(pendingKey); v != "" {
					return identity.ParseTransaction([]byte(v))
				}
				return nil, nil // nothing pending: "start again"
			},
			PaymentApproved: func(r *http.Request, s *httpauth.Session, tx identity.Transaction, proof identity.Proof) error {
				// The endpoints do not save the session: clear the payment and
				// save before paying. Of two approvals racing on one session,
				// the second Save fails (identity.ErrChanged), so it never pays.
				s.SetValue(pendingKey, "")
				if err := site.Manager.Save(r.Context(), s); err != nil {
					return err
				}
				fmt.Println("paying", tx.Amount, tx.Currency, "to", tx.PayeeName, "approved by", proof.Kind)
				return nil
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Cheap password hashing for the example; servers keep the defaults.
	site.Passwords.Params = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	mux := http.NewServeMux()
	mux.Handle("/auth/", site) // the site protects its own endpoints
	// The application's handlers need Protect for their CSRF check.
	mux.Handle("POST /payments", site.Manager.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := site.Manager.Load(r)
		if err == nil {
			err = site.Manager.Authorize(s, "payment") // a completed login
		}
		var tx identity.Transaction
		if err == nil && json.NewDecoder(r.Body).Decode(&tx) != nil {
			err = identity.ErrBadInput // else WriteError answers 500: a fault of ours
		}
		var canonical []byte
		if err == nil {
			canonical, err = tx.Canonical() // checks amount, currency and IBAN
		}
		if err == nil {
			s.SetValue(pendingKey, string(canonical))
			err = site.Manager.Save(r.Context(), s)
		}
		if err != nil {
			site.Manager.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})))

	// The user's browser and security key.
	b := &pageScript{h: mux, cookie: site.Manager.CookieName()}
	key := newVirtualKey()
	tx := map[string]string{"amount": "125.00", "currency": "EUR", "payeeName": "Bob", "payeeAccount": "DE89 3704 0044 0532 0130 00"}

	b.call("GET", "/auth/session", nil)
	fmt.Println("before signing in:", b.call("POST", "/payments", tx)["error"])
	b.call("POST", "/auth/signup", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch := b.call("POST", "/auth/enroll/webauthn/begin", nil) // a new account's first key, on its password
	b.call("POST", "/auth/enroll/webauthn/finish", map[string]any{"challengeId": ch["challengeId"], "response": key.create(ch["payload"])})
	b.call("POST", "/auth/logout", nil)

	b.call("GET", "/auth/session", nil) // a new visitor's session and its CSRF token
	b.call("POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"})
	ch = b.call("POST", "/auth/login/webauthn/begin", nil)
	st := b.call("POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch["challengeId"], "response": key.get(ch["payload"])})
	fmt.Println("signed in:", st["level"])

	typo := map[string]string{"amount": "125.00", "currency": "EUR", "payeeName": "Bob", "payeeAccount": "DE89 3704 0044 0532 0130 01"}
	fmt.Println("wrong IBAN check digits:", b.call("POST", "/payments", typo)["error"])
	b.call("POST", "/payments", tx)
	ch = b.call("POST", "/auth/approve/webauthn/begin", nil)
	fmt.Println("the page shows:", ch["transaction"])
	ok := b.call("POST", "/auth/approve/webauthn/finish", map[string]any{"challengeId": ch["challengeId"],
		"response": key.get(ch["payload"]), "transaction": ch["transaction"]}) // what the page showed
	fmt.Println("approved:", ok["approved"])
	fmt.Println("once more:", b.call("POST", "/auth/approve/webauthn/begin", nil)["error"])
	// Output:
	// before signing in: Please sign in first, then try again.
	// signed in: AAL2
	// wrong IBAN check digits: Some of what was sent is not valid. Check it and try again.
	// the page shows: map[amount:125.00 currency:EUR payeeAccount:DE89370400440532013000 payeeName:Bob]
	// paying 125.00 EUR to Bob approved by webauthn
	// approved: true
	// once more: This step took too long or was already finished. Please start again.
}

// pageScript does what puce.js does in a browser: JSON with the site's
// Origin, the session cookie, and the CSRF token of the latest answer.
type pageScript struct {
	h             http.Handler
	cookie, value string
	csrf          string
	status        int // of the latest answer
}

func (p *pageScript) call(method, path string, body any) map[string]any {
	j, _ := json.Marshal(body)
	if body == nil {
		j = []byte("{}")
	}
	r := httptest.NewRequest(method, "https://bank.example"+path, strings.NewReader(string(j)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "https://bank.example")
	r.Header.Set(httpauth.CSRFHeader, p.csrf)
	if p.value != "" {
		r.AddCookie(&http.Cookie{Name: p.cookie, Value: p.value})
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	p.status = w.Code
	for _, c := range w.Result().Cookies() {
		if c.Name == p.cookie {
			p.value = c.Value
		}
	}
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	if t, ok := out["csrfToken"].(string); ok {
		p.csrf = t
	}
	return out
}

// virtualKey is the user's security key, as the browser's WebAuthn API
// drives it: the challenge's payload in, the credential's JSON out.
type virtualKey struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

// newVirtualKey is a security key for bank.example. Its P-256 credential
// comes from ec2Credential, never virtualwebauthn.NewCredential, which
// makes 1 key in 128 that the site refuses (TestTestKeysAreAccepted).
func newVirtualKey() *virtualKey {
	return &virtualKey{rp: virtualwebauthn.RelyingParty{Name: "bank.example", ID: "bank.example", Origin: "https://bank.example"},
		auth: virtualwebauthn.NewAuthenticator(), cred: ec2Credential()}
}

func (k *virtualKey) create(payload any) json.RawMessage {
	j, _ := json.Marshal(payload)
	opts, err := virtualwebauthn.ParseAttestationOptions(string(j))
	if err != nil {
		log.Fatalf("creation options %s: %v", j, err) // null: the begin was refused
	}
	k.auth.Options.UserHandle = []byte(opts.UserID)
	return json.RawMessage(virtualwebauthn.CreateAttestationResponse(k.rp, k.auth, k.cred, *opts))
}

func (k *virtualKey) get(payload any) json.RawMessage {
	j, _ := json.Marshal(payload)
	opts, err := virtualwebauthn.ParseAssertionOptions(string(j))
	if err != nil {
		log.Fatalf("request options %s: %v", j, err) // null: the begin was refused
	}
	k.cred.Counter++
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(k.rp, k.auth, k.cred, *opts))
}
