package esign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// RFC 3161 timestamps: proof from a timestamping authority (TSA) that some
// data — a signature's value, for CAdES-T and PAdES B-T — existed at a time,
// so that the signature stays verifiable after its certificate expires or
// is revoked. This file is the client: the request, the response's status,
// and every check of the token (RFC 3161 §2.4.2 and §2.3, RFC 5816).

// ErrTimestamp: the timestamp cannot be relied on: the authority refused
// the request, or the token is for other data or another nonce, or was not
// made by a trusted timestamping authority. The token's signature itself
// failing is ErrBadSignature, a structure esign cannot read ErrMalformed.
var ErrTimestamp = errors.New("esign: timestamp not valid")

var (
	oidTSTInfo      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// MaxTimestampResponse bounds what a client reads from a TSA.
const MaxTimestampResponse = 256 << 10

// Timestamp is what a verified token says.
type Timestamp struct {
	// Time is genTime: when the TSA stamped the data.
	Time time.Time
	// Accuracy is how far Time may be from the true time (zero: not said).
	Accuracy time.Duration
	Policy   asn1.ObjectIdentifier
	Serial   *big.Int
	Nonce    *big.Int
	// Hash is the message imprint's algorithm.
	Hash crypto.Hash
	// Authority is the TSA's certificate; Chain runs from it to a root.
	Authority *x509.Certificate
	Chain     []*x509.Certificate

	// tsaName is the DER GeneralName of TSTInfo's tsa field, nil without.
	tsaName []byte
}

// TimestampOptions say whom to trust.
type TimestampOptions struct {
	// Roots and Intermediates are the TSAs' CAs.
	Roots, Intermediates *x509.CertPool
	// Nonce is the nonce of the request; nil does not check it (a token
	// kept in a signature is checked later without one).
	Nonce *big.Int
}

// TimestampRequest builds a TimeStampReq (RFC 3161 §2.4.1) for digest, made
// with h, with a fresh 64-bit nonce and certReq set, so the token carries
// the TSA's certificate.
func TimestampRequest(h crypto.Hash, digest []byte) (req []byte, nonce *big.Int, err error) {
	oid, ok := digestOID(h)
	if !ok || len(digest) != h.Size() {
		return nil, nil, fmt.Errorf("%w: a %v digest of %d bytes", ErrUnsupported, h, len(digest))
	}
	nonce, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // MessageImprint
			algorithmIdentifier(b, oid, false)
			b.AddASN1OctetString(digest)
		})
		b.AddASN1BigInt(nonce)
		b.AddASN1Boolean(true) // certReq
	})
	req, err = b.Bytes()
	return req, nonce, err
}

func digestOID(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	for _, d := range digests {
		if d.hash == h {
			return d.oid, true
		}
	}
	return nil, false
}

// TimestampToken returns the token of a TimeStampResp (RFC 3161 §2.4.2):
// ErrTimestamp, with the TSA's status, when it granted none.
func TimestampToken(resp []byte) ([]byte, error) {
	in := cryptobyte.String(resp)
	var seq, status cryptobyte.String
	var code int64
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1(&status, cbasn1.SEQUENCE) || !status.ReadASN1Integer(&code) {
		return nil, malformed("not a TimeStampResp")
	}
	// PKIStatus: granted (0) and grantedWithMods (1) carry a token.
	if code != 0 && code != 1 {
		return nil, fmt.Errorf("%w: the authority refused the request (PKIStatus %d)", ErrTimestamp, code)
	}
	var token cryptobyte.String
	if !seq.ReadASN1Element(&token, cbasn1.SEQUENCE) || !seq.Empty() {
		return nil, malformed("TimeStampResp without its token")
	}
	return token, nil
}

