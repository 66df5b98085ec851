package emrtd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

// camVector is a PACE-CAM chip authentication on P-256 with fixed keys:
// the last GENERAL AUTHENTICATE answer (7C { 86 token, 8A A_IC }), KSenc,
// PK_Map,IC, and EF.CardSecurity's SecurityInfos with PK_IC.
type camVector struct {
	answer, ksEnc, pkMap, infos []byte
}

func newCAMVector(t testing.TB) camVector {
	t.Helper()
	c := elliptic.P256()
	n := c.Params().N
	skIC, skMap := big.NewInt(0x1234567), new(big.Int).SetBytes(bytes.Repeat([]byte{0x5A}, 31))
	ksEnc := bytes.Repeat([]byte{0x42}, 16)
	ca := new(big.Int).ModInverse(skIC, n)
	ca.Mul(ca, skMap).Mod(ca, n)
	iv, err := camIV(CipherAES128, ksEnc)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := newBlock(CipherAES128, ksEnc)
	aIC := cbcEncrypt(blk, iv, pad(ca.FillBytes(make([]byte, 32)), 16))
	mx, my := c.ScalarBaseMult(skMap.Bytes())
	px, py := c.ScalarBaseMult(skIC.Bytes())
	spki, err := x509.MarshalPKIXPublicKey(&ecdsa.PublicKey{Curve: c, X: px, Y: py})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := asn1.Marshal(struct {
		Protocol asn1.ObjectIdentifier
		Key      asn1.RawValue
	}{oidPKECDH, asn1.RawValue{FullBytes: spki}})
	infos, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: info})
	var b []byte
	b = append(b, 0x86, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x8A, byte(len(aIC)))
	b = append(b, aIC...)
	answer := append([]byte{0x7C, byte(len(b))}, b...)
	return camVector{answer: answer, ksEnc: ksEnc, pkMap: encodePoint(mx, my, 32), infos: infos}
}

// checkCAM is the reader's path for a chip's answer and EF.CardSecurity's
// SecurityInfos, both outside data.
func (v camVector) check(answer, infos []byte) error {
	d, err := decryptCAM(CipherAES128, v.ksEnc, elliptic.P256(), answer, v.pkMap)
	if err != nil {
		return err
	}
	list, err := parseSecurityInfos(infos, "EF.CardSecurity")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPACECAM, err)
	}
	_, err = d.verify(list)
	return err
}

// The fixed vector verifies; the same data with CA_IC for another key does
// not.
func TestCAMVector(t *testing.T) {
	v := newCAMVector(t)
	if err := v.check(v.answer, v.infos); err != nil {
		t.Fatalf("genuine vector: %v", err)
	}
	other := newCAMVector(t)
	other.pkMap = encodePoint(elliptic.P256().Params().Gx, elliptic.P256().Params().Gy, 32)
	if err := other.check(v.answer, v.infos); !errors.Is(err, ErrPACECAM) {
		t.Fatalf("PK_Map,IC of another key: %v", err)
	}
}

// FuzzPACECAM feeds the chip's last GENERAL AUTHENTICATE answer (7C with
// DO'8A') and EF.CardSecurity's SecurityInfos to the PACE-CAM check: every
// failure is ErrPACECAM, never a panic. Seeds: the vector, and answers and
// infos cut, emptied and altered (testdata/fuzz/FuzzPACECAM).
func FuzzPACECAM(f *testing.F) {
	v := newCAMVector(f)
	f.Add(v.answer, v.infos)
	f.Fuzz(func(t *testing.T, answer, infos []byte) {
		if err := v.check(answer, infos); err != nil && !errors.Is(err, ErrPACECAM) {
			t.Fatalf("error %v is not ErrPACECAM", err)
		}
	})
}

// TestWritePACECAMSeeds regenerates testdata/fuzz/FuzzPACECAM when
// PUCE_WRITE_FUZZ_SEEDS=1.
func TestWritePACECAMSeeds(t *testing.T) {
	if os.Getenv("PUCE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set PUCE_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	v := newCAMVector(t)
	n := elliptic.P256().Params().N
	noAIC := bytes.Clone(v.answer[:12])
	noAIC[1] = 10
	flipped := bytes.Clone(v.answer)
	flipped[len(flipped)-1] ^= 1
	for name, s := range map[string][2][]byte{
		"vector":        {v.answer, v.infos},
		"no-8A":         {noAIC, v.infos},
		"8A-flipped":    {flipped, v.infos},
		"8A-one-byte":   {[]byte{0x7C, 0x03, 0x8A, 0x01, 0x00}, v.infos},
		"infos-empty":   {v.answer, {0x31, 0x00}},
		"infos-cut":     {v.answer, v.infos[:len(v.infos)/2]},
		"infos-garbage": {v.answer, {0x31, 0x03, 0x30, 0x01, 0x06}},
		// A hostile chip's CA_IC (pacecam_hostile_test.go).
		"ca-zero":     {v.hostileAnswer(t, pad(make([]byte, 32), 16)), v.infos},
		"ca-n":        {v.hostileAnswer(t, pad(n.FillBytes(make([]byte, 32)), 16)), v.infos},
		"ca-negated":  {v.hostileAnswer(t, pad(new(big.Int).Sub(n, caOf()).FillBytes(make([]byte, 32)), 16)), v.infos},
		"ca-33-bytes": {v.hostileAnswer(t, pad(append([]byte{0}, caOf().FillBytes(make([]byte, 32))...), 16)), v.infos},
		"ca-no-pad":   {v.hostileAnswer(t, caOf().FillBytes(make([]byte, 32))), v.infos},
	} {
		dir := filepath.Join("testdata", "fuzz", "FuzzPACECAM")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", s[0], s[1])
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
