package esign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

// TestTSAUse: RFC 3161 §2.3 — a TSA's certificate has one extended key
// usage, timeStamping, in a critical extension. OpenSSL refuses to act as
// a TSA with anything else, so these certificates cannot make a token to
// test end to end; the rule is checked here on the certificates alone.
func TestTSAUse(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ekuExt := func(critical bool, usages ...asn1.ObjectIdentifier) pkix.Extension {
		v, _ := asn1.Marshal(usages)
		return pkix.Extension{Id: oidExtKeyUsage, Critical: critical, Value: v}
	}
	stamping := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	email := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}
	for _, c := range []struct {
		name string
		ext  []pkix.Extension
		ok   bool
	}{
		{"critical, timeStamping only", []pkix.Extension{ekuExt(true, stamping)}, true},
		{"not critical", []pkix.Extension{ekuExt(false, stamping)}, false},
		{"timeStamping and emailProtection", []pkix.Extension{ekuExt(true, stamping, email)}, false},
		{"emailProtection only", []pkix.Extension{ekuExt(true, email)}, false},
		{"no extended key usage", nil, false},
	} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "TSA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtraExtensions: c.ext}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		err = checkTSAUse(cert)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrTimestamp)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
