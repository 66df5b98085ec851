// Package ocsp checks whether a certificate is revoked by asking its CA's
// OCSP responder (RFC 6960), and judges the answer as a relying party must:
// signed by the issuer or by a responder the issuer authorised for OCSP
// signing and valid now (§4.2.2.2), fresh (thisUpdate recent, nextUpdate not
// past), for this certificate, echoing the request's nonce (RFC 8954) so
// that a recorded "good" cannot be replayed after a revocation.
//
// It is the one OCSP client of puce: the card login factor (cardauth) and
// signature verification (esign) both use a Checker, and so should
// applications. It does not import the cgo package pcsc.
package ocsp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/internal/ocspwire"
)

// Errors callers branch on, all reachable with errors.Is.
var (
	// ErrUnavailable: no answer could be had (no responder named, network
	// failure, HTTP error, the responder said tryLater or internalError).
	// A policy may let this pass (fail open); it is never a verdict.
	ErrUnavailable = errors.New("ocsp: no answer from the OCSP responder")
	// ErrUnacceptable: an answer came but cannot be relied on (bad
	// signature, unauthorised responder, stale, nonce not echoed, another
	// certificate, status unknown). Never pass this over: it may be an
	// attack.
	ErrUnacceptable = errors.New("ocsp: the OCSP response is not acceptable")
	// ErrRevoked: the responder says the certificate is revoked.
	ErrRevoked = errors.New("ocsp: the certificate is revoked")
)

// Client sends an OCSP request and returns the responder's answer. A
// Checker takes one so that tests and air-gapped deployments can answer
// in-process; HTTP is the network client.
type Client interface {
	Query(ctx context.Context, url string, request []byte) ([]byte, error)
}

// HTTP queries a responder over HTTP POST (RFC 6960 Appendix A.1).
type HTTP struct {
	// Client defaults to an http.Client with a 5-second timeout.
	Client *http.Client
}

// MaxResponse bounds what is read from a responder.
const MaxResponse = 64 << 10

// Query implements Client.
func (h HTTP) Query(ctx context.Context, url string, request []byte) ([]byte, error) {
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(request))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("OCSP responder %s answered HTTP %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxResponse {
		return nil, fmt.Errorf("OCSP response over %d bytes", MaxResponse)
	}
	return body, nil
}

// Checker asks OCSP responders about certificates. Its zero value works:
// HTTP, the responder the certificate names, the default limits.
type Checker struct {
	// Client queries responders; nil means HTTP{}.
	Client Client
	// ResponderURL overrides the responder the certificate names in its
	// authority information access extension.
	ResponderURL string
	// Timeout bounds one query (default 5 s); MaxAge how old a response's
	// thisUpdate may be (default 15 min); ClockSkew the tolerance between
	// our clock and the responder's (default 1 min).
	Timeout, MaxAge, ClockSkew time.Duration
	// NonceOptional lists the responders (URLs as asked) that are known
	// not to echo nonces: those that serve answers made in advance (the
	// lightweight profile of RFC 5019, §2.1 and §4). Their answers are
	// taken without the nonce, so a recorded "good" answer could be
	// replayed within MaxAge; every other responder must echo it. An
	// answer that carries a nonce must carry ours, wherever it comes from.
	NonceOptional []string
}

// Result is what a responder said about a certificate.
type Result struct {
	// Revoked, with when and why (a CRL reason code, RFC 5280 §5.3.1).
	Revoked   bool
	RevokedAt time.Time
	Reason    int
	// ThisUpdate and NextUpdate bound the answer's validity (RFC 6960
	// §4.2.2.1); NextUpdate may be zero.
	ThisUpdate, NextUpdate time.Time
	// Responder is the URL asked.
	Responder string
}

func (c *Checker) limits() (timeout, maxAge, skew time.Duration) {
	timeout, maxAge, skew = c.Timeout, c.MaxAge, c.ClockSkew
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if maxAge <= 0 {
		maxAge = 15 * time.Minute
	}
	if skew <= 0 {
		skew = time.Minute
	}
	return timeout, maxAge, skew
}

// Check asks about cert, issued by issuer, and judges the answer at now
// (zero means the system clock). It returns the Result and nil for a good
// certificate; the Result and an error wrapping ErrRevoked for a revoked
// one; a zero Result and an error wrapping ErrUnavailable or
// ErrUnacceptable otherwise.
func (c *Checker) Check(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) (Result, error) {
	if now.IsZero() {
		now = time.Now()
	}
	timeout, maxAge, skew := c.limits()
	url := c.ResponderURL
	if url == "" && len(cert.OCSPServer) > 0 {
		url = cert.OCSPServer[0]
	}
	if url == "" {
		return Result{}, fmt.Errorf("%w: the certificate names no OCSP responder and none is configured", ErrUnavailable)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	req, err := ocspwire.NewRequest(cert, issuer, nonce)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnacceptable, err)
	}
	var client Client = HTTP{}
	if c.Client != nil {
		client = c.Client
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	der, err := client.Query(qctx, url, req)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s: %v", ErrUnavailable, url, err)
	}
	return judge(der, cert, issuer, nonce, !slices.Contains(c.NonceOptional, url), url, now, maxAge, skew)
}

