package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebfe/scard"

	"github.com/puce-id/puce/pcsc/apdu"
)

// ExtendedLength says whether a Card reports extended-length APDUs to
// apdu.Client (apdu.ExtendedLengthCapable).
type ExtendedLength uint8

const (
	// ExtendedAuto reports extended length when the card's ATR announces it
	// (card capabilities in the historical bytes, ISO/IEC 7816-4 §8.1.1.2.7),
	// the protocol is T=1, and the reader does not declare itself short-only
	// (PC/SC part 10 property dwMaxAPDUDataSize).
	ExtendedAuto ExtendedLength = iota
	// ExtendedOn reports extended length whatever the ATR says, for cards
	// that support it without announcing it.
	ExtendedOn
	// ExtendedOff never reports it: long data goes by command chaining.
	ExtendedOff
)

// ResetHook runs after Card has reconnected to a card that another program
// reset, before the interrupted command is sent again. t sends raw APDUs
// inside the current transaction, without any reset handling of its own.
// lastSelect is the last SELECT by AID that succeeded on this connection (nil
// if none). An error abandons the command, which then fails with
// ErrCardReset.
type ResetHook func(ctx context.Context, t apdu.Transport, lastSelect []byte) error

// ConnectOptions tune Connect. The zero value connects shared, detects
// extended length, and re-selects the last application after a reset.
type ConnectOptions struct {
	// Exclusive keeps other programs away from the card for the whole
	// connection (SCARD_SHARE_EXCLUSIVE). Without it the card is shared and
	// each operation holds it only for its own transaction, which is what
	// PC/SC middleware on the same machine expects.
	Exclusive bool
	// ExtendedLength chooses whether the Card reports extended-length
	// support; ExtendedAuto by default.
	ExtendedLength ExtendedLength
	// AfterReset replaces the default recovery after another program reset
	// the card, which re-sends the last successful SELECT by AID.
	AfterReset ResetHook
	// Trace, when set, sees every APDU that Do and Send exchange, PINs
	// redacted (apdu.Client.Trace).
	Trace apdu.TraceFunc
	// NoResetRecovery turns recovery off: a reset by another program
	// surfaces as ErrCardReset (the Card still reconnects, so the next call
	// works on the reset card).
	NoResetRecovery bool
}

// handle is what Card needs from a PC/SC card handle; *scard.Card has it,
// and tests substitute a fake over the virtual card.
type handle interface {
	Transmit(cmd []byte) ([]byte, error)
	BeginTransaction() error
	EndTransaction(scard.Disposition) error
	Reconnect(scard.ShareMode, scard.Protocol, scard.Disposition) error
	Status() (*scard.CardStatus, error)
	Control(ioctl uint32, in []byte) ([]byte, error)
	Disconnect(scard.Disposition) error
	ActiveProtocol() scard.Protocol
}

// Card is a connection to the card in one reader. It is an apdu.Transport,
// each Transmit being one PC/SC transaction. Do and Send run one command
// through an apdu.Client in one transaction, so that neither another
// program nor another goroutine slips a command in between the card's 61xx
// and the GET RESPONSE that fetches the rest (the card would drop it);
// Transaction holds the card for a whole sequence. Operations on one Card
// run one at a time; its methods are safe for concurrent use.
//
// When another program resets the card, Card reconnects once and re-selects
// the last application once before it sends the command again (see
// ConnectOptions.AfterReset). A command that carries a PIN is never sent
// again: it fails with ErrCardReset, so that a PIN try is never spent
// behind the holder's back.
type Card struct {
	parent *Context // nil in tests
	reader string
	share  scard.ShareMode
	opts   ConnectOptions

	// sem is held for one operation at a time. A PC/SC call cannot be
	// interrupted, so when ctx ends in the middle of one the operation
	// returns at once and a goroutine keeps sem until the call is over.
	sem chan struct{}

	atrMu sync.Mutex
	atr   []byte // guarded by atrMu: ATR may be called during an operation

	ext bool // set before the Card is shared, never changed

	// Guarded by sem.
	h          handle
	lastSelect []byte
	features   Features
	closed     bool
}

