package emrtd_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// BenchmarkRead is a whole read of the virtual card in-process: open (PACE
// or BAC), read EF.COM, EF.SOD, DG1, DG2 (a 240×320 JPEG of about 20 kB),
// DG11, DG12, DG13, and passive authentication. Both sides' crypto runs in
// the loop (the virtual chip's too). apdus/op counts the APDUs on the wire.
// The CardSecurity rows read a PACE-only chip without DG14, whose
// EF.CardAccess EF.CardSecurity authenticates: three APDUs more (SELECT MF,
// READ BINARY, SELECT of the application) and one more signature check.
// The DH rows run PACE with DH generic mapping (anchor:
// BenchmarkAnchorPACEDHReadCrypto). The CAM rows run PACE with Chip
// Authentication Mapping on a chip that also has DG14: EF.CardSecurity
// read at Open for the chip's key, A_IC checked, and Read then verifies
// EF.CardSecurity's signature besides EF.SOD's; set them beside the
// CardSecurity rows (the same files and signatures, generic mapping, no
// chip authentication).
func BenchmarkRead(b *testing.B) {
	for _, c := range []struct {
		name  string
		param int
		bac   bool
		ext   bool
		cs    bool
		dh    bool
		cam   bool
	}{
		{"PACE-P256/extended", 12, false, true, false, false, false},
		{"PACE-P256/short", 12, false, false, false, false, false},
		{"PACE-BP256/extended", 13, false, true, false, false, false},
		{"PACE-BP256/short", 13, false, false, false, false, false},
		{"BAC/extended", 0, true, true, false, false, false},
		{"BAC/short", 0, true, false, false, false, false},
		{"PACE-P256+CardSecurity/extended", 12, false, true, true, false, false},
		{"PACE-P256+CardSecurity/short", 12, false, false, true, false, false},
		// PACE with DH generic mapping on the RFC 5114 groups (IDs 0, 2).
		{"PACE-DH1024/extended", 0, false, true, false, true, false},
		{"PACE-DH1024/short", 0, false, false, false, true, false},
		{"PACE-DH2048-256/extended", 2, false, true, false, true, false},
		{"PACE-CAM-P256/extended", 12, false, true, false, false, true},
		{"PACE-CAM-BP256/extended", 13, false, true, false, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b, c.ext, &emrtdapplet.Options{PACEParameterID: c.param, DisablePACE: c.bac,
				CardSecurity: c.cs, OmitDG14: c.cs, DisableChipAuthentication: c.cs, PACEDH: c.dh, PACECAM: c.cam})
			var key emrtd.AccessKey = emrtd.CAN(f.p.CAN)
			if c.bac {
				key = f.key
			}
			cscas := []*x509.Certificate{f.p.CSCA}
			ctx := context.Background()
			start := f.tr.count.Load()
			b.ResetTimer()
			for b.Loop() {
				s, err := emrtd.Open(ctx, f.tr, key, nil)
				if err != nil {
					b.Fatal(err)
				}
				r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: cscas})
				if err != nil || !r.Verified() {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(f.tr.count.Load()-start)/float64(b.N), "apdus/op")
		})
	}
}

// BenchmarkReadEAC is a border-control read in-process: open with PACE,
// Chip Authentication, Terminal Authentication with a CVCA → DV → IS chain
// (ECDSA P-256), then EF.COM, EF.SOD, DG1, DG2, DG3, DG11-DG14 and passive
// authentication, extended length. The virtual chip's half runs in the loop
// too (its ECDH, certificate and signature verifications).
func BenchmarkReadEAC(b *testing.B) {
	for _, c := range []struct {
		name  string
		param int
	}{{"PACE-P256+CA-P256", 12}, {"PACE-BP256+CA-BP256", 13}} {
		b.Run(c.name, func(b *testing.B) {
			now := time.Now()
			pki := newTerminalPKI(b, now, fullRights(now))
			f := newFixture(b, true, &emrtdapplet.Options{PACEParameterID: c.param, CVCA: pki.cvca})
			key := emrtd.CAN(f.p.CAN)
			opts := &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}, Terminal: pki.terminal(false)}
			ctx := context.Background()
			var files int
			start := f.tr.count.Load()
			b.ResetTimer()
			for b.Loop() {
				s, err := emrtd.Open(ctx, f.tr, key, nil)
				if err != nil {
					b.Fatal(err)
				}
				r, err := s.Read(ctx, opts)
				if err != nil || !r.Verified() || len(r.Fingerprints) != 1 {
					b.Fatal(err)
				}
				files = len(r.SOD)
				for _, d := range r.DataGroups {
					files += len(d)
				}
			}
			b.ReportMetric(float64(f.tr.count.Load()-start)/float64(b.N), "apdus/op")
			b.ReportMetric(float64(files), "filebytes")
		})
	}
}
