package esign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// pssParams encodes RSASSA-PSS-params with the given fields; a nil hash
// or mgfHash, a salt of -1 or a negative trailer leaves the field out (its
// DEFAULT applies).
func pssParams(hash, mgf, mgfHash asn1.ObjectIdentifier, salt, trailer int64) []byte {
	var b cryptobyte.Builder
	alg := func(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, params func(*cryptobyte.Builder)) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			params(b)
		})
	}
	null := func(b *cryptobyte.Builder) { b.AddASN1NULL() }
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if hash != nil {
			b.AddASN1(tag0, func(b *cryptobyte.Builder) { alg(b, hash, null) })
		}
		if mgfHash != nil {
			b.AddASN1(tag1, func(b *cryptobyte.Builder) {
				alg(b, mgf, func(b *cryptobyte.Builder) { alg(b, mgfHash, null) })
			})
		}
		if salt != -1 {
			b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(salt) })
		}
		if trailer >= 0 {
			b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(trailer) })
		}
	})
	return b.BytesOrPanic()
}

func TestPSSParams(t *testing.T) {
	sha384 := oidSHA384
	for _, tc := range []struct {
		name   string
		params []byte
		digest crypto.Hash
		want   error
		salt   int
		naming string
	}{
		{"SHA-256, salt 32", pssParams(oidSHA256, oidMGF1, oidSHA256, 32, -1), crypto.SHA256, nil, 32, ""},
		{"explicit trailer 1", pssParams(oidSHA384, oidMGF1, oidSHA384, 48, 1), crypto.SHA384, nil, 48, ""},
		{"salt absent: 20", pssParams(oidSHA512, oidMGF1, oidSHA512, -1, -1), crypto.SHA512, nil, 20, ""},
		{"all defaults: SHA-1", pssParams(nil, nil, nil, -1, -1), crypto.SHA256, ErrUnsupported, 0, "SHA-1"},
		{"trailer 2", pssParams(oidSHA256, oidMGF1, oidSHA256, 32, 2), crypto.SHA256, ErrUnsupported, 0, "trailer field 2"},
		{"MGF1 over another hash", pssParams(oidSHA256, oidMGF1, sha384, 32, -1), crypto.SHA256, ErrUnsupported, 0, "MGF1"},
		{"another mask generation function", pssParams(oidSHA256, asn1.ObjectIdentifier{1, 2, 3, 4}, oidSHA256, 32, -1), crypto.SHA256, ErrUnsupported, 0, "1.2.3.4"},
		{"PSS hash is not the digest algorithm (RFC 4056 §3)", pssParams(sha384, oidMGF1, sha384, 48, -1), crypto.SHA256, ErrMalformed, 0, ""},
		{"negative salt", pssParams(oidSHA256, oidMGF1, oidSHA256, -5, -1), crypto.SHA256, ErrMalformed, 0, ""},
		{"absent parameters", nil, crypto.SHA256, ErrMalformed, 0, ""},
		{"trailing bytes", append(pssParams(oidSHA256, oidMGF1, oidSHA256, 32, -1), 0), crypto.SHA256, ErrMalformed, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := readPSSParams(tc.params, tc.digest)
			if tc.want == nil {
				if err != nil || a.kind != sigPSS || a.hash != tc.digest || a.salt != tc.salt {
					t.Fatalf("got %+v, %v", a, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.naming) {
				t.Fatalf("got %v, want %v naming %q", err, tc.want, tc.naming)
			}
		})
	}
}

// TestPSSNoSaltRefusesGarbage: the salt-0 verifier reads any signature
// bytes of any length without panicking, and accepts none of them.
func TestPSSNoSaltRefusesGarbage(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1033) // modBits-1 a multiple of 8: emLen = k-1, the edge of I2OSP
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	for i := 0; i < 300; i++ {
		sig := make([]byte, (key.N.BitLen()+7)/8-1+i%3) // short, exact and long
		rand.Read(sig)
		if i%7 == 0 {
			for j := range sig {
				sig[j] = 0xFF // above the modulus
			}
		}
		if verifyPSSNoSalt(&key.PublicKey, crypto.SHA256, digest, sig) {
			t.Fatalf("accepted random bytes %x", sig)
		}
	}
}

// FuzzPSSParams: RSASSA-PSS-params come from outside; reading them never
// panics, and yields a usable algorithm or a typed error.
func FuzzPSSParams(f *testing.F) {
	f.Add(pssParams(oidSHA256, oidMGF1, oidSHA256, 32, -1))
	f.Add(pssParams(nil, nil, nil, -1, -1))
	f.Add(pssParams(oidSHA384, oidMGF1, oidSHA384, 48, 1))
	f.Fuzz(func(t *testing.T, params []byte) {
		for _, d := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			a, err := readPSSParams(params, d)
			if err == nil && (a.kind != sigPSS || a.hash != d || a.salt < 0) {
				t.Fatalf("accepted %x as %+v", params, a)
			}
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}

// algID encodes an AlgorithmIdentifier with optional DER parameters.
func algID(oid asn1.ObjectIdentifier, params []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddBytes(params)
	})
	return b.BytesOrPanic()
}

func TestSignatureAlgorithms(t *testing.T) {
	null, integer := []byte{0x05, 0x00}, []byte{0x02, 0x01, 0x01}
	for _, tc := range []struct {
		name   string
		der    []byte
		digest crypto.Hash
		want   sigAlg
		err    error
		naming string
	}{
		{"ecdsa-with-SHA256, no parameters", algID(oidECDSAWithSHA256, nil), crypto.SHA256, sigAlg{kind: sigECDSA, hash: crypto.SHA256}, nil, ""},
		{"ecdsa-with-SHA384, NULL", algID(oidECDSAWithSHA384, null), crypto.SHA384, sigAlg{kind: sigECDSA, hash: crypto.SHA384}, nil, ""},
		{"ecdsa-with-SHA256, an INTEGER", algID(oidECDSAWithSHA256, integer), crypto.SHA256, sigAlg{}, ErrMalformed, "ecdsa-with-SHA256"},
		{"rsaEncryption takes the digest's hash", algID(oidRSAEncryption, null), crypto.SHA384, sigAlg{kind: sigPKCS1, hash: crypto.SHA384}, nil, ""},
		{"sha512WithRSAEncryption, no parameters", algID(oidSHA512WithRSA, nil), crypto.SHA512, sigAlg{kind: sigPKCS1, hash: crypto.SHA512}, nil, ""},
		{"sha256WithRSAEncryption under SHA-384", algID(oidSHA256WithRSA, null), crypto.SHA384, sigAlg{}, ErrUnsupported, "sha256WithRSAEncryption"},
		{"Ed25519", algID(asn1.ObjectIdentifier{1, 3, 101, 112}, nil), crypto.SHA512, sigAlg{}, ErrUnsupported, "Ed25519 (1.3.101.112)"},
		{"an OID nobody named", algID(asn1.ObjectIdentifier{1, 2, 3, 4, 5}, nil), crypto.SHA256, sigAlg{}, ErrUnsupported, "1.2.3.4.5"},
		{"not an AlgorithmIdentifier", []byte{0x04, 0x00}, crypto.SHA256, sigAlg{}, ErrMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cryptobyte.String(tc.der)
			a, err := readSignatureAlgorithm(&s, tc.digest)
			if tc.err == nil {
				if err != nil || a != tc.want {
					t.Fatalf("got %+v, %v; want %+v", a, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.naming) {
				t.Fatalf("got %v, want %v naming %q", err, tc.err, tc.naming)
			}
		})
	}
}
