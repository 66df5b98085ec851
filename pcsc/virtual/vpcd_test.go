package virtual

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// fakeVPCD plays pcscd's vpcd driver: a TCP listener the card connects to.
type fakeVPCD struct {
	t    *testing.T
	ln   *net.TCPListener
	addr string
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVPCD{t: t, ln: ln.(*net.TCPListener), addr: ln.Addr().String()}
	t.Cleanup(func() { f.ln.Close() })
	return f
}

// accept waits for the card to connect.
func (f *fakeVPCD) accept() *reader {
	f.t.Helper()
	c, err := f.tryAccept(5 * time.Second)
	if err != nil {
		f.t.Fatalf("the card did not connect: %v", err)
	}
	return c
}

func (f *fakeVPCD) tryAccept(d time.Duration) (*reader, error) {
	f.ln.SetDeadline(time.Now().Add(d))
	c, err := f.ln.Accept()
	if err != nil {
		return nil, err
	}
	f.t.Cleanup(func() { c.Close() })
	return &reader{t: f.t, c: c, r: bufio.NewReader(c)}, nil
}

// stop closes the listener, as when pcscd exits; start listens again on the
// same port, as when it comes back.
func (f *fakeVPCD) stop() { f.ln.Close() }

func (f *fakeVPCD) start() {
	f.t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			f.ln = ln.(*net.TCPListener)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("listen again on %s: %v", f.addr, err)
}

