package esign

import (
	"bytes"
	"context"
	"crypto"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// CAdES-LTA (ETSI EN 319 122-1 §5.5.2, §5.5.3 and §6.3, level B-LTA): an
// archive-time-stamp-v3 unsigned attribute over the signed document, the
// SignerInfo and a hash index of the validation data (certificates,
// revocation values, unsigned attributes), so that the whole can be renewed
// before the algorithms or the timestamping authority's key weaken. No peer
// on this machine checks it (OpenSSL knows no CAdES-LTA); the construction
// follows the clauses cited at each step.

var (
	oidArchiveTimestampV3 = asn1.ObjectIdentifier{0, 4, 0, 1733, 2, 4}
	oidATSHashIndexV3     = asn1.ObjectIdentifier{0, 4, 0, 19122, 1, 5}
)

// signedDataParts is a SignedData with one SignerInfo, cut into its encoded
// parts so that it can be hashed and rebuilt byte for byte.
type signedDataParts struct {
	ctOID, version, digestAlgs, encap []byte
	certs, crls                       [][]byte // each CertificateChoices, RevocationInfoChoice element
	hasCerts, hasCRLs                 bool
	eType                             []byte   // the eContentType's encoding (tag, length, value)
	signerFields                      [][]byte // version … signature, as encoded
	unsigned                          [][]byte // each unsigned Attribute, as encoded
}

func splitSignedData(p7s []byte) (*signedDataParts, error) {
	p7s = asDER(p7s)
	p := &signedDataParts{}
	in := cryptobyte.String(p7s)
	var ci, content, sd, certs, crls, infos, si cryptobyte.String
	if len(p7s) > MaxSignatureSize || !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1Element((*cryptobyte.String)(&p.ctOID), cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&content, tag0) || !content.ReadASN1(&sd, cbasn1.SEQUENCE) ||
		!sd.ReadASN1Element((*cryptobyte.String)(&p.version), cbasn1.INTEGER) ||
		!sd.ReadASN1Element((*cryptobyte.String)(&p.digestAlgs), cbasn1.SET) ||
		!sd.ReadASN1Element((*cryptobyte.String)(&p.encap), cbasn1.SEQUENCE) ||
		!sd.ReadOptionalASN1(&certs, &p.hasCerts, tag0) || !sd.ReadOptionalASN1(&crls, &p.hasCRLs, tag1) ||
		!sd.ReadASN1(&infos, cbasn1.SET) || !sd.Empty() || !infos.ReadASN1(&si, cbasn1.SEQUENCE) || !infos.Empty() {
		return nil, malformed("SignedData")
	}
	e := cryptobyte.String(p.encap)
	var encapBody cryptobyte.String
	if !e.ReadASN1(&encapBody, cbasn1.SEQUENCE) || !encapBody.ReadASN1Element((*cryptobyte.String)(&p.eType), cbasn1.OBJECT_IDENTIFIER) {
		return nil, malformed("encapsulated content info")
	}
	for _, part := range []struct {
		s   cryptobyte.String
		out *[][]byte
	}{{certs, &p.certs}, {crls, &p.crls}} {
		for !part.s.Empty() {
			var el cryptobyte.String
			if !part.s.ReadAnyASN1Element(&el, nil) {
				return nil, malformed("certificates or revocation information")
			}
			*part.out = append(*part.out, el)
		}
	}
	for !si.Empty() {
		var el cryptobyte.String
		var tag cbasn1.Tag
		if !si.ReadAnyASN1Element(&el, &tag) {
			return nil, malformed("signer info")
		}
		if tag != tag1 {
			p.signerFields = append(p.signerFields, el)
			continue
		}
		attrs := cryptobyte.String(el)
		var body cryptobyte.String
		attrs.ReadASN1(&body, tag1)
		for !body.Empty() {
			var a cryptobyte.String
			if !body.ReadASN1Element(&a, cbasn1.SEQUENCE) {
				return nil, malformed("unsigned attribute")
			}
			p.unsigned = append(p.unsigned, a)
		}
	}
	return p, nil
}

func (p *signedDataParts) bytes() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(p.ctOID)
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddBytes(p.version)
				b.AddBytes(p.digestAlgs)
				b.AddBytes(p.encap)
				for _, part := range []struct {
					has   bool
					tag   cbasn1.Tag
					items [][]byte
				}{{p.hasCerts, tag0, p.certs}, {p.hasCRLs, tag1, p.crls}} {
					if part.has {
						b.AddASN1(part.tag, func(b *cryptobyte.Builder) {
							for _, it := range part.items {
								b.AddBytes(it)
							}
						})
					}
				}
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, f := range p.signerFields {
							b.AddBytes(f)
						}
						if len(p.unsigned) > 0 {
							b.AddASN1(tag1, func(b *cryptobyte.Builder) {
								for _, a := range p.unsigned {
									b.AddBytes(a)
								}
							})
						}
					})
				})
			})
		})
	})
	return b.Bytes()
}

