package esign

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
)

// Extended key usages (RFC 5280 §4.2.1.12; id-kp-documentSigning RFC 9336)
// that VerifyOptions.Purposes lists.
var (
	// OIDEmailProtection is id-kp-emailProtection, the S/MIME signing
	// purpose, which CAs also give document signing certificates.
	OIDEmailProtection = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}
	// OIDDocumentSigning is id-kp-documentSigning (RFC 9336 §3.1).
	OIDDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
	// OIDAnyExtendedKeyUsage is anyExtendedKeyUsage: any purpose.
	OIDAnyExtendedKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37, 0}
)

// DefaultPurposes returns the extended key usages Verify accepts when
// VerifyOptions.Purposes is nil: emailProtection, documentSigning and
// anyExtendedKeyUsage.
func DefaultPurposes() []asn1.ObjectIdentifier {
	return slices.Clone(defaultPurposes)
}

var defaultPurposes = []asn1.ObjectIdentifier{OIDEmailProtection, OIDDocumentSigning, OIDAnyExtendedKeyUsage}

var (
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// ekuNames name purposes in ErrExtKeyUsage messages.
var ekuNames = map[string]string{
	"1.3.6.1.5.5.7.3.1":  "serverAuth",
	"1.3.6.1.5.5.7.3.2":  "clientAuth",
	"1.3.6.1.5.5.7.3.3":  "codeSigning",
	"1.3.6.1.5.5.7.3.4":  "emailProtection",
	"1.3.6.1.5.5.7.3.8":  "timeStamping",
	"1.3.6.1.5.5.7.3.9":  "OCSPSigning",
	"1.3.6.1.5.5.7.3.36": "documentSigning",
	"2.5.29.37.0":        "anyExtendedKeyUsage",
}

func ekuName(dotted string) string {
	if n, ok := ekuNames[dotted]; ok {
		return n
	}
	return dotted
}

// Report is what Verify found.
type Report struct {
	// Signer is the signer's certificate.
	Signer *x509.Certificate
	// SigningTime is the time the signer's software claimed (not a
	// timestamp: CAdES baseline B has none); zero when the signature has
	// no signing-time attribute.
	SigningTime time.Time
	// Chain is the certification path to a trusted root.
	Chain []*x509.Certificate
	// Algorithm names the signature algorithm and its hash, e.g.
	// "ECDSA (SHA-384)" or "RSASSA-PSS (SHA-256, MGF1 SHA-256, salt 32)".
	Algorithm string
	// Revocation is what the signer's CA's OCSP responder said, when
	// VerifyOptions.OCSP asked; nil otherwise.
	Revocation *ocsp.Result
	// Timestamp is the signature timestamp (CAdES-T) as verified with
	// VerifyOptions.TSARoots; nil when the signature has none, or when no
	// TSA roots were given to check it with.
	Timestamp *Timestamp
	// Level is the CAdES baseline level reached: "B-B", "B-T" with a
	// verified signature timestamp, "B-LT" when validation data kept with
	// the signature also proves the signer's certificate, and the
	// timestamp's authority's when it names an OCSP responder, were not
	// revoked at the timestamp's time, "B-LTA" when an archive timestamp
	// covers it all.
	Level string
	// ArchiveTimestamp is the latest archive-time-stamp-v3 (CAdES-LTA),
	// verified with VerifyOptions.TSARoots; nil without.
	ArchiveTimestamp *Timestamp
	// Status is the signer's certificate status at the timestamp's time,
	// from the validation data kept with the signature (or given in
	// VerifyOptions.ValidationData), with no network; nil when there is no
	// timestamp or the data does not establish it.
	Status *CertificateStatus
	// AuthorityStatus is the same for the signature timestamp's authority
	// (see ErrAuthorityRevoked); nil when the data does not establish it
	// or the authority names no OCSP responder.
	AuthorityStatus *CertificateStatus
	// AuthorityRevocation is what the authority's OCSP responder said
	// when VerifyOptions.OCSP asked; nil otherwise.
	AuthorityRevocation *ocsp.Result
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Roots, Intermediates *x509.CertPool
	// Time at which the certificates must be valid; zero means the time
	// of the verified signature timestamp (CAdES-T), otherwise now: a
	// signing-time attribute is only the signer's claim.
	Time time.Time
	// TSARoots and TSAIntermediates are the timestamping authorities'
	// CAs, for signature timestamps; nil leaves a timestamp unchecked (and
	// the signature at level B-B).
	TSARoots, TSAIntermediates *x509.CertPool
	// Purposes are the extended key usages a signer's certificate may
	// carry; a certificate whose extended key usage extension names none
	// of them is refused with ErrExtKeyUsage. nil means DefaultPurposes.
	// A certificate without the extension is good for any purpose
	// (RFC 5280 §4.2.1.12).
	Purposes []asn1.ObjectIdentifier
	// OCSP, when set, asks the signer's CA's OCSP responder whether the
	// signer's certificate is revoked, after every other check passed.
	// The answer is about now: baseline B carries no revocation data of
	// its own nor a trusted time to ask about.
	OCSP *ocsp.Checker
	// Now is the clock the OCSP answer is judged by; nil means time.Now.
	Now func() time.Time
	// ValidationData adds certificates and OCSP answers kept beside the
	// signature (a PDF's document security store) to those in it.
	ValidationData *ValidationData
	// ClaimedTime is the signing time the signer claims outside the
	// signature (a PDF signature dictionary's /M), used when the signature
	// has no signing-time attribute.
	ClaimedTime time.Time
}

// Verify is VerifyContext without a context.
func Verify(document, p7s []byte, opts VerifyOptions) (*Report, error) {
	return VerifyContext(context.Background(), document, p7s, opts)
}

// VerifyContext checks a detached CMS signature (RFC 5652) of document:
// one signer, named by issuer and serial number or by subject key
// identifier; SHA-256, SHA-384 or SHA-512; ECDSA, RSA PKCS #1 v1.5 or
// RSASSA-PSS; with signed attributes (CAdES) or without. Each failure says
// plainly what is wrong: ErrDocumentAltered when the document does not
// match the signed digest, ErrBadSignature when the signature does not
// verify, ErrUntrustedSigner (ErrKeyUsage, ErrExtKeyUsage) when the
// signer's certificate does not chain or is not for signing,
// ErrUnsupported naming what esign does not handle, ErrMalformed
// otherwise. With VerifyOptions.OCSP, ErrRevoked or ErrRevocationUnknown
// come with the Report: the signature is intact and names its signer, but
// the signer's certificate is revoked, or its status is unknown.
func VerifyContext(ctx context.Context, document, p7s []byte, opts VerifyOptions) (*Report, error) {
	sd, err := parse(p7s)
	if err != nil {
		return nil, err
	}
	signer, others, err := sd.findSigner()
	if err != nil {
		return nil, err
	}
	if err := checkKey(signer, sd.alg); err != nil {
		return nil, err
	}
	var buf [64]byte
	signed := digestOf(buf[:], sd.digest, document)
	if sd.signedAttrs != nil {
		if !bytes.Equal(signed, sd.messageDigest) {
			return nil, ErrDocumentAltered
		}
		signed = digestOf(buf[:], sd.digest, sd.signedAttrs)
	}
	if err := verifySignature(signer.PublicKey, sd.alg, signed, sd.signature); err != nil {
		if sd.signedAttrs == nil {
			// The signature covers the document's digest itself: an
			// altered document and a bad signature look the same.
			return nil, fmt.Errorf("%w, or %w (no signed attributes tell which)", ErrDocumentAltered, ErrBadSignature)
		}
		return nil, err
	}
	if err := sd.checkSigningCertificate(signer); err != nil {
		return nil, err
	}
	if err := checkPurpose(signer, opts.Purposes); err != nil {
		return nil, err
	}
	var ts *Timestamp
	if sd.timestampToken != nil && opts.TSARoots != nil {
		// The timestamp is over the signature value (RFC 3161 Appendix A).
		if ts, err = verifyTimestampOf(sd.timestampToken, sd.signature, TimestampOptions{Roots: opts.TSARoots, Intermediates: opts.TSAIntermediates}); err != nil {
			return nil, fmt.Errorf("signature timestamp: %w", err)
		}
	}
	// Without a timestamp nothing proves when the signature was made: the
	// signing-time attribute is the signer's own claim, so the certificate
	// is judged now (ETSI EN 319 102-1: no proof of existence, current
	// time). With one, at the timestamp's time.
	at := opts.Time
	if at.IsZero() && ts != nil {
		at = ts.Time
	}
	if at.IsZero() {
		at = time.Now()
	}
	inter := opts.Intermediates
	if inter == nil {
		inter = x509.NewCertPool()
	} else {
		inter = inter.Clone()
	}
	for _, c := range others {
		inter.AddCert(c)
	}
	vd := &ValidationData{Certificates: sd.certs, OCSP: sd.ocsp, CRLs: sd.crls}
	vd.Merge(opts.ValidationData)
	for _, der := range vd.Certificates {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	claimed := sd.signingTime
	if claimed.IsZero() {
		claimed = opts.ClaimedTime
	}
	// Any extended key usage here: checkPurpose judged the signer's, and
	// crypto/x509 knows no documentSigning.
	chains, err := signer.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil && ts == nil && opts.Time.IsZero() && !claimed.IsZero() {
		// Valid at the claimed time, not now: say that it is the missing
		// proof of time that fails it, not the signature.
		if chains, err2 := signer.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: inter, CurrentTime: claimed,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err2 == nil {
			return &Report{Signer: signer, SigningTime: claimed, Chain: chains[0], Algorithm: sd.alg.String(), Level: "B-B"},
				fmt.Errorf("%w (%v)", ErrTimeNotProven, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedSigner, err)
	}
	rep := &Report{Signer: signer, SigningTime: claimed, Chain: chains[0], Algorithm: sd.alg.String(), Timestamp: ts, Level: "B-B"}
	if ts != nil {
		rep.Level = "B-T"
		ast, authorityJudged, err := vd.authorityStatus(ts)
		if err != nil {
			return rep, err
		}
		rep.AuthorityStatus = ast
		st, err := vd.statusOfChain(rep.Chain, ts.Time)
		switch {
		case err == nil && !authorityJudged:
			// The signer is proven, the authority not: B-T.
			rep.Status = &st
		case err == nil:
			rep.Status, rep.Level = &st, "B-LT"
			ats, covered, err := verifyArchiveTimestamps(document, p7s, TimestampOptions{Roots: opts.TSARoots, Intermediates: opts.TSAIntermediates})
			if err != nil {
				return rep, err
			}
			rep.ArchiveTimestamp = ats
			// B-LTA: the archive timestamp covers the revocation values
			// that make the signature B-LT (ETSI EN 319 122-1 §6.3), not
			// only values added after it.
			if ats != nil {
				if _, err := covered.statusOfChain(rep.Chain, ts.Time); err == nil {
					if _, judged, err := covered.authorityStatus(ts); err == nil && judged {
						rep.Level = "B-LTA"
					}
				}
			}
		case errors.Is(err, ErrRevoked):
			return rep, err
		}
	}
	if opts.OCSP == nil {
		return rep, nil
	}
	if err := rep.checkRevocation(ctx, opts); err != nil {
		return rep, err
	}
	return rep, rep.checkAuthorityRevocation(ctx, opts)
}

// checkRevocation asks the OCSP checker about the signer's certificate and
// records the answer in the report.
func (rep *Report) checkRevocation(ctx context.Context, opts VerifyOptions) error {
	if len(rep.Chain) < 2 {
		return fmt.Errorf("%w: the signer's certificate is itself a trusted root, with no issuer to ask", ErrRevocationUnknown)
	}
	now := opts.now()
	res, err := opts.OCSP.Check(ctx, rep.Signer, rep.Chain[1], now)
	switch {
	case err == nil:
		rep.Revocation = &res
		return nil
	case errors.Is(err, ocsp.ErrRevoked):
		rep.Revocation = &res
		// Revoked after the timestamp: the signature was made while the
		// certificate was good, which the timestamp proves (ETSI EN 319
		// 102-1 §5.6.2.4).
		if rep.Timestamp != nil && res.RevokedAt.After(rep.Timestamp.Time) {
			return nil
		}
		// Without a timestamp, a signature claiming a time before the
		// revocation cannot prove it.
		if rep.Timestamp == nil && !rep.SigningTime.IsZero() && res.RevokedAt.After(rep.SigningTime) {
			return fmt.Errorf("%w (%w), %w", ErrRevoked, err, ErrTimeNotProven)
		}
		return fmt.Errorf("%w (%w)", ErrRevoked, err)
	}
	return fmt.Errorf("%w (%w)", ErrRevocationUnknown, err)
}

// checkSigningCertificate checks that the ESS signing certificate
// attributes, when present, name the certificate that verified: they bind
// the signature to it, so that another certificate for the same key cannot
// be substituted (RFC 5035 §3). An issuerSerial, when present, must name
// it too: ESSCertIDv2 identifies one certificate by both (RFC 5035 §4;
// ETSI EN 319 122-1 §5.2.2.3), and OpenSSL's `cms -verify -cades` refuses
// one that names another ("ess cert id not found").
func (sd *signedData) checkSigningCertificate(signer *x509.Certificate) error {
	if sd.certHash != nil {
		var buf [64]byte
		if !bytes.Equal(digestOf(buf[:], sd.certHashAlg, signer.Raw), sd.certHash) ||
			(sd.issuerSerial != nil && !namesCertificate(sd.issuerSerial, signer)) {
			return fmt.Errorf("%w: signing-certificate-v2 names another certificate", ErrBadSignature)
		}
	}
	if sd.certHashSHA1 != nil {
		h := sha1.Sum(signer.Raw)
		if !bytes.Equal(h[:], sd.certHashSHA1) || (sd.issuerSerialSHA1 != nil && !namesCertificate(sd.issuerSerialSHA1, signer)) {
			return fmt.Errorf("%w: signing-certificate names another certificate", ErrBadSignature)
		}
	}
	return nil
}

// checkPurpose checks that the signer's certificate is for signing. Key
// usage: when the extension is present, digitalSignature or nonRepudiation
// (contentCommitment) must be set; when absent the key is not restricted
// (RFC 5280 §4.2.1.3). Extended key usage: when present, one of the
// accepted purposes must be listed, and the certificate is used for no
// other (RFC 5280 §4.2.1.12); when absent, any purpose.
func checkPurpose(cert *x509.Certificate, accepted []asn1.ObjectIdentifier) error {
	if accepted == nil {
		accepted = defaultPurposes
	}
	var hasKU bool
	var eku []byte
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(oidKeyUsage):
			hasKU = true
		case e.Id.Equal(oidExtKeyUsage):
			eku = e.Value
		}
	}
	if hasKU && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return ErrKeyUsage
	}
	if eku == nil {
		return nil
	}
	in := cryptobyte.String(eku)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return malformed("the signer's extended key usage extension")
	}
	var have []string
	for !seq.Empty() {
		p, ok := readOID(&seq)
		if !ok {
			return malformed("the signer's extended key usage extension")
		}
		for _, a := range accepted {
			if oidIs(p, a) {
				return nil
			}
		}
		have = append(have, ekuName(oidString(p)))
	}
	var want []string
	for _, a := range accepted {
		want = append(want, ekuName(a.String()))
	}
	return fmt.Errorf("%w: it is for %s; accepted: %s", ErrExtKeyUsage, strings.Join(have, ", "), strings.Join(want, ", "))
}
