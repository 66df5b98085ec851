package esign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/esign"
)

// criticalEKU is an extended key usage extension marked critical.
func criticalEKU(t *testing.T, usages ...asn1OID) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal(usages)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oid(2, 5, 29, 37), Critical: true, Value: v}
}

// osslTSA is OpenSSL acting as the timestamping authority (`openssl ts
// -reply`), with a TSA certificate from the test PKI.
type osslTSA struct {
	*osslEnv
	cfg, cert, key string
}

// newOSSLTSA sets up the authority; edit may change its certificate.
func newOSSLTSA(t *testing.T, edit func(*x509.Certificate)) *osslTSA {
	t.Helper()
	e := newOSSLEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, certPath, keyPath := e.signer(t, key, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature
		// Go writes extended key usage non-critical; RFC 3161 §2.3 (and
		// OpenSSL's TSA) want it critical.
		c.ExtraExtensions = append(c.ExtraExtensions, criticalEKU(t, oid(1, 3, 6, 1, 5, 5, 7, 3, 8)))
		if edit != nil {
			edit(c)
		}
	})
	serial := filepath.Join(e.dir, "tsaserial")
	os.WriteFile(serial, []byte("01\n"), 0o600)
	cfg := filepath.Join(e.dir, "tsa.cnf")
	os.WriteFile(cfg, []byte(`[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
serial = `+serial+`
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.7.1
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`), 0o600)
	return &osslTSA{osslEnv: e, cfg: cfg, cert: certPath, key: keyPath}
}

// reply answers a DER TimeStampReq as OpenSSL's TSA does.
func (a *osslTSA) reply(t *testing.T, req []byte) []byte {
	t.Helper()
	q, r := filepath.Join(a.dir, "q.tsq"), filepath.Join(a.dir, "r.tsr")
	os.WriteFile(q, req, 0o600)
	args := []string{"ts", "-reply", "-config", a.cfg, "-queryfile", q, "-inkey", a.key, "-signer", a.cert, "-chain", a.chain, "-out", r}
	if msg, err := exec.Command(a.bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	resp, err := os.ReadFile(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (a *osslTSA) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.pki.Root)
	return p
}

// TestTimestampFromOpenSSL: puce's request, answered by OpenSSL as the
// TSA, gives a token puce verifies — imprint, nonce, signature, ESS
// certificate ID and the TSA's chain; the same token for other data,
// another nonce, a tampered token and an authority nobody trusts are each
// refused with a typed error. The HTTP client does the same over the wire.
func TestTimestampFromOpenSSL(t *testing.T) {
	a := newOSSLTSA(t, nil)
	sum := sha256.Sum256([]byte("the signature value being stamped"))
	req, nonce, err := esign.TimestampRequest(crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	token, err := esign.TimestampToken(a.reply(t, req))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := esign.VerifyTimestamp(token, crypto.SHA256, sum[:], esign.TimestampOptions{Roots: a.roots(), Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Hash != crypto.SHA256 || ts.Policy.String() != "1.3.6.1.4.1.99999.7.1" || ts.Accuracy.Milliseconds() != 1500 ||
		ts.Authority == nil || len(ts.Chain) < 2 || ts.Time.IsZero() {
		t.Fatalf("timestamp %+v", ts)
	}

	other := sha256.Sum256([]byte("another value"))
	if _, err := esign.VerifyTimestamp(token, crypto.SHA256, other[:], esign.TimestampOptions{Roots: a.roots()}); !errors.Is(err, esign.ErrTimestamp) {
		t.Errorf("the token for other data: %v", err)
	}
	nonce.Add(nonce, nonce)
	if _, err := esign.VerifyTimestamp(token, crypto.SHA256, sum[:], esign.TimestampOptions{Roots: a.roots(), Nonce: nonce}); !errors.Is(err, esign.ErrTimestamp) {
		t.Errorf("the token for another nonce: %v", err)
	}
	if _, err := esign.VerifyTimestamp(token, crypto.SHA256, sum[:], esign.TimestampOptions{Roots: x509.NewCertPool()}); !errors.Is(err, esign.ErrTimestamp) {
		t.Errorf("an authority nobody trusts: %v", err)
	}
	tampered := append([]byte{}, token...)
	i := strings.Index(string(tampered), "\x18\x0f2") // genTime: a GeneralizedTime of 15 bytes, 2xxx
	if i < 0 {
		t.Fatal("no genTime in the token")
	}
	tampered[i+5] ^= 1 // a digit of the year
	if _, err := esign.VerifyTimestamp(tampered, crypto.SHA256, sum[:], esign.TimestampOptions{Roots: a.roots()}); !errors.Is(err, esign.ErrBadSignature) {
		t.Errorf("a token with an edited time: %v, want ErrBadSignature", err)
	}

	// The client over HTTP, OpenSSL behind it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/timestamp-query" {
			http.Error(w, "bad content type", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(a.reply(t, body))
	}))
	defer srv.Close()
	tsa := &esign.TSA{URL: srv.URL, Roots: a.roots()}
	if _, got, err := tsa.Stamp(context.Background(), crypto.SHA256, sum[:]); err != nil || got.Serial.Sign() <= 0 {
		t.Fatalf("Stamp: %+v, %v", got, err)
	}
}

func TestTimestampTokenRefused(t *testing.T) {
	for _, b := range [][]byte{nil, {0x30, 0x03, 0x30, 0x01, 0x02}, {0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02}} {
		if _, err := esign.TimestampToken(b); !errors.Is(err, esign.ErrMalformed) && !errors.Is(err, esign.ErrTimestamp) {
			t.Errorf("TimestampToken(% x): %v", b, err)
		}
	}
	// PKIStatus rejection (2) is the authority's refusal.
	if _, err := esign.TimestampToken([]byte{0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02}); !errors.Is(err, esign.ErrTimestamp) {
		t.Errorf("a rejection: %v", err)
	}
}

func FuzzVerifyTimestamp(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	sum := sha256.Sum256(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := esign.VerifyTimestamp(b, crypto.SHA256, sum[:], esign.TimestampOptions{})
		if err == nil {
			t.Fatal("an unverifiable token verified")
		}
		if !errors.Is(err, esign.ErrMalformed) && !errors.Is(err, esign.ErrTimestamp) && !errors.Is(err, esign.ErrBadSignature) &&
			!errors.Is(err, esign.ErrUnsupported) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
