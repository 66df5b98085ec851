package piv

import (
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// FuzzGetDataAnswer feeds arbitrary card answers to GET DATA through every
// parser of data objects: they return typed errors, never panic.
func FuzzGetDataAnswer(f *testing.F) {
	f.Add([]byte{0x53, 0x00})
	f.Add([]byte{0x53, 0x08, 0x70, 0x02, 0x30, 0x00, 0x71, 0x01, 0x00, 0xFE})
	f.Add([]byte{0x53, 0x1B, 0x30, 0x00, 0x34, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x35, 0x08, '2', '0', '3', '0', '0', '1', '0', '1', 0xFE})
	f.Add([]byte{0x53, 0x82, 0x01})
	f.Fuzz(func(t *testing.T, answer []byte) {
		obj, err := parseDataObject(answer)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if _, err := parseCertificateObject(obj); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotSupported) {
			t.Fatalf("certificate object: untyped error %v", err)
		}
		if _, err := ParseCHUID(obj); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("CHUID: untyped error %v", err)
		}
	})
}

// FuzzGeneralAuthenticateAnswer feeds arbitrary answers to GENERAL
// AUTHENTICATE and GENERATE to their parsers.
func FuzzGeneralAuthenticateAnswer(f *testing.F) {
	f.Add([]byte{0x7C, 0x04, 0x82, 0x02, 0x30, 0x00})
	f.Add([]byte{0x7C, 0x0A, 0x80, 0x08, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0x7F, 0x49, 0x03, 0x86, 0x01, 0x04})
	f.Add([]byte{0x7F, 0x49, 0x06, 0x81, 0x01, 0x01, 0x82, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, answer []byte) {
		for _, tag := range []uint32{0x80, 0x82} {
			sig, err := parseAuthResponse(answer, apdu.Tag(tag))
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			if err := checkECDSA(sig); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
		}
		for _, alg := range []Algorithm{AlgRSA2048, AlgECCP256, AlgECCP384} {
			if _, err := parsePublicKey(alg, answer); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("public key: untyped error %v", err)
			}
		}
	})
}

// FuzzMetadataAnswer feeds arbitrary answers to the vendor GET METADATA
// parser.
func FuzzMetadataAnswer(f *testing.F) {
	f.Add([]byte{0x01, 0x01, 0xFF, 0x05, 0x01, 0x01, 0x06, 0x02, 0x03, 0x03})
	f.Add([]byte{0x01, 0x01, 0x11, 0x02, 0x02, 0x03, 0x01, 0x03, 0x01, 0x01, 0x04, 0x03, 0x86, 0x01, 0x04})
	f.Add([]byte{0x06, 0x81})
	f.Fuzz(func(t *testing.T, answer []byte) {
		if _, err := parseMetadata(answer); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
