package emrtd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// PACE against OpenPACE (Frank Morgner's libeac, the EAC library behind
// OpenSC's nPA support), an implementation of ICAO 9303-11 nobody here
// wrote. testdata/openpace (peer.h) drives libeac's PACE, CA and TA steps
// as the terminal or as the chip; the test compiles it with gcc against the
// Debian package libeac-dev (scripts/test.sh installs it), so that the Go
// module never links libeac. The peer and the test exchange APDUs as hex
// lines on its stdin and stdout.

// buildOpenPACEPeer compiles the peer into a temporary directory, or skips
// the test when gcc, pkg-config or libeac is missing.
func buildOpenPACEPeer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("OpenPACE peer: -short")
	}
	for _, tool := range []string{"gcc", "pkg-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("OpenPACE peer needs %s (Debian: gcc pkg-config libeac-dev): %v", tool, err)
		}
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "libeac", "libcrypto").Output()
	if err != nil {
		t.Skipf("OpenPACE peer needs libeac (Debian: libeac-dev): pkg-config: %v", err)
	}
	srcs, err := filepath.Glob(filepath.Join("testdata", "openpace", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("the OpenPACE peer's sources: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "peer")
	args := append(append([]string{"-O1", "-o", bin}, srcs...), strings.Fields(string(flags))...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("compile the OpenPACE peer: %v\n%s", err, out)
	}
	return bin
}

// openPACEPeer is a running peer.
type openPACEPeer struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	stderr  bytes.Buffer
	results []string // its "OK ..." and "ERR ..." lines, in order
}

func startOpenPACEPeer(t *testing.T, bin string, args ...string) *openPACEPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	p := &openPACEPeer{cmd: exec.CommandContext(ctx, bin, args...)}
	p.cmd.Stderr = &p.stderr
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewScanner(stdout)
	p.out.Buffer(make([]byte, 0, 1<<16), 1<<20)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.in.Close()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("OpenPACE peer %v: results %q, stderr:\n%s", args[:2], p.results, p.stderr.String())
		}
	})
	return p
}

// next returns the next APDU line with the prefix ("> " command, "< "
// response), keeping the result lines on the way; io.EOF when the peer
// ends.
func (p *openPACEPeer) next(prefix string) ([]byte, error) {
	for p.out.Scan() {
		l := p.out.Text()
		if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
			p.results = append(p.results, l)
			continue
		}
		if !strings.HasPrefix(l, prefix) {
			return nil, fmt.Errorf("peer says %q, want %q", l, prefix)
		}
		return hex.DecodeString(l[len(prefix):])
	}
	if err := p.out.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

func (p *openPACEPeer) send(prefix string, b []byte) error {
	_, err := fmt.Fprintf(p.in, "%s%X\n", prefix, b)
	return err
}

// result returns the rest of the peer's first result line that starts
// with prefix ("OK ..." or "ERR ...").
func (p *openPACEPeer) result(prefix string) (string, bool) {
	for _, r := range p.results {
		if strings.HasPrefix(r, prefix) {
			return r[len(prefix):], true
		}
	}
	return "", false
}

// relay runs the peer as the terminal against t until it ends.
func (p *openPACEPeer) relay(ctx context.Context, tr apdu.Transport) error {
	for {
		cmd, err := p.next("> ")
		if errors.Is(err, io.EOF) {
			return p.cmd.Wait()
		}
		if err != nil {
			return err
		}
		resp, err := tr.Transmit(ctx, cmd)
		if err != nil {
			return err
		}
		if err := p.send("< ", resp); err != nil {
			return err
		}
	}
}

// finish closes the peer's stdin, reads its last results and waits for it
// to exit.
func (p *openPACEPeer) finish() error {
	p.in.Close()
	if _, err := p.next("< "); !errors.Is(err, io.EOF) {
		return fmt.Errorf("peer answers after the end: %v", err)
	}
	return p.cmd.Wait()
}

// Transmit makes the peer, as the chip, a Transport for emrtd.Open.
func (p *openPACEPeer) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	if err := p.send("> ", cmd); err != nil {
		return nil, err
	}
	return p.next("< ")
}

// openPACEChip is the peer as a chip whose reader has extended length or
// not.
type openPACEChip struct {
	*openPACEPeer
	ext bool
}

func (c openPACEChip) ExtendedLength() bool { return c.ext }

// openPACEVariant is a PACE variant of the virtual chip's EF.CardAccess.
type openPACEVariant struct {
	name string
	opts emrtdapplet.Options
	ext  bool // needs extended length (2048-bit DH)
	mrz  bool // run with the MRZ as well as with the CAN
}

// passwords are the PACE passwords a variant runs with: the CAN, and the
// MRZ for one ECDH and one DH variant (the password only changes Kπ).
func (v openPACEVariant) passwords() []string {
	if v.mrz {
		return []string{"can", "mrz"}
	}
	return []string{"can"}
}

