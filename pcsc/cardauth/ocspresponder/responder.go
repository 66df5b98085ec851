// Package ocspresponder is a small OCSP responder (RFC 6960) for tests and
// demos: it answers for the certificates of one issuing CA, signs as that CA
// or as a delegated responder, echoes request nonces (RFC 8954), and can be
// told to revoke a certificate or to misbehave (omit the nonce, answer with a
// stale response, fail). It serves HTTP on loopback, or answers in-process as
// an ocsp.Client (pcsc/cardauth/ocsp), which cardauth.Config.OCSP takes.
package ocspresponder

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/internal/ocspwire"
)

// Responder answers OCSP requests for certificates of Issuer.
type Responder struct {
	issuer *x509.Certificate
	signer crypto.Signer
	cert   *x509.Certificate
	now    func() time.Time

	mu        sync.Mutex
	revoked   map[string]revocation
	omitNonce bool
	age       time.Duration
	down      bool
	queries   int
}

type revocation struct {
	at     time.Time
	reason int
}

// New returns a responder that signs with signer: the issuer's own key when
// responderCert is nil, otherwise the key of responderCert, a certificate the
// issuer gave id-kp-OCSPSigning. now may be nil for the system clock.
func New(issuer *x509.Certificate, signer crypto.Signer, responderCert *x509.Certificate, now func() time.Time) *Responder {
	if now == nil {
		now = time.Now
	}
	if responderCert == nil {
		responderCert = issuer
	}
	return &Responder{issuer: issuer, signer: signer, cert: responderCert, now: now, revoked: map[string]revocation{}}
}

// Revoke marks a certificate serial revoked from at, with a CRL reason code
// (RFC 5280 §5.3.1).
func (r *Responder) Revoke(serial *big.Int, at time.Time, reason int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[serial.String()] = revocation{at, reason}
}

// Misbehave sets the faults tests need: answer without the nonce, answer
// with a response produced age ago, or be down (HTTP 503, in-process error).
func (r *Responder) Misbehave(omitNonce bool, age time.Duration, down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.omitNonce, r.age, r.down = omitNonce, age, down
}

// Queries is how many requests the responder has answered.
func (r *Responder) Queries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries
}

// ErrDown is what a responder told to be down answers in-process.
var ErrDown = errors.New("ocspresponder: responder is down")

// Respond answers one DER request with a DER response.
func (r *Responder) Respond(der []byte) ([]byte, error) {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	nonce, err := ocspwire.RequestNonce(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return nil, ErrDown
	}
	r.queries++
	if !r.answersFor(req) {
		return ocsp.UnauthorizedErrorResponse, nil
	}
	now := r.now()
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-r.age).Truncate(time.Second),
		NextUpdate:   now.Add(-r.age + time.Hour).Truncate(time.Second),
		Certificate:  r.cert,
	}
	if r.cert == r.issuer {
		tmpl.Certificate = nil
	}
	if rv, ok := r.revoked[req.SerialNumber.String()]; ok {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, rv.at.Truncate(time.Second), rv.reason
	}
	out, err := ocsp.CreateResponse(r.issuer, r.cert, tmpl, r.signer)
	if err != nil {
		return nil, err
	}
	if r.omitNonce {
		nonce = nil
	}
	// Signed when its status was known, by the responder's clock: NSS
	// (pdfsig, Firefox) refuses a producedAt before thisUpdate, which
	// x/crypto/ocsp's producedAt, the wall clock cut to the minute, is.
	return ocspwire.Rewrite(out, now.Add(-r.age), nonce, r.signer)
}

// answersFor checks that the request names our issuer.
func (r *Responder) answersFor(req *ocsp.Request) bool {
	h := req.HashAlgorithm.New()
	h.Write(r.issuer.RawSubject)
	return string(h.Sum(nil)) == string(req.IssuerNameHash)
}

// Query answers in-process: the responder is its own ocsp.Client.
func (r *Responder) Query(ctx context.Context, url string, request []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.Respond(request)
}

// maxRequest bounds a request body.
const maxRequest = 16 << 10

// ServeHTTP answers POST requests and GET requests with the base64 request
// in the path (RFC 6960 Appendix A.1).
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var der []byte
	var err error
	switch req.Method {
	case http.MethodPost:
		der, err = io.ReadAll(io.LimitReader(req.Body, maxRequest))
	case http.MethodGet:
		der, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(req.URL.Path, "/"))
	default:
		http.Error(w, "POST or GET", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	resp, err := r.Respond(der)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}

// Serve listens on addr (use "127.0.0.1:0" for a free loopback port) and
// serves until ctx ends. It returns the responder's URL.
func (r *Responder) Serve(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ocspresponder: %w", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}
