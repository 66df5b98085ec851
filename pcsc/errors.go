package pcsc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ebfe/scard"
)

// Sentinel errors for the conditions callers branch on. Every error this
// package returns for a PC/SC failure is an *Error whose Kind is one of
// these (or nil for codes nobody branches on), so errors.Is(err, ErrNoCard)
// works whatever the platform's code was.
var (
	// ErrNoReaders: no smart card reader is connected (or the PC/SC service
	// knows none). Plug in a reader; Context.WaitForReaders waits for one.
	ErrNoReaders = errors.New("pcsc: no smart card reader found: connect a reader")
	// ErrReaderUnavailable: the named reader is not known, or was unplugged.
	// List the readers again and pick one that is there.
	ErrReaderUnavailable = errors.New("pcsc: reader unplugged or unknown: list the readers again")
	// ErrNoCard: the reader holds no card. Insert the card; Context.WaitForCard
	// waits for it.
	ErrNoCard = errors.New("pcsc: no card in the reader: insert the card")
	// ErrCardRemoved: the card was pulled out while it was in use. Its
	// volatile state (selected application, PIN verified) is gone: insert it
	// again, connect again and start the operation over.
	ErrCardRemoved = errors.New("pcsc: card removed: put the card back and start the operation again")
	// ErrCardReset: another program reset the card. Card reconnects and
	// re-selects the application once by itself; an error matching this means
	// that was impossible or unsafe (inside a transaction, or a PIN command):
	// start the operation again, verifying the PIN again.
	ErrCardReset = errors.New("pcsc: card reset by another program: start the operation again (the PIN must be verified again)")
	// ErrCardUnresponsive: the card is mute, unpowered or not a smart card the
	// reader can talk to. Take it out, check its orientation, insert it again.
	ErrCardUnresponsive = errors.New("pcsc: card does not respond: take it out and insert it again, or try another card")
	// ErrServiceDown: the PC/SC service is not running, or stopped while in
	// use. Start it (pcscd on Linux, the Smart Card service on Windows),
	// then Establish a new Context; the old one cannot recover.
	ErrServiceDown = errors.New("pcsc: PC/SC service not running: start pcscd (Linux) or the Smart Card service (Windows), then establish a new context")
	// ErrSharingViolation: another program holds the card exclusively, or
	// holds it at all when exclusive access was asked for. Close the other
	// program, or connect shared.
	ErrSharingViolation = errors.New("pcsc: card in use by another program: close it, or connect in shared mode")
	// ErrTimeout: the operation did not finish in time (the context's
	// deadline, or the reader's own timeout, such as a PIN pad left alone).
	// Try again, allowing more time.
	ErrTimeout = errors.New("pcsc: timed out: try again, allowing more time")
	// ErrCancelled: the context was cancelled, or the user cancelled on the
	// reader's PIN pad. Nothing is left half done on the host side.
	ErrCancelled = errors.New("pcsc: cancelled")
	// ErrUnsupported: the reader lacks the feature asked for, such as a PIN
	// pad. Fall back (ask for the PIN on the host) or use another reader.
	ErrUnsupported = errors.New("pcsc: the reader does not support this feature")
	// ErrClosed: the Context or Card was closed. Establish or connect again.
	ErrClosed = errors.New("pcsc: use of a closed context or card")
)

// Error is a PC/SC failure: the operation, the reader, the platform's
// SCARD_* code and the sentinel it maps to. errors.Is matches Kind;
// errors.As gives the code for logs and bug reports.
type Error struct {
	// Op is the PC/SC operation that failed ("connect", "transmit", …).
	Op string
	// Reader names the reader, when the operation concerned one.
	Reader string
	// Code is the SCARD_E_*, SCARD_W_* or SCARD_F_* value returned.
	Code uint32
	// Kind is the sentinel Code maps to, nil when none fits.
	Kind error
}

func (e *Error) Error() string {
	what := "failed"
	if e.Kind != nil {
		what = strings.TrimPrefix(e.Kind.Error(), "pcsc: ")
	}
	where := e.Op
	if e.Reader != "" {
		where = fmt.Sprintf("%s on %q", e.Op, e.Reader)
	}
	if e.Code == 0 {
		return fmt.Sprintf("pcsc: %s: %s", where, what)
	}
	return fmt.Sprintf("pcsc: %s: %s [%s 0x%08X]", where, what, codeName(e.Code), e.Code)
}

// Unwrap gives Kind, so errors.Is(err, ErrNoCard) works.
func (e *Error) Unwrap() error { return e.Kind }

