package pcsc

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// exercisePaths runs GET RESPONSE, 6Cxx, chaining or extended length, and a
// status error through an apdu.Client over t. It returns a description of
// what was exercised for the test log.
func exercisePaths(ctx context.Context, tb testing.TB, t apdu.Transport, wantExt bool) {
	tb.Helper()
	var sent [][]byte
	c := &apdu.Client{Transport: t, Trace: func(_ context.Context, dir apdu.Direction, b []byte) {
		if dir == apdu.ToCard {
			sent = append(sent, bytes.Clone(b))
		}
	}}
	if _, err := c.Do(ctx, echoSelect); err != nil {
		tb.Fatalf("SELECT echo applet: %v", err)
	}

	// 61xx: 1000 bytes asked with Ne 256 come through GET RESPONSE (00 C0).
	sent = nil
	data, err := c.Do(ctx, echoCmd(virtual.EchoINSGenerate, 1000, nil, 256))
	if err != nil || len(data) != 1000 || data[999] != byte(999%256) {
		tb.Fatalf("generate 1000 bytes: %d bytes, %v", len(data), err)
	}
	if !containsINS(sent, 0xC0) && !wantExt {
		tb.Fatalf("no GET RESPONSE sent for a 1000-byte answer: %X", sent)
	}

	// 6Cxx: the applet insists on Le = 0x21; the client re-sends.
	sent = nil
	data, err = c.Do(ctx, echoCmd(virtual.EchoINSExactLe, 0x21, nil, 256))
	if err != nil || len(data) != 0x21 {
		tb.Fatalf("exact Le: %d bytes, %v", len(data), err)
	}
	if len(sent) != 2 {
		tb.Fatalf("6Cxx: want the command sent twice, sent %X", sent)
	}

	// 600 bytes of data: chaining (CLA 10) on a short-only transport,
	// one extended APDU otherwise; the echo comes back whole either way.
	sent = nil
	long := bytes.Repeat([]byte{0xA5, 0x5A, 0x01}, 200)
	data, err = c.Do(ctx, echoCmd(virtual.EchoINSEcho, 0, long, 65536))
	if err != nil || !bytes.Equal(data, long) {
		tb.Fatalf("echo 600 bytes: %d bytes, %v", len(data), err)
	}
	chained := len(sent) > 0 && sent[0][0]&0x10 != 0
	if wantExt == chained {
		tb.Fatalf("extended length %v, but chaining %v: sent %d APDUs", wantExt, chained, len(sent))
	}

	// A status word reaches the caller as a typed apdu error.
	if _, err := c.Do(ctx, echoCmd(virtual.EchoINSSecret, 0, nil, 256)); !errors.Is(err, apdu.ErrSecurityStatus) {
		tb.Fatalf("secret before PIN: %v, want apdu.ErrSecurityStatus", err)
	}
}

func containsINS(cmds [][]byte, ins byte) bool {
	for _, c := range cmds {
		if len(c) > 1 && c[1] == ins {
			return true
		}
	}
	return false
}

func TestCardTransportPaths(t *testing.T) {
	for _, ext := range []bool{false, true} {
		f, _ := newFake(t, virtual.Config{ExtendedLength: ext})
		mode := ExtendedOff
		if ext {
			mode = ExtendedOn
		}
		card := fakeCard(t, f, ConnectOptions{ExtendedLength: mode})
		exercisePaths(t.Context(), t, card, ext)
		if n := f.lockCount(); n != 0 {
			t.Fatalf("%d transactions left open", n)
		}
	}
}

func TestCardExtendedAuto(t *testing.T) {
	// A YubiKey 5's ATR: its card capabilities announce extended length.
	yubi := []byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0,
		0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40}
	for _, tc := range []struct {
		name    string
		atr     []byte
		maxAPDU int
		want    bool
	}{
		{"default ATR", nil, -1, true}, // virtual's default ATR announces what the card accepts
		{"card capabilities", yubi, -1, true},
		{"short-only reader", yubi, 0, false},
		{"extended reader", yubi, 65536, true},
	} {
		f, _ := newFake(t, virtual.Config{ATR: tc.atr, ExtendedLength: true})
		f.maxAPDU = tc.maxAPDU
		if got := fakeCard(t, f, ConnectOptions{}).ExtendedLength(); got != tc.want {
			t.Errorf("%s: ExtendedLength %v, want %v", tc.name, got, tc.want)
		}
	}
}

