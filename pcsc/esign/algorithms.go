package esign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/pcsc/internal/rsapss"
)

// Algorithm identifiers that verification reads: digests (RFC 5754 §2),
// RSA (RFC 3370 §3.2, RFC 4055 §3 and §5), ECDSA (RFC 5753 §2.1.1,
// RFC 5758 §3.2).
var (
	oidSHA384             = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512             = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSAEncryption      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidMGF1               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidRSASSAPSS          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidSHA384WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA384    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSigningCertificate = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
)

// digests are the digest algorithms esign verifies with.
var digests = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{{oidSHA256, crypto.SHA256}, {oidSHA384, crypto.SHA384}, {oidSHA512, crypto.SHA512}}

// oidNames name algorithms in errors, the supported ones and those a
// signer may well send that esign refuses: an ErrUnsupported says what it
// met, in words and as a dotted OID.
var oidNames = map[string]string{
	"2.16.840.1.101.3.4.2.1":  "SHA-256",
	"2.16.840.1.101.3.4.2.2":  "SHA-384",
	"2.16.840.1.101.3.4.2.3":  "SHA-512",
	"2.16.840.1.101.3.4.2.4":  "SHA-224",
	"2.16.840.1.101.3.4.2.5":  "SHA-512/224",
	"2.16.840.1.101.3.4.2.6":  "SHA-512/256",
	"2.16.840.1.101.3.4.2.8":  "SHA3-256",
	"2.16.840.1.101.3.4.2.9":  "SHA3-384",
	"2.16.840.1.101.3.4.2.10": "SHA3-512",
	"2.16.840.1.101.3.4.2.12": "SHAKE256",
	"1.3.14.3.2.26":           "SHA-1",
	"1.2.840.113549.2.5":      "MD5",
	"1.2.840.113549.1.1.1":    "rsaEncryption",
	"1.2.840.113549.1.1.4":    "md5WithRSAEncryption",
	"1.2.840.113549.1.1.5":    "sha1WithRSAEncryption",
	"1.2.840.113549.1.1.8":    "MGF1",
	"1.2.840.113549.1.1.10":   "RSASSA-PSS",
	"1.2.840.113549.1.1.11":   "sha256WithRSAEncryption",
	"1.2.840.113549.1.1.12":   "sha384WithRSAEncryption",
	"1.2.840.113549.1.1.13":   "sha512WithRSAEncryption",
	"1.2.840.113549.1.1.14":   "sha224WithRSAEncryption",
	"1.2.840.10045.2.1":       "id-ecPublicKey",
	"1.2.840.10045.4.1":       "ecdsa-with-SHA1",
	"1.2.840.10045.4.3.1":     "ecdsa-with-SHA224",
	"1.2.840.10045.4.3.2":     "ecdsa-with-SHA256",
	"1.2.840.10045.4.3.3":     "ecdsa-with-SHA384",
	"1.2.840.10045.4.3.4":     "ecdsa-with-SHA512",
	"1.2.840.10040.4.1":       "DSA",
	"1.2.840.10040.4.3":       "dsa-with-SHA1",
	"2.16.840.1.101.3.4.3.1":  "dsa-with-SHA224",
	"2.16.840.1.101.3.4.3.2":  "dsa-with-SHA256",
	"2.16.840.1.101.3.4.3.3":  "dsa-with-SHA384",
	"2.16.840.1.101.3.4.3.4":  "dsa-with-SHA512",
	"1.3.101.112":             "Ed25519",
	"1.3.101.113":             "Ed448",
}

// algName names an algorithm for an error from the contents of its OID:
// "SHA-1 (1.3.14.3.2.26)".
func algName(raw []byte) string {
	s := oidString(raw)
	if n, ok := oidNames[s]; ok {
		return n + " (" + s + ")"
	}
	return s
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// readAlgorithm reads an AlgorithmIdentifier (RFC 5280 §4.1.1.2): the
// contents of its OID and its parameters, nil when absent.
func readAlgorithm(s *cryptobyte.String) (cryptobyte.String, []byte, bool) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, nil, false
	}
	oid, ok := readOID(&seq)
	if !ok {
		return nil, nil, false
	}
	if seq.Empty() {
		return oid, nil, true
	}
	var params cryptobyte.String
	var tag cbasn1.Tag
	if !seq.ReadAnyASN1Element(&params, &tag) || !seq.Empty() {
		return nil, nil, false
	}
	return oid, params, true
}

