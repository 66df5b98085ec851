package esign

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
)

// CAdES-LT (ETSI EN 319 122-1 §6.3, level B-LT): the baseline keeps the
// validation data in the SignedData itself — certificates in
// SignedData.certificates, OCSP responses in SignedData.crls as
// OtherRevocationInfoFormat id-ri-ocsp-response (RFC 5940 §2.2) — rather
// than in the certificate-values and revocation-values attributes of older
// CAdES forms. Neither field is signed, so adding them leaves the signature
// intact.

// LongTermOptions are the services and trust LongTerm needs.
type LongTermOptions struct {
	// TSA stamps a signature that has no timestamp yet.
	TSA *TSA
	// OCSP asks the responders (nil: ocsp.HTTP).
	OCSP ocsp.Client
	// Roots and Intermediates build the signer's chain; the TSA's is built
	// with TSA.Roots and TSA.Intermediates.
	Roots, Intermediates *x509.CertPool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// LongTerm brings a detached signature (as Pending.Assemble or Timestamped
// make it) to CAdES-LT: it adds a signature timestamp when there is none,
// then the certificates of the signer's and the authority's chains and OCSP
// answers for them, collected now (CollectValidationData).
func LongTerm(ctx context.Context, p7s []byte, opts LongTermOptions) ([]byte, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	sd, err := parse(p7s)
	if err != nil {
		return nil, err
	}
	if sd.timestampToken == nil {
		if opts.TSA == nil {
			return nil, fmt.Errorf("%w: CAdES-LT needs a signature timestamp and no TSA is configured", ErrTimestamp)
		}
		if p7s, _, err = Timestamped(ctx, p7s, opts.TSA); err != nil {
			return nil, err
		}
		if sd, err = parse(p7s); err != nil {
			return nil, err
		}
	}
	vd, err := validationDataFor(ctx, sd, opts, now())
	if err != nil {
		return nil, err
	}
	return WithValidationData(p7s, vd)
}

// ValidationDataOf collects, now, the validation data of the signer of p7s
// (a SignedData with one signer) and of its signature timestamp's
// authority, as LongTerm does, without changing p7s: PAdES keeps it in the
// PDF's document security store instead.
func ValidationDataOf(ctx context.Context, p7s []byte, opts LongTermOptions) (*ValidationData, error) {
	sd, err := parse(p7s)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	return validationDataFor(ctx, sd, opts, now())
}

// validationDataFor collects the validation data of the signer's chain and
// of its signature timestamp's authority.
func validationDataFor(ctx context.Context, sd *signedData, opts LongTermOptions, now time.Time) (*ValidationData, error) {
	signer, others, err := sd.findSigner()
	if err != nil {
		return nil, err
	}
	chain, err := buildChain(signer, others, opts.Roots, opts.Intermediates, now)
	if err != nil {
		return nil, err
	}
	// Without an answer about the signer there is no B-LT to reach.
	if len(signer.OCSPServer) == 0 {
		return nil, fmt.Errorf("%w: the signer's certificate names no OCSP responder", ErrNoValidationData)
	}
	vd, err := CollectValidationData(ctx, chain, opts.OCSP, now)
	if err != nil {
		return nil, err
	}
	if sd.timestampToken != nil && opts.TSA != nil {
		tsd, err := parseSignedData(sd.timestampToken, oidTSTInfo)
		if err != nil {
			return nil, err
		}
		tsaCert, tsaOthers, err := tsd.findSigner()
		if err != nil {
			return nil, err
		}
		tchain, err := buildChain(tsaCert, tsaOthers, opts.TSA.Roots, opts.TSA.Intermediates, now)
		if err != nil {
			return nil, fmt.Errorf("%w: the authority's certificate: %w", ErrTimestamp, err)
		}
		tvd, err := CollectValidationData(ctx, tchain, opts.OCSP, now)
		if err != nil {
			return nil, err
		}
		vd.Merge(tvd)
	}
	return vd, nil
}

// buildChain finds a path from cert to a root, any purpose.
func buildChain(cert *x509.Certificate, others []*x509.Certificate, roots, inter *x509.CertPool, at time.Time) ([]*x509.Certificate, error) {
	pool := x509.NewCertPool()
	if inter != nil {
		pool = inter.Clone()
	}
	for _, c := range others {
		pool.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedSigner, err)
	}
	return chains[0], nil
}