// hashIndex builds ATSHashIndexV3 (EN 319 122-1 §5.5.2) with SHA-256,
// hashIndAlgorithm left at its DEFAULT: the hash of each certificate
// choice, of each revocation choice, and, for each unsigned attribute but
// the archive timestamps made after, of its attrType's encoding followed by
// each value's encoding, one entry per value.
func (p *signedDataParts) hashIndex(unsigned [][]byte) ([]byte, error) {
	h := crypto.SHA256
	var attrEntries [][]byte
	for _, a := range unsigned {
		s := cryptobyte.String(a)
		var body, typ, values cryptobyte.String
		if !s.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1Element(&typ, cbasn1.OBJECT_IDENTIFIER) || !body.ReadASN1(&values, cbasn1.SET) {
			return nil, malformed("unsigned attribute")
		}
		for !values.Empty() {
			var v cryptobyte.String
			if !values.ReadAnyASN1Element(&v, nil) {
				return nil, malformed("unsigned attribute value")
			}
			hh := h.New()
			hh.Write(typ)
			hh.Write(v)
			attrEntries = append(attrEntries, hh.Sum(nil))
		}
	}
	hashAll := func(items [][]byte) [][]byte {
		var out [][]byte
		for _, it := range items {
			var buf [64]byte
			out = append(out, bytes.Clone(digestOf(buf[:], h, it)))
		}
		return out
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, list := range [][][]byte{hashAll(p.certs), hashAll(p.crls), attrEntries} {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, d := range list {
					b.AddASN1OctetString(d)
				}
			})
		}
	})
	return b.Bytes()
}

// archiveImprintInput is what the archive timestamp's message imprint is
// computed over (EN 319 122-1 §5.5.3): the eContentType's encoding, the
// hash of the signed document with the imprint's algorithm, the
// SignerInfo's fields from version to signature as encoded, and the
// ATSHashIndexV3.
func (p *signedDataParts) archiveImprintInput(h crypto.Hash, document, index []byte) []byte {
	var out bytes.Buffer
	out.Write(p.eType)
	var buf [64]byte
	out.Write(digestOf(buf[:], h, document))
	for _, f := range p.signerFields {
		out.Write(f)
	}
	out.Write(index)
	return out.Bytes()
}

// ArchiveTimestamped adds an archive-time-stamp-v3 from tsa to a detached
// signature of document, normally already at CAdES-LT (LongTerm): level
// B-LTA. It can be repeated to renew the protection.
func ArchiveTimestamped(ctx context.Context, document, p7s []byte, tsa *TSA) ([]byte, *Timestamp, error) {
	p, err := splitSignedData(p7s)
	if err != nil {
		return nil, nil, err
	}
	index, err := p.hashIndex(p.unsigned)
	if err != nil {
		return nil, nil, err
	}
	var buf [64]byte
	digest := bytes.Clone(digestOf(buf[:], crypto.SHA256, p.archiveImprintInput(crypto.SHA256, document, index)))
	token, ts, err := tsa.Stamp(ctx, crypto.SHA256, digest)
	if err != nil {
		return nil, nil, err
	}
	// The hash index travels in the token's own unsigned attributes.
	if token, err = withUnsignedAttribute(token, oidATSHashIndexV3, index); err != nil {
		return nil, nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addOID(b, oidArchiveTimestampV3)
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(token) })
	})
	attr, err := b.Bytes()
	if err != nil {
		return nil, nil, err
	}
	p.unsigned = append(p.unsigned, attr)
	out, err := p.bytes()
	return out, ts, err
}

