//go:build cgo

package emrtd_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// The pcscd test goes through the real stack: pcscd, the vsmartcard vpcd
// driver and the virtual eMRTD attached over TCP. make test starts pcscd and
// sets PUCE_PCSCD=1; without it the test skips, saying so; with it, a
// missing daemon or reader fails it. It needs cgo (package pcsc), hence the
// build constraint: pcsc/emrtd itself never imports pcsc.

// counted counts the APDUs sent through pcscd.
type counted struct {
	c *pcsc.Card
	n *int
}

func (h counted) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	*h.n++
	return h.c.Transmit(ctx, cmd)
}

func (h counted) ExtendedLength() bool { return h.c.ExtendedLength() }

func TestPCSCDReadWithPACEAndBAC(t *testing.T) {
	pc := pcscdtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// An ATR whose historical bytes announce extended Lc/Le (card
	// capabilities, ISO/IEC 7816-4 §8.1.1.2.7), so that the host uses them.
	extATR := []byte{0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00, 0x40, 0x00}
	for _, b := range extATR[1 : len(extATR)-1] {
		extATR[len(extATR)-1] ^= b
	}
	for _, c := range []struct {
		name string
		opts emrtdapplet.Options
		can  bool
		atr  []byte
		want emrtd.Protocol
	}{
		{"PACE short", emrtdapplet.Options{}, true, nil, emrtd.ProtocolPACE},
		{"PACE extended", emrtdapplet.Options{}, true, extATR, emrtd.ProtocolPACE},
		{"BAC short", emrtdapplet.Options{DisablePACE: true}, false, nil, emrtd.ProtocolBAC},
		{"BAC extended", emrtdapplet.Options{DisablePACE: true}, false, extATR, emrtd.ProtocolBAC},
		// EF.CardSecurity instead of DG14: SELECT MF, READ BINARY and
		// SELECT of the application under secure messaging through pcscd.
		{"PACE EF.CardSecurity", emrtdapplet.Options{CardSecurity: true, OmitDG14: true, DisableChipAuthentication: true}, true, nil, emrtd.ProtocolPACE},
		// PACE with DH generic mapping: the 1024-bit group fits short
		// APDUs, the 2048-bit ones take extended length.
		{"PACE DH 1024/160 short", emrtdapplet.Options{PACEDH: true}, false, nil, emrtd.ProtocolPACE},
		{"PACE DH 2048/256 AES-256 extended", emrtdapplet.Options{PACEDH: true, PACEParameterID: 2, PACECipher: emrtdapplet.PACEAES256}, true, extATR, emrtd.ProtocolPACE},
		{"PACE DH explicit 2048/224 extended", emrtdapplet.Options{PACEDH: true, PACEDHExplicit: true, PACEParameterID: 1}, true, extATR, emrtd.ProtocolPACE},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &c.opts)
			if err != nil {
				t.Fatal(err)
			}
			card, key := attachChip(t, pc, p, c.atr, c.can)
			start := time.Now()
			n := new(int)
			s, err := emrtd.Open(ctx, counted{card, n}, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}})
			if err != nil {
				t.Fatal(err)
			}
			if s.Protocol() != c.want || !r.Verified() || r.MRZ == nil || r.Face() == nil {
				t.Fatalf("%v: verified %v", s.Protocol(), r.Verification.Status)
			}
			if got := r.CardSecurity != nil; got != c.opts.CardSecurity {
				t.Errorf("EF.CardSecurity read: %v, on the chip: %v", got, c.opts.CardSecurity)
			}
			t.Logf("puce: read the virtual eMRTD through pcscd (%s) with %v/%v, extended length %v: %d data groups verified, %d APDUs in %v",
				card.Reader(), s.Protocol(), s.Cipher(), card.ExtendedLength(), len(r.Verification.DataGroups), *n, time.Since(start).Round(time.Millisecond))
		})
	}
}

// A border-control read through pcscd: PACE, Chip Authentication, Terminal
// Authentication with a CVCA → DV → IS chain, DG3 included, every data
// group verified by passive authentication. Short APDUs chain the
// certificates (longer than one short command under secure messaging).
func TestPCSCDReadWithEAC(t *testing.T) {
	pc := pcscdtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Now()
	for _, c := range []struct {
		name string
		opts emrtdapplet.Options
		can  bool
	}{
		{"PACE, CA AES-128", emrtdapplet.Options{}, true},
		{"BAC, CA 3DES", emrtdapplet.Options{DisablePACE: true, ChipAuthenticationCipher: emrtdapplet.PACE3DES}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pki := newTerminalPKI(t, now, fullRights(now))
			c.opts.CVCA = pki.cvca
			p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &c.opts)
			if err != nil {
				t.Fatal(err)
			}
			card, key := attachChip(t, pc, p, nil, c.can)
			start := time.Now()
			n := new(int)
			s, err := emrtd.Open(ctx, counted{card, n}, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}, Terminal: pki.terminal(false)})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Verified() || !r.ChipAuthenticated || !r.TerminalAuthenticated || len(r.Fingerprints) != 1 {
				t.Fatalf("verified %v, CA %v, TA %v, %d fingerprint templates", r.Verification.Status, r.ChipAuthenticated, r.TerminalAuthenticated, len(r.Fingerprints))
			}
			t.Logf("puce: EAC read through pcscd (%s) with %v/%v, CA and TA, %v: %d APDUs in %v",
				card.Reader(), s.Protocol(), s.Cipher(), r.Verification.DataGroups, *n, time.Since(start).Round(time.Millisecond))
		})
	}
}

