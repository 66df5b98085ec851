package virtual_test

import (
	"context"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// mfProbe is a probe that also holds the master file.
type mfProbe struct {
	probe
	mfSelects int
}

func (p *mfProbe) SelectMF(context.Context, apdu.Command) (apdu.Response, error) {
	p.mfSelects++
	return apdu.Status(apdu.SWOK), nil
}

// The MF is current after reset (ISO/IEC 7816-4 §7.1.1): commands reach
// the MF holder before anything is selected, SELECT MF (empty or 3F00)
// comes back to it from another application, and a reset does too.
func TestMasterFileHolder(t *testing.T) {
	mf := &mfProbe{probe: probe{aid: probeAID}}
	card, _ := newEchoCard(t, virtual.Config{}, mf)

	// Fresh card: READ BINARY by short EF identifier 1C goes to the holder.
	if got := send(t, card, "00B09C0000"); got != "9000" {
		t.Fatalf("READ BINARY at MF level: %s", got)
	}
	if len(mf.cmds) != 1 || mf.cmds[0].INS != 0xB0 || mf.cmds[0].P1 != 0x9C {
		t.Fatalf("MF holder saw %v", mf.cmds)
	}
	// SELECT EF by FID under the MF goes to the holder too.
	send(t, card, "00A4020C02011C")
	if len(mf.cmds) != 2 || mf.cmds[1].INS != 0xA4 {
		t.Fatalf("SELECT EF at MF level: holder saw %v", mf.cmds)
	}

	send(t, card, selectEcho)
	if mf.deselects != 1 {
		t.Errorf("selecting another application deselected the MF holder %d times", mf.deselects)
	}
	if got := send(t, card, "00E4000000"); got != "019000" {
		t.Errorf("echo after SELECT: %s", got)
	}
	for _, sel := range []string{"00A4000C", "00A4000C023F00", "00A40000023F0000"} {
		send(t, card, selectEcho)
		before := mf.mfSelects
		if got := send(t, card, sel); got != "9000" {
			t.Errorf("%s: %s", sel, got)
		}
		if mf.mfSelects != before+1 {
			t.Errorf("%s did not reach SelectMF", sel)
		}
		n := len(mf.cmds)
		send(t, card, "00E4000000")
		if len(mf.cmds) != n+1 {
			t.Errorf("after %s the command did not reach the MF holder", sel)
		}
	}

	send(t, card, selectEcho)
	card.Reset()
	n := len(mf.cmds)
	send(t, card, "00B09C0000")
	if len(mf.cmds) != n+1 {
		t.Error("after reset the MF holder is not current")
	}
	// SELECT of another EF identifier with P1 00 is the holder's business.
	send(t, card, "00A4000C022F00")
	if c := mf.cmds[len(mf.cmds)-1]; c.INS != 0xA4 || c.P1 != 0 {
		t.Errorf("SELECT 2F00 with P1 00 went elsewhere: %v", c)
	}
}

// A card without an MF holder has a bare MF: SELECT MF works, files are
// not found, other commands need an application.
func TestBareMasterFile(t *testing.T) {
	p := &probe{aid: probeAID}
	card, _ := newEchoCard(t, virtual.Config{}, p)
	for _, c := range []struct{ cmd, want string }{
		{"00A4000C", "9000"},
		{"00A4000C023F00", "9000"},
		{"00A4020C02011C", "6A82"},
		{"00B09C0000", "6A82"},
		{"00E4000000", "6985"},
	} {
		if got := send(t, card, c.cmd); got != c.want {
			t.Errorf("%s: %s, want %s", c.cmd, got, c.want)
		}
	}
	// SELECT MF leaves the selected application.
	send(t, card, "00A4040007A0000005272101")
	send(t, card, "00A4000C")
	if p.deselects != 1 {
		t.Errorf("SELECT MF deselected the application %d times", p.deselects)
	}
	if got := send(t, card, "00E4000000"); got != "6985" {
		t.Errorf("after SELECT MF: %s, want 6985", got)
	}
}

func TestTwoMasterFileHolders(t *testing.T) {
	a := &mfProbe{probe: probe{aid: probeAID}}
	b := &mfProbe{probe: probe{aid: []byte{0xA0, 0x00, 0x00, 0x09, 0x99, 0x01}}}
	if _, err := virtual.NewCard(virtual.Config{}, a, b); !errors.Is(err, virtual.ErrConfig) {
		t.Errorf("two MF holders: %v, want ErrConfig", err)
	}
}