// Connect connects to the card in reader, shared unless opts asks for
// exclusive access; opts may be nil. It fails with ErrNoCard when the reader
// is empty, ErrSharingViolation when another program holds the card
// exclusively, ErrReaderUnavailable when the reader is not there.
func (c *Context) Connect(ctx context.Context, reader string, opts *ConnectOptions) (*Card, error) {
	if ctx.Err() != nil {
		return nil, ctxErr(ctx, "connect")
	}
	var o ConnectOptions
	if opts != nil {
		o = *opts
	}
	share := scard.ShareShared
	if o.Exclusive {
		share = scard.ShareExclusive
	}
	done, err := c.use()
	if err != nil {
		return nil, err
	}
	h, err := c.sc.Connect(reader, share, scard.ProtocolAny)
	done()
	if err != nil {
		return nil, wrap("connect", reader, err)
	}
	card, err := newCard(ctx, c, reader, share, o, h)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = card.Close()
		return nil, ErrClosed
	}
	c.cards[card] = struct{}{}
	c.mu.Unlock()
	return card, nil
}

func newCard(ctx context.Context, parent *Context, reader string, share scard.ShareMode, o ConnectOptions, h handle) (*Card, error) {
	card := &Card{parent: parent, reader: reader, share: share, opts: o, sem: make(chan struct{}, 1), h: h}
	st, err := h.Status()
	if err != nil {
		_ = h.Disconnect(scard.LeaveCard)
		return nil, wrap("card status", reader, err)
	}
	card.atr = slices.Clone(st.Atr)
	switch o.ExtendedLength {
	case ExtendedOn:
		card.ext = true
	case ExtendedAuto:
		card.ext = h.ActiveProtocol() == scard.ProtocolT1 && apdu.ATRExtendedLength(card.atr)
		if card.ext {
			// A reader that declares itself short-only has the last word.
			if n, ok := card.maxAPDUData(ctx); ok && n <= apdu.MaxShortData {
				card.ext = false
			}
		}
	}
	return card, nil
}

// Reader names the reader the card is in.
func (c *Card) Reader() string { return c.reader }

// ATR returns the card's answer to reset as read when connecting (or
// reconnecting after a reset).
func (c *Card) ATR() []byte {
	c.atrMu.Lock()
	defer c.atrMu.Unlock()
	return slices.Clone(c.atr)
}

// ExtendedLength reports whether commands may use extended length (see
// ConnectOptions.ExtendedLength); apdu.Client asks it.
func (c *Card) ExtendedLength() bool { return c.ext }

// Close disconnects, leaving the card as it is (SCARD_LEAVE_CARD). It waits
// for an operation still running in the reader to end.
func (c *Card) Close() error {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.parent != nil {
		c.parent.mu.Lock()
		delete(c.parent.cards, c)
		c.parent.mu.Unlock()
	}
	err := c.h.Disconnect(scard.LeaveCard)
	if err != nil && (isServiceGone(err) || errors.Is(wrap("", "", err), ErrCardRemoved)) {
		return nil // nothing left to disconnect from
	}
	return wrap("disconnect", c.reader, err)
}

// Transmit sends one command APDU in a transaction of its own and returns
// the response APDU. It implements apdu.Transport; use an apdu.Client on the
// Card for GET RESPONSE, 6Cxx re-sends and chaining. It fails with
// ErrCardRemoved when the card is pulled out, even in the middle of the
// exchange, ErrCancelled or ErrTimeout when ctx ends (the exchange in
// progress, which PC/SC cannot interrupt, finishes in the background).
func (c *Card) Transmit(ctx context.Context, command []byte) ([]byte, error) {
	var out []byte
	err := c.transaction(ctx, "transmit", func(tx *Tx) error {
		var err error
		out, err = tx.transmit(ctx, command, true)
		return err
	})
	return out, err
}

// Send sends cmd through an apdu.Client (GET RESPONSE, 6Cxx re-send,
// chaining or extended length) in one transaction, and returns the final
// response whatever its status word.
func (c *Card) Send(ctx context.Context, cmd apdu.Command) (apdu.Response, error) {
	var r apdu.Response
	err := c.Transaction(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		r, err = (&apdu.Client{Transport: tx, Trace: c.opts.Trace}).Send(ctx, cmd)
		return err
	})
	return r, err
}

// Do is Send, returning the response data on 9000 and the status word as
// an apdu error otherwise (apdu.Client.Do).
func (c *Card) Do(ctx context.Context, cmd apdu.Command) ([]byte, error) {
	var data []byte
	err := c.Transaction(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		data, err = (&apdu.Client{Transport: tx, Trace: c.opts.Trace}).Do(ctx, cmd)
		return err
	})
	return data, err
}

// Transaction runs fn with the card held for this connection alone
// (SCardBeginTransaction … SCardEndTransaction), so that no other program
// interleaves its commands, for a sequence such as select, verify PIN,
// sign. The Tx is valid only during fn. A reset by another program in the
// middle of the sequence fails it with ErrCardReset, since the card forgot
// what the first commands did; the Card has reconnected by then.
func (c *Card) Transaction(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return c.transaction(ctx, "transaction", func(tx *Tx) error { return fn(ctx, tx) })
}

