package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// browser is a page's script as puce.js runs it: one cookie jar, the
// latest CSRF token, the site's Origin on every request, whichever
// instance the load balancer picked.
type browser struct {
	t      *testing.T
	origin string
	http   *http.Client
	csrf   string
}

func (b *browser) call(on instance, method, path string, body any) (int, map[string]any) {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, on.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-CSRF-Token", b.csrf)
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if tok, ok := out["csrfToken"].(string); ok {
		b.csrf = tok
	}
	return resp.StatusCode, out
}

func (b *browser) must(on instance, method, path string, body any) map[string]any {
	b.t.Helper()
	status, out := b.call(on, method, path, body)
	if status/100 != 2 {
		b.t.Fatalf("%s %s on %s: %d %v", method, path, on.URL, status, out)
	}
	return out
}

// Two instances of the example on one PostgreSQL, as behind a load
// balancer: an enrolment and a login begun on one finish on the other, the
// session made on one is valid on the other, a code accepted by one is
// refused by the other, a signature prepared on one is finished on the
// other (and only once), and a logout on one ends the session on both.
func TestTwoInstancesOnePostgres(t *testing.T) {
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	bin := build(t)
	// What the instances share: the database, the origin browsers see (the
	// balancer's), and the key that seals TOTP secrets.
	const origin = "http://localhost:8080"
	env := []string{"PUCE_SEALER_KEY=" + base64.StdEncoding.EncodeToString(identity.GenerateSealerKey())}
	// A virtual card of a test CA, whose OCSP responder runs here.
	var responder atomic.Pointer[ocspresponder.Responder] // the card names its URL: it listens first
	ocspSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { responder.Load().ServeHTTP(w, r) }))
	t.Cleanup(ocspSrv.Close)
	card, err := testcard.New(testcard.Options{Holder: testcard.DefaultHolder(), OCSPURL: ocspSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	responder.Store(ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	var pemData []byte
	for _, c := range [][]byte{card.PKI.Root.Raw, card.PKI.Issuing.Raw} {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.WriteFile(caFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, bin, env, "-db", dsn, "-origin", origin, "-ca", caFile)
	b := start(t, bin, env, "-db", dsn, "-origin", origin, "-ca", caFile)
	t.Logf("instances at %s and %s, origin %s", a.URL, b.URL, origin)

	jar, _ := cookiejar.New(nil)
	br := &browser{t: t, origin: origin, http: &http.Client{Jar: jar}}
	br.must(a, "GET", "/auth/session", nil)
	st := br.must(b, "POST", "/auth/signup", map[string]string{"username": "frank", "password": "correct horse battery"})
	if st["subject"] != "frank" {
		t.Fatalf("sign-up on B: %v", st)
	}

	// Enrolment: begun on A, finished on B.
	ch := br.must(a, "POST", "/auth/enroll/totp/begin", nil)
	u, err := url.Parse(ch["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	code := func(at time.Time) string {
		c, err := pqtotp.GenerateCodeCustom(secret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	br.must(b, "POST", "/auth/enroll/totp/finish", map[string]any{"challengeId": ch["challengeId"], "response": code(time.Now()), "name": "phone"})
	br.must(a, "POST", "/auth/logout", nil)

	// Login: the password on A; the code's challenge begun on B, finished
	// on A (the next time step's code: the enrolment spent this one).
	br.must(b, "GET", "/auth/session", nil)
	st = br.must(a, "POST", "/auth/password", map[string]string{"username": "frank", "password": "correct horse battery"})
	if st["complete"] != false || fmt.Sprint(st["next"]) != "[totp]" {
		t.Fatalf("password on A: %v", st)
	}
	ch = br.must(b, "POST", "/auth/login/totp/begin", nil)
	next := code(time.Now().Add(30 * time.Second))
	st = br.must(a, "POST", "/auth/login/totp/finish", map[string]any{"challengeId": ch["challengeId"], "response": next})
	if st["complete"] != true || st["level"] != "AAL2" {
		t.Fatalf("login finished on A: %v", st)
	}

	// The session made on A is valid on B.
	st = br.must(b, "GET", "/auth/session", nil)
	if st["complete"] != true || st["subject"] != "frank" || st["level"] != "AAL2" {
		t.Fatalf("the session on B: %v", st)
	}
	// The code A accepted is refused on B (a step-up with it), as a wrong
	// one is.
	ch = br.must(b, "POST", "/auth/login/totp/begin", nil)
	if status, out := br.call(b, "POST", "/auth/login/totp/finish", map[string]any{"challengeId": ch["challengeId"], "response": next}); status != http.StatusUnauthorized {
		t.Fatalf("the code replayed on B: %d %v", status, out)
	}
	// The card: enrolled with a nonce from A and a token posted to B; then
	// terms signed: the signature prepared on B, the card's signature
	// finished on A, and the same finish refused on B (spent).
	ctx := context.Background()
	ch = br.must(a, "POST", "/auth/enroll/card/begin", nil)
	token, err := cardauth.LoginToken(ctx, card.Card, origin, ch["payload"].(string), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	br.must(b, "POST", "/auth/enroll/card/finish", map[string]any{"challengeId": ch["challengeId"], "response": token, "name": "card"})
	ch = br.must(b, "POST", "/auth/sign/begin", map[string]any{"documentId": "terms", "certificate": card.SignCert.Raw})
	var req esign.SignRequest
	raw, _ := json.Marshal(ch["payload"])
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	sig, _, err := cardauth.SignDigest(ctx, card.Card, req.Digest, crypto.SHA256, card.SignCert, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	finish := map[string]any{"challengeId": ch["challengeId"], "documentId": "terms", "signature": sig}
	signed := br.must(a, "POST", "/auth/sign/finish", finish)
	if signed["signed"] != true || signed["signer"] != card.SignCert.Subject.CommonName || signed["p7s"] == "" {
		t.Fatalf("signed on A: %v", signed)
	}
	if status, out := br.call(b, "POST", "/auth/sign/finish", finish); status != http.StatusUnauthorized {
		t.Fatalf("the same signature finished again on B: %d %v", status, out)
	}

	// Logged out on B is logged out on A.
	br.must(b, "POST", "/auth/logout", nil)
	if st := br.must(a, "GET", "/auth/session", nil); st["subject"] != "" || st["complete"] != false {
		t.Fatalf("the session on A after logging out on B: %v", st)
	}
}
