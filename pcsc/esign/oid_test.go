package esign

import (
	"encoding/asn1"
	"testing"
)

var testOIDs = []asn1.ObjectIdentifier{
	oidSHA256, oidSHA384, oidSHA512, oidData, oidSignedData, oidRSASSAPSS, oidMGF1, oidECDSAWithSHA256,
	OIDDocumentSigning, OIDAnyExtendedKeyUsage, {0, 0}, {0, 39}, {1, 0}, {1, 39, 127}, {2, 0}, {2, 47}, {2, 48, 128},
	{2, 999, 3}, {2, 5, 29, 37}, {2, 5, 29, 37, 0, 1}, {1, 2, 840, 113549, 1, 1, 10, 1 << 30},
}

func TestOIDIs(t *testing.T) {
	for _, a := range testOIDs {
		der, err := asn1.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		raw := der[2:]
		for _, b := range testOIDs {
			if got := oidIs(raw, b); got != a.Equal(b) {
				t.Fatalf("oidIs(%v encoded, %v) = %v", a, b, got)
			}
		}
		if oidString(raw) != a.String() {
			t.Fatalf("oidString %q, want %q", oidString(raw), a)
		}
		// A leading 0x80 in a subidentifier is not DER (X.690 §8.19.2).
		if oidIs(append([]byte{0x80}, raw...), a) || oidIs(append(raw[:1:1], append([]byte{0x80}, raw[1:]...)...), a) {
			t.Fatalf("%v: accepted a non-minimal encoding", a)
		}
	}
	for _, raw := range [][]byte{nil, {0x81}, {0x2a, 0x86}} {
		for _, b := range testOIDs {
			if oidIs(raw, b) {
				t.Fatalf("oidIs(%x, %v)", raw, b)
			}
		}
	}
}

// FuzzOIDIs: the allocation-free comparison agrees with decoding.
func FuzzOIDIs(f *testing.F) {
	for _, o := range testOIDs {
		der, _ := asn1.Marshal(o)
		f.Add(der[2:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		decoded, ok := decodeOID(raw)
		for _, c := range testOIDs {
			if got, want := oidIs(raw, c), ok && decoded.Equal(c); got != want {
				t.Fatalf("oidIs(%x, %v) = %v, decoding says %v (%v)", raw, c, got, want, decoded)
			}
		}
		if ok && !oidIs(raw, decoded) {
			t.Fatalf("oidIs(%x, %v) false for its own decoding", raw, decoded)
		}
	})
}