func openPACEVariants() []openPACEVariant {
	return []openPACEVariant{
		{name: "ECDH-brainpoolP256r1-AES128", opts: emrtdapplet.Options{PACEParameterID: 13}, mrz: true},
		{name: "ECDH-P256-AES128", opts: emrtdapplet.Options{PACEParameterID: 12}},
		{name: "ECDH-brainpoolP256r1-3DES", opts: emrtdapplet.Options{PACEParameterID: 13, PACECipher: emrtdapplet.PACE3DES}},
		{name: "ECDH-brainpoolP256r1-AES192", opts: emrtdapplet.Options{PACEParameterID: 13, PACECipher: emrtdapplet.PACEAES192}},
		{name: "ECDH-P384-AES256", opts: emrtdapplet.Options{PACEParameterID: 15, PACECipher: emrtdapplet.PACEAES256}},
		{name: "DH-1024-AES128", opts: emrtdapplet.Options{PACEDH: true, PACEParameterID: 0}, mrz: true},
		{name: "DH-1024-3DES", opts: emrtdapplet.Options{PACEDH: true, PACEParameterID: 0, PACECipher: emrtdapplet.PACE3DES}},
		{name: "DH-2048-256-AES128", opts: emrtdapplet.Options{PACEDH: true, PACEParameterID: 2}, ext: true},
	}
}

// tdMRZ is the MRZ as OpenPACE's PACE_SEC_new takes it: the TD1 lines
// joined without newlines (it reads the fields at their TD1 offsets).
func tdMRZ(p *emrtdapplet.Personalised) string { return strings.Join(p.MRZLines, "") }

// TestOpenPACE runs PACE between puce and OpenPACE both ways, for every
// variant both implement, and with a wrong CAN on either side. The peer is
// compiled once for all of them.
func TestOpenPACE(t *testing.T) {
	bin := buildOpenPACEPeer(t)
	t.Run("terminal", func(t *testing.T) { testOpenPACETerminal(t, bin) })
	t.Run("terminal-wrong-CAN", func(t *testing.T) { testOpenPACETerminalWrongCAN(t, bin) })
	t.Run("chip", func(t *testing.T) { testOpenPACEChip(t, bin) })
	t.Run("chip-wrong-CAN", func(t *testing.T) { testOpenPACEChipWrongCAN(t, bin) })
	t.Run("DH-leading-zero-K", func(t *testing.T) { testOpenPACEDHLeadingZero(t, bin) })
	t.Run("DH-explicit-parameters", func(t *testing.T) { testOpenPACEDHExplicit(t, bin) })
	t.Run("EAC-terminal", func(t *testing.T) { testOpenPACEEACTerminal(t, bin) })
	t.Run("EAC-Comp-leading-zero", func(t *testing.T) { testOpenPACECompLeadingZero(t, bin) })
	t.Run("EAC-chip", func(t *testing.T) { testOpenPACEEACChip(t, bin) })
	t.Run("EAC-chip-Comp-leading-zero", func(t *testing.T) { testOpenPACEChipCompLeadingZero(t, bin) })
}

// OpenPACE as the terminal against puce's virtual chip: PACE with the CAN
// or the MRZ, then SELECT and READ BINARY under OpenPACE's secure
// messaging; the files it reads must be the personalised ones.
func testOpenPACETerminal(t *testing.T, bin string) {
	for _, v := range openPACEVariants() {
		for _, pw := range v.passwords() {
			t.Run(v.name+"-"+pw, func(t *testing.T) {
				t.Parallel()
				opts := v.opts
				f := newFixture(t, v.ext, &opts)
				secret := f.p.CAN
				if pw == "mrz" {
					secret = tdMRZ(f.p)
				}
				args := []string{"terminal", pw, secret}
				if v.ext {
					args = append(args, "ext")
				}
				p := startOpenPACEPeer(t, bin, args...)
				if err := p.relay(context.Background(), f.tr); err != nil {
					t.Fatalf("OpenPACE terminal: %v", err)
				}
				if _, ok := p.result("OK PACE"); !ok {
					t.Fatalf("OpenPACE's PACE did not complete: %q", p.results)
				}
				for sfi, fid := range map[string]uint16{"1E": 0x011E, "01": 0x0101} {
					got, ok := p.result("OK FILE " + sfi + " ")
					if !ok {
						t.Fatalf("OpenPACE read no file %s: %q", sfi, p.results)
					}
					if want := hex.EncodeToString(f.p.Applet.File(fid)); !strings.EqualFold(got, want) {
						t.Errorf("file %s under OpenPACE's secure messaging:\n got %s\nwant %s", sfi, got, want)
					}
				}
			})
		}
	}
}