func counter(ctx context.Context, t *testing.T, tr apdu.Transport) (byte, error) {
	t.Helper()
	data, err := apdu.Do(ctx, tr, echoCmd(virtual.EchoINSCounter, 0, nil, 1))
	if err != nil {
		return 0, err
	}
	return data[0], nil
}

func TestCardResetRecovery(t *testing.T) {
	ctx := t.Context()
	f, _ := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{})
	if _, err := apdu.Do(ctx, card, echoSelect); err != nil {
		t.Fatal(err)
	}
	if n, err := counter(ctx, t, card); err != nil || n != 1 {
		t.Fatalf("counter %d, %v", n, err)
	}

	// Reset seen at SCardBeginTransaction: reconnect, re-select, send.
	f.resetByOther()
	if n, err := counter(ctx, t, card); err != nil || n != 1 {
		t.Fatalf("after a reset: counter %d, %v; want 1 (the card forgot, and the applet was re-selected)", n, err)
	}
	// Reset seen at SCardTransmit, inside the transaction.
	f.mu.Lock()
	f.resetSeen = false
	f.mu.Unlock()
	resp, err := card.Transmit(ctx, []byte{0x00, virtual.EchoINSCounter, 0, 0, 1})
	if err != nil || resp[0] != 2 {
		t.Fatalf("counter: % X, %v", resp, err)
	}
	err = card.transaction(ctx, "transmit", func(tx *Tx) error {
		f.resetByOther()
		resp, err = tx.transmit(ctx, []byte{0x00, virtual.EchoINSCounter, 0, 0, 1}, true)
		return err
	})
	if err != nil || resp[0] != 1 {
		t.Fatalf("reset inside a one-command transaction: % X, %v", resp, err)
	}
	if n := f.lockCount(); n != 0 {
		t.Fatalf("%d transactions left open after recovery", n)
	}

	// A PIN command hit by a reset is not re-sent: ErrCardReset, but the
	// card is ready again (reconnected, applet re-selected).
	err = card.transaction(ctx, "transmit", func(tx *Tx) error {
		f.resetByOther()
		_, err := tx.transmit(ctx, append([]byte{0x00, 0x20, 0x00, 0x80, 6}, virtual.EchoPIN...), true)
		return err
	})
	if !errors.Is(err, ErrCardReset) {
		t.Fatalf("VERIFY hit by a reset: %v, want ErrCardReset", err)
	}
	if _, err := apdu.Do(ctx, card, echoCmd(virtual.EchoINSSecret, 0, nil, 256)); !errors.Is(err, apdu.ErrSecurityStatus) {
		t.Fatalf("after the refused VERIFY: %v, want 6982 (applet selected, PIN not verified)", err)
	}
	// Inside a longer transaction: ErrCardReset, reconnected, re-selected.
	err = card.Transaction(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := counter(ctx, t, tx); err != nil {
			return err
		}
		f.resetByOther()
		_, err := counter(ctx, t, tx)
		return err
	})
	if !errors.Is(err, ErrCardReset) {
		t.Fatalf("reset in the middle of a transaction: %v, want ErrCardReset", err)
	}
	if n, err := counter(ctx, t, card); err != nil || n != 1 {
		t.Fatalf("after a failed transaction: counter %d, %v", n, err)
	}
	if n := f.lockCount(); n != 0 {
		t.Fatalf("%d transactions left open", n)
	}
}