// verifyArchiveTimestamps checks every archive-time-stamp-v3 of p7s over
// document, each over what came before it, and returns the latest with the
// revocation values its hash index covers.
func verifyArchiveTimestamps(document, p7s []byte, opts TimestampOptions) (*Timestamp, *ValidationData, error) {
	p, err := splitSignedData(p7s)
	if err != nil {
		return nil, nil, err
	}
	var last *Timestamp
	var lastIndex []byte
	for i, a := range p.unsigned {
		s := cryptobyte.String(a)
		var body, values, token cryptobyte.String
		if !s.ReadASN1(&body, cbasn1.SEQUENCE) {
			return nil, nil, malformed("unsigned attribute")
		}
		oid, ok := readOID(&body)
		if !ok || !oidIs(oid, oidArchiveTimestampV3) {
			continue
		}
		if !body.ReadASN1(&values, cbasn1.SET) || !values.ReadASN1Element(&token, cbasn1.SEQUENCE) || !values.Empty() {
			return nil, nil, malformed("archive-time-stamp-v3")
		}
		index, err := tokenHashIndex(token)
		if err != nil {
			return nil, nil, err
		}
		// What the index lists must still be there: the unsigned
		// attributes before this timestamp exactly, and each certificate
		// and revocation value (more may have been added since, to
		// validate this timestamp itself).
		now, err := p.hashIndex(p.unsigned[:i])
		if err != nil {
			return nil, nil, err
		}
		if !indexCovered(index, now) {
			return nil, nil, fmt.Errorf("%w: the archive timestamp's hash index does not match the signature's validation data", ErrTimestamp)
		}
		h, err := TimestampHash(token)
		if err != nil {
			return nil, nil, err
		}
		var buf [64]byte
		digest := bytes.Clone(digestOf(buf[:], h, p.archiveImprintInput(h, document, index)))
		ts, err := VerifyTimestamp(token, h, digest, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("archive timestamp: %w", err)
		}
		last, lastIndex = ts, index
	}
	if last == nil {
		return nil, nil, nil
	}
	// The revocation values the latest index lists: those the archive
	// timestamp protects.
	lists, _ := indexLists(lastIndex)
	var covered []byte
	for _, c := range p.crls {
		var buf [64]byte
		if contains(lists[1], digestOf(buf[:], crypto.SHA256, c)) {
			covered = append(covered, c...)
		}
	}
	var sd signedData
	if err := sd.readRevocationInfo(covered); err != nil {
		return nil, nil, err
	}
	return last, &ValidationData{OCSP: sd.ocsp, CRLs: sd.crls}, nil
}

// tokenHashIndex reads the ats-hash-index-v3 from a token's unsigned
// attributes.
func tokenHashIndex(token []byte) ([]byte, error) {
	p, err := splitSignedData(token)
	if err != nil {
		return nil, err
	}
	for _, a := range p.unsigned {
		s := cryptobyte.String(a)
		var body, values, index cryptobyte.String
		if !s.ReadASN1(&body, cbasn1.SEQUENCE) {
			continue
		}
		if oid, ok := readOID(&body); ok && oidIs(oid, oidATSHashIndexV3) {
			if !body.ReadASN1(&values, cbasn1.SET) || !values.ReadASN1Element(&index, cbasn1.SEQUENCE) {
				return nil, malformed("ats-hash-index-v3")
			}
			return index, nil
		}
	}
	return nil, fmt.Errorf("%w: the archive timestamp has no ats-hash-index-v3", ErrTimestamp)
}

// indexLists reads the three lists of an ATSHashIndexV3 whose
// hashIndAlgorithm is the default.
func indexLists(index []byte) ([3][][]byte, bool) {
	var out [3][][]byte
	s := cryptobyte.String(index)
	var body cryptobyte.String
	if !s.ReadASN1(&body, cbasn1.SEQUENCE) {
		return out, false
	}
	for i := range out {
		var list cryptobyte.String
		if !body.ReadASN1(&list, cbasn1.SEQUENCE) {
			return out, false
		}
		for !list.Empty() {
			var d cryptobyte.String
			if !list.ReadASN1(&d, cbasn1.OCTET_STRING) {
				return out, false
			}
			out[i] = append(out[i], d)
		}
	}
	return out, body.Empty()
}

// indexCovered: every certificate and revocation hash of the token's index
// is among those of now, and the unsigned attribute hashes are the same.
func indexCovered(token, now []byte) bool {
	t, ok1 := indexLists(token)
	n, ok2 := indexLists(now)
	if !ok1 || !ok2 || len(t[2]) != len(n[2]) {
		return false
	}
	for i := range t[2] {
		if !bytes.Equal(t[2][i], n[2][i]) {
			return false
		}
	}
	for k := 0; k < 2; k++ {
		for _, d := range t[k] {
			if !contains(n[k], d) {
				return false
			}
		}
	}
	return true
}

func contains(list [][]byte, x []byte) bool {
	for _, y := range list {
		if bytes.Equal(x, y) {
			return true
		}
	}
	return false
}