// A wrong CAN at OpenPACE's terminal: the virtual chip refuses its token.
func testOpenPACETerminalWrongCAN(t *testing.T, bin string) {
	t.Parallel()
	f := newFixture(t, true, &emrtdapplet.Options{CAN: "123456"})
	p := startOpenPACEPeer(t, bin, "terminal", "can", "654321")
	if err := p.relay(context.Background(), f.tr); err == nil {
		t.Fatal("OpenPACE completed PACE with a wrong CAN")
	}
	if r, ok := p.result("ERR token refused "); !ok || r != "6300" {
		t.Fatalf("virtual chip's answer to a wrong token: %q", p.results)
	}
}

// puce's reader against OpenPACE as the chip: emrtd.Open runs PACE on the
// EF.CardAccess the peer serves (the virtual chip's, for each variant),
// then the session reads EF.COM under secure messaging, which the peer
// checks with OpenPACE's EAC_authenticate and EAC_decrypt.
func testOpenPACEChip(t *testing.T, bin string) {
	ctx := context.Background()
	for _, v := range openPACEVariants() {
		for _, pw := range v.passwords() {
			t.Run(v.name+"-"+pw, func(t *testing.T) {
				t.Parallel()
				opts := v.opts
				prof, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &opts)
				if err != nil {
					t.Fatal(err)
				}
				cardAccess, efCOM := prof.Applet.File(0x011C), prof.Applet.File(0x011E)
				var key emrtd.AccessKey = emrtd.CAN(prof.CAN)
				secret := prof.CAN
				if pw == "mrz" {
					if key, err = emrtd.MRZKeyFromMRZ(prof.MRZ); err != nil {
						t.Fatal(err)
					}
					secret = tdMRZ(prof)
				}
				p := startOpenPACEPeer(t, bin, "chip", hex.EncodeToString(cardAccess), pw, secret, hex.EncodeToString(efCOM))
				s, err := emrtd.Open(ctx, openPACEChip{p, v.ext}, key, &emrtd.Options{RequirePACE: true})
				if err != nil {
					t.Fatalf("Open against OpenPACE: %v", err)
				}
				if s.Protocol() != emrtd.ProtocolPACE {
					t.Fatalf("protocol %v", s.Protocol())
				}
				got, err := s.ReadFile(ctx, emrtd.FileCOM)
				if err != nil {
					t.Fatalf("read EF.COM under secure messaging: %v", err)
				}
				if !bytes.Equal(got, efCOM) {
					t.Errorf("EF.COM = %X, want %X", got, efCOM)
				}
				if err := p.finish(); err != nil {
					t.Fatalf("peer: %v", err)
				}
				// SELECT of the application and at least one READ BINARY
				// passed OpenPACE's MAC check.
				if n, ok := p.result("OK SM "); !ok || n == "0" || n == "1" {
					t.Errorf("commands OpenPACE verified: %q", p.results)
				}
			})
		}
	}
}

// A wrong CAN at puce's reader: OpenPACE refuses the token (6300), Open
// fails with ErrAccessDenied.
func testOpenPACEChipWrongCAN(t *testing.T, bin string) {
	t.Parallel()
	prof, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{CAN: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	p := startOpenPACEPeer(t, bin, "chip", hex.EncodeToString(prof.Applet.File(0x011C)), "can", "123456", "6000")
	_, err = emrtd.Open(context.Background(), openPACEChip{p, false}, emrtd.CAN("654321"), nil)
	if !errors.Is(err, emrtd.ErrAccessDenied) {
		t.Fatalf("Open with a wrong CAN: %v, want ErrAccessDenied", err)
	}
	if _, ok := p.result("ERR terminal's token"); !ok {
		// The line comes before the answer the reader read.
		t.Errorf("OpenPACE's verdict: %q", p.results)
	}
}

// rfc5114Group1024 is the MODP group of parameter ID 0 (ICAO 9303-11
// Table 6; RFC 5114 §2.1): the prime p and the subgroup order q.
var rfc5114Group1024 = struct{ p, q string }{
	p: "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C013ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371",
	q: "F518AA8781A8DF278ABA4E7D64B7CB9D49462353",
}

// armedRand is crypto/rand until armed: then its next read of len(next)
// bytes returns next.
type armedRand struct {
	mu   sync.Mutex
	next []byte
}

func (r *armedRand) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next != nil && len(b) == len(r.next) {
		n := copy(b, r.next)
		r.next = nil
		return n, nil
	}
	return rand.Read(b)
}

// leadingZeroK is the virtual chip's transport for a DH PACE whose shared
// secret K starts with a zero byte: when the terminal's ephemeral key
// passes (GENERAL AUTHENTICATE 7C { 83 y }), it arms the chip's random
// source with an exponent x such that y^x mod p < 256^(len(p)-1).
type leadingZeroK struct {
	tr   apdu.Transport
	rand *armedRand
}

