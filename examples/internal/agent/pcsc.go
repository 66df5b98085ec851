//go:build cgo

package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/apdu"
)

// PCSCAvailable reports whether this build can reach PC/SC readers (it was
// built with cgo).
const PCSCAvailable = true

// PCSC reaches the card in a PC/SC reader through pcscd (or the platform's
// smart card service).
type PCSC struct {
	// Reader names the reader to use; empty takes the first one holding a
	// card.
	Reader string

	mu  sync.Mutex
	ctx *pcsc.Context
}

// context returns the PC/SC context, establishing one when there is none.
// dead, when not nil, is a context found dead (a context of a service that
// stopped or restarted cannot recover: pcsc-lite answers SCARD_E_NO_SERVICE
// on it for good): it is dropped, if still current, and closed outside the
// lock and in the background, since closing waits for the operations still
// running on it (a PIN pad up to its timeout), which must not hold up
// every other request at this lock.
func (p *PCSC) context(ctx context.Context, dead *pcsc.Context) (*pcsc.Context, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dead != nil && p.ctx == dead {
		p.ctx = nil
		go dead.Close()
	}
	if p.ctx == nil {
		c, err := pcsc.Establish(ctx)
		if err != nil {
			return nil, err
		}
		p.ctx = c
	}
	return p.ctx, nil
}

// Do implements Source: connect (shared), hold a transaction for fn, and
// disconnect, so that the agent keeps no card busy between operations.
//
// Finding the reader and connecting are tried again once on a new context
// when the service's context is dead, whichever of them finds it so (a
// named reader is never listed). The operation itself is never repeated: it
// may carry a PIN (DESIGN.md: never retried automatically); a dead context
// it finds is dropped for the next one.
func (p *PCSC) Do(ctx context.Context, fn func(ctx context.Context, t apdu.Transport) error) error {
	pc, err := p.context(ctx, nil)
	if err != nil {
		return err
	}
	card, err := p.connect(ctx, pc)
	if err != nil && errorsIsService(err) {
		if pc, err = p.context(ctx, pc); err == nil {
			card, err = p.connect(ctx, pc)
		}
	}
	if err != nil {
		return err
	}
	defer card.Close()
	err = card.Transaction(ctx, func(ctx context.Context, tx *pcsc.Tx) error { return fn(ctx, tx) })
	if errorsIsService(err) {
		p.context(ctx, pc)
	}
	return err
}

// connect finds the reader and connects to its card.
func (p *PCSC) connect(ctx context.Context, pc *pcsc.Context) (*pcsc.Card, error) {
	reader, err := p.pick(ctx, pc)
	if err != nil {
		return nil, err
	}
	return pc.Connect(ctx, reader, nil)
}

func (p *PCSC) pick(ctx context.Context, pc *pcsc.Context) (string, error) {
	if p.Reader != "" {
		return p.Reader, nil
	}
	states, err := pc.ReaderStates(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range states {
		if s.CardPresent() {
			return s.Reader, nil
		}
	}
	return "", pcsc.ErrNoCard
}

// Describe implements Source.
func (p *PCSC) Describe() string {
	if p.Reader != "" {
		return fmt.Sprintf("PC/SC reader %q", p.Reader)
	}
	return "the first PC/SC reader holding a card"
}

// Close releases the PC/SC context.
func (p *PCSC) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx != nil {
		err := p.ctx.Close()
		p.ctx = nil
		return err
	}
	return nil
}

func errorsIsService(err error) bool {
	return errors.Is(err, pcsc.ErrServiceDown) || errors.Is(err, pcsc.ErrClosed)
}

// cardHint turns a PC/SC failure into the advice its sentinel carries (no
// reader, no card, card removed, service down, …). Anything else gets a
// plain sentence: the full error (package names, status words, the
// reader's name) goes to the agent's log, not to the page.
func cardHint(err error) string {
	for _, s := range []error{pcsc.ErrNoReaders, pcsc.ErrReaderUnavailable, pcsc.ErrNoCard, pcsc.ErrCardRemoved, pcsc.ErrCardReset,
		pcsc.ErrCardUnresponsive, pcsc.ErrServiceDown, pcsc.ErrSharingViolation, pcsc.ErrTimeout, pcsc.ErrCancelled} {
		if errors.Is(err, s) {
			return strings.TrimPrefix(s.Error(), "pcsc: ")
		}
	}
	return errCardHint
}

// cardAbsent reports a card that cannot be reached yet but may be in a
// moment: no reader, no card, the card pulled out, the PC/SC service not
// (yet) running.
func cardAbsent(err error) bool {
	for _, s := range []error{pcsc.ErrNoReaders, pcsc.ErrReaderUnavailable, pcsc.ErrNoCard, pcsc.ErrCardRemoved, pcsc.ErrServiceDown} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// pinPadAgain says what happened when the holder did not finish typing on
// the reader's PIN pad (no key in time, or Cancel pressed), or when another
// program reset the card in the middle of the operation (pcsc sends no PIN
// command again after a reset, so that no try is spent behind the holder's
// back: the holder is the one to try again), so that the window asks again
// instead of failing the request; "" for anything else.
func pinPadAgain(err error) string {
	switch {
	case errors.Is(err, pcsc.ErrCardReset):
		return "Another program reset the card before the operation finished; nothing was sent to the site. Try again."
	case errors.Is(err, pcsc.ErrTimeout):
		return "No PIN was typed on the reader in time. Press the button and type it on the reader's keys."
	case errors.Is(err, pcsc.ErrCancelled):
		return "You pressed Cancel on the reader. Press the button to try again, or Cancel here."
	}
	return ""
}