func TestCardResetOptions(t *testing.T) {
	ctx := t.Context()
	f, _ := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{NoResetRecovery: true})
	if _, err := apdu.Do(ctx, card, echoSelect); err != nil {
		t.Fatal(err)
	}
	f.resetByOther()
	if _, err := counter(ctx, t, card); !errors.Is(err, ErrCardReset) {
		t.Fatalf("NoResetRecovery: %v, want ErrCardReset", err)
	}
	// Reconnected but not re-selected: the applet is gone.
	if _, err := counter(ctx, t, card); !errors.Is(err, apdu.ErrConditions) {
		t.Fatalf("after the reset: %v, want 6985 (nothing selected)", err)
	}

	var got []byte
	f2, _ := newFake(t, virtual.Config{})
	card2 := fakeCard(t, f2, ConnectOptions{AfterReset: func(ctx context.Context, tr apdu.Transport, last []byte) error {
		got = last
		_, err := apdu.Do(ctx, tr, echoSelect)
		return err
	}})
	if _, err := apdu.Do(ctx, card2, echoSelect); err != nil {
		t.Fatal(err)
	}
	f2.resetByOther()
	if n, err := counter(ctx, t, card2); err != nil || n != 1 {
		t.Fatalf("AfterReset hook: counter %d, %v", n, err)
	}
	if want, _ := echoSelect.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("hook got last SELECT % X, want % X", got, want)
	}

	f3, _ := newFake(t, virtual.Config{})
	card3 := fakeCard(t, f3, ConnectOptions{AfterReset: func(context.Context, apdu.Transport, []byte) error {
		return errors.New("personalisation lost")
	}})
	f3.resetByOther()
	if _, err := counter(ctx, t, card3); !errors.Is(err, ErrCardReset) {
		t.Fatalf("failing hook: %v, want ErrCardReset", err)
	}
}

func TestCardRemovedMidTransmit(t *testing.T) {
	ctx := t.Context()
	f, vc := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{})
	if _, err := apdu.Do(ctx, card, echoSelect); err != nil {
		t.Fatal(err)
	}
	vc.SetDelay(200 * time.Millisecond)
	go func() {
		time.Sleep(50 * time.Millisecond)
		vc.Remove()
	}()
	_, err := counter(ctx, t, card)
	if !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("card pulled out mid-transmit: %v, want ErrCardRemoved", err)
	}
	if _, err := counter(ctx, t, card); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("next transmit: %v, want ErrCardRemoved", err)
	}
}

func TestCardContextEnds(t *testing.T) {
	f, vc := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{})
	if _, err := apdu.Do(t.Context(), card, echoSelect); err != nil {
		t.Fatal(err)
	}
	vc.SetDelay(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := counter(ctx, t, card)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow card past the deadline: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("returned after %v, not at the deadline", d)
	}
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := card.Transmit(ctx2, []byte{0, virtual.EchoINSCounter, 0, 0, 1}); !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v, want ErrCancelled", err)
	}
	// The abandoned exchange finishes in the background; the next one waits
	// for it, and the transaction it began is ended.
	vc.SetDelay(0)
	if n, err := counter(t.Context(), t, card); err != nil || n != 2 {
		t.Fatalf("after the abandoned exchange: counter %d, %v (want 2: the first one reached the card)", n, err)
	}
	if n := f.lockCount(); n != 0 {
		t.Fatalf("%d transactions left open", n)
	}
}

func TestCardConcurrent(t *testing.T) {
	f, _ := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{})
	ctx := t.Context()
	if _, err := apdu.Do(ctx, card, echoSelect); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				// Do keeps each command's GET RESPONSE in its transaction;
				// apdu.Do over bare Transmit calls would interleave them.
				if _, err = card.Do(ctx, echoCmd(virtual.EchoINSGenerate, 700, nil, 256)); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_ = card.ATR()
}

func TestCardClosed(t *testing.T) {
	f, _ := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{})
	if err := card.Close(); err != nil {
		t.Fatal(err)
	}
	if err := card.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := card.Transmit(t.Context(), []byte{0, 0xA4, 4, 0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Transmit after Close: %v, want ErrClosed", err)
	}
	var kept *Tx
	f2, _ := newFake(t, virtual.Config{})
	card2 := fakeCard(t, f2, ConnectOptions{})
	_ = card2.Transaction(t.Context(), func(_ context.Context, tx *Tx) error { kept = tx; return nil })
	if _, err := kept.Transmit(t.Context(), []byte{0, 0xA4, 4, 0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tx used after its transaction: %v, want ErrClosed", err)
	}
	if _, err := card2.Transmit(t.Context(), []byte{0, 1}); !errors.Is(err, apdu.ErrMalformedCommand) {
		t.Fatalf("2-byte command: %v", err)
	}
}
