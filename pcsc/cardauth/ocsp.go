package cardauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
)

// OCSPClient sends an OCSP request and returns the responder's answer; it
// is ocsp.Client, kept under this name for existing callers.
type OCSPClient = ocsp.Client

// HTTPOCSP queries a responder over HTTP POST; it is ocsp.HTTP.
type HTTPOCSP = ocsp.HTTP

// checkRevocation asks the responder about cert with the package ocsp
// checker (authorised responder, fresh, for this certificate, nonce
// echoed) and maps its verdicts onto the factor's errors, which wrap the
// identity sentinels as well as ocsp's.
func (f *Factor) checkRevocation(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) error {
	_, err := f.checker.Check(ctx, cert, issuer, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ocsp.ErrRevoked):
		return fmt.Errorf("%w (%w)", ErrRevoked, err)
	case errors.Is(err, ocsp.ErrUnavailable):
		return err
	}
	return fmt.Errorf("%w (%w)", ErrOCSP, err)
}
