//go:build !cgo

package agent

import (
	"context"
	"errors"

	"github.com/puce-id/puce/pcsc/apdu"
)

// PCSCAvailable reports whether this build can reach PC/SC readers: not
// without cgo, which the PC/SC library needs. The in-process test card
// still works.
const PCSCAvailable = false

// PCSC is unavailable in a build without cgo.
type PCSC struct{ Reader string }

var errNoCgo = errors.New("this card agent was built without cgo and cannot reach PC/SC readers: rebuild with CGO_ENABLED=1 (Linux: apt install libpcsclite-dev)")

// Do implements Source by failing.
func (p *PCSC) Do(context.Context, func(context.Context, apdu.Transport) error) error {
	return errNoCgo
}

// Describe implements Source.
func (p *PCSC) Describe() string { return "PC/SC (unavailable: built without cgo)" }

// Close does nothing.
func (p *PCSC) Close() error { return nil }

func cardHint(err error) string {
	if errors.Is(err, errNoCgo) {
		return "this card agent was built without PC/SC and cannot reach card readers"
	}
	return errCardHint
}

// cardAbsent: without PC/SC no card comes later.
func cardAbsent(error) bool { return false }

// pinPadAgain: no PIN pad without PC/SC.
func pinPadAgain(error) string { return "" }