// absentOrNull accepts the parameters of a hash or of an RSA PKCS #1 v1.5
// signature algorithm: NULL or absent, both of which a verifier must
// accept (RFC 5754 §2, RFC 4055 §5).
func absentOrNull(params []byte) bool {
	return params == nil || bytes.Equal(params, []byte{0x05, 0x00})
}

// readDigest reads a digest AlgorithmIdentifier naming SHA-256, SHA-384 or
// SHA-512.
func readDigest(s *cryptobyte.String, what string) (crypto.Hash, error) {
	oid, params, ok := readAlgorithm(s)
	if !ok {
		return 0, malformed(what)
	}
	for _, d := range digests {
		if oidIs(oid, d.oid) {
			if !absentOrNull(params) {
				return 0, malformed(what + ": parameters of " + algName(oid) + " are neither absent nor NULL")
			}
			return d.hash, nil
		}
	}
	return 0, unsupported("%s %s", what, algName(oid))
}

// sigKind is the signature scheme a SignerInfo names.
type sigKind int

const (
	sigPKCS1 sigKind = iota + 1
	sigPSS
	sigECDSA
)

// sigAlg is a resolved signature algorithm: the scheme, the hash of the
// signed bytes (the SignerInfo's digest algorithm) and, for PSS, the salt
// length.
type sigAlg struct {
	kind sigKind
	hash crypto.Hash
	salt int
}

// String names the algorithm for Report.Algorithm.
func (a sigAlg) String() string {
	switch a.kind {
	case sigPKCS1:
		return "RSA PKCS #1 v1.5 (" + a.hash.String() + ")"
	case sigECDSA:
		return "ECDSA (" + a.hash.String() + ")"
	case sigPSS:
		return fmt.Sprintf("RSASSA-PSS (%v, MGF1 %v, salt %d)", a.hash, a.hash, a.salt)
	}
	return "no algorithm"
}

// digestOf hashes data with h, one of the digests, into buf when it fits:
// the fixed-size sums stay off the heap.
func digestOf(buf []byte, h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(data)
		return append(buf[:0], d[:]...)
	case crypto.SHA384:
		d := sha512.Sum384(data)
		return append(buf[:0], d[:]...)
	case crypto.SHA512:
		d := sha512.Sum512(data)
		return append(buf[:0], d[:]...)
	}
	hh := h.New()
	hh.Write(data)
	return hh.Sum(buf[:0])
}

// readSignatureAlgorithm reads the SignerInfo's signatureAlgorithm and
// checks it agrees with its digestAlgorithm, which hashes the signed
// attributes (RFC 5652 §5.4).
func readSignatureAlgorithm(s *cryptobyte.String, digest crypto.Hash) (sigAlg, error) {
	oid, params, ok := readAlgorithm(s)
	if !ok {
		return sigAlg{}, malformed("signature algorithm")
	}
	with := func(kind sigKind, h crypto.Hash) (sigAlg, error) {
		if !absentOrNull(params) {
			return sigAlg{}, malformed("parameters of " + algName(oid))
		}
		if h != 0 && h != digest {
			return sigAlg{}, unsupported("signature algorithm %s with digest algorithm %v", algName(oid), digest)
		}
		return sigAlg{kind: kind, hash: digest}, nil
	}
	switch {
	// rsaEncryption: PKCS #1 v1.5 with the digest algorithm's hash
	// (RFC 3370 §3.2); OpenSSL writes it.
	case oidIs(oid, oidRSAEncryption):
		return with(sigPKCS1, 0)
	case oidIs(oid, oidSHA256WithRSA):
		return with(sigPKCS1, crypto.SHA256)
	case oidIs(oid, oidSHA384WithRSA):
		return with(sigPKCS1, crypto.SHA384)
	case oidIs(oid, oidSHA512WithRSA):
		return with(sigPKCS1, crypto.SHA512)
	// ECDSA: RFC 5758 §3.2 has signers omit the parameters; a NULL, which
	// some signers write, says nothing either and is let through.
	case oidIs(oid, oidECDSAWithSHA256):
		return with(sigECDSA, crypto.SHA256)
	case oidIs(oid, oidECDSAWithSHA384):
		return with(sigECDSA, crypto.SHA384)
	case oidIs(oid, oidECDSAWithSHA512):
		return with(sigECDSA, crypto.SHA512)
	case oidIs(oid, oidRSASSAPSS):
		return readPSSParams(params, digest)
	}
	return sigAlg{}, unsupported("signature algorithm %s", algName(oid))
}

