package esign_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
)

// benchAlgs are the card keys the benchmarks sign with.
var benchAlgs = []struct {
	name string
	alg  byte
}{{"P-256", pivapplet.AlgECCP256}, {"RSA-2048", pivapplet.AlgRSA2048}}

// BenchmarkVerify is a whole verification of a card's detached signature:
// parse the SignedData and the certificates, hash the document, check the
// signature and the chain to the root.
func BenchmarkVerify(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.name, func(b *testing.B) {
			card, p7s := signWithCard(b, a.alg)
			opts := esign.VerifyOptions{Roots: card.PKI.Roots}
			for b.Loop() {
				if _, err := esign.Verify(document, p7s, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// anchor is what any verifier pays with crypto/x509 and the key's package,
// and nothing else: parse the signer's certificate, one chain verification,
// SHA-256 of the document and of the signed attributes, one signature
// verification. It returns one run of that as a function.
func anchor(b *testing.B, alg byte) func() {
	card, _ := signWithCard(b, alg)
	var key crypto.Signer
	if alg == pivapplet.AlgRSA2048 {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	attrs := make([]byte, 240) // about the size of the signed attributes
	digest := sha256.Sum256(attrs)
	sig, err := key.Sign(rand.Reader, digest[:], cryptoSHA256)
	if err != nil {
		b.Fatal(err)
	}
	der, inter := signerCert(b, card.PKI, key, nil).Raw, card.PKI.Issuing
	return func() {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(inter)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: card.PKI.Roots, Intermediates: pool, CurrentTime: time.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			b.Fatal(err)
		}
		sha256.Sum256(document)
		d := sha256.Sum256(attrs)
		switch k := cert.PublicKey.(type) {
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(k, d[:], sig) {
				b.Fatal("bad signature")
			}
		case *rsa.PublicKey:
			if rsa.VerifyPKCS1v15(k, cryptoSHA256, d[:], sig) != nil {
				b.Fatal("bad signature")
			}
		}
	}
}

// BenchmarkBarePrimitives is the anchor alone.
func BenchmarkBarePrimitives(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.name, func(b *testing.B) {
			run := anchor(b, a.alg)
			for b.Loop() {
				run()
			}
		})
	}
}

// BenchmarkVerifyPaired alternates one Verify and one anchor run, so both
// see the same load on a shared machine, and reports the medians of each
// side's time and of each pair's ratio (ns/op is the pair's).
func BenchmarkVerifyPaired(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.name, func(b *testing.B) {
			card, p7s := signWithCard(b, a.alg)
			opts := esign.VerifyOptions{Roots: card.PKI.Roots}
			run := anchor(b, a.alg)
			var ours, theirs, ratios []float64
			for b.Loop() {
				t0 := time.Now()
				if _, err := esign.Verify(document, p7s, opts); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				run()
				t2 := time.Now()
				o, x := float64(t1.Sub(t0)), float64(t2.Sub(t1))
				ours, theirs, ratios = append(ours, o), append(theirs, x), append(ratios, o/x)
			}
			median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
			b.ReportMetric(median(ours)/1e3, "verify-µs")
			b.ReportMetric(median(theirs)/1e3, "anchor-µs")
			b.ReportMetric(median(ratios), "ratio")
		})
	}
}
