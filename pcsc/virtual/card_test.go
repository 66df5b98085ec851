package virtual_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

const selectEcho = "00A4040009F070756365454348 4F 00"

// send transmits hex-encoded APDU s and returns the hex response, upper case.
func send(t *testing.T, card *virtual.Card, s string) string {
	t.Helper()
	cmd, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := card.Transmit(t.Context(), cmd)
	if err != nil {
		t.Fatalf("Transmit(%s): %v", s, err)
	}
	return strings.ToUpper(hex.EncodeToString(resp))
}

func sw(resp string) string { return resp[len(resp)-4:] }

func newEchoCard(t *testing.T, cfg virtual.Config, extra ...virtual.Applet) (*virtual.Card, *virtual.EchoApplet) {
	t.Helper()
	echo := virtual.NewEchoApplet()
	card, err := virtual.NewCard(cfg, append([]virtual.Applet{echo}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return card, echo
}

// probe is an applet that records what the runtime hands it.
type probe struct {
	aid                 []byte
	cmds                []apdu.Command
	resets, deselects   int
	selectSW            uint16
	processErr          error
	processResponseData []byte
}

func (p *probe) AID() []byte { return p.aid }
func (p *probe) Select(context.Context, apdu.Command) (apdu.Response, error) {
	if p.selectSW != 0 {
		return apdu.Status(p.selectSW), nil
	}
	return apdu.Status(apdu.SWOK), nil
}
func (p *probe) Process(_ context.Context, cmd apdu.Command) (apdu.Response, error) {
	cmd.Data = bytes.Clone(cmd.Data)
	p.cmds = append(p.cmds, cmd)
	if p.processErr != nil {
		return apdu.Response{}, p.processErr
	}
	return apdu.Response{Data: p.processResponseData, SW: apdu.SWOK}, nil
}
func (p *probe) Reset()    { p.resets++ }
func (p *probe) Deselect() { p.deselects++ }

var probeAID = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01}

func TestSelect(t *testing.T) {
	p := &probe{aid: probeAID}
	card, _ := newEchoCard(t, virtual.Config{}, p)

	if got := send(t, card, "00E4000000"); got != "6985" {
		t.Errorf("command with nothing selected: %s, want 6985", got)
	}
	// Full AID, answered with the application template.
	if got := send(t, card, selectEcho); got != "610B4F09F0707563654543484F9000" {
		t.Errorf("SELECT echo: %s", got)
	}
	if got := send(t, card, "00E4000000"); got != "019000" {
		t.Errorf("counter after SELECT: %s", got)
	}
	// Partial AID (the first 5 bytes) selects the probe; the echo applet is
	// not told (it is no Deselecter), the probe sees the next command.
	if got := send(t, card, "00A4040005A000000527"); got != "9000" {
		t.Errorf("partial SELECT: %s", got)
	}
	send(t, card, "00E4000000")
	if len(p.cmds) != 1 || p.cmds[0].INS != 0xE4 {
		t.Errorf("probe saw %v", p.cmds)
	}
	// An unknown AID fails and leaves the selection alone.
	if got := send(t, card, "00A4040005A000000999"); got != "6A82" {
		t.Errorf("unknown AID: %s, want 6A82", got)
	}
	send(t, card, "00E4000000")
	if len(p.cmds) != 2 {
		t.Errorf("the failed SELECT changed the selection: probe saw %d commands", len(p.cmds))
	}
	// Selecting the echo applet deselects the probe.
	send(t, card, selectEcho)
	if p.deselects != 1 {
		t.Errorf("probe deselected %d times", p.deselects)
	}
	// A SELECT the applet refuses leaves the previous selection.
	p.selectSW = apdu.SWConditions
	if got := send(t, card, "00A4040007A0000005272101"); got != "6985" {
		t.Errorf("refused SELECT: %s", got)
	}
	if got := send(t, card, "00E4000000"); got != "029000" {
		t.Errorf("echo lost its selection: %s", got)
	}
	// SELECT by file ID (P1 02) goes to the selected applet, as eMRTD needs.
	if got := send(t, card, "00A4020C02011E"); got != "6D00" {
		t.Errorf("SELECT EF by the echo applet: %s, want 6D00 from the applet", got)
	}
}

func TestInstallAndConfig(t *testing.T) {
	if _, err := virtual.NewCard(virtual.Config{ATR: make([]byte, 34)}); !errors.Is(err, virtual.ErrConfig) {
		t.Errorf("34-byte ATR: %v", err)
	}
	card, _ := newEchoCard(t, virtual.Config{})
	for _, aid := range [][]byte{
		{1, 2, 3, 4},                 // too short
		virtual.EchoAID()[:5],        // leading part of the echo AID
		append(virtual.EchoAID(), 1), // the echo AID is a leading part of it
	} {
		if err := card.Install(&probe{aid: aid}); !errors.Is(err, virtual.ErrConfig) {
			t.Errorf("Install(%X): %v, want ErrConfig", aid, err)
		}
	}
	if err := card.Install(&probe{aid: probeAID}); err != nil {
		t.Errorf("Install: %v", err)
	}
	if !bytes.Equal(card.ATR(), virtual.DefaultATR(false)) {
		t.Errorf("ATR %X, want DefaultATR(false)", card.ATR())
	}
	if card.ExtendedLength() {
		t.Error("ExtendedLength() without Config.ExtendedLength")
	}
}

func TestPagination(t *testing.T) {
	card, _ := newEchoCard(t, virtual.Config{})
	send(t, card, selectEcho)
	// 300 bytes, Le 100: 100 bytes and 61C8.
	got := send(t, card, "00E2012C64")
	if len(got) != 2*100+4 || sw(got) != "61C8" {
		t.Fatalf("first part: %d hex digits, SW %s", len(got), sw(got))
	}
	got = send(t, card, "00C0000000")
	if len(got) != 2*200+4 || sw(got) != "9000" || !strings.HasPrefix(got, "6465") {
		t.Errorf("GET RESPONSE: %d hex digits, %s…%s", len(got), got[:4], sw(got))
	}
	// Nothing left.
	if got := send(t, card, "00C0000000"); got != "6985" {
		t.Errorf("GET RESPONSE with nothing pending: %s", got)
	}
	// Another command forfeits pending data.
	send(t, card, "00E2012C64")
	send(t, card, "00E4000000")
	if got := send(t, card, "00C0000000"); got != "6985" {
		t.Errorf("GET RESPONSE after another command: %s", got)
	}
	// Answers keep the applet's final status word.
	send(t, card, "00E2012C64")
	if got := send(t, card, "00C00000C8"); sw(got) != "9000" {
		t.Errorf("exact GET RESPONSE: %s", sw(got))
	}
}

func TestChainingInRuntime(t *testing.T) {
	p := &probe{aid: probeAID}
	card, err := virtual.NewCard(virtual.Config{MaxCommandData: 8}, p)
	if err != nil {
		t.Fatal(err)
	}
	send(t, card, "00A4040007A0000005272101")
	for _, s := range []string{"10DB3FFF030102 03", "10DB3FFF020405"} {
		if got := send(t, card, s); got != "9000" {
			t.Fatalf("block %s: %s", s, got)
		}
	}
	if got := send(t, card, "00DB3FFF010600"); got != "9000" {
		t.Fatalf("last block: %s", got)
	}
	if len(p.cmds) != 1 || p.cmds[0].CLA != 0x00 || !bytes.Equal(p.cmds[0].Data, []byte{1, 2, 3, 4, 5, 6}) || p.cmds[0].Ne != 256 {
		t.Fatalf("applet got %+v, want one command with 6 bytes and Ne 256", p.cmds)
	}
	// A command with another header abandons the chain.
	send(t, card, "10DB3FFF0101")
	send(t, card, "00CB3FFF0102")
	if got := p.cmds[len(p.cmds)-1]; got.INS != 0xCB || !bytes.Equal(got.Data, []byte{2}) {
		t.Errorf("after an abandoned chain the applet got %+v", got)
	}
	// Beyond MaxCommandData: 6A84.
	send(t, card, "10DB3FFF050102030405")
	if got := send(t, card, "10DB3FFF050102030405"); got != "6A84" {
		t.Errorf("overlong chain: %s, want 6A84", got)
	}
}

func TestExtendedLengthSwitch(t *testing.T) {
	ext := "00E10000000003010203 0000"
	short, _ := newEchoCard(t, virtual.Config{})
	send(t, short, selectEcho)
	if got := send(t, short, ext); got != "6700" {
		t.Errorf("extended APDU on a short-only card: %s, want 6700", got)
	}
	long, _ := newEchoCard(t, virtual.Config{ExtendedLength: true})
	send(t, long, selectEcho)
	if got := send(t, long, ext); got != "0102039000" {
		t.Errorf("extended APDU: %s", got)
	}
	if !long.ExtendedLength() {
		t.Error("ExtendedLength() false")
	}
	// Le 0000 allows the whole 1000 bytes in one answer.
	if got := send(t, long, "00E203E8000000"); len(got) != 2*1000+4 || sw(got) != "9000" {
		t.Errorf("extended Le: %d hex digits, %s", len(got), sw(got))
	}
}

func TestMalformedAndClasses(t *testing.T) {
	card, _ := newEchoCard(t, virtual.Config{})
	send(t, card, selectEcho)
	for cmd, want := range map[string]string{
		"00":             "6700",
		"00E1000005AABB": "6700",
		"FFE4000000":     "6E00",
		"01E4000000":     "6881", // logical channel 1
		"80E4000000":     "6E00", // the echo applet wants class 00
		"00E500000583":   "6700",
		"00E56A8800":     "6A88",
	} {
		if got := send(t, card, cmd); got != want {
			t.Errorf("%s: %s, want %s", cmd, got, want)
		}
	}
}

func TestResetClearsVolatileState(t *testing.T) {
	p := &probe{aid: probeAID}
	card, _ := newEchoCard(t, virtual.Config{}, p)
	send(t, card, selectEcho)
	send(t, card, "00200080 06 313233343536")
	if got := send(t, card, "00E6000000"); sw(got) != "9000" {
		t.Fatalf("secret after VERIFY: %s", got)
	}
	send(t, card, "00E4000000")
	card.Reset()
	if p.resets != 1 {
		t.Errorf("probe reset %d times", p.resets)
	}
	if got := send(t, card, "00E4000000"); got != "6985" {
		t.Errorf("selection survived the reset: %s", got)
	}
	send(t, card, selectEcho)
	if got := send(t, card, "00E6000000"); got != "6982" {
		t.Errorf("PIN verification survived the reset: %s", got)
	}
	if got := send(t, card, "00E4000000"); got != "019000" {
		t.Errorf("counter survived the reset: %s", got)
	}
	// The PIN try counter is not volatile.
	send(t, card, "00200080 06 303030303030")
	card.Reset()
	send(t, card, selectEcho)
	if got := send(t, card, "0020008000"); got != "63C2" {
		t.Errorf("tries left after reset: %s, want 63C2", got)
	}
}

func TestRemoveInsert(t *testing.T) {
	card, _ := newEchoCard(t, virtual.Config{})
	send(t, card, selectEcho)
	card.Remove()
	if card.Present() {
		t.Error("Present() after Remove")
	}
	_, err := card.Transmit(t.Context(), []byte{0x00, 0xE4, 0x00, 0x00, 0x00})
	if !errors.Is(err, virtual.ErrRemoved) {
		t.Fatalf("Transmit on a removed card: %v", err)
	}
	// Through a Client the error keeps its identity.
	if _, err := apdu.Do(t.Context(), card, apdu.Command{INS: 0xE4, Ne: 1}); !errors.Is(err, virtual.ErrRemoved) || !errors.Is(err, apdu.ErrCardRemoved) {
		t.Errorf("Client on a removed card: %v", err)
	}
	card.Insert()
	if got := send(t, card, "00E4000000"); got != "6985" {
		t.Errorf("selection survived removal: %s", got)
	}
}

func TestFaults(t *testing.T) {
	ctx := t.Context()
	card, _ := newEchoCard(t, virtual.Config{})
	send(t, card, selectEcho)

	if err := card.FailNext(2, 0x6F00); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got := send(t, card, "00E4000000"); got != "6F00" {
			t.Errorf("failed command %d: %s", i, got)
		}
	}
	if got := send(t, card, "00E4000000"); got != "019000" {
		t.Errorf("after the faults: %s (the failed commands must not run)", got)
	}

	// Only commands the predicate picks, until cleared.
	err := card.Inject(virtual.Fault{SW: apdu.SWSecurityStatus, Match: func(c apdu.Command) bool { return c.INS == virtual.EchoINSGenerate }})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := send(t, card, "00E2000200"); got != "6982" {
			t.Errorf("matching command: %s", got)
		}
		if got := send(t, card, "00E1000001AA00"); got != "AA9000" {
			t.Errorf("other command: %s", got)
		}
	}
	card.ClearFaults()
	if got := send(t, card, "00E2000200"); got != "00019000" {
		t.Errorf("after ClearFaults: %s", got)
	}

	// Dropped mid-exchange: an error, the card stays inserted but lost power.
	card.DropNext()
	_, err = card.Transmit(ctx, []byte{0x00, 0xE4, 0x00, 0x00, 0x00})
	if !errors.Is(err, virtual.ErrDropped) || !errors.Is(err, virtual.ErrRemoved) {
		t.Fatalf("dropped exchange: %v", err)
	}
	if !card.Present() {
		t.Error("card absent after a dropped exchange")
	}
	if got := send(t, card, "00E4000000"); got != "6985" {
		t.Errorf("selection survived the drop: %s", got)
	}

	for _, f := range []virtual.Fault{{SW: 0x9000 - 0x3000}, {SW: 0x0000}, {Times: -1, SW: 0x6F00}} {
		if err := card.Inject(f); !errors.Is(err, virtual.ErrConfig) {
			t.Errorf("Inject(%+v): %v, want ErrConfig", f, err)
		}
	}
	if err := card.FailNext(0, 0x6F00); !errors.Is(err, virtual.ErrConfig) {
		t.Errorf("FailNext(0): %v", err)
	}
}

