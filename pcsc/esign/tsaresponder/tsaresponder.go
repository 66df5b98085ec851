// Package tsaresponder is an RFC 3161 timestamping authority for tests and
// demos, as ocspresponder is an OCSP responder: it answers
// application/timestamp-query over HTTP with a token signed by its key,
// which OpenSSL's `openssl ts -verify` and esign.VerifyTimestamp accept. It
// keeps no audit and has no clock of its own worth trusting: never use it
// in production.
package tsaresponder

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSHA256WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// DefaultPolicy is the TSA policy the responder names when the request asks
// for none (a private arc of the test PKI).
var defaultPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 7, 1}

// Responder is a timestamping authority.
type Responder struct {
	cert  *x509.Certificate
	key   crypto.Signer
	chain []*x509.Certificate
	now   func() time.Time

	mu     sync.Mutex
	serial int64
	name   []byte // DER Name for the tsa field; nil: cert's subject
}

// SetName makes the tokens name the authority in their tsa field (RFC 3161
// §2.4.2) by name, the DER of an X.501 Name, instead of its certificate's
// subject, which the field holds by default as OpenSSL's tsa_name = yes
// writes it. A name not the certificate's makes tokens a verifier must
// refuse: for tests of that check.
func (r *Responder) SetName(name []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.name = slices.Clone(name)
}

// New returns an authority that signs with key, whose certificate cert must
// carry the one critical extended key usage timeStamping (RFC 3161 §2.3);
// chain is put in the tokens after it. now is the authority's clock (nil:
// time.Now), so tests can stamp at a time of their choosing.
func New(cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, now func() time.Time) *Responder {
	if now == nil {
		now = time.Now
	}
	return &Responder{cert: cert, key: key, chain: chain, now: now}
}

// request is what the authority reads of a TimeStampReq (RFC 3161 §2.4.1).
type request struct {
	hashAlg []byte // the DER AlgorithmIdentifier, echoed in the token
	hash    []byte
	nonce   *big.Int
	certReq bool
}

var errBadRequest = errors.New("tsaresponder: bad request")

func parseRequest(der []byte) (*request, error) {
	in := cryptobyte.String(der)
	var seq, imprint, alg, hash cryptobyte.String
	var version int64
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(&version) || version != 1 ||
		!seq.ReadASN1(&imprint, cbasn1.SEQUENCE) || !imprint.ReadASN1Element(&alg, cbasn1.SEQUENCE) ||
		!imprint.ReadASN1(&hash, cbasn1.OCTET_STRING) {
		return nil, errBadRequest
	}
	r := &request{hashAlg: alg, hash: hash}
	if seq.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) { // reqPolicy: the responder has one only
		var skip cryptobyte.String
		seq.ReadASN1(&skip, cbasn1.OBJECT_IDENTIFIER)
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		r.nonce = new(big.Int)
		if !seq.ReadASN1Integer(r.nonce) {
			return nil, errBadRequest
		}
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) && !seq.ReadASN1Boolean(&r.certReq) {
		return nil, errBadRequest
	}
	return r, nil
}

// Respond answers a DER TimeStampReq with a DER TimeStampResp: granted with
// a token, or rejection (status 2, badDataFormat) for a request it cannot
// read.
func (r *Responder) Respond(der []byte) ([]byte, error) {
	req, err := parseRequest(der)
	if err != nil {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(2) // rejection
				b.AddASN1BitString([]byte{0x80 >> 5})
			})
		})
		return b.Bytes()
	}
	token, err := r.token(req)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(0) }) // granted
		b.AddBytes(token)
	})
	return b.Bytes()
}

func (r *Responder) token(req *request) ([]byte, error) {
	r.mu.Lock()
	r.serial++
	serial := r.serial
	tsaName := r.name
	r.mu.Unlock()
	if tsaName == nil {
		tsaName = r.cert.RawSubject
	}
	gen := r.now().UTC().Truncate(time.Second)

	var tst cryptobyte.Builder
	tst.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1ObjectIdentifier(defaultPolicy)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(req.hashAlg)
			b.AddASN1OctetString(req.hash)
		})
		b.AddASN1Int64(serial)
		b.AddASN1GeneralizedTime(gen)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(1) }) // accuracy: 1 s
		if req.nonce != nil {
			b.AddASN1BigInt(req.nonce)
		}
		// tsa [0] GeneralName: a CHOICE, so the tag is explicit; the
		// directoryName alternative is [4], explicit too (RFC 5280 §4.2.1.6).
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(tsaName) })
		})
	})
	content, err := tst.Bytes()
	if err != nil {
		return nil, err
	}
	contentDigest := sha256.Sum256(content)
	certHash := sha256.Sum256(r.cert.Raw)
	attr := func(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
		return b.BytesOrPanic()
	}
	attrs := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidTSTInfo) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(contentDigest[:]) }),
		// SigningCertificateV2 { certs { ESSCertIDv2 { certHash } } }, SHA-256
		// being the DEFAULT hash (RFC 5816 §2.2.1, RFC 5035 §4).
		attr(oidSigningCertificateV2, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1OctetString(certHash[:]) })
				})
			})
		}),
	}
	slices.SortFunc(attrs, bytes.Compare) // DER SET OF order (X.690 §11.6)
	var set cryptobyte.Builder
	set.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	signedAttrs := set.BytesOrPanic()
	d := sha256.Sum256(signedAttrs)
	sig, err := r.key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("tsaresponder: sign: %w", err)
	}
	var sigAlg asn1.ObjectIdentifier
	switch r.key.Public().(type) {
	case *ecdsa.PublicKey:
		sigAlg = oidECDSAWithSHA256
	case *rsa.PublicKey:
		sigAlg = oidSHA256WithRSA
	default:
		return nil, fmt.Errorf("tsaresponder: %T keys", r.key.Public())
	}
	tag0 := cbasn1.Tag(0).Constructed().ContextSpecific()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(3) // RFC 5652 §5.1: v3 with a content type other than id-data
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(oidTSTInfo)
					b.AddASN1(tag0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(content) })
				})
				if req.certReq {
					b.AddASN1(tag0, func(b *cryptobyte.Builder) {
						b.AddBytes(r.cert.Raw)
						for _, c := range r.chain {
							b.AddBytes(c.Raw)
						}
					})
				}
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(r.cert.RawIssuer)
							b.AddASN1BigInt(r.cert.SerialNumber)
						})
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
						b.AddASN1(tag0, func(b *cryptobyte.Builder) {
							inner := cryptobyte.String(signedAttrs)
							var content cryptobyte.String
							inner.ReadASN1(&content, cbasn1.SET)
							b.AddBytes(content)
						})
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(sigAlg)
							if sigAlg.Equal(oidSHA256WithRSA) {
								b.AddASN1NULL()
							}
						})
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.Bytes()
}

// MaxRequest bounds what ServeHTTP reads.
const MaxRequest = 16 << 10

// ServeHTTP answers RFC 3161 §3.4's HTTP transport.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "POST an application/timestamp-query", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequest))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	resp, err := r.Respond(body)
	if err != nil {
		http.Error(w, "cannot stamp", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}
