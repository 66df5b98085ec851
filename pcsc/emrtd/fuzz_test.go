package emrtd

import (
	"bytes"
	"crypto/aes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Fuzz targets for every parser of bytes that come from a chip (or from a
// disclosure). The seed corpora live in testdata/fuzz/<FuzzName> (written
// from the virtual card by TestWriteFuzzSeeds); `go test` runs them as
// regression tests, `go test -fuzz FuzzName` explores from them. Each target
// checks that the parser never panics and fails only with its typed error.

func wantMalformed(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v does not match ErrMalformed", err)
	}
}

func FuzzParseCOM(f *testing.F) {
	f.Add([]byte{0x60, 0x14, 0x5F, 0x01, 0x04, 0x30, 0x31, 0x30, 0x36, 0x5F, 0x36, 0x06, 0x30, 0x34, 0x30, 0x30, 0x30, 0x30, 0x5C, 0x02, 0x61, 0x75})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCOM(b)
		wantMalformed(t, err)
		if err == nil {
			for _, dg := range c.DataGroups {
				if !dg.Valid() {
					t.Fatalf("invalid data group %d", dg)
				}
			}
		}
	})
}

func FuzzParseDG1(f *testing.F) {
	mrz := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	v, _ := apdu.AppendTLV(nil, 0x5F1F, []byte(mrz))
	dg, _ := apdu.AppendTLV(nil, 0x61, v)
	f.Add(dg)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseDG1(b)
		wantMalformed(t, err)
		if err == nil {
			if _, err := ParseMRZ(m.String()); err != nil {
				t.Fatalf("MRZ %q parsed once, not twice: %v", m.String(), err)
			}
			_ = m.Key()
		}
	})
}

func FuzzParseMRZ(f *testing.F) {
	f.Add("I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseMRZ(s)
		wantMalformed(t, err)
	})
}

func FuzzParseDG2(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		faces, err := ParseDG2(b)
		wantMalformed(t, err)
		for _, fc := range faces {
			if len(fc.Image) == 0 || fc.MIMEType == "" {
				t.Fatalf("face without image: %+v", fc)
			}
		}
	})
}

func FuzzParseDG11(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDG11(b)
		wantMalformed(t, err)
		if err == nil {
			d.Names()
		}
	})
}

func FuzzParseDG12(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseDG12(b)
		wantMalformed(t, err)
	})
}

func FuzzParseDG13(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseDG13(b)
		wantMalformed(t, err)
	})
}

func FuzzParseSOD(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSOD(b)
		wantMalformed(t, err)
		if err == nil {
			// Verification may fail but must not panic.
			_ = s.VerifySignature()
			for dg := range s.Hashes {
				_ = s.CheckDataGroup(dg, b)
			}
		}
	})
}

func FuzzParseCardAccess(f *testing.F) {
	f.Add([]byte{0x31, 0x14, 0x30, 0x12, 0x06, 0x0A, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02, 0x02, 0x02, 0x01, 0x02, 0x02, 0x01, 0x0D})
	f.Fuzz(func(t *testing.T, b []byte) {
		ca, err := ParseCardAccess(b)
		wantMalformed(t, err)
		if err == nil {
			_, _ = ca.choose()
		}
	})
}

func FuzzParseDG14(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := ParseDG14(b)
		wantMalformed(t, err)
		if err == nil {
			for _, pk := range si.ChipAuthenticationPK {
				if !pk.Curve.IsOnCurve(pk.X, pk.Y) {
					t.Fatal("Chip Authentication key off its curve")
				}
			}
			_, _, _ = si.chooseCA()
		}
	})
}

func FuzzParseCVCertificate(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCVCertificate(b)
		wantMalformed(t, err)
		if err == nil {
			if c.Curve != nil {
				// A CVCA-like certificate: checking its self-signature must
				// not panic.
				_, _ = VerifyCVChain([]*CVCertificate{c, c}, c.EffectiveDate)
			}
			_ = c.Role.String()
		}
	})
}

func FuzzParseDG15(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseDG15(b)
		wantMalformed(t, err)
		if err == nil && k.Curve != nil && !k.Curve.IsOnCurve(k.X, k.Y) {
			t.Fatal("key off its curve")
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err == nil {
			// Checking a self-signature must not panic.
			_ = checkSignatureFrom(c, c)
		}
	})
}

func FuzzParseMasterList(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ml, err := ParseMasterList(b)
		wantMalformed(t, err)
		if err == nil {
			_ = ml.Verify(ml.CSCAs, time.Time{})
		}
	})
}

func FuzzParseDG3(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		bts, err := ParseDG3(b)
		wantMalformed(t, err)
		for _, bt := range bts {
			if bt.Data == nil {
				t.Fatal("template without data")
			}
		}
	})
}