// reader is one vpcd connection seen from the reader's side. It is an
// apdu.Transport, so apdu.Client can run over the bridge.
type reader struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (r *reader) control(code byte) {
	r.t.Helper()
	if err := writeFrame(r.c, []byte{code}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *reader) atr() []byte {
	r.t.Helper()
	r.control(vpcdGetATR)
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := readFrame(r.r, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *reader) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	if err := writeFrame(r.c, cmd); err != nil {
		return nil, err
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return readFrame(r.r, nil)
}

// expectClosed waits for the card to close the connection.
func (r *reader) expectClosed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := readFrame(r.r, nil); !errors.Is(err, io.EOF) {
		r.t.Fatalf("read %X, %v; want the card to close the connection", b, err)
	}
}

// runBridge runs a Bridge for card against f until the test ends.
func runBridge(t *testing.T, card *Card, addr string) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	b := &Bridge{Card: card, Addr: addr, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	go func() { errc <- b.Run(ctx) }()
	done := false
	cancel = func() error {
		if done {
			return nil
		}
		done = true
		stop()
		select {
		case err := <-errc:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return cancel
}

func newTestCard(t *testing.T, ext bool) *Card {
	t.Helper()
	card, err := NewCard(Config{ExtendedLength: ext}, NewEchoApplet())
	if err != nil {
		t.Fatal(err)
	}
	return card
}

func selectEcho(t *testing.T, c *apdu.Client) {
	t.Helper()
	if _, err := c.Do(t.Context(), apdu.Command{INS: 0xA4, P1: 0x04, Data: EchoAID(), Ne: 256}); err != nil {
		t.Fatal(err)
	}
}

func counter(t *testing.T, c *apdu.Client) byte {
	t.Helper()
	b, err := c.Do(t.Context(), apdu.Command{INS: EchoINSCounter, Ne: 1})
	if err != nil || len(b) != 1 {
		t.Fatalf("counter: %X, %v", b, err)
	}
	return b[0]
}

func TestBridgeSession(t *testing.T) {
	ctx := t.Context()
	f := newFakeVPCD(t)
	card := newTestCard(t, false)
	runBridge(t, card, f.addr)
	r := f.accept()
	r.control(vpcdPowerOn)
	if got := r.atr(); !bytes.Equal(got, card.ATR()) {
		t.Fatalf("ATR %X, want %X", got, card.ATR())
	}
	c := &apdu.Client{Transport: r}
	selectEcho(t, c)
	// 61xx and GET RESPONSE, 6Cxx re-send and chaining, through the socket.
	data, err := c.Do(ctx, apdu.Command{INS: EchoINSGenerate, P1: 0x03, P2: 0xE8, Ne: 256})
	if err != nil || !bytes.Equal(data, pattern(1000)) {
		t.Errorf("GET RESPONSE path: %d bytes, %v", len(data), err)
	}
	data, err = c.Do(ctx, apdu.Command{INS: EchoINSExactLe, P2: 7, Ne: 256})
	if err != nil || !bytes.Equal(data, pattern(7)) {
		t.Errorf("6Cxx path: %X, %v", data, err)
	}
	in := bytes.Repeat([]byte("chained "), 100)
	data, err = c.Do(ctx, apdu.Command{INS: EchoINSEcho, Data: in, Ne: 65536})
	if err != nil || !bytes.Equal(data, in) {
		t.Errorf("chaining path: %d bytes, %v", len(data), err)
	}
	// An unknown control code is ignored; the next APDU still works.
	r.control(0x7F)
	if got := counter(t, c); got != 1 {
		t.Errorf("counter %d", got)
	}
}

func TestBridgeExtendedLength(t *testing.T) {
	f := newFakeVPCD(t)
	card := newTestCard(t, true)
	runBridge(t, card, f.addr)
	r := f.accept()
	c := &apdu.Client{Transport: extReader{r}}
	selectEcho(t, c)
	in := pattern(5000)
	data, err := c.Do(t.Context(), apdu.Command{INS: EchoINSEcho, Data: in, Ne: 65536})
	if err != nil || !bytes.Equal(data, in) {
		t.Errorf("extended echo: %d bytes, %v", len(data), err)
	}
	// The largest answer the vpcd frame can carry comes in two parts.
	data, err = c.Do(t.Context(), apdu.Command{INS: EchoINSGenerate, P1: 0xFF, P2: 0xFF, Ne: 65536})
	if err != nil || len(data) != 0xFFFF {
		t.Errorf("65535-byte answer: %d bytes, %v", len(data), err)
	}
}

type extReader struct{ *reader }

func (extReader) ExtendedLength() bool { return true }

func TestBridgeResetClearsState(t *testing.T) {
	f := newFakeVPCD(t)
	card := newTestCard(t, false)
	runBridge(t, card, f.addr)
	r := f.accept()
	c := &apdu.Client{Transport: r}
	for _, code := range []byte{vpcdReset, vpcdPowerOff, vpcdPowerOn} {
		selectEcho(t, c)
		counter(t, c)
		if got := counter(t, c); got < 2 {
			t.Fatalf("counter %d, want at least 2", got)
		}
		r.control(code)
		if _, err := c.Do(t.Context(), apdu.Command{INS: EchoINSCounter, Ne: 1}); !errors.Is(err, apdu.ErrConditions) {
			t.Errorf("control %02X left the applet selected: %v", code, err)
		}
		selectEcho(t, c)
		if got := counter(t, c); got != 1 {
			t.Errorf("control %02X kept the counter: %d", code, got)
		}
	}
}

func TestBridgeReconnectsAfterPcscdRestart(t *testing.T) {
	f := newFakeVPCD(t)
	card := newTestCard(t, false)
	runBridge(t, card, f.addr)
	r := f.accept()
	c := &apdu.Client{Transport: r}
	selectEcho(t, c)
	counter(t, c)

	// pcscd goes away: connection and listener close.
	f.stop()
	r.c.Close()
	time.Sleep(100 * time.Millisecond) // a few failed attempts with back-off
	f.start()
	r = f.accept()
	c = &apdu.Client{Transport: r}
	r.control(vpcdPowerOn)
	if got := r.atr(); !bytes.Equal(got, card.ATR()) {
		t.Fatalf("ATR after reconnect %X", got)
	}
	selectEcho(t, c)
	if got := counter(t, c); got != 1 {
		t.Errorf("counter after reconnect %d, want 1 (fresh card)", got)
	}
}

func TestBridgeRemoveInsert(t *testing.T) {
	f := newFakeVPCD(t)
	card := newTestCard(t, false)
	runBridge(t, card, f.addr)
	r := f.accept()
	selectEcho(t, &apdu.Client{Transport: r})

	card.Remove()
	r.expectClosed()
	if r2, err := f.tryAccept(150 * time.Millisecond); err == nil {
		r2.c.Close()
		t.Fatal("a removed card connected")
	}
	card.Insert()
	r = f.accept()
	c := &apdu.Client{Transport: r}
	selectEcho(t, c)
	if got := counter(t, c); got != 1 {
		t.Errorf("counter %d after reinsertion", got)
	}
}

func TestBridgeDroppedConnection(t *testing.T) {
	f := newFakeVPCD(t)
	card := newTestCard(t, false)
	runBridge(t, card, f.addr)
	r := f.accept()
	c := &apdu.Client{Transport: r}
	selectEcho(t, c)
	counter(t, c)

	card.DropNext()
	if err := writeFrame(r.c, []byte{0x00, EchoINSCounter, 0x00, 0x00, 0x01}); err != nil {
		t.Fatal(err)
	}
	r.expectClosed()
	// The card comes straight back, freshly powered.
	r = f.accept()
	c = &apdu.Client{Transport: r}
	selectEcho(t, c)
	if got := counter(t, c); got != 1 {
		t.Errorf("counter %d after the drop, want 1", got)
	}
}

func TestBridgeRunStops(t *testing.T) {
	// While connected.
	f := newFakeVPCD(t)
	cancel := runBridge(t, newTestCard(t, false), f.addr)
	r := f.accept()
	if err := cancel(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	r.expectClosed()

	// While nobody listens.
	f.stop()
	cancel = runBridge(t, newTestCard(t, false), f.addr)
	time.Sleep(30 * time.Millisecond)
	if err := cancel(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}

	// While the card is out.
	card := newTestCard(t, false)
	card.Remove()
	cancel = runBridge(t, card, f.addr)
	if err := cancel(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}

	if err := (&Bridge{}).Run(t.Context()); !errors.Is(err, ErrConfig) {
		t.Errorf("Run without a card: %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	in := []byte{0x00, 0x01, 0x04, 0x00, 0x03, 0xAA, 0xBB, 0xCC, 0x00, 0x00, 0x00, 0x05, 0x01}
	r := bytes.NewReader(in)
	for _, want := range [][]byte{{0x04}, {0xAA, 0xBB, 0xCC}, {}} {
		got, err := readFrame(r, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("readFrame = %X, %v; want %X", got, err, want)
		}
	}
	if _, err := readFrame(r, nil); !errors.Is(err, ErrFrame) {
		t.Errorf("cut payload: %v, want ErrFrame", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0x00}), nil); !errors.Is(err, ErrFrame) {
		t.Errorf("cut length: %v, want ErrFrame", err)
	}
	if _, err := readFrame(bytes.NewReader(nil), nil); err != io.EOF {
		t.Errorf("clean end: %v, want io.EOF", err)
	}
	var w bytes.Buffer
	if err := writeFrame(&w, make([]byte, 0x10000)); err == nil {
		t.Error("writeFrame accepted 65536 bytes")
	}
}