// Tx is a Card held in a transaction, for Card.Transaction. It is an
// apdu.Transport and reports extended length like its Card.
type Tx struct {
	c         *Card
	recovered bool // a reset was recovered from already: never twice
	done      bool
	locks     atomic.Int32 // successful begins not yet ended
	// pending is the PC/SC call still running after ctx ended; the
	// transaction ends only when it is over.
	pending chan struct{}
}

// Transmit sends one command APDU within the transaction.
func (t *Tx) Transmit(ctx context.Context, command []byte) ([]byte, error) {
	if t.done {
		return nil, fmt.Errorf("pcsc: Tx used after its transaction: %w", ErrClosed)
	}
	return t.transmit(ctx, command, false)
}

// ExtendedLength reports the Card's extended-length setting.
func (t *Tx) ExtendedLength() bool { return t.c.ext }

// transaction holds sem, begins a PC/SC transaction (recovering once from a
// reset), runs fn, and ends the transaction.
func (c *Card) transaction(ctx context.Context, op string, fn func(tx *Tx) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctxErr(ctx, op)
	}
	tx := &Tx{c: c}
	defer func() {
		tx.done = true
		finish := func(disposition scard.Disposition) {
			// pcsc-lite counts nested begins on a handle; end them all so
			// that no other program stays locked out. Ending on a card that
			// is gone fails, and there is nothing to do about it.
			for n := tx.locks.Load(); n > 0; n-- {
				_ = c.h.EndTransaction(disposition)
			}
			<-c.sem
		}
		if tx.pending != nil {
			// A command was abandoned in flight (a PIN-pad VERIFY the holder
			// finished after the request went away, a signature): what it
			// left on the card is unknown, a verified PIN included, and the
			// commands that would clear it can no longer be sent. The card
			// is reset as the transaction ends, so that no other program
			// finds its keys open.
			go func() { <-tx.pending; finish(scard.ResetCard) }()
			return
		}
		finish(scard.LeaveCard)
	}()
	if c.closed {
		return fmt.Errorf("pcsc: %s: %w", op, ErrClosed)
	}
	err := tx.begin(ctx)
	if errors.Is(err, ErrCardReset) && tx.pending == nil {
		// pcsc-lite reports a reset by another program at the next begin,
		// before taking the lock.
		if c.opts.NoResetRecovery {
			_ = c.reconnect(ctx, tx)
			return err
		}
		if err := c.reconnect(ctx, tx); err != nil {
			return err
		}
		if err := tx.begin(ctx); err != nil {
			return c.refine(ctx, tx, op, err)
		}
		if err := c.reselect(ctx, tx); err != nil {
			return err
		}
		tx.recovered = true
		return fn(tx)
	}
	if err != nil {
		return c.refine(ctx, tx, op, err)
	}
	return fn(tx)
}

// begin begins a PC/SC transaction and counts it, even when it succeeds in
// the background after ctx ended.
func (t *Tx) begin(ctx context.Context) error {
	return t.call(ctx, "begin transaction", func() error {
		err := t.c.h.BeginTransaction()
		if err == nil {
			t.locks.Add(1)
		}
		return err
	})
}

// call runs one PC/SC call, returning early when ctx ends; the call then
// goes on in the background and tx.pending is closed when it is over.
func (t *Tx) call(ctx context.Context, op string, f func() error) error {
	if ctx.Done() == nil {
		return wrap(op, t.c.reader, f())
	}
	if ctx.Err() != nil {
		return ctxErr(ctx, op)
	}
	res := make(chan error, 1)
	go func() { res <- f() }()
	select {
	case err := <-res:
		return wrap(op, t.c.reader, err)
	case <-ctx.Done():
		pending := make(chan struct{})
		go func() { <-res; close(pending) }()
		t.pending = pending
		return ctxErr(ctx, op)
	}
}