// readPSSParams reads RSASSA-PSS-params (RFC 4055 §3.1, RFC 8017 Appendix
// A.2.3):
//
//	RSASSA-PSS-params ::= SEQUENCE {
//	    hashAlgorithm      [0] HashAlgorithm    DEFAULT sha1,
//	    maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
//	    saltLength         [2] INTEGER          DEFAULT 20,
//	    trailerField       [3] TrailerField     DEFAULT trailerFieldBC }
//
// Explicitly encoded defaults are accepted although DER omits them: some
// signers write them.
func readPSSParams(params []byte, digest crypto.Hash) (sigAlg, error) {
	a := sigAlg{kind: sigPSS}
	// In CMS the parameters MUST be present (RFC 4056 §3).
	in := cryptobyte.String(params)
	var seq cryptobyte.String
	if params == nil || !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return a, malformed("RSASSA-PSS parameters")
	}
	tag := func(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed().ContextSpecific() }
	hashOID, mgfHashOID := rawSHA1, rawSHA1
	salt, trailer := int64(20), int64(1)
	var hashField, mgfField, saltField, trailerField cryptobyte.String
	var hasHash, hasMGF, hasSalt, hasTrailer bool
	if !seq.ReadOptionalASN1(&hashField, &hasHash, tag(0)) || !seq.ReadOptionalASN1(&mgfField, &hasMGF, tag(1)) ||
		!seq.ReadOptionalASN1(&saltField, &hasSalt, tag(2)) || !seq.ReadOptionalASN1(&trailerField, &hasTrailer, tag(3)) || !seq.Empty() {
		return a, malformed("RSASSA-PSS parameters")
	}
	if hasHash {
		oid, p, ok := readAlgorithm(&hashField)
		if !ok || !hashField.Empty() || !absentOrNull(p) {
			return a, malformed("RSASSA-PSS hash algorithm")
		}
		hashOID = oid
	}
	if hasMGF {
		oid, p, ok := readAlgorithm(&mgfField)
		if !ok || !mgfField.Empty() {
			return a, malformed("RSASSA-PSS mask generation algorithm")
		}
		if !oidIs(oid, oidMGF1) {
			return a, unsupported("RSASSA-PSS with mask generation function %s", algName(oid))
		}
		// MGF1's parameter is the AlgorithmIdentifier of its hash
		// (RFC 4055 §2.2, RFC 8017 Appendix B.2.1).
		ps := cryptobyte.String(p)
		mh, mp, ok := readAlgorithm(&ps)
		if !ok || !ps.Empty() || !absentOrNull(mp) {
			return a, malformed("RSASSA-PSS MGF1 hash algorithm")
		}
		mgfHashOID = mh
	}
	if hasSalt && (!saltField.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !saltField.Empty() || salt < 0 || salt > 1<<16) {
		return a, malformed("RSASSA-PSS salt length")
	}
	if hasTrailer && (!trailerField.ReadASN1Int64WithTag(&trailer, cbasn1.INTEGER) || !trailerField.Empty()) {
		return a, malformed("RSASSA-PSS trailer field")
	}
	// trailerFieldBC, the byte 0xBC, is the only trailer RFC 8017 §9.1
	// defines (RFC 4055 §3.1: "MUST be 1").
	if trailer != 1 {
		return a, unsupported("RSASSA-PSS trailer field %d (only 1, 0xBC, is defined)", trailer)
	}
	var hash crypto.Hash
	for _, d := range digests {
		if oidIs(hashOID, d.oid) {
			hash = d.hash
		}
	}
	if hash == 0 {
		return a, unsupported("RSASSA-PSS with hash %s", algName(hashOID))
	}
	// crypto/rsa masks with MGF1 over the signature's own hash, which RFC
	// 4055 §3.1 recommends; other pairings are legal but not handled.
	if !bytes.Equal(mgfHashOID, hashOID) {
		return a, unsupported("RSASSA-PSS with MGF1 over %s and hash %s", algName(mgfHashOID), algName(hashOID))
	}
	// The signed attributes' digest and the PSS hash MUST be the same
	// (RFC 4056 §3).
	if hash != digest {
		return a, malformed(fmt.Sprintf("RSASSA-PSS hash %v differs from the digest algorithm %v", hash, digest))
	}
	a.hash, a.salt = hash, int(salt)
	return a, nil
}

