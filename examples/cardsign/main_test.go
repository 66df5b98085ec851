package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// tool finds a peer program; under CI it must be there (make test installs
// it), elsewhere the test skips without it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed under CI", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// opensslTSA is an RFC 3161 authority that is `openssl ts -reply` behind
// HTTP (RFC 3161 §3.4), under a root of its own. It returns the authority's
// URL and its root's PEM file.
func opensslTSA(t *testing.T) (string, string) {
	ossl := tool(t, "openssl")
	dir := t.TempDir()
	f := func(name string) string { return filepath.Join(dir, name) }
	run(t, ossl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", f("root.key"), "-out", f("root.pem"), "-subj", "/CN=Newcomer Test TSA Root", "-days", "30",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	run(t, ossl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", f("tsa.key"), "-out", f("tsa.csr"), "-subj", "/CN=Newcomer Test TSA")
	os.WriteFile(f("ext.cnf"), []byte("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"), 0o600)
	run(t, ossl, "x509", "-req", "-in", f("tsa.csr"), "-CA", f("root.pem"), "-CAkey", f("root.key"), "-CAcreateserial",
		"-out", f("tsa.pem"), "-days", "30", "-extfile", f("ext.cnf"))
	os.WriteFile(f("serial"), []byte("01\n"), 0o600)
	os.WriteFile(f("tsa.cnf"), []byte(`[tsa]
default_tsa = tsa1
[tsa1]
serial = `+f("serial")+`
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
ess_cert_id_alg = sha256
accuracy = secs:1
ordering = no
tsa_name = yes
`), 0o600)
	var mu sync.Mutex // openssl keeps the serial in one file
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var q bytes.Buffer
		q.ReadFrom(http.MaxBytesReader(w, r.Body, 16<<10))
		os.WriteFile(f("q.tsq"), q.Bytes(), 0o600)
		out, err := exec.Command(ossl, "ts", "-reply", "-config", f("tsa.cnf"), "-queryfile", f("q.tsq"),
			"-inkey", f("tsa.key"), "-signer", f("tsa.pem"), "-out", f("r.tsr")).CombinedOutput()
		if err != nil {
			t.Errorf("openssl ts -reply: %v\n%s", err, out)
			http.Error(w, "tsa down", http.StatusInternalServerError)
			return
		}
		resp, _ := os.ReadFile(f("r.tsr"))
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, f("root.pem")
}

// client is the page's script: the session cookie and the latest CSRF token.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func (c *client) do(method, path string, body any) (int, map[string]any, []byte) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", c.base)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	m := map[string]any{}
	json.Unmarshal(raw.Bytes(), &m)
	if tok, ok := m["csrfToken"].(string); ok {
		c.csrf = tok
	}
	return resp.StatusCode, m, raw.Bytes()
}

func (c *client) ok(method, path string, body any) map[string]any {
	c.t.Helper()
	code, m, raw := c.do(method, path, body)
	if code != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
	return m
}

