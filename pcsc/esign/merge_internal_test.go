package esign

import (
	"crypto/rand"
	"testing"
)

// BenchmarkMergeLarge: a document security store of 20,000 OCSP answers
// (40 MB, within pades.MaxDocumentSize) merged into a signature's own
// validation data, as every signature's verification does.
func BenchmarkMergeLarge(b *testing.B) {
	items := make([][]byte, 20000)
	for i := range items {
		items[i] = make([]byte, 2048)
		rand.Read(items[i][64:80])
	}
	other := &ValidationData{OCSP: items}
	for b.Loop() {
		vd := &ValidationData{}
		vd.Merge(other)
	}
}

// TestMerge: entries already held are not added twice, order is kept.
func TestMerge(t *testing.T) {
	vd := &ValidationData{Certificates: [][]byte{[]byte("a")}, OCSP: [][]byte{[]byte("x")}}
	vd.Merge(&ValidationData{Certificates: [][]byte{[]byte("b"), []byte("a"), []byte("b")}, OCSP: [][]byte{[]byte("x"), []byte("y")}, CRLs: [][]byte{[]byte("c")}})
	if len(vd.Certificates) != 2 || string(vd.Certificates[1]) != "b" || len(vd.OCSP) != 2 || string(vd.OCSP[1]) != "y" || len(vd.CRLs) != 1 {
		t.Fatalf("%q %q %q", vd.Certificates, vd.OCSP, vd.CRLs)
	}
	vd.Merge(nil)
}