func (l leadingZeroK) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) > 5 && cmd[1] == 0x86 {
		c, _, err := apdu.ParseCommand(cmd)
		if err != nil {
			return nil, err
		}
		if t, _, err := apdu.DecodeTLV(c.Data); err == nil && t.Tag == 0x7C {
			if k, _, err := apdu.DecodeTLV(t.Value); err == nil && k.Tag == 0x83 {
				p, _ := new(big.Int).SetString(rfc5114Group1024.p, 16)
				q, _ := new(big.Int).SetString(rfc5114Group1024.q, 16)
				y := new(big.Int).SetBytes(k.Value)
				limit := new(big.Int).Lsh(big.NewInt(1), uint(8*(len(p.Bytes())-1)))
				for {
					x, err := rand.Int(rand.Reader, q)
					if err != nil {
						return nil, err
					}
					if x.Sign() > 0 && new(big.Int).Exp(y, x, p).Cmp(limit) < 0 {
						l.rand.mu.Lock()
						l.rand.next = x.FillBytes(make([]byte, len(q.Bytes())))
						l.rand.mu.Unlock()
						break
					}
				}
			}
		}
	}
	return l.tr.Transmit(ctx, cmd)
}

// testOpenPACEDHLeadingZero settles how a DH shared secret with a leading
// zero byte enters the KDF. BSI TR-03110-3 takes DH from PKCS #3, whose
// §8.4 makes K an octet string of the length of p; puce (emrtd/dh.go, the
// virtual chip) keeps the zeros. OpenPACE takes K from OpenSSL's
// DH_compute_key, which drops them: left alone ("raw") its keys differ from
// the chip's and the chip refuses its token; with the peer padding K as
// PKCS #3 does, PACE succeeds. The chip's exponent is chosen so that K has
// a leading zero; a run where the chip had to draw again (its public key
// would have had one) is tried anew.
func testOpenPACEDHLeadingZero(t *testing.T, bin string) {
	t.Parallel()
	for _, raw := range []bool{true, false} {
		forced := false
		for attempt := 0; attempt < 8 && !forced; attempt++ {
			r := &armedRand{}
			f := newFixture(t, false, &emrtdapplet.Options{PACEDH: true, Rand: r})
			args := []string{"terminal", "can", f.p.CAN}
			if raw {
				args = append(args, "raw")
			}
			p := startOpenPACEPeer(t, bin, args...)
			err := p.relay(context.Background(), leadingZeroK{f.tr, r})
			k, _ := p.result("OK K ")
			if forced = k != "" && k != "128"; !forced {
				continue
			}
			_, done := p.result("OK DONE")
			refused, _ := p.result("ERR token refused ")
			switch {
			case raw && (err == nil || refused != "6300"):
				t.Errorf("OpenPACE with its own %s-byte K: %v %q; if OpenPACE now keeps K's leading zeros, drop the peer's padding", k, err, p.results)
			case !raw && (err != nil || !done):
				t.Errorf("OpenPACE with K padded to len(p) (PKCS #3 §8.4): %v %q", err, p.results)
			}
		}
		if !forced {
			t.Errorf("no run with a leading zero in K (raw %v)", raw)
		}
	}
}

// Explicit DH parameters (PACEDomainParameterInfo) are where OpenPACE and
// puce part: ICAO 9303-11 §9.2.1 gives them as an AlgorithmIdentifier
// dhpublicnumber, whose parameters are ANSI X9.42 DomainParameters ::=
// SEQUENCE { p, g, q, ... } (RFC 3279 §2.3.3), as the virtual chip writes
// them and emrtd.ParseCardAccess reads them. OpenPACE decodes them as
// PKCS #3 DHParameter { p, g, privateValueLength } (OpenSSL's
// d2i_DHparams, eac_asn1.c) and turns the 224-bit q down as a length:
// EAC_CTX_init_ef_cardaccess fails, so OpenPACE runs no PACE with such a
// chip. The test watches that: should OpenPACE read them one day, the
// variant belongs in openPACEVariants.
func testOpenPACEDHExplicit(t *testing.T, bin string) {
	t.Parallel()
	f := newFixture(t, true, &emrtdapplet.Options{PACEDH: true, PACEDHExplicit: true, PACEParameterID: 1})
	if _, err := emrtd.ParseCardAccess(f.p.Applet.File(0x011C)); err != nil {
		t.Fatalf("puce reads the explicit parameters: %v", err)
	}
	p := startOpenPACEPeer(t, bin, "terminal", "can", f.p.CAN, "ext")
	err := p.relay(context.Background(), f.tr)
	if r, _ := p.result("ERR "); err == nil || r != "EAC_CTX_init_ef_cardaccess" {
		t.Errorf("OpenPACE with X9.42 DH domain parameters: %v %q", err, p.results)
	}
}