// cardLogin is the holder's agent for a login or an enrolment: the card
// signs the challenge's nonce for the origin after the PIN.
func (c *client) cardLogin(card *testcard.Card, step, pin string) (int, map[string]any) {
	ch := c.ok("POST", "/auth/"+step+"/card/begin", nil)
	tok, err := cardauth.LoginToken(context.Background(), card.Card, c.base, ch["payload"].(string), cardauth.PIN{Value: pin}, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	code, m, _ := c.do("POST", "/auth/"+step+"/card/finish", map[string]any{"challengeId": ch["challengeId"], "response": tok})
	return code, m
}

func TestCardLoginAndPDFSignature(t *testing.T) {
	for _, level := range []pades.Level{pades.LevelBLT, pades.LevelBLTA} {
		t.Run(level.String(), func(t *testing.T) { testFlows(t, level) })
	}
}

func testFlows(t *testing.T, level pades.Level) {
	ctx := context.Background()
	tsaURL, tsaRootFile := opensslTSA(t)
	pdfsig, qpdf, certutil := tool(t, "pdfsig"), tool(t, "qpdf"), tool(t, "certutil")

	// The cards' OCSP responder on loopback, which the app and pdfsig ask
	// over HTTP. Its URL goes into the card's certificates, so it is known
	// before the card.
	ocspSrv := httptest.NewUnstartedServer(nil)
	defer ocspSrv.Close()
	card, err := testcard.New(testcard.Options{OCSPURL: "http://" + ocspSrv.Listener.Addr().String() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	ocspSrv.Config.Handler = ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	ocspSrv.Start()
	tsaRoots, _ := readPool(tsaRootFile)

	auditKey := make([]byte, 32)
	rand.Read(auditKey)
	srv := httptest.NewUnstartedServer(nil)
	origin := "http://" + srv.Listener.Addr().String()
	app, err := New(ctx, Config{DB: filepath.Join(t.TempDir(), "bank.db"), AuditKey: auditKey, Origin: origin, Development: true,
		Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, Chain: []*x509.Certificate{card.PKI.Issuing},
		TSA: &esign.TSA{URL: tsaURL, Roots: tsaRoots}, Level: level})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	srv.Config.Handler = app
	srv.Start()
	defer srv.Close()
	contract, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.AddDocument(ctx, "alice", "loan-1142", "loan-1142.pdf", contract); err != nil {
		t.Fatal(err)
	}

	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: origin, http: &http.Client{Jar: jar}}

	// (1) Sign-up, the card enrolled on the password, then a login:
	// password, then the card's 9A key.
	c.ok("GET", "/auth/session", nil)
	c.ok("POST", "/auth/signup", map[string]any{"username": "alice", "password": "correct horse battery staple"})
	if code, m := c.cardLogin(card, "enroll", card.PIN); code != http.StatusOK {
		t.Fatalf("enrol the card: %d %v", code, m)
	}
	if code, _, raw := c.do("POST", "/auth/logout", nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, raw)
	}
	c.ok("GET", "/auth/session", nil)
	st := c.ok("POST", "/auth/password", map[string]any{"username": "alice", "password": "correct horse battery staple"})
	if next, _ := st["next"].([]any); len(next) != 1 || next[0] != "card" {
		t.Fatalf("after the password: %v", st)
	}
	// A wrong PIN is the card's refusal: tries left, nothing sent.
	ch := c.ok("POST", "/auth/login/card/begin", nil)
	_, err = cardauth.LoginToken(ctx, card.Card, origin, ch["payload"].(string), cardauth.PIN{Value: "00000000"}, nil)
	var wrong *apdu.WrongPINError
	if !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	code, st := c.cardLogin(card, "login", card.PIN)
	if code != http.StatusOK || st["complete"] != true || st["level"] != "AAL3" {
		t.Fatalf("card login: %d %v", code, st)
	}

	// (2) The PDF signature: the agent reads the 9C certificate, the
	// server prepares, the holder's card signs the digest after the PIN.
	cert, err := cardauth.SigningCertificate(ctx, card.Card)
	if err != nil {
		t.Fatal(err)
	}
	ch = c.ok("POST", "/auth/sign/begin", map[string]any{"documentId": "loan-1142", "certificate": cert.Raw})
	payload, _ := json.Marshal(ch["payload"])
	req, sig, err := pades.SignOnCard(ctx, card.Card, payload, contract, cardauth.PIN{Value: card.PIN})
	if err != nil || ch["kind"] != string(pades.Kind) || req.Level != level.String() {
		t.Fatalf("sign/begin %v, the card: %v", ch, err)
	}
	done := c.ok("POST", "/auth/sign/finish", map[string]any{"challengeId": ch["challengeId"], "documentId": "loan-1142", "signature": sig})
	if done["level"] != level.String() {
		t.Fatalf("sign/finish: %v", done)
	}
	// The same answer again is refused: the document is signed (the
	// application offers it no more) and the challenge spent.
	if code, _, _ := c.do("POST", "/auth/sign/finish", map[string]any{"challengeId": ch["challengeId"], "documentId": "loan-1142", "signature": sig}); code != http.StatusBadRequest {
		t.Fatalf("replayed sign/finish: %d", code)
	}

	// Verification: puce, offline, through the app's report, and the peers.
	_, _, signed := c.do("GET", "/documents/loan-1142/signed.pdf", nil)
	var report []map[string]any
	_, _, raw := c.do("GET", "/documents/loan-1142/report", nil)
	json.Unmarshal(raw, &report)
	if len(report) == 0 || report[0]["Valid"] != true || report[0]["Level"] != level.String() {
		t.Fatalf("report: %s", raw)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "signed.pdf")
	os.WriteFile(file, signed, 0o600)
	run(t, qpdf, "--check", file)
	nss := filepath.Join(dir, "nss")
	os.Mkdir(nss, 0o700)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pemOf(card.PKI.Root.Raw), 0o600)
	run(t, certutil, "-N", "-d", "sql:"+nss, "--empty-password")
	run(t, certutil, "-A", "-d", "sql:"+nss, "-n", "cards", "-t", "CT,C,C", "-i", filepath.Join(dir, "ca.pem"))
	run(t, certutil, "-A", "-d", "sql:"+nss, "-n", "tsa", "-t", "CT,C,C", "-i", tsaRootFile)
	out := run(t, pdfsig, "-nssdir", "sql:"+nss, file)
	if !strings.Contains(out, "Signature is Valid") || !strings.Contains(out, "Certificate is Trusted") ||
		!strings.Contains(out, card.Holder.CommonName()) || strings.Contains(out, "Signature #2") != (level == pades.LevelBLTA) {
		t.Fatalf("pdfsig:\n%s", out)
	}
	if err := app.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// The trail has the card's enrolment, the login's two factors and the
	// signature, each sealed (the wrong PIN never left the card).
	events, err := app.Events(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range events {
		if r.MAC == nil {
			t.Fatalf("unsealed record: %+v", r.Event)
		}
		seen[fmt.Sprintf("%s %s %s", r.Event.Kind, r.Event.Action, r.Event.Result)] = true
	}
	for _, want := range []string{"card enroll success", "password login success", "card login success", "pades sign success"} {
		if !seen[want] {
			t.Fatalf("audit trail without %q: %v", want, seen)
		}
	}
}

func pemOf(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
