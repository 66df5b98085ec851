package esign

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// largeStore is a document security store of 20,000 OCSP answers of 2 KiB
// (40 MB, within pades.MaxDocumentSize), alike but for 16 bytes each.
func largeStore() [][]byte {
	items := make([][]byte, 20000)
	for i := range items {
		items[i] = make([]byte, 2048)
		rand.Read(items[i][64:80])
	}
	return items
}

// BenchmarkMergeLarge: that store merged into a signature's own validation
// data, as every signature's verification does.
func BenchmarkMergeLarge(b *testing.B) {
	other := &ValidationData{OCSP: largeStore()}
	for b.Loop() {
		vd := &ValidationData{}
		vd.Merge(other)
	}
}

// BenchmarkMergeLargeAnchor: SHA-256 of every entry, the least a check for
// duplicates that reads each entry pays.
func BenchmarkMergeLargeAnchor(b *testing.B) {
	items := largeStore()
	for b.Loop() {
		for _, it := range items {
			sha256.Sum256(it)
		}
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
