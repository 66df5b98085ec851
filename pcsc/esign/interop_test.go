package esign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// osslEnv is a test PKI with software signing keys that the real openssl
// binary signs with.
type osslEnv struct {
	bin, dir string
	pki      testcard.PKI
	chain    string // PEM of the issuing CA, put into each signature
	doc      string
}

func newOSSLEnv(t *testing.T) *osslEnv {
	t.Helper()
	e := &osslEnv{bin: openssl(t), dir: t.TempDir()}
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	e.pki = card.PKI
	e.chain, e.doc = filepath.Join(e.dir, "chain.pem"), filepath.Join(e.dir, "doc")
	writePEM(t, e.chain, e.pki.Issuing)
	if err := os.WriteFile(e.doc, document, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// writeKey writes a private key as PKCS #8 PEM.
func (e *osslEnv) writeKey(t *testing.T, name string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sign runs `openssl cms -sign` on the document with the given signer and
// extra arguments, and returns the DER signature.
func (e *osslEnv) sign(t *testing.T, certPath, keyPath string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(e.dir, "sig.p7s")
	cmd := append([]string{"cms", "-sign", "-binary", "-in", e.doc, "-signer", certPath, "-inkey", keyPath,
		"-certfile", e.chain, "-outform", "DER", "-out", out}, args...)
	if msg, err := exec.Command(e.bin, cmd...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(cmd, " "), err, msg)
	}
	p7s, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return p7s
}

// signer makes a software key, certifies it under the test PKI and writes
// both for openssl.
func (e *osslEnv) signer(t *testing.T, key crypto.Signer, edit func(*x509.Certificate)) (*x509.Certificate, string, string) {
	t.Helper()
	cert := signerCert(t, e.pki, key, edit)
	name := cert.SerialNumber.Text(16)
	certPath := filepath.Join(e.dir, name+".pem")
	writePEM(t, certPath, cert)
	return cert, certPath, e.writeKey(t, name+".key", key)
}

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

// testRSAKey is one RSA-2048 key for all tests: generating keys is slow.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

// withSKI gives the certificate a subject key identifier (SHA-1 of the
// key, RFC 5280 §4.2.1.2 method 1), which `openssl cms -keyid` names.
func withSKI(key crypto.Signer) func(*x509.Certificate) {
	return func(c *x509.Certificate) {
		der, _ := x509.MarshalPKIXPublicKey(key.Public())
		sum := sha1.Sum(der)
		c.SubjectKeyId = sum[:]
	}
}

// TestVerifiesOpenSSLVariants verifies signatures the real openssl binary
// makes with the options other signers use: RSA-PSS with its salt length
// choices, SHA-384 and SHA-512, the signer named by subject key
// identifier, and no signed attributes at all.
func TestVerifiesOpenSSLVariants(t *testing.T) {
	e := newOSSLEnv(t)
	rsaK := testRSAKey(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pss := []string{"-keyopt", "rsa_padding_mode:pss"}
	for _, tc := range []struct {
		name    string
		key     crypto.Signer
		args    []string
		wantAlg string
	}{
		{"RSA-PSS, SHA-256, salt max (openssl default)", rsaK, append([]string{"-cades"}, pss...), "RSASSA-PSS (SHA-256, MGF1 SHA-256, salt 222)"},
		{"RSA-PSS, SHA-384, salt = hash length", rsaK, append([]string{"-md", "sha384"}, append(pss, "-keyopt", "rsa_pss_saltlen:digest")...), "RSASSA-PSS (SHA-384, MGF1 SHA-384, salt 48)"},
		{"RSA-PSS, SHA-512, salt 0", rsaK, append([]string{"-md", "sha512"}, append(pss, "-keyopt", "rsa_pss_saltlen:0")...), "RSASSA-PSS (SHA-512, MGF1 SHA-512, salt 0)"},
		{"RSA-PSS, -keyid", rsaK, append([]string{"-keyid", "-cades"}, pss...), "RSASSA-PSS"},
		{"RSA PKCS#1 v1.5, SHA-512", rsaK, []string{"-md", "sha512"}, "RSA PKCS #1 v1.5 (SHA-512)"},
		{"ECDSA P-384, SHA-384", p384, []string{"-md", "sha384", "-cades"}, "ECDSA (SHA-384)"},
		{"ECDSA P-256, SHA-512", p256, []string{"-md", "sha512"}, "ECDSA (SHA-512)"},
		{"ECDSA P-256, -keyid, SHA-384", p256, []string{"-keyid", "-md", "sha384"}, "ECDSA (SHA-384)"},
		{"ECDSA P-256, -noattr", p256, []string{"-noattr"}, "ECDSA (SHA-256)"},
		{"RSA-PSS, -noattr", rsaK, append([]string{"-noattr"}, pss...), "RSASSA-PSS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, certPath, keyPath := e.signer(t, tc.key, withSKI(tc.key))
			p7s := e.sign(t, certPath, keyPath, tc.args...)
			rep, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: e.pki.Roots})
			if err != nil {
				t.Fatalf("a valid signature by openssl cms -sign %s: %v", strings.Join(tc.args, " "), err)
			}
			if !rep.Signer.Equal(cert) || len(rep.Chain) != 3 || !strings.Contains(rep.Algorithm, tc.wantAlg) {
				t.Fatalf("report: signer %v, chain %d, algorithm %q (want %q)", rep.Signer.Subject, len(rep.Chain), rep.Algorithm, tc.wantAlg)
			}
			altered := append(bytes.Clone(document), '.')
			if _, err := esign.Verify(altered, p7s, esign.VerifyOptions{Roots: e.pki.Roots}); !errors.Is(err, esign.ErrDocumentAltered) {
				t.Fatalf("altered document: %v", err)
			}
			t.Logf("puce: verified openssl cms -sign %s: %s", strings.Join(tc.args, " "), rep.Algorithm)
		})
	}
}

