package cardauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	_ "crypto/sha256" // SHA-256 and SHA-384
	_ "crypto/sha512"
)

// Token is a Web eID authentication token (format web-eid:1.x). Fields a
// later 1.x format adds are ignored, so tokens of newer clients still parse.
type Token struct {
	// UnverifiedCertificate is the standard-base64 DER of the
	// authentication certificate. "Unverified": nothing in it is trusted
	// until Finish has checked it.
	UnverifiedCertificate string `json:"unverifiedCertificate"`
	// Algorithm is the JWA name of the signature algorithm.
	Algorithm string `json:"algorithm"`
	// Signature is the standard-base64 signature; ECDSA as r‖s.
	Signature string `json:"signature"`
	// Format is "web-eid:1.0" or another web-eid:1.x.
	Format string `json:"format"`
	// AppVersion is a URL naming the client application and its version.
	AppVersion string `json:"appVersion"`
}

// MaxTokenSize bounds the JSON a server reads: a 4096-bit RSA certificate
// and signature take under 8 KiB; newer formats add a few fields.
const MaxTokenSize = 32 << 10

// Format is the format puce's client half writes.
const Format = "web-eid:1.0"

// AppVersion is what puce's client half names itself.
const AppVersion = "https://github.com/puce-id/puce"

type keyKind int

const (
	kindECDSA keyKind = iota
	kindRSAPKCS1
	kindRSAPSS
)

type algorithm struct {
	name  string
	hash  crypto.Hash
	kind  keyKind
	curve elliptic.Curve // ES*: the one curve JWA allows (RFC 7518 §3.4)
}

func algorithms() []algorithm {
	return []algorithm{
		{"ES256", crypto.SHA256, kindECDSA, elliptic.P256()},
		{"ES384", crypto.SHA384, kindECDSA, elliptic.P384()},
		{"ES512", crypto.SHA512, kindECDSA, elliptic.P521()},
		{"RS256", crypto.SHA256, kindRSAPKCS1, nil},
		{"RS384", crypto.SHA384, kindRSAPKCS1, nil},
		{"RS512", crypto.SHA512, kindRSAPKCS1, nil},
		{"PS256", crypto.SHA256, kindRSAPSS, nil},
		{"PS384", crypto.SHA384, kindRSAPSS, nil},
		{"PS512", crypto.SHA512, kindRSAPSS, nil},
	}
}

func lookupAlgorithm(name string) (algorithm, error) {
	for _, a := range algorithms() {
		if a.name == name {
			return a, nil
		}
	}
	return algorithm{}, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, name)
}

// minRSABits refuses RSA keys too weak for authentication today.
const minRSABits = 2048

// ParseToken decodes a token and its certificate. It checks the shape only:
// nothing is trusted yet.
func ParseToken(data []byte) (*Token, *x509.Certificate, error) {
	t, err := decodeToken(data)
	if err != nil {
		return nil, nil, err
	}
	cert, err := t.certificate()
	if err != nil {
		return nil, nil, err
	}
	if err := t.checkSignatureEncoding(); err != nil {
		return nil, nil, err
	}
	return t, cert, nil
}

// parseToken is ParseToken with the certificate's parse taken from the
// factor's cache when this exact certificate text logged in before;
// cached says so (a miss is put in the cache by the caller after a
// successful login).
func (f *Factor) parseToken(data []byte) (t *Token, pc *parsedCert, cached bool, err error) {
	if t, err = decodeToken(data); err != nil {
		return nil, nil, false, err
	}
	if pc, _ = f.certs.Lookup(t.UnverifiedCertificate, nil); pc == nil {
		cert, err := t.certificate()
		if err != nil {
			return nil, nil, false, err
		}
		pc = newParsedCert(cert)
	} else {
		cached = true
	}
	if err := t.checkSignatureEncoding(); err != nil {
		return nil, nil, false, err
	}
	return t, pc, cached, nil
}

// decodeToken reads the token's JSON and checks its format and algorithm.
func decodeToken(data []byte) (*Token, error) {
	if len(data) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedToken, len(data), MaxTokenSize)
	}
	// json.Unmarshal refuses anything after the object but white space,
	// and costs a third less than a Decoder, which copies the input first.
	var t Token
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedToken, err)
	}
	if !formatOK(t.Format) {
		return nil, fmt.Errorf("%w: format %q is not web-eid:1.x", ErrMalformedToken, t.Format)
	}
	if _, err := lookupAlgorithm(t.Algorithm); err != nil {
		return nil, err
	}
	return &t, nil
}

// certificate parses the token's unverifiedCertificate.
func (t *Token) certificate() (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(t.UnverifiedCertificate)
	if err != nil || len(der) == 0 {
		return nil, fmt.Errorf("%w: unverifiedCertificate is not standard base64", ErrMalformedToken)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: unverifiedCertificate: %v", ErrMalformedToken, err)
	}
	return cert, nil
}

func (t *Token) checkSignatureEncoding() error {
	if _, err := base64.StdEncoding.DecodeString(t.Signature); err != nil || t.Signature == "" {
		return fmt.Errorf("%w: signature is not standard base64", ErrMalformedToken)
	}
	return nil
}

// formatOK accepts "web-eid:1" and "web-eid:1.<digits>": every 1.x client.
func formatOK(f string) bool {
	rest, ok := strings.CutPrefix(f, "web-eid:1")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	minor, ok := strings.CutPrefix(rest, ".")
	return ok && minor != "" && strings.Trim(minor, "0123456789") == ""
}

