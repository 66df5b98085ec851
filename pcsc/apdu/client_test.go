package apdu_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// transcript records what a Client traces.
type transcript struct {
	cmds, resps [][]byte
}

func (tr *transcript) trace(_ context.Context, dir apdu.Direction, b []byte) {
	switch dir {
	case apdu.ToCard:
		tr.cmds = append(tr.cmds, bytes.Clone(b))
	case apdu.FromCard:
		tr.resps = append(tr.resps, bytes.Clone(b))
	}
}

// echoClient returns a Client on a virtual card with the echo applet
// selected, and its transcript from after the SELECT.
func echoClient(t testing.TB, extended bool) (*apdu.Client, *transcript, *virtual.Card) {
	t.Helper()
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: extended}, virtual.NewEchoApplet())
	if err != nil {
		t.Fatal(err)
	}
	c := &apdu.Client{Transport: card}
	if _, err := c.Do(t.Context(), apdu.Command{INS: 0xA4, P1: 0x04, Data: virtual.EchoAID(), Ne: 256}); err != nil {
		t.Fatal(err)
	}
	tr := &transcript{}
	c.Trace = tr.trace
	return c, tr, card
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestGetResponse(t *testing.T) {
	ctx := t.Context()
	c, tr, _ := echoClient(t, false)
	data, err := c.Do(ctx, apdu.Command{INS: virtual.EchoINSGenerate, P1: 0x03, P2: 0xE8, Ne: 256}) // 1000 bytes
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, pattern(1000)) {
		t.Fatalf("got %d bytes, want the 1000-byte pattern", len(data))
	}
	// 256 bytes with the command, then three GET RESPONSE: 256, 256, 232.
	want := []string{"00e203e800", "00c0000000", "00c0000000", "00c00000e8"}
	if got := hexAll(tr.cmds); !equalStrings(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	wantSW := []string{"6100", "6100", "61e8", "9000"}
	for i, r := range tr.resps {
		if sw := hex.EncodeToString(r[len(r)-2:]); sw != wantSW[i] {
			t.Errorf("response %d ends %s, want %s", i, sw, wantSW[i])
		}
	}
}

func TestGetResponseAfterCase3(t *testing.T) {
	// No Le at all: a T=1 card answers what one short response holds with
	// the command (ISO/IEC 7816-3 carries the APDU unchanged), and offers
	// the rest through GET RESPONSE.
	c, tr, _ := echoClient(t, false)
	data, err := c.Do(t.Context(), apdu.Command{INS: virtual.EchoINSEcho, Data: []byte("hello")})
	if err != nil || string(data) != "hello" {
		t.Fatalf("Do = %q, %v", data, err)
	}
	if got := hexAll(tr.cmds); len(got) != 1 {
		t.Errorf("commands %v, want the echo alone", got)
	}
	// 300 bytes echoed: chained in, 256 back with 612C, then GET RESPONSE.
	tr.cmds = nil
	data, err = c.Do(t.Context(), apdu.Command{INS: virtual.EchoINSEcho, Data: pattern(300)})
	if err != nil || !bytes.Equal(data, pattern(300)) {
		t.Fatalf("Do = %d bytes, %v; want the 300-byte pattern", len(data), err)
	}
	if got := hexAll(tr.cmds); len(got) != 3 || got[2] != "00c000002c" {
		t.Errorf("commands %v, want two chained blocks then GET RESPONSE Le 2C", got)
	}
}

