package emrtd_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// recorder keeps each command's header and the status word answered.
type recorder struct {
	card *virtual.Card
	log  []string // "CLA INS P1 P2 -> SW"
}

func (r *recorder) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	resp, err := r.card.Transmit(ctx, cmd)
	if err == nil && len(cmd) >= 4 && len(resp) >= 2 {
		r.log = append(r.log, fmt.Sprintf("%02X%02X%02X%02X %02X%02X", cmd[0], cmd[1], cmd[2], cmd[3], resp[len(resp)-2], resp[len(resp)-1]))
	}
	return resp, err
}

func (r *recorder) ExtendedLength() bool { return r.card.ExtendedLength() }

// ICAO 9303-11 §4.2 on a card fresh from reset, where the MF is current:
// EF.CardAccess is read by its short EF identifier at MF level (no SELECT
// first, no 6985), PACE runs in the MF, and only then is the application
// selected, under secure messaging.
func TestStandardAccessOrder(t *testing.T) {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACEParameterID: 12})
	if err != nil {
		t.Fatal(err)
	}
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{card: card}
	ctx := t.Context()
	s, err := emrtd.Open(ctx, rec, emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"00B09C00 6282",                                                    // READ BINARY EF.CardAccess by SFI 1C, in the MF: Ne beyond its end (ISO/IEC 7816-4 (2020) §11.2.3)
		"0022C1A4 9000",                                                    // MSE:Set AT
		"10860000 9000", "10860000 9000", "10860000 9000", "00860000 9000", // GENERAL AUTHENTICATE
		"0CA4040C 9000", // SELECT the application under secure messaging
	}
	if fmt.Sprint(rec.log) != fmt.Sprint(want) {
		t.Fatalf("APDUs on a fresh card:\n got  %v\n want %v", rec.log, want)
	}
	if s.Protocol() != emrtd.ProtocolPACE || s.CardAccess() == nil {
		t.Fatalf("protocol %v", s.Protocol())
	}
	r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
	if err != nil || !r.Verified() {
		t.Fatal(err)
	}

	// A second session on the same card starts where the first left off,
	// with the application selected: still no SELECT, no refusal.
	rec.log = nil
	if _, err := emrtd.Open(ctx, rec, emrtd.CAN(p.CAN), nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.log) != len(want) || rec.log[0] != want[0] {
		t.Errorf("second session: %v", rec.log)
	}
}

// A chip that refuses EF.CardAccess outside the MF (here: 6986, no current
// EF) gets a SELECT MF and a second read, never a SELECT of the application
// before PACE.
func TestCardAccessAfterSelectMF(t *testing.T) {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACEParameterID: 12})
	if err != nil {
		t.Fatal(err)
	}
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	if err := card.Inject(virtual.Fault{Times: 1, SW: 0x6986, Match: func(c apdu.Command) bool { return c.INS == 0xB0 }}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{card: card}
	if _, err := emrtd.Open(t.Context(), rec, emrtd.CAN(p.CAN), nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.log) < 4 || rec.log[0] != "00B09C00 6986" || rec.log[1] != "00A4000C 9000" || rec.log[2] != "00B09C00 6282" || rec.log[3] != "0022C1A4 9000" {
		t.Errorf("APDUs: %v", rec.log)
	}
}

// A BAC-only chip has no EF.CardAccess: 6A82 at MF level, then the
// application is selected and BAC runs (ICAO 9303-11 §4.2 steps 3, 4).
func TestBACOrder(t *testing.T) {
	f := newFixture(t, false, &emrtdapplet.Options{DisablePACE: true})
	rec := &recorder{card: f.tr.card}
	if _, err := emrtd.Open(t.Context(), rec, f.key, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"00B09C00 6A82", "00A4040C 9000", "00840000 9000", "00820000 9000"}
	if fmt.Sprint(rec.log) != fmt.Sprint(want) {
		t.Errorf("APDUs: %v, want %v", rec.log, want)
	}
}