// attachChip puts the personalised chip into pcscd's virtual reader (with
// atr, or the default one) and returns the connected card and the access
// key: the CAN, or the MRZ key when can is false.
func attachChip(t *testing.T, pc *pcsc.Context, p *emrtdapplet.Personalised, atr []byte, can bool) (*pcsc.Card, emrtd.AccessKey) {
	t.Helper()
	// The default ATR announces extended length when the card accepts it:
	// the short cases take a card without it.
	vc, err := virtual.NewCard(virtual.Config{ExtendedLength: atr != nil, ATR: atr}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	card := pcscdtest.Attach(t, pc, vc, nil)
	if can {
		return card, emrtd.CAN(p.CAN)
	}
	key, err := emrtd.MRZKeyFromMRZ(p.MRZ)
	if err != nil {
		t.Fatal(err)
	}
	return card, key
}

// An independent reader, OpenSC's opensc-tool, sends the standard first
// steps to the virtual eMRTD through pcscd: SELECT MF, SELECT EF.CardAccess
// by identifier and READ BINARY, then READ BINARY by short EF identifier
// (ICAO 9303-11 §4.2; ISO/IEC 7816-4 §7.1). opensc-tool first probes the
// card with its own drivers' commands, so the card is not fresh from reset
// when these arrive: SELECT MF must bring it back. Skipped, saying so, when
// opensc-tool is not installed.
func TestPCSCDMasterFileOpenSC(t *testing.T) {
	pc := pcscdtest.Require(t)
	tool, err := exec.LookPath("opensc-tool")
	if err != nil {
		t.Skip("opensc-tool not installed (Debian package opensc)")
	}
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	attachChip(t, pc, p, nil, true)
	ca := p.Applet.File(0x011C)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "-r", pcscdtest.Reader,
		"-s", "00 A4 00 0C", "-s", "00 A4 00 0C 02 3F 00", "-s", "00 A4 02 0C 02 01 1C", "-s", "00 B0 00 00 00",
		"-s", "00 A4 00 0C", "-s", "00 B0 9C 00 00").CombinedOutput()
	if err != nil {
		t.Fatalf("opensc-tool: %v\n%s", err, out)
	}
	text := string(out)
	// The SELECTs 9000; the READ BINARYs, with Le 00 (Ne 256) over a file
	// of fewer bytes, the file and 6282 (ISO/IEC 7816-4 (2020) §11.2.3,
	// Table 6), in that order.
	var sws []string
	for _, m := range regexp.MustCompile(`SW1=0x([0-9A-F]{2}), SW2=0x([0-9A-F]{2})`).FindAllStringSubmatch(text, -1) {
		sws = append(sws, m[1]+m[2])
	}
	if want := "[9000 9000 9000 6282 9000 6282]"; fmt.Sprint(sws) != want {
		t.Fatalf("opensc-tool: status words %v, want %s:\n%s", sws, want, text)
	}
	// opensc-tool prints answers as hex bytes, 16 to a line.
	var want []string
	for _, b := range ca {
		want = append(want, fmt.Sprintf("%02X", b))
	}
	got := strings.Join(strings.Fields(hexOnly(text)), " ")
	if c := strings.Count(got, strings.Join(want, " ")); c != 2 {
		t.Fatalf("EF.CardAccess (%X) read %d times of 2:\n%s", ca, c, text)
	}
	t.Logf("opensc-tool read EF.CardAccess from the MF through pcscd:\n%s", text)
}

// OpenSC's opensc-explorer, with its own card driver detection, selects the
// MF on start (its default -m 3F00) and reads EF.CardAccess and EF.DIR by
// identifier: the way generic middleware walks a card's file system.
func TestPCSCDMasterFileOpenSCExplorer(t *testing.T) {
	pc := pcscdtest.Require(t)
	tool, err := exec.LookPath("opensc-explorer")
	if err != nil {
		t.Skip("opensc-explorer not installed (Debian package opensc)")
	}
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	attachChip(t, pc, p, nil, true)
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("cat 011C\ncat 2F00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "-r", pcscdtest.Reader, script).CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("opensc-explorer: %v\n%s", err, text)
	}
	got := strings.Join(strings.Fields(hexOnly(text)), " ")
	for name, fid := range map[string]uint16{"EF.CardAccess": 0x011C, "EF.DIR": 0x2F00} {
		var want []string
		for _, b := range p.Applet.File(fid) {
			want = append(want, fmt.Sprintf("%02X", b))
		}
		if !strings.Contains(got, strings.Join(want, " ")) {
			t.Errorf("opensc-explorer did not read %s (%s):\n%s", name, strings.Join(want, " "), text)
		}
	}
	t.Logf("opensc-explorer:\n%s", text)
}

// hexOnly keeps the hex bytes of opensc-tool's and opensc-explorer's dump
// lines, dropping offsets ("00000010:"), the ASCII column and other lines.
func hexOnly(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "Sending") || strings.HasPrefix(line, "Received") || strings.HasPrefix(line, "Using") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.HasSuffix(fields[0], ":") {
			fields = fields[1:]
		}
		for _, f := range fields {
			if len(f) == 2 && strings.Trim(f, "0123456789ABCDEF") == "" {
				b.WriteString(f + " ")
			} else {
				break
			}
		}
	}
	return b.String()
}
