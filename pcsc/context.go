package pcsc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// pnpReader is the pseudo reader whose state changes when a reader is
// plugged in or out (pcsc-lite and Windows; see pnpNotification).
const pnpReader = `\\?PnP?\Notification`

// waitSlice bounds each blocking SCardGetStatusChange call. Waits rely on
// SCardCancel to end early, but a cancel that lands just before the call
// starts is lost (PC/SC cancels only a call in progress), and pcsc-lite
// reports a reader plugged in between SCardListReaders and the call only
// to the next call: the slice caps both gaps.
const waitSlice = time.Second

// readerPoll is how often reader lists are compared where the platform has
// no plug-and-play notification.
const readerPoll = 500 * time.Millisecond

// Context is a connection to the PC/SC service (SCardEstablishContext). It
// lists readers, reports and waits for their states, and connects to
// cards. Its methods are safe for concurrent use.
//
// Each Wait method uses a PC/SC context of its own, so that a wait in one
// goroutine does not stall the card operations of another (pcsc-lite
// serialises the calls on one context) and cancelling it cancels nothing
// else.
type Context struct {
	mu      sync.RWMutex // write-held by Close; read-held by every call on sc
	sc      *scard.Context
	closed  bool
	waiters map[*waiter]struct{}
	cards   map[*Card]struct{}
}

// Establish connects to the PC/SC service. It fails with ErrServiceDown
// when the service is not running. Close the Context when done.
func Establish(ctx context.Context) (*Context, error) {
	if ctx.Err() != nil {
		return nil, ctxErr(ctx, "establish context")
	}
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, wrap("establish context", "", err)
	}
	return &Context{sc: sc, waiters: map[*waiter]struct{}{}, cards: map[*Card]struct{}{}}, nil
}

// Close ends pending waits (they return ErrClosed), disconnects the cards
// still connected through c, and releases the PC/SC context. Further calls
// fail with ErrClosed.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for w := range c.waiters {
		w.cancel()
	}
	cards := make([]*Card, 0, len(c.cards))
	for k := range c.cards {
		cards = append(cards, k)
	}
	c.mu.Unlock()
	var errs []error
	for _, k := range cards {
		errs = append(errs, k.Close())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.sc.Release(); err != nil && !isServiceGone(err) {
		errs = append(errs, wrap("release context", "", err))
	}
	return errors.Join(errs...)
}

// isServiceGone reports errors that only say the daemon is already away,
// which releasing a context need not report.
func isServiceGone(err error) bool {
	var code scard.Error
	return errors.As(err, &code) && (kindOf(code) == ErrServiceDown || code == scard.ErrInvalidHandle)
}

// use read-locks c for one call on c.sc; the returned function unlocks.
func (c *Context) use() (func(), error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	return c.mu.RUnlock, nil
}

// Readers lists the readers' names. With none connected it fails with
// ErrNoReaders.
func (c *Context) Readers(ctx context.Context) ([]string, error) {
	if ctx.Err() != nil {
		return nil, ctxErr(ctx, "list readers")
	}
	done, err := c.use()
	if err != nil {
		return nil, err
	}
	defer done()
	return listReaders(c.sc)
}

func listReaders(sc *scard.Context) ([]string, error) {
	if sc == nil {
		return nil, &Error{Op: "list readers", Code: uint32(scard.ErrNoService), Kind: ErrServiceDown}
	}
	names, err := sc.ListReaders()
	if err != nil {
		return nil, wrap("list readers", "", err)
	}
	if len(names) == 0 {
		return nil, &Error{Op: "list readers", Code: uint32(scard.ErrNoReadersAvailable), Kind: ErrNoReaders}
	}
	return names, nil
}

// ReaderStates reports the current state of the named readers, or of every
// reader when none is named (ErrNoReaders when there is none).
func (c *Context) ReaderStates(ctx context.Context, readers ...string) ([]ReaderState, error) {
	if len(readers) == 0 {
		var err error
		if readers, err = c.Readers(ctx); err != nil {
			return nil, err
		}
	}
	known := make([]ReaderState, len(readers))
	for i, r := range readers {
		known[i].Reader = r
	}
	// Flags 0 is SCARD_STATE_UNAWARE: the service answers at once.
	return c.WaitForChange(ctx, known)
}

