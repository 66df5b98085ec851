package piv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// TestCompressedCertificateBounded: a compressed certificate object whose
// few kilobytes expand to a megabyte is refused (ErrMalformed) after
// maxCertificate bytes, not inflated whole; bytes that are not gzip are
// refused too.
func TestCompressedCertificateBounded(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(make([]byte, 1<<20))
	w.Close()
	for name, content := range map[string][]byte{"bomb": gz.Bytes(), "not gzip": {0x30, 0x00}} {
		var b apdu.TLVBuilder
		b.Add(0x70, content)
		b.Add(0x71, []byte{0x01})
		b.Add(0xFE, nil)
		obj, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseCertificateObject(obj); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