// ParseResponse parses der, an OCSPResponse about cert, and checks its
// signature, made by issuer itself or by the certificate the response
// embeds when issuer signed that one, and that the answer names issuer
// (CertID), not only cert's serial number. Whether such a delegated responder
// is authorised (id-kp-OCSPSigning, valid at the time, RFC 6960 §4.2.2.2)
// is for the caller to judge from the response's Certificate.
func ParseResponse(der []byte, cert, issuer *x509.Certificate) (*xocsp.Response, error) {
	if cert == nil || issuer == nil {
		return nil, errors.New("ocsp: a response is parsed for a certificate and its issuer")
	}
	resp, err := parseSigned(der, cert, issuer)
	if err != nil {
		return nil, err
	}
	if err := ocspwire.CheckCertID(resp.TBSResponseData, cert.SerialNumber, issuer); err != nil {
		return nil, err
	}
	return resp, nil
}

// parseSigned is x/crypto/ocsp's parse and signature check, with the case
// of an issuer that embeds its own certificate.
func parseSigned(der []byte, cert, issuer *x509.Certificate) (*xocsp.Response, error) {
	resp, err := xocsp.ParseResponseForCert(der, cert, issuer)
	if err == nil {
		return resp, nil
	}
	// x/crypto/ocsp takes an embedded certificate for a delegated
	// responder's and checks that issuer signed it. A CA that signs its
	// answers itself may embed its own certificate (RFC 6960 §4.2.1: the
	// certs "help the OCSP client verify the responder's signature"), as
	// OpenSSL's responder does: then issuer did not sign that certificate,
	// it is that certificate. Parsed without the issuer, the signature is
	// checked under the embedded certificate, which is the issuer's key
	// when the certificate is the issuer.
	if self, err2 := xocsp.ParseResponseForCert(der, cert, nil); err2 == nil && self.Certificate != nil &&
		bytes.Equal(self.Certificate.Raw, issuer.Raw) {
		return self, nil
	}
	return nil, err
}

// judge checks a responder's answer.
func judge(der []byte, cert, issuer *x509.Certificate, nonce []byte, nonceRequired bool, url string, now time.Time, maxAge, skew time.Duration) (Result, error) {
	resp, err := ParseResponse(der, cert, issuer)
	if err != nil {
		// tryLater and internalError are the responder saying it cannot
		// answer now (RFC 6960 §4.2.1), not a verdict.
		var re xocsp.ResponseError
		if errors.As(err, &re) && (re.Status == xocsp.TryLater || re.Status == xocsp.InternalError) {
			return Result{}, fmt.Errorf("%w: responder says %v", ErrUnavailable, re)
		}
		return Result{}, fmt.Errorf("%w: %v", ErrUnacceptable, err)
	}
	// A delegated responder must carry id-kp-OCSPSigning (RFC 6960
	// §4.2.2.2) and be valid now; x/crypto/ocsp checks only that the
	// issuer signed its certificate.
	if rc := resp.Certificate; rc != nil && !bytes.Equal(rc.Raw, issuer.Raw) {
		authorised := false
		for _, u := range rc.ExtKeyUsage {
			authorised = authorised || u == x509.ExtKeyUsageOCSPSigning
		}
		if !authorised {
			return Result{}, fmt.Errorf("%w: responder certificate %q is not authorised for OCSP signing", ErrUnacceptable, rc.Subject)
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return Result{}, fmt.Errorf("%w: responder certificate not valid now", ErrUnacceptable)
		}
	}
	// Freshness (RFC 6960 §4.2.2.1, §3.2 items 5 and 6).
	switch {
	case resp.ThisUpdate.After(now.Add(skew)):
		return Result{}, fmt.Errorf("%w: response produced in the future (%s)", ErrUnacceptable, resp.ThisUpdate.UTC().Format(time.RFC3339))
	case now.Sub(resp.ThisUpdate) > maxAge+skew:
		return Result{}, fmt.Errorf("%w: response is %s old, at most %s allowed", ErrUnacceptable, now.Sub(resp.ThisUpdate).Round(time.Second), maxAge)
	case !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate.Add(skew)):
		return Result{}, fmt.Errorf("%w: response past its nextUpdate", ErrUnacceptable)
	}
	if err := checkNonce(resp, nonce, nonceRequired); err != nil {
		return Result{}, err
	}
	r := Result{ThisUpdate: resp.ThisUpdate, NextUpdate: resp.NextUpdate, Responder: url}
	switch resp.Status {
	case xocsp.Good:
		return r, nil
	case xocsp.Revoked:
		r.Revoked, r.RevokedAt, r.Reason = true, resp.RevokedAt, resp.RevocationReason
		return r, fmt.Errorf("%w: on %s (reason %d)", ErrRevoked, resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
	default:
		return Result{}, fmt.Errorf("%w: the responder does not know the certificate", ErrUnacceptable)
	}
}

// checkNonce requires our nonce back (RFC 8954 §2.1) unless the responder
// is one of NonceOptional: without it a recorded "good" answer could be
// replayed after the certificate was revoked. A nonce that comes back must
// be ours.
func checkNonce(resp *xocsp.Response, nonce []byte, required bool) error {
	got, err := ocspwire.ResponseNonce(resp.TBSResponseData)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnacceptable, err)
	case got == nil && !required:
		return nil
	case got == nil:
		return fmt.Errorf("%w: the response does not echo the request's nonce", ErrUnacceptable)
	case !bytes.Equal(got, nonce):
		return fmt.Errorf("%w: the response echoes another nonce", ErrUnacceptable)
	}
	return nil
}