// WaitForChange waits until the state of one of the readers differs from
// the state given in known, and returns the states of them all. Give a
// state with Flags 0 to learn the current state without waiting; pass the
// states returned back in to wait for the next change. On pcsc-lite the
// event counter in the flags makes a card swapped between two calls count
// as a change.
//
// It fails with ErrReaderUnavailable when a reader is unplugged or unknown,
// with ErrCancelled or ErrTimeout when ctx ends, and ErrClosed when c is
// closed meanwhile.
func (c *Context) WaitForChange(ctx context.Context, known []ReaderState) ([]ReaderState, error) {
	if len(known) == 0 {
		return nil, errors.New("pcsc: WaitForChange needs at least one reader")
	}
	w, err := c.newWaiter(ctx)
	if err != nil {
		return nil, err
	}
	defer w.close()
	states := make([]scard.ReaderState, len(known))
	for i, k := range known {
		states[i] = scard.ReaderState{Reader: k.Reader, CurrentState: scard.StateFlag(k.Flags)}
	}
	for {
		changed, err := w.getStatusChange(ctx, states, waitSlice)
		if err != nil {
			return nil, err
		}
		if changed {
			out := make([]ReaderState, len(states))
			for i, s := range states {
				out[i] = ReaderState{Reader: s.Reader, Flags: StateFlags(s.EventState) &^ StateChanged, ATR: slices.Clone(s.Atr)}
			}
			return out, nil
		}
	}
}

// WaitForCard waits until a card that answers reset is in the reader, and
// returns the reader's state. With reader "" it watches every reader,
// including readers plugged in while it waits, and returns the first one
// holding a card. A card already there counts: it returns at once.
func (c *Context) WaitForCard(ctx context.Context, reader string) (ReaderState, error) {
	for {
		var readers []string
		if reader != "" {
			readers = []string{reader}
		} else {
			rs, err := c.Readers(ctx)
			if err != nil && !errors.Is(err, ErrNoReaders) {
				return ReaderState{}, err
			}
			readers = rs
		}
		if len(readers) == 0 {
			if _, err := c.WaitForReaders(ctx, nil); err != nil {
				return ReaderState{}, err
			}
			continue
		}
		st, again, err := c.waitForCardIn(ctx, readers, reader == "")
		if err != nil || !again {
			return st, err
		}
	}
}

// waitForCardIn waits for a card in one of readers. With watchPlug it also
// returns again=true when the reader list may have changed.
func (c *Context) waitForCardIn(ctx context.Context, readers []string, watchPlug bool) (st ReaderState, again bool, err error) {
	w, err := c.newWaiter(ctx)
	if err != nil {
		return ReaderState{}, false, err
	}
	defer w.close()
	states := make([]scard.ReaderState, 0, len(readers)+1)
	for _, r := range readers {
		states = append(states, scard.ReaderState{Reader: r})
	}
	pnp := watchPlug && pnpNotification
	if pnp {
		states = append(states, scard.ReaderState{Reader: pnpReader})
	}
	for first := true; ; first = false {
		changed, err := w.getStatusChange(ctx, states, waitSlice)
		if err != nil {
			if watchPlug && errors.Is(err, ErrReaderUnavailable) {
				return ReaderState{}, true, nil // a reader went away: list again
			}
			return ReaderState{}, false, err
		}
		for _, s := range states {
			if s.Reader == pnpReader {
				continue
			}
			rs := ReaderState{Reader: s.Reader, Flags: StateFlags(s.EventState) &^ StateChanged, ATR: slices.Clone(s.Atr)}
			if rs.CardPresent() {
				return rs, false, nil
			}
			if !watchPlug && rs.Gone() {
				return ReaderState{}, false, &Error{Op: "wait for card", Reader: s.Reader, Code: uint32(scard.ErrUnknownReader), Kind: ErrReaderUnavailable}
			}
		}
		// The first call only learns the states (all were unaware), the
		// pseudo reader's included on Windows, so it proves no plug event.
		plugged := pnp && !first && states[len(states)-1].EventState&scard.StateChanged != 0
		if watchPlug && (!changed || plugged) {
			// A slice ran out, or a reader came or went: list again.
			return ReaderState{}, true, nil
		}
		for i := range states {
			states[i].CurrentState = states[i].EventState &^ scard.StateChanged
		}
	}
}

// WaitForRemoval waits until the reader holds no card, and returns at once
// when it holds none. A reader unplugged counts as the card removed. On
// pcsc-lite a card pulled out and put back between two looks counts too:
// the reader's event counter moved.
func (c *Context) WaitForRemoval(ctx context.Context, reader string) error {
	st, err := c.WaitForChange(ctx, []ReaderState{{Reader: reader}})
	for {
		switch {
		case errors.Is(err, ErrReaderUnavailable):
			return nil
		case err != nil:
			return err
		case st[0].Flags&StatePresent == 0:
			return nil
		}
		before := st[0].Events()
		if st, err = c.WaitForChange(ctx, st); err == nil && st[0].Events() != before {
			return nil // pulled out, and maybe put back, while we looked away
		}
	}
}

