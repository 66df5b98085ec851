package esign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// CAdES-T (ETSI EN 319 122-1 §5.3): a timestamp of the signature value,
// kept in the SignerInfo's unsigned attributes as id-aa-signatureTimeStampToken
// (RFC 3161 Appendix A). It proves the signature existed at that time, so the
// signer's certificate is judged at the timestamp's time, not now: a
// signature stays verifiable after its certificate expires.

var oidSignatureTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

// Timestamped returns p7s (a detached SignedData with one signer and no
// unsigned attributes, as Pending.Assemble makes it) with a signature
// timestamp from tsa over the SHA-256 of its signature value: CAdES-T.
func Timestamped(ctx context.Context, p7s []byte, tsa *TSA) ([]byte, *Timestamp, error) {
	sd, err := parse(p7s)
	if err != nil {
		return nil, nil, err
	}
	if sd.timestampToken != nil {
		return nil, nil, fmt.Errorf("%w: the signature already has a timestamp", ErrUnsupported)
	}
	sum := sha256.Sum256(sd.signature)
	token, ts, err := tsa.Stamp(ctx, crypto.SHA256, sum[:])
	if err != nil {
		return nil, nil, err
	}
	out, err := withUnsignedAttribute(p7s, oidSignatureTimeStampToken, token)
	if err != nil {
		return nil, nil, err
	}
	return out, ts, nil
}

// withUnsignedAttribute re-encodes a SignedData whose one SignerInfo has no
// unsigned attributes, giving it the attribute oid with one value (DER),
// and everything else byte for byte: the signature is untouched.
func withUnsignedAttribute(p7s []byte, oid asn1.ObjectIdentifier, value []byte) ([]byte, error) {
	p7s = asDER(p7s)
	in := cryptobyte.String(p7s)
	var ci, content, sdSeq cryptobyte.String
	var ctOID asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&ctOID) || !ci.ReadASN1(&content, tag0) ||
		!content.ReadASN1(&sdSeq, cbasn1.SEQUENCE) {
		return nil, malformed("not a CMS SignedData")
	}
	// The SignedData's fields before the SignerInfos, kept as they are.
	var head [][]byte
	for !sdSeq.PeekASN1Tag(cbasn1.SET) || len(head) < 2 {
		var el cryptobyte.String
		if !sdSeq.ReadAnyASN1Element(&el, nil) {
			return nil, malformed("SignedData")
		}
		head = append(head, el)
	}
	var infos, si cryptobyte.String
	if !sdSeq.ReadASN1(&infos, cbasn1.SET) || !sdSeq.Empty() || !infos.ReadASN1(&si, cbasn1.SEQUENCE) || !infos.Empty() {
		return nil, malformed("signer infos")
	}
	var fields [][]byte
	for !si.Empty() {
		var el cryptobyte.String
		var tag cbasn1.Tag
		if !si.ReadAnyASN1Element(&el, &tag) {
			return nil, malformed("signer info")
		}
		if tag == tag1 {
			return nil, fmt.Errorf("%w: the signer info already has unsigned attributes", ErrUnsupported)
		}
		fields = append(fields, el)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(ctOID)
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, h := range head {
					b.AddBytes(h)
				}
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, f := range fields {
							b.AddBytes(f)
						}
						b.AddASN1(tag1, func(b *cryptobyte.Builder) { // unsignedAttrs [1] IMPLICIT SET OF Attribute
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1ObjectIdentifier(oid)
								b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(value) })
							})
						})
					})
				})
			})
		})
	})
	return b.Bytes()
}

// readUnsignedAttributes keeps the signature timestamp; other unsigned
// attributes (CAdES-LT validation data, say) are not read here.
func (sd *signedData) readUnsignedAttributes(attrs cryptobyte.String) error {
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) {
			return malformed("unsigned attribute")
		}
		oid, ok := readOID(&attr)
		if !ok || !attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return malformed("unsigned attribute")
		}
		if !oidIs(oid, oidSignatureTimeStampToken) {
			continue
		}
		if sd.timestampToken != nil {
			return unsupported("more than one signature timestamp")
		}
		var token cryptobyte.String
		if !values.ReadASN1Element(&token, cbasn1.SEQUENCE) || !values.Empty() {
			return malformed("signature timestamp")
		}
		sd.timestampToken = token
	}
	return nil
}

// verifyTimestampOf checks a signature timestamp token over data, with the
// hash the token names.
func verifyTimestampOf(token, data []byte, opts TimestampOptions) (*Timestamp, error) {
	sd, err := parseSignedData(token, oidTSTInfo)
	if err != nil {
		return nil, err
	}
	ts, _, err := parseTSTInfo(sd.eContent)
	if err != nil {
		return nil, err
	}
	var buf [64]byte
	return VerifyTimestamp(token, ts.Hash, bytes.Clone(digestOf(buf[:], ts.Hash, data)), opts)
}
