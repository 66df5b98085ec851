package esign

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
)

// Long-term validation (ETSI EN 319 122-1 §5.5 and §6, level B-LT; ETSI EN
// 319 142-1 for PDF): the certificates and OCSP responses a verifier needs
// to judge the signer's certificate at the time of signing, collected when
// the signature is made and kept with it, so that no network — and no CA
// still answering — is needed years later. A revocation after the
// signature's timestamp then does not undo it.

// ErrTimeNotProven: the signature has no timestamp, so nothing proves when
// it was made, and its signer's certificate is not valid now (expired or
// revoked): it cannot be verified. It would have been valid at the time its
// signer claims. Wraps ErrUntrustedSigner.
var ErrTimeNotProven = fmt.Errorf("%w: nothing proves when it was signed (no timestamp) and the certificate is not valid now", ErrUntrustedSigner)

// ErrNoValidationData: CollectValidationData could not get a good status
// for a certificate of the chain: no responder named, none answered, or the
// answer cannot be relied on (it wraps the ocsp package's reason), or the
// certificate is revoked (then it also wraps ErrRevoked). Wraps
// ErrRevocationUnknown.
var ErrNoValidationData = fmt.Errorf("%w: validation data could not be collected", ErrRevocationUnknown)

var oidOCSPResponseInfo = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 16, 2} // id-ri-ocsp-response (RFC 5940 §2.2)

// ValidationData is what long-term validation keeps: certificates, DER
// OCSP responses (a full OCSPResponse, RFC 6960 §4.2.1) and DER CRLs (a
// CertificateList, RFC 5280 §5.1), as SignedData.crls and a PDF's document
// security store hold them. CollectValidationData collects OCSP answers;
// CRLs come from other signers' files.
type ValidationData struct {
	Certificates [][]byte
	OCSP         [][]byte
	CRLs         [][]byte
}

// Merge adds other's entries that vd does not hold yet.
func (vd *ValidationData) Merge(other *ValidationData) {
	if other == nil {
		return
	}
	// A set of what is held: comparing each new entry with every held
	// one took seconds for the thousands a hostile store can hold, for
	// each signature verified.
	seed := maphash.MakeSeed()
	add := func(list [][]byte, items [][]byte) [][]byte {
		held := make(map[uint64][]int, len(list)+len(items))
		has := func(x []byte) (uint64, bool) {
			h := maphash.Bytes(seed, x)
			return h, slices.ContainsFunc(held[h], func(i int) bool { return bytes.Equal(list[i], x) })
		}
		for i, x := range list {
			h, _ := has(x)
			held[h] = append(held[h], i)
		}
		for _, it := range items {
			if h, ok := has(it); !ok {
				held[h] = append(held[h], len(list))
				list = append(list, it)
			}
		}
		return list
	}
	vd.Certificates = add(vd.Certificates, other.Certificates)
	vd.OCSP = add(vd.OCSP, other.OCSP)
	vd.CRLs = add(vd.CRLs, other.CRLs)
}

// CertificateStatus is what the validation data says about one certificate
// at a time.
type CertificateStatus struct {
	// Good: not revoked at that time. RevokedAt, when not zero, is a later
	// revocation that the data also shows (valid at the time all the same).
	Good      bool
	RevokedAt time.Time
	Reason    int
	// ThisUpdate is when the OCSP answer relied on was produced.
	ThisUpdate time.Time
}

// CollectValidationData asks the OCSP responder of each certificate in
// chain (signer first, then each issuer; a last self-signed root is a trust
// anchor and is not asked about) through client (nil: ocsp.HTTP), and
// returns the chain's certificates and the answers. Each answer is checked
// like an embedded one (StatusAt at now): an answer saying revoked, or one
// that cannot be relied on, fails with ErrNoValidationData. A certificate
// naming no responder gets none: its issuer is expected to be a trust
// anchor or covered otherwise, as in the test PKI's intermediate.
func CollectValidationData(ctx context.Context, chain []*x509.Certificate, client ocsp.Client, now time.Time) (*ValidationData, error) {
	if client == nil {
		client = ocsp.HTTP{}
	}
	if now.IsZero() {
		now = time.Now()
	}
	vd := &ValidationData{}
	for i, c := range chain {
		vd.Certificates = append(vd.Certificates, c.Raw)
		if i+1 >= len(chain) || len(c.OCSPServer) == 0 {
			continue
		}
		issuer := chain[i+1]
		req, err := xocsp.CreateRequest(c, issuer, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoValidationData, err)
		}
		der, err := client.Query(ctx, c.OCSPServer[0], req)
		if err != nil {
			return nil, fmt.Errorf("%w: %w: %s: %v", ErrNoValidationData, ocsp.ErrUnavailable, c.OCSPServer[0], err)
		}
		one := &ValidationData{OCSP: [][]byte{der}}
		// Produced after now minus a minute: an answer the responder
		// just made, not one replayed from its cache of long ago.
		st, err := one.StatusAt(c, issuer, now.Add(-time.Minute))
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrNoValidationData, c.Subject.CommonName, err)
		}
		if !st.Good || !st.RevokedAt.IsZero() {
			return nil, fmt.Errorf("%w: %q: %w", ErrNoValidationData, c.Subject.CommonName, ErrRevoked)
		}
		vd.OCSP = append(vd.OCSP, der)
	}
	return vd, nil
}