// VerifyTimestamp checks that token is a timestamp of digest (made with h)
// by a trusted TSA: the message imprint, the nonce when opts has one, the
// token's CMS signature, the ESS signing-certificate attribute naming the
// signer (RFC 3161 §2.4.1, RFC 5816), and the TSA's certificate — its one
// extended key usage timeStamping, marked critical (RFC 3161 §2.3), and its
// chain at the token's time.
func VerifyTimestamp(token []byte, h crypto.Hash, digest []byte, opts TimestampOptions) (*Timestamp, error) {
	sd, err := parseSignedData(token, oidTSTInfo)
	if err != nil {
		return nil, err
	}
	ts, imprint, err := parseTSTInfo(sd.eContent)
	if err != nil {
		return nil, err
	}
	if ts.Hash != h || !bytes.Equal(imprint, digest) {
		return nil, fmt.Errorf("%w: the token stamps other data", ErrTimestamp)
	}
	if opts.Nonce != nil && (ts.Nonce == nil || ts.Nonce.Cmp(opts.Nonce) != 0) {
		return nil, fmt.Errorf("%w: the token answers another request (nonce)", ErrTimestamp)
	}
	signer, others, err := sd.findSigner()
	if err != nil {
		return nil, err
	}
	if err := checkKey(signer, sd.alg); err != nil {
		return nil, err
	}
	if sd.signedAttrs == nil || (sd.certHash == nil && sd.certHashSHA1 == nil) {
		return nil, fmt.Errorf("%w: no signing-certificate attribute names the authority", ErrTimestamp)
	}
	var buf [64]byte
	if !bytes.Equal(digestOf(buf[:], sd.digest, sd.eContent), sd.messageDigest) {
		return nil, fmt.Errorf("%w: the token's content does not match its signed digest", ErrBadSignature)
	}
	if err := verifySignature(signer.PublicKey, sd.alg, digestOf(buf[:], sd.digest, sd.signedAttrs), sd.signature); err != nil {
		return nil, err
	}
	if err := sd.checkSigningCertificate(signer); err != nil {
		return nil, err
	}
	if err := checkTSAUse(signer); err != nil {
		return nil, err
	}
	if err := checkTSAName(ts.tsaName, signer); err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	if opts.Intermediates != nil {
		inter = opts.Intermediates.Clone()
	}
	for _, c := range others {
		inter.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}})
	if err != nil {
		return nil, fmt.Errorf("%w: the authority's certificate: %v", ErrTimestamp, err)
	}
	ts.Authority, ts.Chain = signer, chains[0]
	return ts, nil
}

// checkTSAUse: RFC 3161 §2.3 — the TSA's certificate has exactly one
// extended key usage, id-kp-timeStamping, in a critical extension.
func checkTSAUse(cert *x509.Certificate) error {
	critical := false
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			critical = e.Critical
		}
	}
	if !critical || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(cert.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("%w: the signer's certificate is not a timestamping authority's (RFC 3161 §2.3: one critical extended key usage, timeStamping)", ErrTimestamp)
	}
	return nil
}

// checkTSAName: RFC 3161 §2.4.2 — the tsa field, when present, "MUST
// correspond to one of the subject names included in the certificate that
// is to be used to verify the token": its subject (a directoryName) or an
// entry of its subjectAltName. OpenSSL's `ts -verify` refuses a mismatch
// too.
func checkTSAName(name []byte, cert *x509.Certificate) error {
	if name == nil {
		return nil
	}
	gn := cryptobyte.String(name)
	var dn cryptobyte.String
	if gn.ReadASN1(&dn, cbasn1.Tag(4).Constructed().ContextSpecific()) && sameName(dn, cert.RawSubject) {
		return nil
	}
	for _, e := range cert.Extensions {
		if !e.Id.Equal(oidSubjectAltName) {
			continue
		}
		in := cryptobyte.String(e.Value)
		var names cryptobyte.String
		if !in.ReadASN1(&names, cbasn1.SEQUENCE) {
			break
		}
		for !names.Empty() {
			var el cryptobyte.String
			var tag cbasn1.Tag
			if !names.ReadAnyASN1Element(&el, &tag) {
				break
			}
			if bytes.Equal(el, name) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the token's tsa field names another authority than the certificate that signed it (RFC 3161 §2.4.2)", ErrTimestamp)
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// sameName compares two DER Names as RFC 5280 §7.1 has names compared
// (RFC 4518: case and insignificant spaces aside, whatever the string
// type), as OpenSSL does: an authority may well write its name in the
// token with other string types than its certificate has.
func sameName(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) != 0 || len(ra) != len(rb) {
		return false
	}
	fold := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		for j := range ra[i] {
			va, ok1 := ra[i][j].Value.(string)
			vb, ok2 := rb[i][j].Value.(string)
			if !ra[i][j].Type.Equal(rb[i][j].Type) || !ok1 || !ok2 || fold(va) != fold(vb) {
				return false
			}
		}
	}
	return true
}

// parseTSTInfo reads a TSTInfo (RFC 3161 §2.4.2):
//
//	TSTInfo ::= SEQUENCE {
//	    version INTEGER { v1(1) },
//	    policy TSAPolicyId,
//	    messageImprint MessageImprint,
//	    serialNumber INTEGER,
//	    genTime GeneralizedTime,
//	    accuracy Accuracy OPTIONAL,
//	    ordering BOOLEAN DEFAULT FALSE,
//	    nonce INTEGER OPTIONAL,
//	    tsa [0] GeneralName OPTIONAL,
//	    extensions [1] IMPLICIT Extensions OPTIONAL }
func parseTSTInfo(der []byte) (*Timestamp, []byte, error) {
	bad := func(what string) (*Timestamp, []byte, error) { return nil, nil, malformed("TSTInfo " + what) }
	in := cryptobyte.String(der)
	var seq, imprint, hashed, genTime cryptobyte.String
	var version int64
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&version) || version != 1 {
		return bad("version")
	}
	ts := &Timestamp{Serial: new(big.Int)}
	policy, ok := readOID(&seq)
	if !ok {
		return bad("policy")
	}
	ts.Policy, _ = decodeOID(policy)
	if !seq.ReadASN1(&imprint, cbasn1.SEQUENCE) {
		return bad("message imprint")
	}
	h, err := readDigest(&imprint, "timestamp imprint")
	if err != nil {
		return nil, nil, err
	}
	ts.Hash = h
	if !imprint.ReadASN1(&hashed, cbasn1.OCTET_STRING) || !imprint.Empty() || !seq.ReadASN1Integer(ts.Serial) ||
		!seq.ReadASN1(&genTime, cbasn1.GeneralizedTime) {
		return bad("imprint, serial or time")
	}
	if ts.Time, err = generalizedTime(string(genTime)); err != nil {
		return bad("genTime")
	}
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		var acc cryptobyte.String
		if !seq.ReadASN1(&acc, cbasn1.SEQUENCE) {
			return bad("accuracy")
		}
		if ts.Accuracy, ok = accuracy(acc); !ok {
			return bad("accuracy")
		}
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) {
		var ordering bool
		if !seq.ReadASN1Boolean(&ordering) {
			return bad("ordering")
		}
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		ts.Nonce = new(big.Int)
		if !seq.ReadASN1Integer(ts.Nonce) {
			return bad("nonce")
		}
	}
	// tsa [0] GeneralName, explicit (a CHOICE), is kept for
	// checkTSAName; extensions [1] carry nothing this check needs.
	if seq.PeekASN1Tag(tag0) {
		var name cryptobyte.String
		var nameTag cbasn1.Tag
		if !seq.ReadASN1(&name, tag0) || !name.ReadAnyASN1Element((*cryptobyte.String)(&ts.tsaName), &nameTag) || !name.Empty() {
			return bad("tsa")
		}
	}
	var extensions cryptobyte.String
	var hasExtensions bool
	if !seq.ReadOptionalASN1(&extensions, &hasExtensions, cbasn1.Tag(1).Constructed().ContextSpecific()) || !seq.Empty() {
		return bad("trailing fields")
	}
	return ts, hashed, nil
}

