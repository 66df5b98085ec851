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

// ErrAuthorityRevoked: the timestamp's authority's certificate (or its
// CA's) was revoked before the token's time, or for a key compromise at
// any time (RFC 3161 §4): the time it vouches for cannot be relied on.
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

// authorityStatus judges ts's authority at the token's time from vd, with
// no network. It returns the authority's status when vd establishes it;
// nil and judged false when vd holds nothing about it (then the signature
// stays at B-T); nil and judged true when no certificate of its chain
// names an OCSP responder (there was nothing to collect, as for an
// intermediate in statusOfChain); and an error wrapping ErrAuthorityRevoked when it was
// revoked before the token's time or for a key compromise.
func (vd *ValidationData) authorityStatus(ts *Timestamp) (st *CertificateStatus, judged bool, err error) {
	if len(ts.Chain) < 2 {
		return nil, true, nil // the authority is itself a trust anchor
	}
	s, err := vd.statusOfChain(ts.Chain, ts.Time)
	switch {
	case errors.Is(err, ErrRevoked):
		return nil, false, fmt.Errorf("%w: on %s (reason %d), before the token's time %s", ErrAuthorityRevoked,
			s.RevokedAt.UTC().Format(time.RFC3339), s.Reason, ts.Time.UTC().Format(time.RFC3339))
	case err != nil:
		// Judged when no certificate of the chain names a responder.
		for _, c := range ts.Chain[:len(ts.Chain)-1] {
			if len(c.OCSPServer) > 0 {
				return nil, false, nil
			}
		}
		return nil, true, nil
	case !s.RevokedAt.IsZero() && compromised(s.Reason):
		return &s, false, fmt.Errorf("%w: for a key compromise (reason %d) on %s, after the token's time, which the key's holder could have chosen",
			ErrAuthorityRevoked, s.Reason, s.RevokedAt.UTC().Format(time.RFC3339))
	}
	return &s, true, nil
}

// checkAuthorityRevocation asks the OCSP checker about the signature
// timestamp's authority, when its certificate names a responder (a
// checker's ResponderURL is the signers' CA's, not the authority's), and
// records the answer in the report. A revocation after the token's time
// for another reason than a compromise leaves the timestamp good.
func (rep *Report) checkAuthorityRevocation(ctx context.Context, opts VerifyOptions) error {
	ts := rep.Timestamp
	if ts == nil || len(ts.Chain) < 2 || len(ts.Authority.OCSPServer) == 0 {
		return nil
	}
	c := *opts.OCSP
	c.ResponderURL = ""
	res, err := c.Check(ctx, ts.Authority, ts.Chain[1], opts.now())
	switch {
	case err == nil:
		rep.AuthorityRevocation = &res
		return nil
	case errors.Is(err, ocsp.ErrRevoked):
		rep.AuthorityRevocation = &res
		if res.RevokedAt.After(ts.Time) && !compromised(res.Reason) {
			return nil
		}
		return fmt.Errorf("%w: %s says since %s, reason %d", ErrAuthorityRevoked, res.Responder, res.RevokedAt.UTC().Format(time.RFC3339), res.Reason)
	}
	return fmt.Errorf("%w: the timestamp's authority: %w", ErrRevocationUnknown, err)
}

// now is the clock OCSP answers are judged by.
func (opts VerifyOptions) now() time.Time {
	if opts.Now != nil {
		return opts.Now()
	}
	return time.Now()
}