// TestTamperedPSSRefused: a PSS signature with one bit changed, or whose
// declared salt length is not the one used, is a bad signature, not an
// unsupported one and not a valid one.
func TestTamperedPSSRefused(t *testing.T) {
	e := newOSSLEnv(t)
	_, certPath, keyPath := e.signer(t, testRSAKey(t), nil)
	for _, salt := range []string{"max", "0"} {
		p7s := e.sign(t, certPath, keyPath, "-cades", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:"+salt)
		if _, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: e.pki.Roots}); err != nil {
			t.Fatalf("salt %s: the untouched signature: %v", salt, err)
		}
		for _, i := range []int{1, 100, 255} { // bytes of the 256-byte signature value, which ends the file
			bad := bytes.Clone(p7s)
			bad[len(bad)-i] ^= 0x01
			if _, err := esign.Verify(document, bad, esign.VerifyOptions{Roots: e.pki.Roots}); !errors.Is(err, esign.ErrBadSignature) {
				t.Fatalf("salt %s, byte -%d flipped: %v, want ErrBadSignature", salt, i, err)
			}
		}
	}
	// Declared salt length 221 for a signature made with 222: crypto/rsa's
	// "any length" would accept it; RFC 8017 §9.1.2 step 10 does not.
	p7s := e.sign(t, certPath, keyPath, "-keyopt", "rsa_padding_mode:pss")
	saltField := []byte{0xA2, 0x04, 0x02, 0x02, 0x00, 0xDE}
	if bytes.Count(p7s, saltField) != 1 {
		t.Fatalf("the salt length 222 field is not in the signature once")
	}
	lied := bytes.Replace(p7s, saltField, []byte{0xA2, 0x04, 0x02, 0x02, 0x00, 0xDD}, 1)
	if _, err := esign.Verify(document, lied, esign.VerifyOptions{Roots: e.pki.Roots}); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("declared salt length 221: %v, want ErrBadSignature", err)
	}
}

