package esign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// PrepareDigest is Prepare for a document given by its SHA-256 digest, as
// a PDF signature is (the digest of its byte ranges). A zero signingTime
// leaves the signing-time attribute out, as PAdES baseline signatures must
// (ETSI EN 319 142-1 §5.4.2: the claimed time is the signature
// dictionary's /M); Pending.SigningTime is then zero.
func PrepareDigest(digest []byte, cert *x509.Certificate, signingTime time.Time) (*Pending, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("%w: a digest of %d bytes, want SHA-256", ErrUnsupported, len(digest))
	}
	if _, _, err := signatureAlgorithm(cert.PublicKey); err != nil {
		return nil, err
	}
	certHash := sha256.Sum256(cert.Raw)
	attr := func(oid []int, value func(*cryptobyte.Builder)) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
		return b.BytesOrPanic()
	}
	attrs := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { addOID(b, oidData) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }),
		// SigningCertificateV2 with the default hash, SHA-256 (RFC 5035 §4).
		attr(oidSigningCertificateV2, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(certHash[:])
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
									b.AddBytes(cert.RawIssuer)
								})
							})
							b.AddASN1BigInt(cert.SerialNumber)
						})
					})
				})
			})
		}),
	}
	if !signingTime.IsZero() {
		signingTime = signingTime.UTC().Truncate(time.Second)
		attrs = append(attrs, attr(oidSigningTime, func(b *cryptobyte.Builder) { addTime(b, signingTime) }))
	}
	slices.SortFunc(attrs, bytes.Compare) // DER SET OF order (X.690 §11.6)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	set, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("esign: encode the signed attributes: %w", err)
	}
	d := sha256.Sum256(set)
	return &Pending{cert: cert, SignedAttributes: set, Digest: d[:], SigningTime: signingTime}, nil
}

// VerifyTimestampOf checks that token is a timestamp of data, hashed with
// the algorithm the token names (SHA-256, SHA-384 or SHA-512), by a
// trusted authority: VerifyTimestamp without knowing the hash beforehand,
// as for a PDF document timestamp (ETSI EN 319 142-1 §5.4.3).
func VerifyTimestampOf(token, data []byte, opts TimestampOptions) (*Timestamp, error) {
	return verifyTimestampOf(token, data, opts)
}

// TimestampHash is the message imprint's hash of a token, unchecked.
func TimestampHash(token []byte) (crypto.Hash, error) {
	sd, err := parseSignedData(token, oidTSTInfo)
	if err != nil {
		return 0, err
	}
	ts, _, err := parseTSTInfo(sd.eContent)
	if err != nil {
		return 0, err
	}
	return ts.Hash, nil
}