func TestResendOn6C(t *testing.T) {
	c, tr, _ := echoClient(t, false)
	data, err := c.Do(t.Context(), apdu.Command{INS: virtual.EchoINSExactLe, P2: 10, Ne: 256})
	if err != nil || !bytes.Equal(data, pattern(10)) {
		t.Fatalf("Do = %X, %v", data, err)
	}
	want := []string{"00e3000a00", "00e3000a0a"}
	if got := hexAll(tr.cmds); !equalStrings(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	if sw := hex.EncodeToString(tr.resps[0]); sw != "6c0a" {
		t.Errorf("first answer %s, want 6c0a", sw)
	}
}

func TestChaining(t *testing.T) {
	c, tr, _ := echoClient(t, false)
	in := pattern(600)
	data, err := c.Do(t.Context(), apdu.Command{INS: virtual.EchoINSEcho, Data: in, Ne: 65536})
	if err != nil || !bytes.Equal(data, in) {
		t.Fatalf("Do = %d bytes, %v", len(data), err)
	}
	// Three blocks (255, 255, 90), chaining bit on the first two, Le on the
	// last only; then the 600-byte answer through GET RESPONSE.
	if len(tr.cmds) < 3 {
		t.Fatalf("only %d commands", len(tr.cmds))
	}
	for i, want := range []string{"10e10000ff", "10e10000ff", "00e100005a"} {
		if got := hex.EncodeToString(tr.cmds[i][:5]); got != want {
			t.Errorf("block %d header %s, want %s", i, got, want)
		}
	}
	if n := len(tr.cmds[2]); n != 5+90+1 || tr.cmds[2][n-1] != 0x00 {
		t.Errorf("last block %X should carry Le 00", tr.cmds[2])
	}
	if len(tr.cmds[0]) != 5+255 {
		t.Errorf("first block has %d bytes, want no Le", len(tr.cmds[0]))
	}
	if got := hexAll(tr.cmds[3:]); !equalStrings(got, []string{"00c0000000", "00c0000058"}) {
		t.Errorf("GET RESPONSE commands %v", got)
	}
}

func TestExtendedLength(t *testing.T) {
	c, tr, _ := echoClient(t, true)
	in := pattern(3000)
	data, err := c.Do(t.Context(), apdu.Command{INS: virtual.EchoINSEcho, Data: in, Ne: 65536})
	if err != nil || !bytes.Equal(data, in) {
		t.Fatalf("Do = %d bytes, %v", len(data), err)
	}
	if len(tr.cmds) != 1 {
		t.Fatalf("%d commands, want one extended APDU", len(tr.cmds))
	}
	if got := hex.EncodeToString(tr.cmds[0][:7]); got != "00e10000000bb8" {
		t.Errorf("header %s, want extended Lc 0BB8", got)
	}
	if len(tr.cmds[0]) != 7+3000+2 {
		t.Errorf("command has %d bytes, want extended Le", len(tr.cmds[0]))
	}
	// A command that fits stays short even when extended length works.
	tr.cmds = nil
	if _, err := c.Do(t.Context(), apdu.Command{INS: virtual.EchoINSEcho, Data: []byte{1}, Ne: 256}); err != nil {
		t.Fatal(err)
	}
	if got := hexAll(tr.cmds); !equalStrings(got, []string{"00e100000101" + "00"}) {
		t.Errorf("commands %v, want one short APDU", got)
	}
}

func TestStatusErrorsThroughCard(t *testing.T) {
	ctx := t.Context()
	c, _, _ := echoClient(t, false)
	if _, err := c.Do(ctx, apdu.Command{INS: virtual.EchoINSSecret, Ne: 256}); !errors.Is(err, apdu.ErrSecurityStatus) {
		t.Fatalf("secret before VERIFY: %v, want ErrSecurityStatus", err)
	}
	verify := func(pin string) error {
		_, err := c.Do(ctx, apdu.Command{INS: 0x20, P2: 0x80, Data: []byte(pin)})
		return err
	}
	err := verify("000000")
	var w *apdu.WrongPINError
	if !errors.As(err, &w) || w.TriesLeft != 2 || !errors.Is(err, apdu.ErrWrongPIN) {
		t.Fatalf("wrong PIN: %v, want 2 tries left", err)
	}
	if err := verify(virtual.EchoPIN); err != nil {
		t.Fatal(err)
	}
	if data, err := c.Do(ctx, apdu.Command{INS: virtual.EchoINSSecret, Ne: 256}); err != nil || string(data) != "secret" {
		t.Fatalf("secret after VERIFY: %q, %v", data, err)
	}
	for range 2 {
		_ = verify("000000")
	}
	if err := verify("000000"); !errors.Is(err, apdu.ErrBlocked) || !errors.Is(err, apdu.ErrWrongPIN) {
		t.Fatalf("third wrong PIN: %v, want 63C0 (blocked)", err)
	}
	if err := verify(virtual.EchoPIN); !errors.Is(err, apdu.ErrBlocked) {
		t.Fatalf("right PIN on a blocked card: %v, want ErrBlocked", err)
	}
	if _, err := c.Do(ctx, apdu.Command{INS: 0x99}); !errors.Is(err, apdu.ErrINSNotSupported) {
		t.Errorf("unknown INS: %v", err)
	}
	r, err := c.Send(ctx, apdu.Command{INS: virtual.EchoINSStatus, P1: 0x62, P2: 0x82})
	if err != nil || r.SW != 0x6282 {
		t.Errorf("Send returned %+v, %v; want SW 6282 and no error", r, err)
	}
}

func TestTranscriptHidesPIN(t *testing.T) {
	ctx := t.Context()
	c, tr, _ := echoClient(t, false)
	var logs strings.Builder
	slogTrace := apdu.SlogTrace(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c.Trace = func(ctx context.Context, dir apdu.Direction, b []byte) {
		tr.trace(ctx, dir, b)
		slogTrace(ctx, dir, b)
	}
	pin := []byte(virtual.EchoPIN)
	for _, cmd := range []apdu.Command{
		{INS: 0x20, P2: 0x80, Data: pin},                       // VERIFY
		{INS: 0x24, P2: 0x80, Data: append(pin, pin...)},       // CHANGE REFERENCE DATA
		{INS: 0x2C, P2: 0x80, Data: append(pin, pin...)},       // RESET RETRY COUNTER
		{INS: 0x20, P2: 0x80, Data: bytes.Repeat(pin, 60)},     // chained VERIFY
		{INS: virtual.EchoINSEcho, Data: []byte("not secret")}, // ordinary
	} {
		_, _ = c.Send(ctx, cmd)
	}
	all := bytes.Join(tr.cmds, nil)
	if bytes.Contains(all, pin[:4]) {
		t.Errorf("transcript shows the PIN: %X", all)
	}
	for _, s := range []string{hex.EncodeToString(pin[:4]), "123456"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log shows the PIN:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "redacted=true") || !strings.Contains(logs.String(), hex.EncodeToString([]byte("not secret"))) {
		t.Errorf("log lacks the redaction mark or the ordinary data:\n%s", logs.String())
	}
	if got := hex.EncodeToString(tr.cmds[0]); got != "00200080" {
		t.Errorf("redacted VERIFY %s, want the header only", got)
	}
}

// script is a Transport that answers from a list and records commands.
type script struct {
	answers []string
	cmds    []string
	ext     bool
	err     error
}

func (s *script) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	s.cmds = append(s.cmds, hex.EncodeToString(cmd))
	if s.err != nil {
		return nil, s.err
	}
	if len(s.answers) == 0 {
		return []byte{0x90, 0x00}, nil
	}
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return hex.DecodeString(strings.ReplaceAll(a, " ", ""))
}

type extScript struct{ *script }

func (e extScript) ExtendedLength() bool { return e.ext }

func TestClientProtocolFaults(t *testing.T) {
	ctx := t.Context()

	// A card that keeps offering data without giving any.
	s := &script{answers: []string{"6110"}}
	if _, err := apdu.Do(ctx, s, apdu.Command{INS: 0xCA, Ne: 256}); !errors.Is(err, apdu.ErrProtocol) {
		t.Errorf("empty 61xx loop: %v, want ErrProtocol", err)
	}
	// A card that offers more than MaxResponse.
	s = &script{answers: []string{"AAAA6102"}}
	c := &apdu.Client{Transport: s, MaxResponse: 100}
	if _, err := c.Do(ctx, apdu.Command{INS: 0xCA, Ne: 256}); !errors.Is(err, apdu.ErrProtocol) {
		t.Errorf("endless data: %v, want ErrProtocol", err)
	}
	if len(s.cmds) > 60 {
		t.Errorf("%d commands before giving up", len(s.cmds))
	}
	// A card that answers 6Cxx forever: one re-send, then the status.
	s = &script{answers: []string{"6C05"}}
	if _, err := apdu.Do(ctx, s, apdu.Command{INS: 0xCA, Ne: 256}); !errors.Is(err, &apdu.StatusError{SW: 0x6C05}) || len(s.cmds) != 2 {
		t.Errorf("6Cxx loop: %v after %d commands, want 6C05 after 2", err, len(s.cmds))
	}
	// 6Cxx in answer to GET RESPONSE.
	s = &script{answers: []string{"01 6102", "6C01", "02 9000"}}
	if data, err := apdu.Do(ctx, s, apdu.Command{INS: 0xCA, Ne: 256}); err != nil || !bytes.Equal(data, []byte{1, 2}) {
		t.Errorf("6C after GET RESPONSE: %X, %v", data, err)
	}
	if want := []string{"00ca000000", "00c0000002", "00c0000001"}; !equalStrings(s.cmds, want) {
		t.Errorf("commands %v, want %v", s.cmds, want)
	}
	// Answers shorter than a status word.
	s = &script{answers: []string{"90"}}
	if _, err := apdu.Do(ctx, s, apdu.Command{INS: 0xCA}); !errors.Is(err, apdu.ErrShortResponse) {
		t.Errorf("1-byte answer: %v, want ErrShortResponse", err)
	}
	// Transport failures keep their identity.
	gone := errors.New("reader gone")
	if _, err := apdu.Do(ctx, &script{err: gone}, apdu.Command{INS: 0xCA}); !errors.Is(err, gone) {
		t.Errorf("transport error: %v", err)
	}
	if _, err := (&apdu.Client{}).Send(ctx, apdu.Command{}); !errors.Is(err, apdu.ErrNoTransport) {
		t.Errorf("no transport: %v", err)
	}
}

func TestClientChainingFaults(t *testing.T) {
	ctx := t.Context()
	// The card refuses the second block: Send stops and returns its status.
	s := &script{answers: []string{"9000", "6884"}}
	r, err := (&apdu.Client{Transport: s}).Send(ctx, apdu.Command{INS: 0xDB, Data: make([]byte, 700)})
	if err != nil || r.SW != 0x6884 || len(s.cmds) != 2 {
		t.Errorf("refused block: %+v, %v after %d commands", r, err, len(s.cmds))
	}
	// Proprietary classes do not define chaining.
	s = &script{}
	if _, err := apdu.Do(ctx, s, apdu.Command{CLA: 0x80, INS: 0xDB, Data: make([]byte, 300)}); !errors.Is(err, apdu.ErrCommandLength) || len(s.cmds) != 0 {
		t.Errorf("proprietary chaining: %v, %d commands", err, len(s.cmds))
	}
	// With extended length, the same command goes in one piece.
	s = &script{ext: true}
	if _, err := apdu.Do(ctx, extScript{s}, apdu.Command{CLA: 0x80, INS: 0xDB, Data: make([]byte, 300)}); err != nil || len(s.cmds) != 1 {
		t.Errorf("proprietary extended: %v, %d commands", err, len(s.cmds))
	}
	// A transport that says no to extended length gets chaining.
	s = &script{ext: false}
	if _, err := apdu.Do(ctx, extScript{s}, apdu.Command{INS: 0xDB, Data: make([]byte, 300)}); err != nil || len(s.cmds) != 2 {
		t.Errorf("ExtendedLength() false: %v, %d commands", err, len(s.cmds))
	}
	if _, err := apdu.Do(ctx, s, apdu.Command{Data: make([]byte, 70000)}); !errors.Is(err, apdu.ErrCommandLength) {
		t.Errorf("70000 bytes: %v", err)
	}
}

func TestGetResponseKeepsChannel(t *testing.T) {
	for cla, want := range map[byte]string{
		0x00: "00c0000002", 0x03: "03c0000002", 0x0C: "00c0000002", 0x0D: "01c0000002",
		0x41: "41c0000002", 0x65: "45c0000002", 0x80: "00c0000002",
	} {
		s := &script{answers: []string{"6102", "0102 9000"}}
		if _, err := apdu.Do(t.Context(), s, apdu.Command{CLA: cla, INS: 0xCA, Ne: 256}); err != nil {
			t.Fatal(err)
		}
		if s.cmds[1] != want {
			t.Errorf("CLA %02X: GET RESPONSE %s, want %s", cla, s.cmds[1], want)
		}
	}
}

func hexAll(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = hex.EncodeToString(b)
	}
	return out
}

func equalStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