// generalizedTime reads genTime: UTC, with a fraction of a second or
// without (RFC 3161 §2.4.2 allows both; X.690 §11.7 leaves no trailing
// zeros in the fraction).
func generalizedTime(s string) (time.Time, error) {
	for _, layout := range []string{"20060102150405Z", "20060102150405.999999999Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad GeneralizedTime %q", s)
}

// accuracy reads Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL,
// millis [0] INTEGER (1..999) OPTIONAL, micros [1] INTEGER (1..999)
// OPTIONAL }, the primitive tags being IMPLICIT.
func accuracy(s cryptobyte.String) (time.Duration, bool) {
	var d time.Duration
	var v int64
	if s.PeekASN1Tag(cbasn1.INTEGER) {
		if !s.ReadASN1Integer(&v) || v < 0 || v > 1<<31 {
			return 0, false
		}
		d += time.Duration(v) * time.Second
	}
	for _, part := range []struct {
		tag  cbasn1.Tag
		unit time.Duration
	}{{cbasn1.Tag(0).ContextSpecific(), time.Millisecond}, {cbasn1.Tag(1).ContextSpecific(), time.Microsecond}} {
		if s.PeekASN1Tag(part.tag) {
			if !s.ReadASN1Int64WithTag(&v, part.tag) || v < 1 || v > 999 {
				return 0, false
			}
			d += time.Duration(v) * part.unit
		}
	}
	return d, s.Empty()
}

// TSA is an RFC 3161 client over HTTP (RFC 3161 §3.4): it sends a request
// with a nonce, and checks the token it gets back like VerifyTimestamp.
type TSA struct {
	// URL is the authority's HTTP endpoint.
	URL string
	// Client is the HTTP client (nil: http.DefaultClient).
	Client *http.Client
	// Roots and Intermediates are the authority's CAs.
	Roots, Intermediates *x509.CertPool
}

// Stamp asks the authority to timestamp digest (made with h) and returns the
// token, checked.
func (t *TSA) Stamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, *Timestamp, error) {
	req, nonce, err := TimestampRequest(h, digest)
	if err != nil {
		return nil, nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(req))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the authority cannot be reached: %v", ErrTimestamp, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxTimestampResponse+1))
	if err != nil || resp.StatusCode != http.StatusOK || len(body) > MaxTimestampResponse {
		return nil, nil, fmt.Errorf("%w: the authority answered HTTP %d", ErrTimestamp, resp.StatusCode)
	}
	token, err := TimestampToken(body)
	if err != nil {
		return nil, nil, err
	}
	ts, err := VerifyTimestamp(token, h, digest, TimestampOptions{Roots: t.Roots, Intermediates: t.Intermediates, Nonce: nonce})
	if err != nil {
		return nil, nil, err
	}
	return token, ts, nil
}
