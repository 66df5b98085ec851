package piv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Key references of VERIFY and friends (SP 800-73-4 Part 2 §3.2).
const (
	refPIN byte = 0x80
	refPUK byte = 0x81
)

// pinBlock pads a PIN or PUK to 8 bytes with FF (SP 800-73-4 Part 2
// §2.4.3). PIV PINs are 6 to 8 characters; puce accepts printable ASCII,
// as deployed tokens do, not digits only.
func pinBlock(what, pin string) ([]byte, error) {
	if len(pin) < 6 || len(pin) > 8 {
		return nil, fmt.Errorf("%w: a %s is 6 to 8 characters", ErrBadInput, what)
	}
	b := []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	for i := 0; i < len(pin); i++ {
		if pin[i] < 0x20 || pin[i] > 0x7E {
			clear(b)
			return nil, fmt.Errorf("%w: a %s is printable ASCII", ErrBadInput, what)
		}
		b[i] = pin[i]
	}
	return b, nil
}

// ForgetPIN resets the PIN's security status (VERIFY with P1 = FF and no
// data, SP 800-73-4 Part 2 §3.2.1), so that the keys the PIN opened need
// it again. A program that verified the PIN for one operation calls it
// when done: the card stays in a reader that every program on the
// computer shares, and left verified it would sign for any of them.
func (c *Card) ForgetPIN(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0xFF, P2: refPIN}); err != nil {
		return fmt.Errorf("piv: reset the PIN status: %w", err)
	}
	return nil
}

// PINStatus is the card's answer to an empty VERIFY.
type PINStatus struct {
	// Verified: the PIN is verified in this session; the card does not
	// report the tries left then.
	Verified bool
	// TriesLeft before the PIN blocks; -1 when Verified.
	TriesLeft int
}

// PINStatus asks the card whether the PIN is verified and how many tries are
// left, spending none (an empty VERIFY, SP 800-73-4 Part 2 §3.2.1).
func (c *Card) PINStatus(ctx context.Context) (PINStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pinStatus(ctx)
}

func (c *Card) pinStatus(ctx context.Context) (PINStatus, error) {
	_, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: refPIN})
	var wp *apdu.WrongPINError
	switch {
	case err == nil:
		return PINStatus{Verified: true, TriesLeft: -1}, nil
	case errors.As(err, &wp):
		c.tries = wp.TriesLeft
		return PINStatus{TriesLeft: wp.TriesLeft}, nil
	case errors.Is(err, apdu.ErrBlocked):
		c.tries = 0
		return PINStatus{TriesLeft: 0}, nil
	}
	return PINStatus{}, fmt.Errorf("piv: PIN status: %w", err)
}

// VerifyOptions tune VerifyPIN.
type VerifyOptions struct {
	// AllowLastTry lets VerifyPIN spend the PIN's last try. Set it only when
	// the holder has been told that a wrong PIN now blocks the card.
	AllowLastTry bool
}

// VerifyPIN presents the PIN to the card once. A wrong PIN returns an error
// matching apdu.ErrWrongPIN whose *apdu.WrongPINError says the tries left; a
// blocked PIN apdu.ErrBlocked. With one try left the call is refused
// (ErrLastTry) unless opts.AllowLastTry: when this handle does not know the
// tries left yet (from PINStatus or an earlier VERIFY), it asks the card
// first with an empty VERIFY, which spends nothing. A login is thus select,
// verify, sign — three APDUs — once the tries are known (a PIN prompt shows
// them) or the last try is allowed, and four on a fresh handle otherwise.
func (c *Card) VerifyPIN(ctx context.Context, pin string, opts *VerifyOptions) error {
	block, err := pinBlock("PIN", pin)
	if err != nil {
		return err
	}
	defer clear(block)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verify(ctx, block, opts != nil && opts.AllowLastTry)
}

// guard refuses a PIN attempt that would spend the last try (unless
// allowed) or that cannot succeed (blocked). The tries left come from the
// card's last answer to this handle, or from an empty VERIFY, which spends
// nothing; a caller who allows the last try saves that query.
func (c *Card) guard(ctx context.Context, allowLast bool) error {
	if c.tries < 0 && !allowLast {
		if _, err := c.pinStatus(ctx); err != nil {
			return err
		}
	}
	switch {
	case c.tries == 0:
		return fmt.Errorf("piv: %w: unblock it with the PUK", apdu.ErrBlocked)
	case c.tries == 1 && !allowLast:
		return ErrLastTry
	}
	return nil
}

func (c *Card) verify(ctx context.Context, block []byte, allowLast bool) error {
	if err := c.guard(ctx, allowLast); err != nil {
		return err
	}
	_, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: refPIN, Data: block})
	return c.afterPIN(err, "verify PIN")
}

