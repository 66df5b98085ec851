package emrtd

import (
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// BenchmarkAnchorPACEReadCrypto is the anchor of BenchmarkRead for PACE: the
// bare cryptography a PACE read needs, on both sides as in-process both the
// host and the virtual chip compute — per side 5 scalar multiplications
// and one point addition (generic mapping and key agreement, ICAO 9303-11
// §4.4.3), the KDF and two tokens (AES-CMAC); AES-CBC and AES-CMAC over the
// 21 kB of files read, once each side; passive authentication's SHA-256 of
// the files, one ECDSA P-256 signature verification and one X.509 chain
// verification. No APDU encoding, TLV, parsing or transport.
func BenchmarkAnchorPACEReadCrypto(b *testing.B) {
	for _, param := range []int{12, 13} {
		curve, _ := paceCurve(param)
		name := map[int]string{12: "P256", 13: "BP256"}[param]
		b.Run(name, func(b *testing.B) {
			files := make([]byte, 21344) // the files read, a whole number of AES blocks
			blk, _ := aes.NewCipher(make([]byte, 16))
			csca, ds, sig, digest := anchorPKI(b)
			roots := x509.NewCertPool()
			roots.AddCert(csca)
			for b.Loop() {
				for side := 0; side < 2; side++ {
					sk1, _ := randomScalar(curve, rand.Reader)
					sk2, _ := randomScalar(curve, rand.Reader)
					x1, y1 := curve.ScalarBaseMult(sk1)      // PK_map
					hx, hy := curve.ScalarMult(x1, y1, sk1)  // H
					sx, sy := curve.ScalarBaseMult(sk2[:16]) // s·G
					gx, gy := curve.Add(sx, sy, hx, hy)      // G'
					ex, ey := curve.ScalarMult(gx, gy, sk2)  // PK_eph
					kx, _ := curve.ScalarMult(ex, ey, sk1)   // K
					kdf(CipherAES128, kx.Bytes(), kdfMAC)
					cmac(blk, files[:80])
					cmac(blk, files[:80])
					cbcEncrypt(blk, make([]byte, 16), files)
					cmac(blk, files)
				}
				h := sha256.Sum256(files)
				_ = h
				if !ecdsa.VerifyASN1(ds.PublicKey.(*ecdsa.PublicKey), digest, sig) {
					b.Fatal("signature")
				}
				if _, err := ds.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnchorPACEDHReadCrypto is the anchor of BenchmarkRead's PACE DH
// rows: BenchmarkAnchorPACEReadCrypto with the group operations of PACE
// over DH with generic mapping — per side four modular exponentiations
// with the private exponents (PK_map, h, PK_eph, K), g^s, one modular
// multiplication (g' = g^s·h), and the two subgroup checks y^q of the
// other side's public keys (BSI TR-03110-3 §A.4.2).
func BenchmarkAnchorPACEDHReadCrypto(b *testing.B) {
	for _, id := range []int{0, 2} {
		grp, _ := paceDHGroup(id)
		name := map[int]string{0: "DH1024", 2: "DH2048-256"}[id]
		b.Run(name, func(b *testing.B) {
			files := make([]byte, 21344)
			blk, _ := aes.NewCipher(make([]byte, 16))
			csca, ds, sig, digest := anchorPKI(b)
			roots := x509.NewCertPool()
			roots.AddCert(csca)
			s := make([]byte, 16)
			for b.Loop() {
				for side := 0; side < 2; side++ {
					sk1, _ := grp.dhPrivate(rand.Reader)
					sk2, _ := grp.dhPrivate(rand.Reader)
					rand.Read(s)
					y1 := new(big.Int).Exp(grp.g, sk1, grp.p)                     // PK_map
					new(big.Int).Exp(y1, grp.q, grp.p)                            // check of the other's PK_map
					h := new(big.Int).Exp(y1, sk1, grp.p)                         // h
					g := new(big.Int).Exp(grp.g, new(big.Int).SetBytes(s), grp.p) // g^s
					g.Mul(g, h).Mod(g, grp.p)                                     // g'
					e := new(big.Int).Exp(g, sk2, grp.p)                          // PK_eph
					new(big.Int).Exp(e, grp.q, grp.p)                             // check of the other's PK_eph
					k := new(big.Int).Exp(e, sk2, grp.p)                          // K
					kdf(CipherAES128, k.Bytes(), kdfMAC)
					cmac(blk, files[:80])
					cmac(blk, files[:80])
					cbcEncrypt(blk, make([]byte, 16), files)
					cmac(blk, files)
				}
				hs := sha256.Sum256(files)
				_ = hs
				if !ecdsa.VerifyASN1(ds.PublicKey.(*ecdsa.PublicKey), digest, sig) {
					b.Fatal("signature")
				}
				if _, err := ds.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnchorEACReadCrypto is the anchor of BenchmarkReadEAC: the bare
// cryptography of that read, both sides, as BenchmarkAnchorPACEReadCrypto
// counts it, over the files an EAC read carries, plus Chip Authentication
// (host: ephemeral key and shared point; chip: shared point; the KDF on
// each side) and Terminal Authentication (one ECDSA P-256 signature by the
// terminal; the chip verifies the DV and IS certificates and that
// signature). No APDU, TLV, certificate or ASN.1 encoding or parsing.
func BenchmarkAnchorEACReadCrypto(b *testing.B) {
	for _, param := range []int{12, 13} {
		curve, _ := paceCurve(param)
		name := map[int]string{12: "P256", 13: "BP256"}[param]
		b.Run(name, func(b *testing.B) {
			files := make([]byte, 21600) // the EAC read's 21.6 kB of files, in AES blocks
			blk, _ := aes.NewCipher(make([]byte, 16))
			csca, ds, sig, digest := anchorPKI(b)
			roots := x509.NewCertPool()
			roots.AddCert(csca)
			ta, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			chipSK, _ := randomScalar(curve, rand.Reader)
			cx, cy := curve.ScalarBaseMult(chipSK)
			for b.Loop() {
				for side := 0; side < 2; side++ {
					sk1, _ := randomScalar(curve, rand.Reader)
					sk2, _ := randomScalar(curve, rand.Reader)
					x1, y1 := curve.ScalarBaseMult(sk1)
					hx, hy := curve.ScalarMult(x1, y1, sk1)
					sx, sy := curve.ScalarBaseMult(sk2[:16])
					gx, gy := curve.Add(sx, sy, hx, hy)
					ex, ey := curve.ScalarMult(gx, gy, sk2)
					kx, _ := curve.ScalarMult(ex, ey, sk1)
					kdf(CipherAES128, kx.Bytes(), kdfMAC)
					cmac(blk, files[:80])
					cmac(blk, files[:80])
					cbcEncrypt(blk, make([]byte, 16), files)
					cmac(blk, files)
				}
				// Chip Authentication.
				eph, _ := randomScalar(curve, rand.Reader)
				px, py := curve.ScalarBaseMult(eph)
				k1, _ := curve.ScalarMult(cx, cy, eph)
				k2, _ := curve.ScalarMult(px, py, chipSK)
				kdf(CipherAES128, k1.Bytes(), kdfEnc)
				kdf(CipherAES128, k1.Bytes(), kdfMAC)
				kdf(CipherAES128, k2.Bytes(), kdfEnc)
				kdf(CipherAES128, k2.Bytes(), kdfMAC)
				// Terminal Authentication.
				d := sha256.Sum256(files[:80])
				r, s, _ := ecdsa.Sign(rand.Reader, ta, d[:])
				for range 3 {
					if !ecdsa.Verify(&ta.PublicKey, d[:], r, s) {
						b.Fatal("TA signature")
					}
				}
				h := sha256.Sum256(files)
				_ = h
				if !ecdsa.VerifyASN1(ds.PublicKey.(*ecdsa.PublicKey), digest, sig) {
					b.Fatal("signature")
				}
				if _, err := ds.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func anchorPKI(b *testing.B) (csca, ds *x509.Certificate, sig, digest []byte) {
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ct := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CSCA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	cd, _ := x509.CreateCertificate(rand.Reader, ct, ct, ck.Public(), ck)
	csca, _ = x509.ParseCertificate(cd)
	dt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "DS"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	dd, _ := x509.CreateCertificate(rand.Reader, dt, csca, dk.Public(), ck)
	ds, _ = x509.ParseCertificate(dd)
	d := sha256.Sum256([]byte("signed attributes"))
	sig, err := ecdsa.SignASN1(rand.Reader, dk, d[:])
	if err != nil {
		b.Fatal(err)
	}
	return csca, ds, sig, d[:]
}
