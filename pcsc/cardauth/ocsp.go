package cardauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/internal/ocspwire"
)

// OCSPClient sends an OCSP request and returns the responder's answer. The
// factor takes one so that tests and air-gapped deployments can answer
// in-process; HTTPOCSP is the network client.
type OCSPClient interface {
	Query(ctx context.Context, url string, request []byte) ([]byte, error)
}

// HTTPOCSP queries a responder over HTTP POST (RFC 6960 Appendix A.1).
type HTTPOCSP struct {
	// Client defaults to an http.Client with a 5-second timeout.
	Client *http.Client
}

// maxOCSPResponse bounds what is read from a responder.
const maxOCSPResponse = 64 << 10

// Query implements OCSPClient.
func (h HTTPOCSP) Query(ctx context.Context, url string, request []byte) ([]byte, error) {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxOCSPResponse {
		return nil, fmt.Errorf("OCSP response over %d bytes", maxOCSPResponse)
	}
	return body, nil
}

// errUnreachable marks failures to obtain an answer at all, which the
// fail-open policy may pass over; every other OCSP failure is a verdict.
var errUnreachable = errors.New("unreachable")

// checkRevocation asks the responder about cert and checks the answer:
// signed by the issuer or by a responder the issuer authorised for OCSP
// signing, fresh, for this certificate, echoing our nonce.
func (f *Factor) checkRevocation(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) error {
	url := f.cfg.OCSPResponderURL
	if url == "" && len(cert.OCSPServer) > 0 {
		url = cert.OCSPServer[0]
	}
	if url == "" {
		return fmt.Errorf("%w: the certificate names no OCSP responder and none is configured", errUnreachable)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	req, err := ocspwire.NewRequest(cert, issuer, nonce)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOCSP, err)
	}
	qctx, cancel := context.WithTimeout(ctx, f.cfg.OCSPTimeout)
	defer cancel()
	der, err := f.ocsp.Query(qctx, url, req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUnreachable, url, err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) && (re.Status == ocsp.TryLater || re.Status == ocsp.InternalError) {
			return fmt.Errorf("%w: responder says %v", errUnreachable, re)
		}
		return fmt.Errorf("%w: %v", ErrOCSP, err)
	}
	// A delegated responder must carry id-kp-OCSPSigning (RFC 6960 §4.2.2.2)
	// and be valid now; x/crypto/ocsp checks only that the issuer signed it.
	if rc := resp.Certificate; rc != nil && !bytes.Equal(rc.Raw, issuer.Raw) {
		authorised := false
		for _, u := range rc.ExtKeyUsage {
			authorised = authorised || u == x509.ExtKeyUsageOCSPSigning
		}
		if !authorised {
			return fmt.Errorf("%w: responder certificate %q is not authorised for OCSP signing", ErrOCSP, rc.Subject)
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return fmt.Errorf("%w: responder certificate not valid now", ErrOCSP)
		}
	}
	skew := f.cfg.OCSPClockSkew
	switch {
	case resp.ThisUpdate.After(now.Add(skew)):
		return fmt.Errorf("%w: response produced in the future (%s)", ErrOCSP, resp.ThisUpdate.UTC().Format(time.RFC3339))
	case now.Sub(resp.ThisUpdate) > f.cfg.OCSPMaxAge+skew:
		return fmt.Errorf("%w: response is %s old, at most %s allowed", ErrOCSP, now.Sub(resp.ThisUpdate).Round(time.Second), f.cfg.OCSPMaxAge)
	case !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate.Add(skew)):
		return fmt.Errorf("%w: response past its nextUpdate", ErrOCSP)
	}
	if err := checkNonce(resp, nonce); err != nil {
		return err
	}
	switch resp.Status {
	case ocsp.Good:
		return nil
	case ocsp.Revoked:
		return fmt.Errorf("%w: on %s (reason %d)", ErrRevoked, resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
	default:
		return fmt.Errorf("%w: the responder does not know the certificate", ErrOCSP)
	}
}

// checkNonce requires our nonce back (RFC 8954): without it a recorded
// "good" answer could be replayed after the certificate was revoked.
func checkNonce(resp *ocsp.Response, nonce []byte) error {
	for _, ext := range resp.Extensions {
		if !ext.Id.Equal(ocspwire.OIDNonce()) {
			continue
		}
		got, err := ocspwire.NonceValue(ext.Value)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrOCSP, err)
		}
		if !bytes.Equal(got, nonce) {
			return fmt.Errorf("%w: the response echoes another nonce", ErrOCSP)
		}
		return nil
	}
	return fmt.Errorf("%w: the response does not echo the request's nonce", ErrOCSP)
}