// afterPIN records what a PIN command taught about the retry counter.
func (c *Card) afterPIN(err error, what string) error {
	var wp *apdu.WrongPINError
	switch {
	case err == nil:
		// A right PIN resets the counter to a value the card does not say.
		c.tries = -1
		return nil
	case errors.As(err, &wp):
		c.tries = wp.TriesLeft
	case errors.Is(err, apdu.ErrBlocked):
		c.tries = 0
	}
	return fmt.Errorf("piv: %s: %w", what, err)
}

// ChangePIN replaces the PIN (CHANGE REFERENCE DATA, SP 800-73-4 Part 2
// §3.2.2). A wrong old PIN spends a try, so the last-try guard applies.
func (c *Card) ChangePIN(ctx context.Context, oldPIN, newPIN string, opts *VerifyOptions) error {
	return c.change(ctx, refPIN, "PIN", oldPIN, newPIN, opts != nil && opts.AllowLastTry)
}

// ChangePUK replaces the PUK. The card counts PUK tries apart; puce does not
// guard them, since a blocked PUK is what an issuer's reset procedure is for.
func (c *Card) ChangePUK(ctx context.Context, oldPUK, newPUK string) error {
	return c.change(ctx, refPUK, "PUK", oldPUK, newPUK, true)
}

func (c *Card) change(ctx context.Context, ref byte, what, oldV, newV string, allowLast bool) error {
	o, err := pinBlock(what, oldV)
	if err != nil {
		return err
	}
	defer clear(o)
	n, err := pinBlock("new "+what, newV)
	if err != nil {
		return err
	}
	defer clear(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref == refPIN {
		if err := c.guard(ctx, allowLast); err != nil {
			return err
		}
	}
	data := append(append(make([]byte, 0, 16), o...), n...)
	defer clear(data)
	_, err = c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x24, P1: 0x00, P2: ref, Data: data})
	if ref == refPIN {
		return c.afterPIN(err, "change PIN")
	}
	if err != nil {
		return fmt.Errorf("piv: change PUK: %w", err)
	}
	return nil
}

// Unblock sets a new PIN with the PUK (RESET RETRY COUNTER, SP 800-73-4
// Part 2 §3.2.3), which also resets the PIN's retry counter. A wrong PUK
// returns apdu.ErrWrongPIN with the PUK's tries left.
func (c *Card) Unblock(ctx context.Context, puk, newPIN string) error {
	p, err := pinBlock("PUK", puk)
	if err != nil {
		return err
	}
	defer clear(p)
	n, err := pinBlock("new PIN", newPIN)
	if err != nil {
		return err
	}
	defer clear(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	data := append(append(make([]byte, 0, 16), p...), n...)
	defer clear(data)
	if _, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0x2C, P1: 0x00, P2: refPIN, Data: data}); err != nil {
		return fmt.Errorf("piv: unblock the PIN: %w", err)
	}
	c.tries = -1
	return nil
}

// VerifyPINPad has the holder type the PIN on the reader's PIN pad, so that
// it never reaches the host (the transport must implement
// apdu.PINPadVerifier, as a pcsc.Card does; otherwise the error matches
// apdu.ErrNoPINPad and the caller asks for the PIN on screen). The last-try
// guard and the tries-left reporting are those of VerifyPIN.
func (c *Card) VerifyPINPad(ctx context.Context, timeout time.Duration, opts *VerifyOptions) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verifyPad(ctx, timeout, opts != nil && opts.AllowLastTry)
}

// HasPINPad reports whether the card's reader has a PIN pad, when its
// transport can tell (apdu.PINPadChecker, as a pcsc.Card). Use it to
// choose between a PIN field and "type your PIN on the reader".
func (c *Card) HasPINPad(ctx context.Context) bool {
	if _, ok := c.t.(apdu.PINPadVerifier); !ok {
		return false
	}
	ch, ok := c.t.(apdu.PINPadChecker)
	return ok && ch.HasPINPad(ctx)
}

// verifyPad is VerifyPINPad with c.mu held.
func (c *Card) verifyPad(ctx context.Context, timeout time.Duration, allowLast bool) error {
	pad, ok := c.t.(apdu.PINPadVerifier)
	if !ok {
		return fmt.Errorf("piv: %w", apdu.ErrNoPINPad)
	}
	if err := c.guard(ctx, allowLast); err != nil {
		return err
	}
	// VERIFY with a block of FF padding for the reader to fill (SP 800-73-4
	// Part 2 §3.2.1: 6 to 8 characters, padded with FF).
	template := []byte{0x00, 0x20, 0x00, refPIN, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	err := pad.VerifyOnPINPad(ctx, apdu.PINPadRequest{Template: template, Offset: 0, BlockSize: 8, MinDigits: 6, MaxDigits: 8, Timeout: timeout})
	if errors.Is(err, apdu.ErrNoPINPad) {
		return fmt.Errorf("piv: %w", err)
	}
	return c.afterPIN(err, "verify PIN on the PIN pad")
}