// kindOf maps a PC/SC return code to a sentinel. The codes are the same
// numbers on pcsc-lite, macOS and Windows (they come from the Windows API).
func kindOf(code scard.Error) error {
	switch code {
	case scard.ErrNoReadersAvailable:
		return ErrNoReaders
	case scard.ErrUnknownReader, scard.ErrReaderUnavailable:
		return ErrReaderUnavailable
	case scard.ErrNoSmartcard:
		return ErrNoCard
	case scard.ErrRemovedCard:
		return ErrCardRemoved
	case scard.ErrResetCard:
		return ErrCardReset
	case scard.ErrUnresponsiveCard, scard.ErrUnpoweredCard, scard.ErrUnsupportedCard, scard.ErrInvalidAtr:
		return ErrCardUnresponsive
	// SCARD_F_COMM_ERROR is what pcsc-lite's client returns when the
	// daemon's socket breaks mid-call; SCARD_E_NO_SERVICE when it cannot be
	// reached; SCARD_E_SERVICE_STOPPED and SCARD_E_SYSTEM_CANCELLED on Windows
	// when the service or the session goes away.
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError, scard.ErrSystemCancelled, scard.ErrShutdown:
		return ErrServiceDown
	case scard.ErrSharingViolation:
		return ErrSharingViolation
	case scard.ErrTimeout:
		return ErrTimeout
	case scard.ErrCancelled, scard.ErrCancelledByUser:
		return ErrCancelled
	// SCARD_E_UNSUPPORTED_FEATURE and SCARD_E_UNEXPECTED share a value.
	case scard.ErrUnsupportedFeature, scard.ErrReaderUnsupported:
		return ErrUnsupported
	}
	return nil
}

// wrap turns an error from ebfe/scard into an *Error; other errors pass
// through with the operation named.
func wrap(op, reader string, err error) error {
	if err == nil {
		return nil
	}
	var code scard.Error
	if errors.As(err, &code) {
		return &Error{Op: op, Reader: reader, Code: uint32(code), Kind: kindOf(code)}
	}
	if reader != "" {
		return fmt.Errorf("pcsc: %s on %q: %w", op, reader, err)
	}
	return fmt.Errorf("pcsc: %s: %w", op, err)
}

// ctxErr reports why ctx ended, matching ErrTimeout for a deadline and
// ErrCancelled otherwise, with ctx.Err() (and its cause) in the chain too.
func ctxErr(ctx context.Context, op string) error {
	kind := ErrCancelled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		kind = ErrTimeout
	}
	return fmt.Errorf("pcsc: %s: %w (%w)", op, kind, context.Cause(ctx))
}

// codeName names the common PC/SC codes for messages.
func codeName(code uint32) string {
	switch scard.Error(code) {
	case scard.ErrSuccess:
		return "SCARD_S_SUCCESS"
	case scard.ErrInternalError:
		return "SCARD_F_INTERNAL_ERROR"
	case scard.ErrCancelled:
		return "SCARD_E_CANCELLED"
	case scard.ErrInvalidHandle:
		return "SCARD_E_INVALID_HANDLE"
	case scard.ErrInvalidParameter:
		return "SCARD_E_INVALID_PARAMETER"
	case scard.ErrInvalidValue:
		return "SCARD_E_INVALID_VALUE"
	case scard.ErrInsufficientBuffer:
		return "SCARD_E_INSUFFICIENT_BUFFER"
	case scard.ErrUnknownReader:
		return "SCARD_E_UNKNOWN_READER"
	case scard.ErrTimeout:
		return "SCARD_E_TIMEOUT"
	case scard.ErrSharingViolation:
		return "SCARD_E_SHARING_VIOLATION"
	case scard.ErrNoSmartcard:
		return "SCARD_E_NO_SMARTCARD"
	case scard.ErrProtoMismatch:
		return "SCARD_E_PROTO_MISMATCH"
	case scard.ErrNotReady:
		return "SCARD_E_NOT_READY"
	case scard.ErrSystemCancelled:
		return "SCARD_E_SYSTEM_CANCELLED"
	case scard.ErrCommError:
		return "SCARD_F_COMM_ERROR"
	case scard.ErrUnknownError:
		return "SCARD_F_UNKNOWN_ERROR"
	case scard.ErrInvalidAtr:
		return "SCARD_E_INVALID_ATR"
	case scard.ErrNotTransacted:
		return "SCARD_E_NOT_TRANSACTED"
	case scard.ErrReaderUnavailable:
		return "SCARD_E_READER_UNAVAILABLE"
	case scard.ErrShutdown:
		return "SCARD_P_SHUTDOWN"
	case scard.ErrReaderUnsupported:
		return "SCARD_E_READER_UNSUPPORTED"
	case scard.ErrNoService:
		return "SCARD_E_NO_SERVICE"
	case scard.ErrServiceStopped:
		return "SCARD_E_SERVICE_STOPPED"
	case scard.ErrUnsupportedFeature:
		return "SCARD_E_UNSUPPORTED_FEATURE"
	case scard.ErrNoReadersAvailable:
		return "SCARD_E_NO_READERS_AVAILABLE"
	case scard.ErrUnsupportedCard:
		return "SCARD_W_UNSUPPORTED_CARD"
	case scard.ErrUnresponsiveCard:
		return "SCARD_W_UNRESPONSIVE_CARD"
	case scard.ErrUnpoweredCard:
		return "SCARD_W_UNPOWERED_CARD"
	case scard.ErrResetCard:
		return "SCARD_W_RESET_CARD"
	case scard.ErrRemovedCard:
		return "SCARD_W_REMOVED_CARD"
	case scard.ErrCancelledByUser:
		return "SCARD_W_CANCELLED_BY_USER"
	}
	return "SCARD code"
}
