package pcsc

import (
	"fmt"
	"strings"

	"github.com/ebfe/scard"
)

// StateFlags is a reader's state as SCardGetStatusChange reports it: the
// SCARD_STATE_* bits. pcsc-lite also keeps a count of card events in the
// upper 16 bits; ReaderState.Events gives it, and these methods ignore it.
type StateFlags uint32

// Reader state bits (PC/SC part 5, SCARD_READERSTATE.dwEventState).
const (
	StateChanged     = StateFlags(scard.StateChanged)     // differs from the state the caller knew
	StateUnknown     = StateFlags(scard.StateUnknown)     // the reader is not known
	StateUnavailable = StateFlags(scard.StateUnavailable) // the reader's state cannot be read
	StateEmpty       = StateFlags(scard.StateEmpty)       // no card in the reader
	StatePresent     = StateFlags(scard.StatePresent)     // a card is in the reader
	StateExclusive   = StateFlags(scard.StateExclusive)   // a program holds the card exclusively
	StateInUse       = StateFlags(scard.StateInuse)       // a program is connected to the card
	StateMute        = StateFlags(scard.StateMute)        // the card does not answer reset
	StateUnpowered   = StateFlags(scard.StateUnpowered)   // the card is not powered
)

// stateMask keeps the state bits and drops pcsc-lite's event counter.
const stateMask = 0xFFFF

func (f StateFlags) String() string {
	var names []string
	for _, n := range [...]struct {
		f    StateFlags
		name string
	}{
		{StateChanged, "changed"}, {StateUnknown, "unknown"}, {StateUnavailable, "unavailable"},
		{StateEmpty, "empty"}, {StatePresent, "present"}, {StateExclusive, "exclusive"},
		{StateInUse, "in use"}, {StateMute, "mute"}, {StateUnpowered, "unpowered"},
	} {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("StateFlags(%#x)", uint32(f&stateMask))
	}
	return strings.Join(names, "|")
}

// ReaderState is one reader's state at one moment.
type ReaderState struct {
	// Reader is the reader's name.
	Reader string
	// Flags are the state bits, the event counter included.
	Flags StateFlags
	// ATR is the answer to reset of the card in the reader, if any.
	ATR []byte
}

// CardPresent reports a card in the reader that answered reset: present and
// not mute.
func (s ReaderState) CardPresent() bool {
	return s.Flags&StatePresent != 0 && s.Flags&StateMute == 0
}

// Empty reports a reader with no card.
func (s ReaderState) Empty() bool { return s.Flags&StateEmpty != 0 }

// InUse reports a card that some program (this one included) is connected to.
func (s ReaderState) InUse() bool { return s.Flags&StateInUse != 0 }

// Exclusive reports a card that some program holds exclusively.
func (s ReaderState) Exclusive() bool { return s.Flags&StateExclusive != 0 }

// Gone reports a reader that is no longer there (unplugged, or not known).
func (s ReaderState) Gone() bool { return s.Flags&(StateUnknown|StateUnavailable) != 0 }

// Events is pcsc-lite's count of card insertions and removals in this
// reader (the upper 16 bits of the state). It lets a caller notice that a
// card was swapped between two looks. Other platforms report 0.
func (s ReaderState) Events() int { return int(uint32(s.Flags) >> 16) }

func (s ReaderState) String() string {
	if len(s.ATR) > 0 {
		return fmt.Sprintf("%q: %v, ATR % X", s.Reader, s.Flags&stateMask, s.ATR)
	}
	return fmt.Sprintf("%q: %v", s.Reader, s.Flags&stateMask)
}