// WithValidationData returns p7s with vd's certificates added to
// SignedData.certificates and its OCSP answers to SignedData.crls (RFC
// 5940 §2.2), the version raised to 5 as RFC 5652 §5.1 requires when other
// revocation formats are present. Every other byte, the SignerInfo
// included, is kept.
func WithValidationData(p7s []byte, vd *ValidationData) ([]byte, error) {
	p7s = asDER(p7s)
	in := cryptobyte.String(p7s)
	var ci, content, sdSeq cryptobyte.String
	var ctOID []byte
	if len(p7s) > MaxSignatureSize || !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1Element((*cryptobyte.String)(&ctOID), cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&content, tag0) || !content.ReadASN1(&sdSeq, cbasn1.SEQUENCE) {
		return nil, malformed("not a CMS SignedData")
	}
	var version int64
	var digestAlgs, encap, certs, crls, infos cryptobyte.String
	var hasCerts, hasCRLs bool
	if !sdSeq.ReadASN1Integer(&version) || !sdSeq.ReadASN1Element(&digestAlgs, cbasn1.SET) ||
		!sdSeq.ReadASN1Element(&encap, cbasn1.SEQUENCE) || !sdSeq.ReadOptionalASN1(&certs, &hasCerts, tag0) ||
		!sdSeq.ReadOptionalASN1(&crls, &hasCRLs, tag1) || !sdSeq.ReadASN1Element(&infos, cbasn1.SET) || !sdSeq.Empty() {
		return nil, malformed("SignedData")
	}
	var haveCerts [][]byte
	for c := certs; !c.Empty(); {
		var el cryptobyte.String
		if !c.ReadAnyASN1Element(&el, nil) {
			return nil, malformed("certificates")
		}
		haveCerts = append(haveCerts, el)
	}
	existing := func(list [][]byte, x []byte) bool {
		return slices.ContainsFunc(list, func(y []byte) bool { return bytes.Equal(x, y) })
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(ctOID)
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				if len(vd.OCSP) > 0 || hasCRLs {
					version = max(version, 5)
				}
				b.AddASN1Int64(version)
				b.AddBytes(digestAlgs)
				b.AddBytes(encap)
				b.AddASN1(tag0, func(b *cryptobyte.Builder) {
					b.AddBytes(certs)
					for _, c := range vd.Certificates {
						if !existing(haveCerts, c) {
							b.AddBytes(c)
							haveCerts = append(haveCerts, c)
						}
					}
				})
				if hasCRLs || len(vd.OCSP) > 0 || len(vd.CRLs) > 0 {
					b.AddASN1(tag1, func(b *cryptobyte.Builder) {
						b.AddBytes(crls)
						for _, c := range vd.CRLs {
							if !bytes.Contains(crls, c) {
								b.AddBytes(c) // crl CertificateList
							}
						}
						for _, r := range vd.OCSP {
							if bytes.Contains(crls, r) {
								continue
							}
							// other [1] IMPLICIT OtherRevocationInfoFormat
							b.AddASN1(tag1, func(b *cryptobyte.Builder) {
								addOID(b, oidOCSPResponseInfo)
								b.AddBytes(r)
							})
						}
					})
				}
				b.AddBytes(infos)
			})
		})
	})
	return b.Bytes()
}

// readRevocationInfo keeps the CRLs and OCSP answers among SignedData.crls
// (RFC 5652 §10.2.1 RevocationInfoChoice: a CertificateList, or other
// formats, of which OCSP answers, RFC 5940 §2.2).
func (sd *signedData) readRevocationInfo(crls cryptobyte.String) error {
	for !crls.Empty() {
		var el cryptobyte.String
		var tag cbasn1.Tag
		if !crls.ReadAnyASN1Element(&el, &tag) {
			return malformed("revocation information")
		}
		if tag == cbasn1.SEQUENCE {
			sd.crls = append(sd.crls, el)
			continue
		}
		if tag != tag1 {
			continue
		}
		var other cryptobyte.String
		if !el.ReadASN1(&other, tag1) {
			return malformed("other revocation information")
		}
		format, ok := readOID(&other)
		if !ok {
			return malformed("other revocation information format")
		}
		if !oidIs(format, oidOCSPResponseInfo) {
			continue
		}
		var resp cryptobyte.String
		if !other.ReadASN1Element(&resp, cbasn1.SEQUENCE) || !other.Empty() {
			return malformed("OCSP response in the revocation information")
		}
		sd.ocsp = append(sd.ocsp, resp)
	}
	return nil
}

// TimestampValidationData collects, now, the validation data of a
// timestamp token's authority — its chain, built with opts.TSA's roots
// (opts.Roots without a TSA), and OCSP answers about it — as a PDF keeps
// for its document timestamps before renewing them.
func TimestampValidationData(ctx context.Context, token []byte, opts LongTermOptions) (*ValidationData, error) {
	sd, err := parseSignedData(token, oidTSTInfo)
	if err != nil {
		return nil, err
	}
	cert, others, err := sd.findSigner()
	if err != nil {
		return nil, err
	}
	roots, inter := opts.Roots, opts.Intermediates
	if opts.TSA != nil {
		roots, inter = opts.TSA.Roots, opts.TSA.Intermediates
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	chain, err := buildChain(cert, others, roots, inter, now())
	if err != nil {
		return nil, fmt.Errorf("%w: the authority's certificate: %w", ErrTimestamp, err)
	}
	return CollectValidationData(ctx, chain, opts.OCSP, now())
}
