package pades_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// bigPDF is a one-page PDF of about size bytes: the page's text and a
// large stream beside it (as a scanned annex would be), with a classic
// cross-reference table.
func bigPDF(size int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	var offs []int
	obj := func(body string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	content := "BT /F1 24 Tf 72 760 Td (Loan agreement 2026-1142) Tj ET"
	payload := make([]byte, size)
	rand.Read(payload)
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>")
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(payload), payload))
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

var benchSizes = []struct {
	name string
	size int
}{{"1MB", 1 << 20}, {"20MB", 20 << 20}}

// BenchmarkSign is the server's share of a B-B signature: Prepare (parse,
// write the update and its placeholder, hash the byte ranges, build the
// signed attributes) and Finish (check the card's signature, assemble the
// CMS, fill the placeholder). The card's signature, made here by a software
// P-256 key, is outside the timed loop's server share only in spirit: one
// ECDSA signature is about 20 µs.
func BenchmarkSign(b *testing.B) {
	f := newFixture(b, time.Now().Add(-time.Minute), time.Hour)
	for _, s := range benchSizes {
		pdf := bigPDF(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			for b.Loop() {
				f.sign(b, pdf, pades.LevelBB)
			}
		})
	}
}

// BenchmarkVerify verifies a B-T signature: parse the PDF, check the byte
// range, hash it, verify the CMS, its timestamp, and both chains.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, time.Now().Add(-time.Minute), time.Hour)
	for _, s := range benchSizes {
		signed := f.sign(b, bigPDF(s.size), pades.LevelBT)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(signed)))
			for b.Loop() {
				rep, err := pades.Verify(context.Background(), signed, f.verifyOptions())
				if err != nil || !rep.Signatures[0].Valid() {
					b.Fatal(err, rep)
				}
			}
		})
	}
}

// BenchmarkAnchor is the bare cost of the same bytes: SHA-256 of the whole
// file and one P-256 signature verification, with the chain verification
// crypto/x509 does for the signer.
func BenchmarkAnchor(b *testing.B) {
	f := newFixture(b, time.Now().Add(-time.Minute), time.Hour)
	digest := sha256.Sum256([]byte("attrs"))
	sig, _ := f.key.Sign(rand.Reader, digest[:], nil)
	for _, s := range benchSizes {
		pdf := bigPDF(s.size)
		b.Run("SHA-256/"+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			for b.Loop() {
				sha256.Sum256(pdf)
			}
		})
		b.Run("SHA-256+ECDSA+chain/"+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			inter := x509.NewCertPool()
			inter.AddCert(f.pki.Issuing)
			for b.Loop() {
				sha256.Sum256(pdf)
				if !ecdsa.VerifyASN1(&f.key.PublicKey, digest[:], sig) {
					b.Fatal("bad signature")
				}
				if _, err := f.cert.Verify(x509.VerifyOptions{Roots: f.pki.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPaired alternates one puce operation and its anchor on the same
// bytes, so that both see the same load on a shared machine, and reports
// the medians of each and of the pairs' ratios: signing (Prepare, the
// software key's signature, Finish, at B-B) against SHA-256 of the file;
// verifying (a B-T signature) against SHA-256 of the file, one P-256
// signature verification and the signer's chain.
func BenchmarkPaired(b *testing.B) {
	f := newFixture(b, time.Now().Add(-time.Minute), time.Hour)
	digest := sha256.Sum256([]byte("attrs"))
	sig, _ := f.key.Sign(rand.Reader, digest[:], nil)
	inter := x509.NewCertPool()
	inter.AddCert(f.pki.Issuing)
	anchorVerify := func(pdf []byte) {
		sha256.Sum256(pdf)
		if !ecdsa.VerifyASN1(&f.key.PublicKey, digest[:], sig) {
			b.Fatal("bad signature")
		}
		if _, err := f.cert.Verify(x509.VerifyOptions{Roots: f.pki.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range benchSizes {
		pdf := bigPDF(s.size)
		signed := f.sign(b, pdf, pades.LevelBT)
		for _, op := range []struct {
			name         string
			puce, anchor func()
		}{
			{"Sign/" + s.name, func() { f.sign(b, pdf, pades.LevelBB) }, func() { sha256.Sum256(pdf) }},
			{"Verify/" + s.name, func() {
				if rep, err := pades.Verify(context.Background(), signed, f.verifyOptions()); err != nil || !rep.Signatures[0].Valid() {
					b.Fatal(err)
				}
			}, func() { anchorVerify(signed) }},
		} {
			b.Run(op.name, func(b *testing.B) {
				var ours, anchors, ratios []float64
				for b.Loop() {
					t0 := time.Now()
					op.puce()
					t1 := time.Now()
					op.anchor()
					t2 := time.Now()
					ours, anchors = append(ours, float64(t1.Sub(t0))), append(anchors, float64(t2.Sub(t1)))
					ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
				}
				b.ReportMetric(median(ours)/1e6, "puce-ms")
				b.ReportMetric(median(anchors)/1e6, "anchor-ms")
				b.ReportMetric(median(ratios), "ratio")
			})
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkHolderCheck is the holder's side's check of a request with the
// document shown (SignRequest.Check: rebuild the signed revision from the
// document and the update, hash it, parse both revisions, judge the
// update, check the signed attributes), paired with SHA-256 of the same
// document, which Check must pay anyway to compare it with the request. It
// reports the request's JSON size with and without the update, for an
// invisible and a visible signature.
func BenchmarkHolderCheck(b *testing.B) {
	f := newFixture(b, time.Now().Add(-time.Minute), time.Hour)
	for _, s := range benchSizes {
		pdf := bigPDF(s.size)
		for _, visible := range []bool{false, true} {
			opts := pades.SignOptions{Certificate: f.cert, Level: pades.LevelBB, Time: f.signedAt}
			name := "invisible/" + s.name
			if visible {
				opts.Appearance, name = &pades.Appearance{Rect: [4]float64{320, 40, 560, 110}}, "visible/"+s.name
			}
			p, err := pades.Prepare(pdf, opts)
			if err != nil {
				b.Fatal(err)
			}
			sum := sha256.Sum256(pdf)
			req := &pades.SignRequest{Digest: p.Digest, DocumentSHA256: sum[:], Size: len(pdf), Pages: 1, SignedRanges: p.DocumentDigest,
				Level: "B-B", SigningTime: f.signedAt, SignedAttributes: p.SignedAttributes, Update: p.Update()}
			withUpdate, _ := json.Marshal(req)
			bare := *req
			bare.Update = nil
			without, _ := json.Marshal(&bare)
			b.Run(name, func(b *testing.B) {
				var ours, anchors, ratios []float64
				for b.Loop() {
					t0 := time.Now()
					if err := req.Check(f.cert, pdf); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					sha256.Sum256(pdf)
					t2 := time.Now()
					ours, anchors = append(ours, float64(t1.Sub(t0))), append(anchors, float64(t2.Sub(t1)))
					ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
				}
				b.ReportMetric(median(ours)/1e6, "puce-ms")
				b.ReportMetric(median(anchors)/1e6, "anchor-ms")
				b.ReportMetric(median(ratios), "ratio")
				b.ReportMetric(float64(len(without)), "payload-before-B")
				b.ReportMetric(float64(len(withUpdate)), "payload-B")
			})
		}
	}
}
