package esign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
)

// The timestamp's authority is judged too: a timestamp is only as good as
// the key that made it. RFC 3161 §4 (security considerations, item 1): a
// TSA whose key is compromised has its certificate revoked with reason
// keyCompromise, and then every token it made is in doubt, whenever it is
// dated, since whoever holds the key can date a token as they like; a TSA
// retired for any other reason leaves the tokens it made before the
// revocation valid. ETSI EN 319 102-1 (§5.6.2.1, validation of time-stamps)
// validates the authority's certificate as any other, and B-LT (ETSI EN
// 319 122-1 §5.5, ETSI EN 319 142-1 §5.4) keeps the data to do so.

// ErrAuthorityRevoked: the timestamp's authority's certificate, or a CA's
// above it, was revoked before the token's time, or for a key compromise
// at any time (RFC 3161 §4): the time it vouches for cannot be relied on.
// Wraps ErrTimestamp; not ErrRevoked, which is about the signer.
var ErrAuthorityRevoked = fmt.Errorf("%w: the authority's certificate is revoked", ErrTimestamp)

// CRL reason codes (RFC 5280 §5.3.1) that say a private key got out:
// keyCompromise, cACompromise, aACompromise.
var compromiseReasons = []int{1, 2, 10}

func compromised(reason int) bool {
	for _, r := range compromiseReasons {
		if r == reason {
			return true
		}
	}
	return false
}

// authorityStatus judges ts's authority and the CAs above it at the
// token's time from vd, with no network. A certificate of that chain
// revoked before the token's time, or for a key compromise at any time,
// is an error wrapping ErrAuthorityRevoked: whoever holds a compromised
// CA key can issue a new authority certificate and date tokens as they
// like. It returns the authority's own status when vd establishes it, and
// whether the chain is judged: every certificate of it that names an OCSP
// responder has an answer (one that names none had nothing to collect,
// as for an intermediate in statusOfChain).
func (vd *ValidationData) authorityStatus(ts *Timestamp) (st *CertificateStatus, judged bool, err error) {
	judged = true
	for i := 0; i+1 < len(ts.Chain); i++ {
		c := ts.Chain[i]
		s, err := vd.StatusAt(c, ts.Chain[i+1], ts.Time)
		switch {
		case errors.Is(err, ErrRevoked):
			return nil, false, fmt.Errorf("%w: %q on %s (reason %d), before the token's time %s", ErrAuthorityRevoked,
				c.Subject.CommonName, s.RevokedAt.UTC().Format(time.RFC3339), s.Reason, ts.Time.UTC().Format(time.RFC3339))
		case err != nil:
			judged = judged && len(c.OCSPServer) == 0
			continue
		case !s.RevokedAt.IsZero() && compromised(s.Reason):
			return nil, false, fmt.Errorf("%w: %q for a key compromise (reason %d) on %s, after the token's time, which the key's holder could have chosen",
				ErrAuthorityRevoked, c.Subject.CommonName, s.Reason, s.RevokedAt.UTC().Format(time.RFC3339))
		}
		if i == 0 {
			st = &s
		}
	}
	return st, judged, nil
}

// checkAuthorityRevocation asks the OCSP responders of the signature
// timestamp's authority and of the CAs above it, each that names one (a
// checker's ResponderURL is the signers' CA's, not theirs), and records
// the authority's answer in the report. A revocation after the token's
// time for another reason than a compromise leaves the timestamp good.
func (rep *Report) checkAuthorityRevocation(ctx context.Context, opts VerifyOptions) error {
	ts := rep.Timestamp
	if ts == nil {
		return nil
	}
	c := *opts.OCSP
	c.ResponderURL = ""
	for i := 0; i+1 < len(ts.Chain); i++ {
		cert := ts.Chain[i]
		if len(cert.OCSPServer) == 0 {
			continue
		}
		res, err := c.Check(ctx, cert, ts.Chain[i+1], opts.now())
		switch {
		case err == nil:
		case errors.Is(err, ocsp.ErrRevoked):
			if res.RevokedAt.After(ts.Time) && !compromised(res.Reason) {
				break
			}
			if i == 0 {
				rep.AuthorityRevocation = &res
			}
			return fmt.Errorf("%w: %q: %s says since %s, reason %d", ErrAuthorityRevoked, cert.Subject.CommonName, res.Responder,
				res.RevokedAt.UTC().Format(time.RFC3339), res.Reason)
		default:
			return fmt.Errorf("%w: the timestamp's authority, %q: %w", ErrRevocationUnknown, cert.Subject.CommonName, err)
		}
		if i == 0 {
			rep.AuthorityRevocation = &res
		}
	}
	return nil
}

// now is the clock OCSP answers are judged by.
func (opts VerifyOptions) now() time.Time {
	if opts.Now != nil {
		return opts.Now()
	}
	return time.Now()
}
