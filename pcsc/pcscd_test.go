package pcsc

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/puce-id/puce/internal/vpcdlock"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// These tests go through the real stack: pcscd, the vsmartcard vpcd driver
// and a virtual card attached to it over TCP. make test starts pcscd and
// sets PUCE_PCSCD=1; without it they skip, saying so; with it, a missing
// daemon or reader fails them.

// vpcdReader is the reader the vpcd driver's first slot shows, on
// virtual.DefaultVPCDAddr (STANDARDS.md, vpcd).
const (
	vpcdReader = "Virtual PCD 00 00"
	vpcdPort   = 35963
	// emptyReader is the driver's second slot, where no test puts a card.
	emptyReader = "Virtual PCD 00 01"
)

// needPCSCD skips without PUCE_PCSCD and fails when PUCE_PCSCD=1 promises a
// pcscd with the vpcd reader that is not there. It returns a Context.
func needPCSCD(t testing.TB) *Context {
	t.Helper()
	if os.Getenv("PUCE_PCSCD") == "" {
		t.Skipf("SKIPPING %s: PUCE_PCSCD is unset (make test starts pcscd)", t.Name())
	}
	ctx := context.Background()
	pc, err := Establish(ctx)
	if err != nil {
		t.Fatalf("PUCE_PCSCD=1 but pcscd cannot be reached: %v", err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	readers, err := pc.Readers(ctx)
	if err != nil || !slices.Contains(readers, vpcdReader) {
		t.Fatalf("PUCE_PCSCD=1 but pcscd lists no %q (readers %q, %v): is vsmartcard-vpcd installed and its reader.conf loaded?", vpcdReader, readers, err)
	}
	return pc
}

// attach plugs a virtual card into the shared vpcd reader until the test
// ends, and waits for pcscd to see it.
func attach(t testing.TB, pc *Context, cfg virtual.Config) *virtual.Card {
	t.Helper()
	vpcdlock.Lock(t, vpcdPort)
	vc, err := virtual.NewCard(cfg, virtual.NewEchoApplet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = (&virtual.Bridge{Card: vc, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		// Leave the reader empty for the next test: wait until pcscd saw
		// the card go.
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer wcancel()
		_ = pc.WaitForRemoval(wctx, vpcdReader)
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if _, err := pc.WaitForCard(wctx, vpcdReader); err != nil {
		t.Fatalf("the virtual card did not show in %q: %v", vpcdReader, err)
	}
	return vc
}

func TestPCSCDReaderListed(t *testing.T) {
	pc := needPCSCD(t)
	states, err := pc.ReaderStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range states {
		if s.Reader == vpcdReader {
			found = true
			if s.Gone() {
				t.Fatalf("%v: the reader is listed but unavailable", s)
			}
		}
	}
	if !found {
		t.Fatalf("%q not in the states %v", vpcdReader, states)
	}
	if _, err := pc.ReaderStates(t.Context(), "No Such Reader 00 00"); !errors.Is(err, ErrReaderUnavailable) {
		t.Fatalf("state of an unknown reader: %v, want ErrReaderUnavailable", err)
	}
	t.Logf("puce: pcscd lists the vpcd reader %q (states: %v)", vpcdReader, states)
}

func TestPCSCDInsertTransmitRemove(t *testing.T) {
	pc := needPCSCD(t)
	vc := attach(t, pc, virtual.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	st, err := pc.WaitForCard(ctx, "")
	if err != nil || !st.CardPresent() || !slices.Equal(st.ATR, vc.ATR()) {
		t.Fatalf("WaitForCard(any reader): %v, %v; want the virtual card's ATR % X", st, err, vc.ATR())
	}
	card, err := pc.Connect(ctx, vpcdReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	if _, err := card.Do(ctx, echoSelect); err != nil {
		t.Fatal(err)
	}
	for want := byte(1); want <= 3; want++ {
		if n, err := counter(ctx, t, card); err != nil || n != want {
			t.Fatalf("counter %d, %v; want %d", n, err, want)
		}
	}
	t.Logf("puce: APDUs round-tripped through pcscd, reader %q, ATR % X: inserted card seen, SELECT and 3 commands answered", vpcdReader, st.ATR)

	// A caller waiting for removal sees the card pulled out.
	removed := make(chan error, 1)
	go func() { removed <- pc.WaitForRemoval(ctx, vpcdReader) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-removed:
		t.Fatalf("WaitForRemoval returned (%v) with the card still in", err)
	default:
	}
	pulled := time.Now()
	vc.Remove()
	select {
	case err := <-removed:
		if err != nil {
			t.Fatalf("WaitForRemoval: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitForRemoval did not see the card pulled out")
	}
	seen := time.Since(pulled)
	if _, err := counter(ctx, t, card); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("transmit after removal: %v, want ErrCardRemoved", err)
	}
	t.Logf("puce: a caller waiting in pcscd saw the virtual card pulled out of %q after %v", vpcdReader, seen.Round(time.Millisecond))

	// A caller in the middle of a transmit gets a typed error.
	vc.Insert()
	if _, err := pc.WaitForCard(ctx, vpcdReader); err != nil {
		t.Fatal(err)
	}
	card2, err := pc.Connect(ctx, vpcdReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer card2.Close()
	if _, err := card2.Do(ctx, echoSelect); err != nil {
		t.Fatal(err)
	}
	vc.SetDelay(time.Second)
	go func() {
		time.Sleep(200 * time.Millisecond)
		vc.Remove()
	}()
	start := time.Now()
	_, err = counter(ctx, t, card2)
	var pe *Error
	if !errors.Is(err, ErrCardRemoved) || !errors.As(err, &pe) {
		t.Fatalf("card pulled out in the middle of a transmit: %v, want a *pcsc.Error matching ErrCardRemoved", err)
	}
	t.Logf("puce: a transmit through pcscd interrupted by pulling the card out failed after %v with %v", time.Since(start).Round(time.Millisecond), err)
	vc.SetDelay(0)
}

func TestPCSCDTransportPaths(t *testing.T) {
	pc := needPCSCD(t)
	for _, ext := range []bool{false, true} {
		t.Run("extended="+strconv.FormatBool(ext), func(t *testing.T) {
			attach(t, pc, virtual.Config{ExtendedLength: ext})
			mode := ExtendedOff
			if ext {
				mode = ExtendedOn
			}
			card, err := pc.Connect(t.Context(), vpcdReader, &ConnectOptions{ExtendedLength: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer card.Close()
			err = card.Transaction(t.Context(), func(ctx context.Context, tx *Tx) error {
				exercisePaths(ctx, t, tx, ext)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Logf("puce: GET RESPONSE (61xx), 6Cxx re-send, command chaining and extended length exercised through pcscd, reader %q", vpcdReader)
}

func TestPCSCDWaitsEndWithContext(t *testing.T) {
	pc := needPCSCD(t)
	readers, err := pc.Readers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() {
		_, err := pc.WaitForReaders(ctx, readers)
		res <- err
	}()
	time.Sleep(300 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitForReaders after cancel: %v, want ErrCancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitForReaders ignored the cancelled context")
	}
	lag := time.Since(cancelled)
	if lag > 500*time.Millisecond {
		t.Errorf("WaitForReaders took %v to notice the cancel: SCardCancel did not interrupt the wait", lag)
	}

	tctx, tcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer tcancel()
	if _, err := pc.WaitForCard(tctx, emptyReader); !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitForCard on the empty slot: %v, want ErrTimeout", err)
	}
	if _, err := pc.Connect(t.Context(), emptyReader, nil); !errors.Is(err, ErrNoCard) {
		t.Fatalf("Connect to an empty reader: %v, want ErrNoCard", err)
	}

	// Close ends the waits still running.
	pc2, err := Establish(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, err := pc2.WaitForCard(t.Context(), emptyReader); res <- err }()
	time.Sleep(200 * time.Millisecond)
	if err := pc2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait on a closed Context: %v, want ErrClosed", err)
	}
	t.Logf("puce: SCardCancel ended a blocking wait in pcscd %v after the context was cancelled", lag.Round(time.Millisecond))
}

func TestPCSCDSharingAndReset(t *testing.T) {
	pc := needPCSCD(t)
	attach(t, pc, virtual.Config{})
	ctx := t.Context()

	excl, err := pc.Connect(ctx, vpcdReader, &ConnectOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Connect(ctx, vpcdReader, nil); !errors.Is(err, ErrSharingViolation) {
		t.Fatalf("second connection to an exclusively held card: %v, want ErrSharingViolation", err)
	}
	if err := excl.Close(); err != nil {
		t.Fatal(err)
	}

	card, err := pc.Connect(ctx, vpcdReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	if _, err := card.Do(ctx, echoSelect); err != nil {
		t.Fatal(err)
	}
	if n, err := counter(ctx, t, card); err != nil || n != 1 {
		t.Fatalf("counter %d, %v", n, err)
	}

	// Another program resets the card: a raw PC/SC client disconnecting
	// with SCARD_RESET_CARD.
	other, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	oc, err := other.Connect(vpcdReader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	if err := oc.Disconnect(scard.ResetCard); err != nil {
		t.Fatal(err)
	}
	if n, err := counter(ctx, t, card); err != nil || n != 1 {
		t.Fatalf("after a reset by another program: counter %d, %v; want 1 (reconnected, applet re-selected)", n, err)
	}

	// No PIN pad on vpcd: an empty feature list, and ErrUnsupported.
	if f, err := card.Features(ctx); err != nil || len(f) != 0 {
		t.Fatalf("vpcd features: %v, %v", f, err)
	}
	if err := card.VerifyPINDirect(ctx, pivTemplate, PINPad{Format: PINASCII, BlockSize: 8, MinDigits: 6, MaxDigits: 8}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("PIN pad on vpcd: %v, want ErrUnsupported", err)
	}
	t.Logf("puce: through pcscd, exclusive access refused a second connection, and a reset by another program was recovered by reconnecting and re-selecting the applet (reader %q)", vpcdReader)
}

// BenchmarkTransmit measures one APDU round trip (EchoINSCounter, one byte
// back) through pcscd and vpcd, against the same APDU to the virtual card in
// process.
func BenchmarkTransmit(b *testing.B) {
	cmd := []byte{0x00, virtual.EchoINSCounter, 0x00, 0x00, 0x01}
	b.Run("in-process", func(b *testing.B) {
		vc, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		if _, err := apdu.Do(ctx, vc, echoSelect); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := vc.Transmit(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-process-pcsc.Card", func(b *testing.B) {
		// Card's own cost (semaphore, transaction, checks) over a fake
		// handle that goes straight to the virtual card.
		vc, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
		if err != nil {
			b.Fatal(err)
		}
		card, err := newCard(b.Context(), nil, "Fake 00 00", scard.ShareShared, ConnectOptions{}, &fakeHandle{card: vc, maxAPDU: -1})
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		if _, err := card.Do(ctx, echoSelect); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := card.Transmit(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pcscd-raw-scard", func(b *testing.B) {
		// The anchor: ebfe/scard's SCardTransmit alone, no transaction.
		pc := needPCSCD(b)
		attach(b, pc, virtual.Config{})
		sc, err := scard.EstablishContext()
		if err != nil {
			b.Fatal(err)
		}
		defer sc.Release()
		h, err := sc.Connect(vpcdReader, scard.ShareShared, scard.ProtocolAny)
		if err != nil {
			b.Fatal(err)
		}
		defer h.Disconnect(scard.LeaveCard)
		sel, _ := echoSelect.Bytes()
		if _, err := h.Transmit(sel); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := h.Transmit(cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pcscd", func(b *testing.B) {
		pc := needPCSCD(b)
		attach(b, pc, virtual.Config{})
		ctx := b.Context()
		card, err := pc.Connect(ctx, vpcdReader, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer card.Close()
		if _, err := card.Do(ctx, echoSelect); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := card.Transmit(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
}