// transmit sends one command within the transaction. In a single-command
// transaction a reset is recovered from and the command re-sent once.
func (t *Tx) transmit(ctx context.Context, command []byte, single bool) ([]byte, error) {
	c := t.c
	if len(command) < 4 {
		return nil, fmt.Errorf("pcsc: transmit: %w: %d bytes", apdu.ErrMalformedCommand, len(command))
	}
	if t.pending != nil {
		return nil, ctxErr(ctx, "transmit")
	}
	var resp []byte
	send := func() error {
		var err error
		resp, err = c.h.Transmit(command)
		return err
	}
	err := t.call(ctx, "transmit", send)
	if errors.Is(err, ErrCardReset) && t.pending == nil {
		if c.opts.NoResetRecovery || t.recovered {
			// Acknowledge the reset so that the next operation works.
			_ = c.reconnect(ctx, t)
			return nil, err
		}
		t.recovered = true
		if rerr := c.reconnect(ctx, t); rerr != nil {
			return nil, rerr
		}
		// Take the lock afresh: the one held may not have survived the
		// reset, and a nested begin is counted and ended like any other.
		if berr := t.begin(ctx); berr != nil {
			return nil, c.refine(ctx, t, "transmit", berr)
		}
		if serr := c.reselect(ctx, t); serr != nil {
			return nil, serr
		}
		if !single || apdu.SensitiveINS(command[1]) {
			// The card is ready again, but the caller must decide: earlier
			// commands of the sequence were lost, or the command carries a
			// PIN, which is never sent twice without the holder knowing.
			return nil, fmt.Errorf("%w; reconnected and re-selected, start the operation again", err)
		}
		err = t.call(ctx, "transmit", send)
	}
	if err != nil {
		return nil, c.refine(ctx, t, "transmit", err)
	}
	if len(resp) < 2 {
		// pcsc-lite hands back an empty response, and no error, when the
		// reader loses the card in the middle of the exchange (seen with
		// vpcd), before its event thread has noticed the card gone.
		return nil, c.lost(ctx, fmt.Errorf("pcsc: transmit on %q: %w: got %d bytes", c.reader, apdu.ErrShortResponse, len(resp)))
	}
	c.noteSelect(command, resp)
	return resp, nil
}

// refine replaces an error that hides a card removal with ErrCardRemoved:
// pcsc-lite reports a card lost mid-exchange as a failed transaction or a
// short response.
func (c *Card) refine(ctx context.Context, t *Tx, op string, err error) error {
	if t.pending != nil || errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrServiceDown) ||
		errors.Is(err, ErrCancelled) || errors.Is(err, ErrTimeout) {
		return err
	}
	st, serr := c.h.Status()
	if serr != nil {
		if e := wrap(op, c.reader, serr); errors.Is(e, ErrCardRemoved) || errors.Is(e, ErrNoCard) || errors.Is(e, ErrServiceDown) {
			return fmt.Errorf("%w (%w)", e, err)
		}
		return err
	}
	if st.State&scard.Present == 0 {
		return fmt.Errorf("%w (%w)", &Error{Op: op, Reader: c.reader, Code: uint32(scard.ErrRemovedCard), Kind: ErrCardRemoved}, err)
	}
	return err
}

// lostWait bounds how long lost watches for the reader to report the card
// gone: pcscd polls readers without interrupt events every 400 ms.
const lostWait = 1500 * time.Millisecond