// TestSignerPurposes: a signer whose certificate is for other purposes is
// refused with a typed error, whichever tool signed.
func TestSignerPurposes(t *testing.T) {
	e := newOSSLEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, certPath, keyPath := e.signer(t, key, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
	p7s := e.sign(t, certPath, keyPath, "-cades")
	_, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: e.pki.Roots})
	if !errors.Is(err, esign.ErrExtKeyUsage) || !errors.Is(err, esign.ErrUntrustedSigner) || !strings.Contains(err.Error(), "serverAuth") {
		t.Fatalf("serverAuth-only signer by openssl: %v, want ErrExtKeyUsage naming serverAuth", err)
	}
	t.Logf("puce: refused: %v", err)
	// A relying party that accepts serverAuth for signing can say so.
	if _, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: e.pki.Roots, Purposes: []asn1OID{oid(1, 3, 6, 1, 5, 5, 7, 3, 1)}}); err != nil {
		t.Fatalf("serverAuth accepted by configuration: %v", err)
	}

	for _, tc := range []struct {
		name string
		edit func(*x509.Certificate)
		opts []asn1OID
		want error
	}{
		{"no extended key usage", nil, nil, nil},
		{"emailProtection", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection} }, nil, nil},
		{"documentSigning", func(c *x509.Certificate) { c.UnknownExtKeyUsage = []asn1OID{esign.OIDDocumentSigning} }, nil, nil},
		{"anyExtendedKeyUsage", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }, nil, nil},
		{"serverAuth and clientAuth", func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}, nil, esign.ErrExtKeyUsage},
		{"codeSigning", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning} }, nil, esign.ErrExtKeyUsage},
		{"anyExtendedKeyUsage not accepted", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} },
			[]asn1OID{esign.OIDDocumentSigning}, esign.ErrExtKeyUsage},
		{"no key usage extension (RFC 5280 §4.2.1.3: unrestricted)", func(c *x509.Certificate) { c.KeyUsage = 0 }, nil, nil},
		{"nonRepudiation only", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageContentCommitment }, nil, nil},
		{"keyEncipherment only", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }, nil, esign.ErrKeyUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := signerCert(t, e.pki, key, tc.edit)
			p7s := goSign(t, e.pki, cert, key)
			_, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: e.pki.Roots, Purposes: tc.opts})
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// goSign signs the document with puce's own Prepare and Assemble and a
// software key.
func goSign(t *testing.T, pki testcard.PKI, cert *x509.Certificate, key crypto.Signer) []byte {
	t.Helper()
	p, err := esign.Prepare(document, cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	if err != nil {
		t.Fatal(err)
	}
	p7s, err := p.Assemble(sig, pki.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	return p7s
}

// TestUnsupportedNamed: what esign does not handle is ErrUnsupported naming
// it, never a bad signature.
func TestUnsupportedNamed(t *testing.T) {
	e := newOSSLEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, certPath, keyPath := e.signer(t, key, nil)
	_, cert2, key2 := e.signer(t, testRSAKey(t), nil)

	// DSA: crypto/x509 cannot certify a DSA key, so openssl's CA does it,
	// with the test PKI's issuing key.
	caKey := e.writeKey(t, "issuing.key", e.pki.IssuingKey)
	caCert := filepath.Join(e.dir, "issuing.pem")
	writePEM(t, caCert, e.pki.Issuing)
	dsaParams, dsaKey, dsaCSR, dsaCert := filepath.Join(e.dir, "dsa.params"), filepath.Join(e.dir, "dsa.key"), filepath.Join(e.dir, "dsa.csr"), filepath.Join(e.dir, "dsa.pem")
	for _, args := range [][]string{
		{"genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:2048", "-out", dsaParams},
		{"genpkey", "-paramfile", dsaParams, "-out", dsaKey},
		{"req", "-new", "-key", dsaKey, "-subj", "/CN=DSA signer", "-out", dsaCSR},
		{"x509", "-req", "-in", dsaCSR, "-CA", caCert, "-CAkey", caKey, "-set_serial", "7", "-days", "1", "-out", dsaCert},
	} {
		if out, err := exec.Command(e.bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}

	for _, tc := range []struct {
		name, cert, key string
		args            []string
		want            string
	}{
		{"DSA", dsaCert, dsaKey, nil, "dsa-with-SHA256"},
		{"SHA-1", certPath, keyPath, []string{"-md", "sha1"}, "SHA-1 (1.3.14.3.2.26)"},
		{"SHA3-256", cert2, key2, []string{"-md", "sha3-256"}, "SHA3-256"},
		{"two signers", certPath, keyPath, []string{"-signer", cert2, "-inkey", key2}, "more than one signer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p7s := e.sign(t, tc.cert, tc.key, tc.args...)
			_, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: e.pki.Roots})
			if !errors.Is(err, esign.ErrUnsupported) || errors.Is(err, esign.ErrBadSignature) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrUnsupported naming %q", err, tc.want)
			}
			t.Logf("puce: %v", err)
		})
	}
}

// TestDuplicateMessageDigestRefused: signed attributes with a second
// message-digest, naming another document, are malformed (RFC 5652 §11.2)
// even though the signature over them verifies.
func TestDuplicateMessageDigestRefused(t *testing.T) {
	card, _ := testcard.New(testcard.Options{NoSignatureKey: true})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := signerCert(t, card.PKI, key, nil)
	p, err := esign.Prepare(document, cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := esign.Prepare([]byte("another document"), cert, time.Now())
	// Take the other document's message-digest attribute and append it to
	// ours, then sign the result: the signature is valid, the attributes
	// are not.
	attrsOf := func(set []byte) [][]byte {
		in := cryptobyte.String(set)
		var body cryptobyte.String
		in.ReadASN1(&body, cbasn1.SET)
		var out [][]byte
		for !body.Empty() {
			var a cryptobyte.String
			body.ReadASN1Element(&a, cbasn1.SEQUENCE)
			out = append(out, a)
		}
		return out
	}
	var extra []byte
	for _, a := range attrsOf(other.SignedAttributes) {
		if bytes.Contains(a, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04}) { // id-messageDigest
			extra = a
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrsOf(p.SignedAttributes) {
			b.AddBytes(a)
		}
		b.AddBytes(extra)
	})
	p.SignedAttributes = b.BytesOrPanic()
	d := sha256.Sum256(p.SignedAttributes)
	p.Digest = d[:]
	sig, _ := key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	p7s, err := p.Assemble(sig, card.PKI.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range [][]byte{document, []byte("another document")} {
		if _, err := esign.Verify(doc, p7s, esign.VerifyOptions{Roots: card.PKI.Roots}); !errors.Is(err, esign.ErrMalformed) || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("two message digests: %v", err)
		}
	}
}