func TestDelay(t *testing.T) {
	card, _ := newEchoCard(t, virtual.Config{})
	card.SetDelay(30 * time.Millisecond)
	start := time.Now()
	send(t, card, selectEcho)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("delayed APDU took %v", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	_, err := card.Transmit(ctx, []byte{0x00, 0xE4, 0x00, 0x00, 0x00})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Transmit past its deadline: %v", err)
	}
	card.SetDelay(0)
	// The abandoned command did not run.
	if got := send(t, card, "00E4000000"); got != "019000" {
		t.Errorf("counter %s, want 01", got)
	}
}

func TestAppletErrors(t *testing.T) {
	var logs strings.Builder
	p := &probe{aid: probeAID}
	card, err := virtual.NewCard(virtual.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, p)
	if err != nil {
		t.Fatal(err)
	}
	send(t, card, "00A4040007A0000005272101")
	p.processErr = errors.New("key store corrupt")
	if got := send(t, card, "00CB3FFF00"); got != "6F00" {
		t.Errorf("applet failure: %s, want 6F00", got)
	}
	if !strings.Contains(logs.String(), "key store corrupt") {
		t.Errorf("applet failure not logged: %q", logs.String())
	}
	p.processErr = apdu.ErrNotFound
	if got := send(t, card, "00CB3FFF00"); got != "6A82" {
		t.Errorf("ErrNotFound: %s", got)
	}
	p.processErr = &apdu.StatusError{SW: 0x6A81}
	if got := send(t, card, "00CB3FFF00"); got != "6A81" {
		t.Errorf("StatusError: %s", got)
	}
}

func TestTranscriptLogRedactsPIN(t *testing.T) {
	var logs strings.Builder
	card, err := virtual.NewCard(virtual.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		virtual.NewEchoApplet())
	if err != nil {
		t.Fatal(err)
	}
	send(t, card, selectEcho)
	send(t, card, "00200080 06 313233343536")
	if strings.Contains(logs.String(), "313233") || !strings.Contains(logs.String(), "apdu=00200080") {
		t.Errorf("card log:\n%s", logs.String())
	}
}