// WaitForReaders waits until the list of readers differs from known, and
// returns the new list (empty, not an error, when the last reader went).
// It notices readers plugged in or out through the plug-and-play pseudo
// reader where the platform has one, and by polling otherwise. It waits
// through the PC/SC service stopping and starting again (pcscd is started
// on demand and exits when idle on many systems, and the Windows service
// stops with the last reader), so it ends only with a change, ctx, or Close.
func (c *Context) WaitForReaders(ctx context.Context, known []string) ([]string, error) {
	want := slices.Clone(known)
	slices.Sort(want)
	w, err := c.newWaiter(ctx)
	if err != nil {
		return nil, err
	}
	defer w.close()
	for {
		names, err := listReaders(w.sc())
		if err == nil || errors.Is(err, ErrNoReaders) {
			slices.Sort(names)
			if !slices.Equal(names, want) {
				return names, nil
			}
			if pnpNotification && !w.noPnP {
				states := []scard.ReaderState{{Reader: pnpReader}}
				_, err = w.getStatusChange(ctx, states, waitSlice)
				if err == nil && states[0].EventState&scard.StateUnknown != 0 {
					// The service does not know the pseudo reader: poll.
					w.noPnP = true
				}
				if err == nil {
					continue
				}
			}
		}
		if err != nil && !errors.Is(err, ErrServiceDown) && !errors.Is(err, ErrNoReaders) {
			return nil, err
		}
		if err := w.pause(ctx, readerPoll); err != nil {
			return nil, err
		}
		if errors.Is(err, ErrServiceDown) {
			w.renew() // a context of the stopped service stays dead
		}
	}
}

// waiter is one PC/SC context for one wait, cancelled by SCardCancel when
// the caller's context ends or the parent Context closes.
type waiter struct {
	parent    *Context
	stop      func() bool   // unregisters the context.AfterFunc
	fired     chan struct{} // closed once the AfterFunc's cancel returned
	cancelled chan struct{} // closed by cancel
	noPnP     bool

	mu       sync.Mutex // guards ctx and isCancel against cancel
	ctx      *scard.Context
	isCancel bool
}

func (c *Context) newWaiter(ctx context.Context) (*waiter, error) {
	if ctx.Err() != nil {
		return nil, ctxErr(ctx, "wait")
	}
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, wrap("establish context", "", err)
	}
	w := &waiter{parent: c, ctx: sc, fired: make(chan struct{}), cancelled: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = sc.Release() // nothing was done on it
		return nil, ErrClosed
	}
	c.waiters[w] = struct{}{}
	c.mu.Unlock()
	w.stop = context.AfterFunc(ctx, func() {
		defer close(w.fired)
		w.cancel()
	})
	return w, nil
}

func (w *waiter) sc() *scard.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctx
}

// cancel ends the wait in progress, if any, and the waits to come.
func (w *waiter) cancel() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isCancel {
		return
	}
	w.isCancel = true
	close(w.cancelled)
	if w.ctx != nil {
		_ = w.ctx.Cancel() // fails only when no call is in progress, which is fine
	}
}

// renew replaces the PC/SC context after the service went away; when the
// service is still down, the next call fails again and the caller pauses.
func (w *waiter) renew() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx != nil {
		_ = w.ctx.Release() // the service is gone: nothing to release there
		w.ctx = nil
	}
	if sc, err := scard.EstablishContext(); err == nil {
		w.ctx = sc
	}
}

// pause waits d, or less when ctx ends or the wait is cancelled.
func (w *waiter) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-w.cancelled:
		if ctx.Err() != nil {
			return ctxErr(ctx, "wait")
		}
		return ErrClosed
	}
}

func (w *waiter) close() {
	if !w.stop() {
		<-w.fired // the AfterFunc ran or runs: let it finish with the context
	}
	w.parent.mu.Lock()
	delete(w.parent.waiters, w)
	w.parent.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx != nil {
		_ = w.ctx.Release() // a release failure leaves nothing to do
		w.ctx = nil
	}
}

// getStatusChange runs one SCardGetStatusChange of at most d. It reports
// changed=false when d passed with no change.
func (w *waiter) getStatusChange(ctx context.Context, states []scard.ReaderState, d time.Duration) (changed bool, err error) {
	select {
	case <-w.cancelled:
		if ctx.Err() != nil {
			return false, ctxErr(ctx, "wait for reader state")
		}
		return false, ErrClosed
	default:
	}
	sc := w.sc()
	if sc == nil {
		return false, &Error{Op: "wait for reader state", Code: uint32(scard.ErrNoService), Kind: ErrServiceDown}
	}
	err = sc.GetStatusChange(states, d)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, scard.ErrTimeout):
		return false, nil
	case errors.Is(err, scard.ErrCancelled):
		if ctx.Err() != nil {
			return false, ctxErr(ctx, "wait for reader state")
		}
		return false, ErrClosed
	}
	reader := ""
	if len(states) == 1 {
		reader = states[0].Reader
	}
	return false, wrap("wait for reader state", reader, err)
}
