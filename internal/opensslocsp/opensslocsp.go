// Package opensslocsp is OpenSSL's OCSP responder (`openssl ocsp -index`)
// behind puce's ocsp.Client, for tests: answers that puce did not write,
// signed by the issuing CA itself with its own certificate included, as
// OpenSSL's responder makes them, to check puce's reading of OCSP against.
package opensslocsp

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// Responder answers, through openssl, about certificates its issuer
// issued: those marked Valid are good, those marked Revoked revoked, and
// any other serial unknown.
type Responder struct {
	bin, dir, caPath, keyPath string
	issuer                    *x509.Certificate

	mu      sync.Mutex
	entries map[string]string // serial (hex) → index line
	calls   int
}

// New starts nothing: each answer is one run of `openssl ocsp`. Without
// openssl the test is skipped, or fails under CI, which must have it.
func New(tb testing.TB, issuer *x509.Certificate, key crypto.Signer) *Responder {
	tb.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("openssl not installed under CI")
		}
		tb.Skip("openssl not installed")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	r := &Responder{bin: bin, dir: dir, caPath: filepath.Join(dir, "ca.pem"), keyPath: filepath.Join(dir, "key.pem"),
		issuer: issuer, entries: map[string]string{}}
	if err := os.WriteFile(r.caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuer.Raw}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(r.keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return r
}

// OpenSSL's names of the CRL reasons (RFC 5280 §5.3.1), as its index
// file spells them.
var reasons = map[int]string{0: "unspecified", 1: "keyCompromise", 2: "CACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold"}

// utc is the index file's time format (UTCTime).
func utc(t time.Time) string { return t.UTC().Format("060102150405Z") }

// Valid marks cert good.
func (r *Responder) Valid(cert *x509.Certificate) {
	r.set(cert, fmt.Sprintf("V\t%s\t\t%s\tunknown\t/CN=%s\n", utc(cert.NotAfter), serial(cert.SerialNumber), cert.Subject.CommonName))
}

// Revoke marks cert revoked at at for reason (a CRL reason code that
// OpenSSL's index can hold: 0 to 6).
func (r *Responder) Revoke(tb testing.TB, cert *x509.Certificate, at time.Time, reason int) {
	tb.Helper()
	name, ok := reasons[reason]
	if !ok {
		tb.Fatalf("opensslocsp: reason %d cannot be written in an index file", reason)
	}
	r.set(cert, fmt.Sprintf("R\t%s\t%s,%s\t%s\tunknown\t/CN=%s\n", utc(cert.NotAfter), utc(at), name, serial(cert.SerialNumber), cert.Subject.CommonName))
}

func (r *Responder) set(cert *x509.Certificate, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[serial(cert.SerialNumber)] = line
}

// serial is the serial as the index file writes it: upper-case hex, an
// even number of digits.
func serial(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// Calls is how many requests openssl answered.
func (r *Responder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Query implements ocsp.Client: openssl answers req (a DER OCSPRequest,
// its nonce copied back) from the index, whatever the URL.
func (r *Responder) Query(ctx context.Context, _ string, req []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	var index strings.Builder
	for _, line := range r.entries {
		index.WriteString(line)
	}
	dir, err := os.MkdirTemp(r.dir, "q")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	indexPath, reqPath, out := filepath.Join(dir, "index.txt"), filepath.Join(dir, "req.der"), filepath.Join(dir, "resp.der")
	if err := os.WriteFile(indexPath, []byte(index.String()), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(reqPath, req, 0o600); err != nil {
		return nil, err
	}
	if o, err := exec.CommandContext(ctx, r.bin, "ocsp", "-index", indexPath, "-CA", r.caPath, "-rsigner", r.caPath,
		"-rkey", r.keyPath, "-reqin", reqPath, "-respout", out, "-ndays", "1").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("openssl ocsp: %v: %s", err, o)
	}
	return os.ReadFile(out)
}

// Answer is openssl's answer about cert, to a request without a nonce:
// one to keep as validation data.
func (r *Responder) Answer(tb testing.TB, cert *x509.Certificate) []byte {
	tb.Helper()
	req, err := xocsp.CreateRequest(cert, r.issuer, nil)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := r.Query(context.Background(), "", req)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
