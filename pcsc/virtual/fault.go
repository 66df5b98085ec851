package virtual

import (
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Fault makes the card misbehave for chosen commands, for integrators who
// must test how their code copes with a failing card.
type Fault struct {
	// Match selects the commands the fault applies to; nil selects every
	// command. It runs while the card is locked and must not call the card.
	Match func(cmd apdu.Command) bool
	// Times is how many matching commands the fault applies to; 0 means every
	// matching command until ClearFaults.
	Times int
	// SW is the status word answered instead of running the command.
	SW uint16
	// Drop loses the command instead: over vpcd the Bridge closes the
	// connection without answering (pcscd sees the card leave) and then
	// reconnects; in-process Transmit fails with ErrDropped. Either way the
	// command does not run and the card's volatile state is reset.
	Drop bool
}

type fault struct {
	Fault
	left int // commands still to hit when Times > 0
}

// Inject adds a fault. Faults are tried in the order they were injected; the
// first that matches a command applies to it. An SW must be a status word
// ISO/IEC 7816-3 §10.3.1 allows (SW1 61 to 6F, or 90 to 9F).
func (c *Card) Inject(f Fault) error {
	if f.Times < 0 {
		return fmt.Errorf("%w: fault with negative Times", ErrConfig)
	}
	if !f.Drop {
		sw1 := byte(f.SW >> 8)
		if !(sw1 >= 0x61 && sw1 <= 0x6F) && !(sw1 >= 0x90 && sw1 <= 0x9F) {
			return fmt.Errorf("%w: fault status word %04X is not a valid SW1 SW2", ErrConfig, f.SW)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, fault{Fault: f, left: f.Times})
	return nil
}

// FailNext answers sw to the next n commands, whatever they are.
func (c *Card) FailNext(n int, sw uint16) error {
	if n <= 0 {
		return fmt.Errorf("%w: FailNext needs n > 0", ErrConfig)
	}
	return c.Inject(Fault{Times: n, SW: sw})
}

// DropNext drops the connection in the middle of the next exchange (see
// Fault.Drop).
func (c *Card) DropNext() {
	_ = c.Inject(Fault{Times: 1, Drop: true}) // cannot fail: Drop skips the SW check
}

// ClearFaults removes every injected fault. The delay stays; SetDelay(0)
// removes it.
func (c *Card) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// SetDelay makes the card wait d before it processes each APDU, like a slow
// card (an RSA key generation takes seconds). The wait ends early when the
// caller's context does.
func (c *Card) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = max(d, 0)
}

// takeFault returns the first fault matching cmd and counts it; c.mu is held.
func (c *Card) takeFault(cmd apdu.Command) (Fault, bool) {
	for i := range c.faults {
		f := &c.faults[i]
		if f.Match != nil && !f.Match(cmd) {
			continue
		}
		out := f.Fault
		if f.Times > 0 {
			f.left--
			if f.left == 0 {
				c.faults = append(c.faults[:i:i], c.faults[i+1:]...)
			}
		}
		return out, true
	}
	return Fault{}, false
}