// StatusAt judges cert (issued by issuer) at time at from the OCSP answers
// and CRLs in vd, with no network (a CRL as crlStatus reads it). An answer counts when it is for this certificate
// and signed by its issuer or by a responder the issuer authorised
// (id-kp-OCSPSigning, RFC 6960 §4.2.2.2), valid when it answered. It proves
// the status at `at` when it says revoked (from RevokedAt on), or good
// with thisUpdate at or after `at` — a revocation later than `at` leaves
// the certificate good at `at` (ETSI EN 319 102-1 §5.6.2.4: revocation
// information issued after the time of the proof of existence). Without
// such an answer it fails with ErrRevocationUnknown.
func (vd *ValidationData) StatusAt(cert, issuer *x509.Certificate, at time.Time) (CertificateStatus, error) {
	if vd == nil {
		return CertificateStatus{}, fmt.Errorf("%w: no validation data", ErrRevocationUnknown)
	}
	var best *CertificateStatus
	for _, der := range vd.OCSP {
		resp, err := ocsp.ParseResponse(der, cert, issuer)
		if err != nil {
			continue
		}
		if rc := resp.Certificate; rc != nil && !bytes.Equal(rc.Raw, issuer.Raw) {
			if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) ||
				resp.ThisUpdate.Before(rc.NotBefore) || resp.ThisUpdate.After(rc.NotAfter) {
				continue
			}
		}
		switch resp.Status {
		case xocsp.Revoked:
			st := CertificateStatus{RevokedAt: resp.RevokedAt, Reason: resp.RevocationReason, ThisUpdate: resp.ThisUpdate}
			if !resp.RevokedAt.After(at) {
				return st, fmt.Errorf("%w: on %s (reason %d), before %s", ErrRevoked,
					resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason, at.UTC().Format(time.RFC3339))
			}
			st.Good = true
			best = &st
		case xocsp.Good:
			if resp.ThisUpdate.Before(at) {
				continue // good then, says nothing of `at`
			}
			if best == nil {
				best = &CertificateStatus{Good: true, ThisUpdate: resp.ThisUpdate}
			}
		}
	}
	for _, der := range vd.CRLs {
		st, ok, err := crlStatus(der, cert, issuer, at)
		if err != nil {
			return st, err
		}
		if ok && (best == nil || !st.RevokedAt.IsZero()) {
			best = &st
		}
	}
	if best == nil {
		return CertificateStatus{}, fmt.Errorf("%w: no OCSP answer for %q produced after %s",
			ErrRevocationUnknown, cert.Subject.CommonName, at.UTC().Format(time.RFC3339))
	}
	return *best, nil
}

// CRL extensions that narrow what a CRL covers (RFC 5280 §5.2.4, §5.2.5):
// a certificate missing from a delta CRL or from one of a partitioned set
// may be on another.
var (
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
)

// crlStatus judges cert at `at` from one CRL (RFC 5280 §6.3) that its
// issuer signed itself (an indirect CRL, signed by another, is not read):
// listed with a revocation time at or before `at`, an error wrapping
// ErrRevoked; listed later, good with that revocation (ok); not listed on
// a complete CRL issued at or after `at`, good (ok). Otherwise it says
// nothing (not ok).
func crlStatus(der []byte, cert, issuer *x509.Certificate, at time.Time) (CertificateStatus, bool, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil || !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || crl.CheckSignatureFrom(issuer) != nil {
		return CertificateStatus{}, false, nil
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		st := CertificateStatus{RevokedAt: e.RevocationTime, Reason: e.ReasonCode, ThisUpdate: crl.ThisUpdate}
		if !e.RevocationTime.After(at) {
			return st, false, fmt.Errorf("%w: on %s (reason %d, CRL of %s), before %s", ErrRevoked,
				e.RevocationTime.UTC().Format(time.RFC3339), e.ReasonCode, crl.ThisUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
		st.Good = true
		return st, true, nil
	}
	if crl.ThisUpdate.Before(at) {
		return CertificateStatus{}, false, nil
	}
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidDeltaCRLIndicator) || e.Id.Equal(oidIssuingDistributionPoint) {
			return CertificateStatus{}, false, nil
		}
	}
	return CertificateStatus{Good: true, ThisUpdate: crl.ThisUpdate}, true, nil
}

// statusOfChain judges every certificate of chain but the trust anchor at
// `at`, and returns the signer's status. A certificate naming no OCSP
// responder is not judged: there is nothing to have collected.
func (vd *ValidationData) statusOfChain(chain []*x509.Certificate, at time.Time) (CertificateStatus, error) {
	var signer CertificateStatus
	for i := 0; i+1 < len(chain); i++ {
		if i > 0 && len(chain[i].OCSPServer) == 0 {
			continue
		}
		st, err := vd.StatusAt(chain[i], chain[i+1], at)
		if err != nil {
			return st, err
		}
		if i == 0 {
			signer = st
		}
	}
	return signer, nil
}