// signedDigest is the digest the card signs: H(H(origin) ‖ H(nonce)), the
// signature algorithm hashing the Web eID message H(origin) ‖ H(nonce).
func signedDigest(h crypto.Hash, origin, nonce string) []byte {
	hh := h.New()
	hh.Write([]byte(origin))
	msg := hh.Sum(nil)
	hh.Reset()
	hh.Write([]byte(nonce))
	msg = hh.Sum(msg)
	hh.Reset()
	hh.Write(msg)
	return hh.Sum(nil)
}

// VerifySignature checks the token's signature over origin and nonce with
// the certificate's public key.
func (t *Token) VerifySignature(cert *x509.Certificate, origin, nonce string) error {
	alg, err := lookupAlgorithm(t.Algorithm)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(t.Signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not standard base64", ErrMalformedToken)
	}
	digest := signedDigest(alg.hash, origin, nonce)
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if alg.kind != kindECDSA || pub.Curve != alg.curve {
			return fmt.Errorf("%w: %s with an ECDSA %s key", ErrUnsupportedAlgorithm, alg.name, pub.Curve.Params().Name)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return fmt.Errorf("%w: ECDSA signature of %d bytes, want r‖s of %d", ErrBadSignature, len(sig), 2*size)
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return ErrBadSignature
		}
	case *rsa.PublicKey:
		if alg.kind == kindECDSA {
			return fmt.Errorf("%w: %s with an RSA key", ErrUnsupportedAlgorithm, alg.name)
		}
		if pub.N.BitLen() < minRSABits {
			return fmt.Errorf("%w: RSA key of %d bits", ErrUnsupportedAlgorithm, pub.N.BitLen())
		}
		if alg.kind == kindRSAPSS {
			err = rsa.VerifyPSS(pub, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, alg.hash, digest, sig)
		}
		if err != nil {
			return ErrBadSignature
		}
	default:
		return fmt.Errorf("%w: %T keys", ErrUnsupportedAlgorithm, cert.PublicKey)
	}
	return nil
}

// TokenOptions tune NewToken.
type TokenOptions struct {
	// PSS signs with RSASSA-PSS (PS*) instead of PKCS #1 v1.5 (RS*) for RSA
	// keys.
	PSS bool
	// Hash for RSA keys (default SHA-256). ECDSA keys use the hash JWA ties
	// to their curve.
	Hash crypto.Hash
}

// NewToken is the client half: it signs origin and nonce with the card's
// authentication key and returns the Web eID token as JSON. signer is the
// card's key (a piv slot 9A signer), cert its certificate. Signing may ask
// the card for the PIN; NewToken never sees it. LoginToken does the whole
// holder's side from an open card.
//
// The token is a json.RawMessage: put into a JSON body (a finish request's
// "response") it stays the token object, never base64 of it; as the Data
// of an identity.Response it is the bytes Finish reads.
func NewToken(signer crypto.Signer, cert *x509.Certificate, origin, nonce string, opts *TokenOptions) (json.RawMessage, error) {
	if opts == nil {
		opts = &TokenOptions{}
	}
	var alg algorithm
	switch pub := signer.Public().(type) {
	case *ecdsa.PublicKey:
		for _, a := range algorithms() {
			if a.kind == kindECDSA && a.curve == pub.Curve {
				alg = a
			}
		}
		if alg.name == "" {
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedAlgorithm, pub.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		h := opts.Hash
		if h == 0 {
			h = crypto.SHA256
		}
		kind := kindRSAPKCS1
		if opts.PSS {
			kind = kindRSAPSS
		}
		for _, a := range algorithms() {
			if a.kind == kind && a.hash == h {
				alg = a
			}
		}
		if alg.name == "" {
			return nil, fmt.Errorf("%w: RSA with %s", ErrUnsupportedAlgorithm, h)
		}
	default:
		return nil, fmt.Errorf("%w: %T keys", ErrUnsupportedAlgorithm, signer.Public())
	}
	digest := signedDigest(alg.hash, origin, nonce)
	var signOpts crypto.SignerOpts = alg.hash
	if alg.kind == kindRSAPSS {
		signOpts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.hash}
	}
	sig, err := signer.Sign(rand.Reader, digest, signOpts)
	if err != nil {
		return nil, fmt.Errorf("cardauth: sign: %w", err)
	}
	if alg.kind == kindECDSA {
		if sig, err = rawECDSA(sig, alg.curve); err != nil {
			return nil, err
		}
	}
	return json.Marshal(Token{
		UnverifiedCertificate: base64.StdEncoding.EncodeToString(cert.Raw),
		Algorithm:             alg.name,
		Signature:             base64.StdEncoding.EncodeToString(sig),
		Format:                Format,
		AppVersion:            AppVersion,
	})

}

// rawECDSA turns an ASN.1 ECDSA signature into fixed-size r‖s (JWA, RFC
// 7518 §3.4).
func rawECDSA(der []byte, curve elliptic.Curve) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, fmt.Errorf("cardauth: the signer returned a malformed ECDSA signature")
	}
	size := (curve.Params().BitSize + 7) / 8
	if sig.R.BitLen() > 8*size || sig.S.BitLen() > 8*size {
		return nil, fmt.Errorf("cardauth: the signer returned an ECDSA signature too large for %s", curve.Params().Name)
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}