// lost explains an exchange that returned no status word: the card was
// pulled out (ErrCardRemoved, once the reader reports it) or stopped
// answering (ErrCardUnresponsive).
func (c *Card) lost(ctx context.Context, cause error) error {
	deadline := time.Now().Add(lostWait)
	for {
		st, err := c.h.Status()
		if err != nil {
			// Removed, or the service gone: either says more than cause.
			return fmt.Errorf("%w (%w)", wrap("transmit", c.reader, err), cause)
		}
		if st.State&scard.Present == 0 {
			return fmt.Errorf("%w (%w)", &Error{Op: "transmit", Reader: c.reader, Code: uint32(scard.ErrRemovedCard), Kind: ErrCardRemoved}, cause)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", &Error{Op: "transmit", Reader: c.reader, Code: uint32(scard.ErrUnresponsiveCard), Kind: ErrCardUnresponsive}, cause)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// reconnect acknowledges a reset (SCardReconnect, leaving the card as it
// is) and reads the ATR again.
func (c *Card) reconnect(ctx context.Context, t *Tx) error {
	proto := scard.ProtocolAny
	err := t.call(ctx, "reconnect", func() error { return c.h.Reconnect(c.share, proto, scard.LeaveCard) })
	if err != nil {
		return err
	}
	if st, err := c.h.Status(); err == nil {
		c.atrMu.Lock()
		c.atr = slices.Clone(st.Atr)
		c.atrMu.Unlock()
	}
	return nil
}

// reselect restores the selected application after a reset.
func (c *Card) reselect(ctx context.Context, t *Tx) error {
	raw := rawTransport{t}
	var err error
	switch {
	case c.opts.AfterReset != nil:
		err = c.opts.AfterReset(ctx, raw, slices.Clone(c.lastSelect))
	case c.lastSelect != nil:
		var resp []byte
		if resp, err = raw.Transmit(ctx, c.lastSelect); err == nil {
			if r, perr := apdu.ParseResponse(resp); perr != nil {
				err = perr
			} else if r.SW1() != 0x90 && r.SW1() != 0x61 {
				err = r.Err()
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w; restoring the selection failed: %w",
			&Error{Op: "reselect after reset", Reader: c.reader, Code: uint32(scard.ErrResetCard), Kind: ErrCardReset}, err)
	}
	return nil
}

// rawTransport transmits within a transaction without reset handling, for
// ResetHook.
type rawTransport struct{ t *Tx }

func (r rawTransport) Transmit(ctx context.Context, command []byte) ([]byte, error) {
	var resp []byte
	err := r.t.call(ctx, "transmit", func() error {
		var err error
		resp, err = r.t.c.h.Transmit(command)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp) < 2 {
		return nil, fmt.Errorf("pcsc: transmit on %q: %w: got %d bytes", r.t.c.reader, apdu.ErrShortResponse, len(resp))
	}
	return resp, nil
}

func (r rawTransport) ExtendedLength() bool { return r.t.c.ext }

// noteSelect remembers a successful SELECT by DF name (ISO/IEC 7816-4
// §11.2.2, P1 = 04) on the basic channel, to re-send after a reset.
func (c *Card) noteSelect(command, resp []byte) {
	if command[1] != 0xA4 || command[2] != 0x04 || command[0]&0x80 != 0 || channelOf(command[0]) != 0 {
		return
	}
	if sw1 := resp[len(resp)-2]; sw1 != 0x90 && sw1 != 0x61 {
		return
	}
	if !bytes.Equal(c.lastSelect, command) {
		c.lastSelect = slices.Clone(command)
	}
}

// channelOf is the logical channel of an interindustry class byte (ISO/IEC
// 7816-4 §5.4.1).
func channelOf(cla byte) int {
	if cla&0x40 != 0 {
		return 4 + int(cla&0x0F)
	}
	return int(cla & 0x03)
}

// VerifyOnPINPad implements apdu.PINPadVerifier, so that card applications
// that see only an apdu.Transport (package piv) can use the reader's PIN
// pad: it runs VerifyPINDirect with the PIN block the request describes, in
// ASCII. A reader without a PIN pad gives an error matching both
// apdu.ErrNoPINPad and ErrUnsupported.
func (c *Card) VerifyOnPINPad(ctx context.Context, req apdu.PINPadRequest) error {
	return c.transaction(ctx, "verify PIN on the PIN pad", func(tx *Tx) error { return tx.VerifyOnPINPad(ctx, req) })
}

// HasPINPad implements apdu.PINPadChecker: the reader offers
// FEATURE_VERIFY_PIN_DIRECT. Any failure to ask counts as no PIN pad, so
// the caller falls back to a PIN typed on screen.
func (c *Card) HasPINPad(ctx context.Context) bool {
	f, err := c.Features(ctx)
	if err != nil {
		return false
	}
	_, ok := f[FeatureVerifyPINDirect]
	return ok
}

// VerifyOnPINPad is Card.VerifyOnPINPad within the transaction. A Tx is
// what a select, verify PIN, sign sequence hands to the card application,
// so it must offer the PIN pad as the Card does: otherwise the application
// asks for the PIN on screen and the PIN crosses the host although the
// reader has keys for it.
func (t *Tx) VerifyOnPINPad(ctx context.Context, req apdu.PINPadRequest) error {
	err := t.VerifyPINDirect(ctx, req.Template, PINPad{Timeout: req.Timeout, Format: PINASCII,
		PINOffset: req.Offset, BlockSize: req.BlockSize, MinDigits: req.MinDigits, MaxDigits: req.MaxDigits})
	if errors.Is(err, ErrUnsupported) {
		return fmt.Errorf("%w: %w", apdu.ErrNoPINPad, err)
	}
	return err
}

// HasPINPad is Card.HasPINPad within the transaction.
func (t *Tx) HasPINPad(ctx context.Context) bool {
	if t.done {
		return false
	}
	f, err := t.features(ctx)
	return err == nil && f.Has(FeatureVerifyPINDirect)
}

var (
	_ apdu.PINPadVerifier = (*Card)(nil)
	_ apdu.PINPadChecker  = (*Card)(nil)
	_ apdu.PINPadVerifier = (*Tx)(nil)
	_ apdu.PINPadChecker  = (*Tx)(nil)
)