// FuzzUnwrapResponse feeds response APDUs to secure messaging with the AES
// session keys of ICAO 9303-11 Appendix G.1 and a fixed counter; the seeds
// are genuine protected responses under those keys.
func FuzzUnwrapResponse(f *testing.F) {
	ksEnc := []byte{0xF5, 0xF0, 0xE3, 0x5C, 0x0D, 0x71, 0x61, 0xEE, 0x67, 0x24, 0xEE, 0x51, 0x3A, 0x0D, 0x9A, 0x7F}
	ksMAC := []byte{0xFE, 0x25, 0x1C, 0x78, 0x58, 0xB3, 0x56, 0xB2, 0x45, 0x14, 0xB3, 0xBD, 0x5F, 0x42, 0x97, 0xD1}
	enc, _ := aes.NewCipher(ksEnc)
	mac, _ := newMAC(CipherAES128, ksMAC)
	ssc := bytes.Repeat([]byte{0}, 15)
	ssc = append(ssc, 2)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := apdu.ParseResponse(b)
		if err != nil {
			return
		}
		out, err := unwrapResponse(CipherAES128, enc, mac, bytes.Clone(ssc), r)
		if err != nil {
			if !errors.Is(err, ErrSecureMessaging) {
				t.Fatalf("error %v does not match ErrSecureMessaging", err)
			}
			return
		}
		_ = out.Bytes()
	})
}

// TestWriteUnwrapSeeds regenerates the FuzzUnwrapResponse corpus (genuine
// protected responses under the Appendix G.1 keys) when
// PUCE_WRITE_FUZZ_SEEDS=1.
func TestWriteUnwrapSeeds(t *testing.T) {
	if os.Getenv("PUCE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set PUCE_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	ksEnc := h(t, "F5F0E35C0D7161EE6724EE513A0D9A7F")
	ksMAC := h(t, "FE251C7858B356B24514B3BD5F4297D1")
	enc, _ := aes.NewCipher(ksEnc)
	mac, _ := newMAC(CipherAES128, ksMAC)
	ssc := append(bytes.Repeat([]byte{0}, 15), 2)
	for i, c := range []struct {
		data []byte
		sw   []byte
	}{{nil, []byte{0x90, 0x00}}, {h(t, "60145F01"), []byte{0x90, 0x00}}, {nil, []byte{0x69, 0x82}}, {bytes.Repeat([]byte{0xAB}, 223), []byte{0x90, 0x00}},
		// READ BINARY past the end of a file: the bytes there were, and
		// none, with 6282 in DO'99' (ISO/IEC 7816-4 (2020) Table 6).
		{h(t, "5C026175"), []byte{0x62, 0x82}}, {nil, []byte{0x62, 0x82}}} {
		var body []byte
		if c.data != nil {
			iv := make([]byte, 16)
			enc.Encrypt(iv, ssc)
			body, _ = apdu.AppendTLV(body, 0x87, append([]byte{1}, cbcEncrypt(enc, iv, pad(c.data, 16))...))
		}
		body, _ = apdu.AppendTLV(body, 0x99, c.sw)
		m, _ := mac(pad(append(bytes.Clone(ssc), body...), 16))
		body, _ = apdu.AppendTLV(body, 0x8E, m)
		resp := append(body, c.sw...)
		r, _ := apdu.ParseResponse(resp)
		if out, err := unwrapResponse(CipherAES128, enc, mac, bytes.Clone(ssc), r); err != nil || !bytes.Equal(out.Data, c.data) {
			t.Fatalf("seed %d does not unwrap: %v", i, err)
		}
		dir := filepath.Join("testdata", "fuzz", "FuzzUnwrapResponse")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body2 := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", resp)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("g1-%d", i)), []byte(body2), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzCheckCardAccess feeds EF.CardAccess and DG14, both from the chip, to
// the check that authenticates the one by the other: a mismatch or a
// malformed file is an error, never a panic, and identical SecurityInfos
// always pass.
func FuzzCheckCardAccess(f *testing.F) {
	f.Add([]byte{0x31, 0x00}, []byte{0x6E, 0x02, 0x31, 0x00})
	f.Fuzz(func(t *testing.T, cardAccess, dg14 []byte) {
		err := checkCardAccess(cardAccessRead, cardAccess, dg14)
		if err != nil && !errors.Is(err, ErrCardAccessMismatch) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is neither a mismatch nor malformed", err)
		}
		if err := checkCardAccess(cardAccessAbsent, nil, dg14); err != nil && !errors.Is(err, ErrCardAccessMismatch) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("absent EF.CardAccess: %v", err)
		}
		if _, perr := parseSecurityInfos(cardAccess, "EF.CardAccess"); perr == nil {
			// DG14 made of exactly these infos matches.
			own, _ := apdu.AppendTLV(nil, 0x6E, cardAccess)
			if _, derr := ParseDG14(own); derr == nil {
				if err := checkCardAccess(cardAccessRead, cardAccess, own); err != nil {
					t.Fatalf("EF.CardAccess against its own copy in DG14: %v", err)
				}
			}
		}
	})
}

// FuzzParseCardSecurity feeds EF.CardSecurity, which the chip serves after
// PACE: a structure it cannot decode is ErrMalformed; a decoded one that
// no configured CSCA vouches for fails Verify with ErrCardSecurity; with
// its own signer as trust anchor the signature code runs on whatever key
// and algorithm the bytes name; never a panic.
func FuzzParseCardSecurity(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseCardSecurity(b)
		wantMalformed(t, err)
		if err != nil {
			return
		}
		if cs.Signer == nil || cs.signed == nil {
			t.Fatal("parsed EF.CardSecurity without signer")
		}
		if _, err := cs.Verify(PassiveOptions{}, nil); !errors.Is(err, ErrCardSecurity) {
			t.Fatalf("no CSCA: %v", err)
		}
		if _, err := cs.Verify(PassiveOptions{CSCAs: []*x509.Certificate{cs.Signer}}, nil); err != nil && !errors.Is(err, ErrCardSecurity) {
			t.Fatalf("error %v does not match ErrCardSecurity", err)
		}
	})
}