// rawSHA1 is the DER contents of id-sha1, 1.3.14.3.2.26, the default
// hash of RSASSA-PSS-params.
var rawSHA1 = []byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}

// minRSABits is the smallest RSA key crypto/rsa verifies with (Go 1.24).
const minRSABits = 1024

// checkKey says whether esign can verify a's signatures with the signer's
// key, before any signature is checked: an unsupported key is not a bad
// signature.
func checkKey(cert *x509.Certificate, a sigAlg) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if a.kind != sigPKCS1 && a.kind != sigPSS {
			return malformed(a.String() + " signature by an RSA key")
		}
		if k.N.BitLen() < minRSABits {
			return unsupported("RSA keys of %d bits", k.N.BitLen())
		}
		if a.kind == sigPSS && pssEmLen(k) < a.hash.Size()+a.salt+2 {
			// No valid signature exists (RFC 8017 §9.1.2 step 3).
			return malformed(fmt.Sprintf("RSASSA-PSS salt length %d does not fit a %d-bit key", a.salt, k.N.BitLen()))
		}
	case *ecdsa.PublicKey:
		if a.kind != sigECDSA {
			return malformed(a.String() + " signature by an ECDSA key")
		}
	default:
		return unsupported("signer key %s", keyAlgorithm(cert))
	}
	return nil
}

// keyAlgorithm names the algorithm of the certificate's public key from its
// SubjectPublicKeyInfo, also when crypto/x509 did not parse the key.
func keyAlgorithm(cert *x509.Certificate) string {
	spki := cryptobyte.String(cert.RawSubjectPublicKeyInfo)
	var seq cryptobyte.String
	if spki.ReadASN1(&seq, cbasn1.SEQUENCE) {
		if oid, _, ok := readAlgorithm(&seq); ok {
			return algName(oid)
		}
	}
	return fmt.Sprintf("%T", cert.PublicKey)
}

// pssEmLen is emLen of RFC 8017 §9.1.2: ceil((modBits-1)/8).
func pssEmLen(k *rsa.PublicKey) int { return (k.N.BitLen() - 1 + 7) / 8 }

// verifySignature checks sig over digest, the a.hash digest of the signed
// bytes, with the key checkKey accepted.
func verifySignature(pub crypto.PublicKey, a sigAlg, digest, sig []byte) error {
	var ok bool
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		switch {
		case a.kind == sigPKCS1:
			ok = rsa.VerifyPKCS1v15(k, a.hash, digest, sig) == nil
		case a.salt == 0:
			// crypto/rsa reads salt length 0 as "any length": check
			// the deterministic encoding instead.
			ok = verifyPSSNoSalt(k, a.hash, digest, sig)
		default:
			ok = rsa.VerifyPSS(k, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: a.salt, Hash: a.hash}) == nil
		}
	default:
		return unsupported("%T keys", pub)
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// verifyPSSNoSalt is RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) for a salt of
// length 0, where EMSA-PSS-ENCODE (§9.1.1) is deterministic: compute the
// encoded message and compare it with the signature raised to e. Only
// public values are involved, so math/big's variable time is harmless.
func verifyPSSNoSalt(k *rsa.PublicKey, hash crypto.Hash, mHash, sig []byte) bool {
	size := (k.N.BitLen() + 7) / 8
	if len(sig) != size || len(mHash) != hash.Size() {
		return false
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(k.N) >= 0 { // §5.2.2 step 1
		return false
	}
	m := s.Exp(s, big.NewInt(int64(k.E)), k.N)
	emBits := k.N.BitLen() - 1
	emLen := (emBits + 7) / 8
	hLen := hash.Size()
	// EM = I2OSP(m, emLen) fails when m is too large (§8.1.2 step 2c), and
	// its leftmost 8emLen-emBits bits must be zero (§9.1.2 step 6).
	if emLen < hLen+2 || m.BitLen() > emBits {
		return false
	}
	// M' = 8 zero bytes || mHash || salt (empty); H = Hash(M').
	h := hash.New()
	h.Write(make([]byte, 8))
	h.Write(mHash)
	H := h.Sum(nil)
	// DB = PS || 0x01, masked with MGF1(H).
	db := make([]byte, emLen-hLen-1)
	db[len(db)-1] = 0x01
	rsapss.MGF1XOR(db, hash, H)
	db[0] &= 0xFF >> (8*emLen - emBits)
	em := append(append(db, H...), 0xBC)
	return bytes.Equal(m.FillBytes(make([]byte, emLen)), em)
}
