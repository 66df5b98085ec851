package apdu

import (
	"errors"
	"fmt"
)

// Status words of ISO/IEC 7816-4 §5.6 that puce produces or branches on.
const (
	SWOK                     uint16 = 0x9000 // normal processing
	SWWrongLength            uint16 = 0x6700 // wrong length (Lc or Le)
	SWLastCommandExpected    uint16 = 0x6883 // last command of the chain expected
	SWChainingNotSupported   uint16 = 0x6884 // command chaining not supported
	SWSecurityStatus         uint16 = 0x6982 // security status not satisfied
	SWBlocked                uint16 = 0x6983 // authentication method blocked
	SWConditions             uint16 = 0x6985 // conditions of use not satisfied
	SWSMMissing              uint16 = 0x6987 // expected secure messaging data objects missing
	SWSMIncorrect            uint16 = 0x6988 // incorrect secure messaging data objects
	SWWrongData              uint16 = 0x6A80 // incorrect parameters in the data field
	SWFuncNotSupported       uint16 = 0x6A81 // function not supported
	SWFileNotFound           uint16 = 0x6A82 // file or application not found
	SWRecordNotFound         uint16 = 0x6A83 // record not found
	SWNotEnoughMemory        uint16 = 0x6A84 // not enough memory space in the file
	SWWrongP1P2              uint16 = 0x6A86 // incorrect parameters P1-P2
	SWReferencedDataNotFound uint16 = 0x6A88 // referenced data or reference data not found
	SWWrongParameters        uint16 = 0x6B00 // wrong parameters P1-P2
	SWINSNotSupported        uint16 = 0x6D00 // instruction code not supported or invalid
	SWCLANotSupported        uint16 = 0x6E00 // class not supported
	SWNoPreciseDiagnosis     uint16 = 0x6F00 // no precise diagnosis
	SWChannelNotSupported    uint16 = 0x6881 // logical channel not supported
)

// Sentinel errors for the status words callers branch on. Errors returned for a
// status word are *StatusError (or *WrongPINError) values that match these with
// errors.Is; never compare messages.
var (
	// ErrWrongPIN: the card refused the PIN (63Cx). errors.As with a
	// *WrongPINError gives the tries left. Ask the holder again; never retry a
	// PIN automatically, each attempt burns a try.
	ErrWrongPIN = errors.New("apdu: wrong PIN")
	// ErrBlocked: the PIN (or key) is blocked (6983, or 63C0). Unblock it with
	// the PUK (RESET RETRY COUNTER) or have the card reissued.
	ErrBlocked = errors.New("apdu: authentication method blocked")
	// ErrSecurityStatus: the command needs a PIN verification or an
	// authentication that has not happened in this session (6982). Verify the
	// PIN or authenticate first.
	ErrSecurityStatus = errors.New("apdu: security status not satisfied")
	// ErrNotFound: the application, file, key or data object is not on the card
	// (6A82, 6A83, 6A88). Check the AID or object ID, or personalise the card.
	ErrNotFound = errors.New("apdu: not found")
	// ErrWrongData: the card rejected the command's data field (6A80). Check the
	// data encoding for this card.
	ErrWrongData = errors.New("apdu: incorrect data")
	// ErrINSNotSupported: the card does not know the instruction (6D00). Fall
	// back to a standard instruction; vendor extras are optional.
	ErrINSNotSupported = errors.New("apdu: instruction not supported")
	// ErrCLANotSupported: the card refused the class byte (6E00): a logical
	// channel, secure messaging or chaining it does not support.
	ErrCLANotSupported = errors.New("apdu: class not supported")
	// ErrWrongLength: Lc or Le does not suit the card (6700). Use chaining
	// instead of extended length, or ask for less data.
	ErrWrongLength = errors.New("apdu: wrong length")
	// ErrConditions: the card is not in a state to run the command (6985):
	// select the application or finish the preceding step first.
	ErrConditions = errors.New("apdu: conditions of use not satisfied")
	// ErrWrongP1P2: the parameters P1-P2 are wrong (6A86, 6B00), for example an
	// unknown key reference or an offset beyond the end of a file.
	ErrWrongP1P2 = errors.New("apdu: incorrect parameters P1-P2")
	// ErrSecureMessaging: the card rejected or missed the secure messaging
	// objects (6987, 6988); the session keys are no longer shared. Open a new
	// secure channel.
	ErrSecureMessaging = errors.New("apdu: secure messaging failed")
)

// StatusError is a status word other than 9000 returned by the card. It
// matches the sentinel of its class with errors.Is (ErrNotFound for 6A82, …)
// and any *StatusError with the same SW.
type StatusError struct {
	SW uint16
}

// StatusErr returns nil for 9000, a *WrongPINError for 63Cx and a *StatusError
// for every other status word.
func StatusErr(sw uint16) error {
	switch {
	case sw == SWOK:
		return nil
	case sw&0xFFF0 == 0x63C0:
		return &WrongPINError{TriesLeft: int(sw & 0x000F)}
	}
	return &StatusError{SW: sw}
}

func (e *StatusError) Error() string {
	if hint := statusHint(e.SW); hint != "" {
		return fmt.Sprintf("apdu: card answered %04X: %s", e.SW, hint)
	}
	return fmt.Sprintf("apdu: card answered %04X", e.SW)
}

// Is matches the sentinel of the status word's class, and a *StatusError
// target with the same SW.
func (e *StatusError) Is(target error) bool {
	if t, ok := target.(*StatusError); ok {
		return t.SW == e.SW
	}
	if target == ErrWrongPIN && e.SW&0xFFF0 == 0x63C0 {
		return true
	}
	if target == ErrBlocked && e.SW == 0x63C0 {
		return true
	}
	s := sentinel(e.SW)
	return s != nil && s == target
}

func sentinel(sw uint16) error {
	switch sw {
	case SWBlocked:
		return ErrBlocked
	case SWSecurityStatus:
		return ErrSecurityStatus
	case SWFileNotFound, SWRecordNotFound, SWReferencedDataNotFound:
		return ErrNotFound
	case SWWrongData:
		return ErrWrongData
	case SWINSNotSupported:
		return ErrINSNotSupported
	case SWCLANotSupported:
		return ErrCLANotSupported
	case SWWrongLength:
		return ErrWrongLength
	case SWConditions:
		return ErrConditions
	case SWWrongP1P2, SWWrongParameters:
		return ErrWrongP1P2
	case SWSMMissing, SWSMIncorrect:
		return ErrSecureMessaging
	}
	return nil
}

// statusHint says what the status means and what to do about it.
func statusHint(sw uint16) string {
	switch sw {
	case SWWrongLength:
		return "wrong length: the card refused Lc or Le; use command chaining instead of extended length, or ask for less"
	case SWLastCommandExpected:
		return "last command of the chain expected: finish or restart the chained command"
	case SWChainingNotSupported:
		return "command chaining not supported: send the data in one extended-length APDU"
	case SWSecurityStatus:
		return "security status not satisfied: verify the PIN or authenticate first"
	case SWBlocked:
		return "authentication method blocked: unblock with the PUK or have the card reissued"
	case SWConditions:
		return "conditions of use not satisfied: select the application or finish the preceding step first"
	case SWSMMissing, SWSMIncorrect:
		return "secure messaging failed: open a new secure channel"
	case SWWrongData:
		return "incorrect data field: check the command data for this card"
	case SWFuncNotSupported:
		return "function not supported by this card"
	case SWFileNotFound:
		return "file or application not found: check the AID or file ID"
	case SWRecordNotFound:
		return "record not found"
	case SWNotEnoughMemory:
		return "not enough memory on the card"
	case SWReferencedDataNotFound:
		return "referenced data not found: the key or data object is not on the card"
	case SWWrongP1P2, SWWrongParameters:
		return "incorrect parameters P1-P2: check the key reference or offset"
	case SWINSNotSupported:
		return "instruction not supported: the card lacks this feature, fall back to a standard command"
	case SWCLANotSupported:
		return "class not supported: the card refused the logical channel, secure messaging or chaining"
	case SWChannelNotSupported:
		return "logical channel not supported: use the basic channel"
	case SWNoPreciseDiagnosis:
		return "no precise diagnosis: the card failed internally"
	}
	switch byte(sw >> 8) {
	case 0x61:
		return "more data available: fetch it with GET RESPONSE (Client does this)"
	case 0x6C:
		return "wrong Le: send again with Le = SW2 (Client does this)"
	case 0x62, 0x63:
		return "warning: the command completed with a warning"
	case 0x64, 0x65:
		return "execution error: the card state may have changed"
	}
	return ""
}

// WrongPINError is the card's answer 63Cx to a PIN verification: the PIN was
// wrong (or, for an empty VERIFY, not yet verified) and TriesLeft attempts
// remain. It matches ErrWrongPIN, and also ErrBlocked when no try is left;
// errors.As reaches the underlying *StatusError.
type WrongPINError struct {
	TriesLeft int
}

func (e *WrongPINError) Error() string {
	if e.TriesLeft == 0 {
		return "apdu: card answered 63C0: wrong PIN, no tries left: the PIN is now blocked, unblock it with the PUK"
	}
	return fmt.Sprintf("apdu: card answered 63C%X: wrong PIN, %d tries left: ask the holder again (never retry a PIN automatically)",
		e.TriesLeft&0xF, e.TriesLeft)
}

// Is matches ErrWrongPIN, and ErrBlocked when TriesLeft is 0.
func (e *WrongPINError) Is(target error) bool {
	return target == ErrWrongPIN || (target == ErrBlocked && e.TriesLeft == 0)
}

// Unwrap gives the status word as a *StatusError.
func (e *WrongPINError) Unwrap() error {
	return &StatusError{SW: 0x63C0 | uint16(e.TriesLeft&0xF)}
}

// StatusWord returns the status word an error stands for, so that a card
// implementation (such as a pcsc/virtual applet) can return errors: the SW of
// a *StatusError (or *WrongPINError) anywhere in err's chain, or the canonical
// status word of a sentinel (ErrNotFound gives 6A82, ErrWrongP1P2 6A86, …).
// It reports false for nil and for errors that stand for no status word.
func StatusWord(err error) (uint16, bool) {
	if err == nil {
		return 0, false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.SW, true
	}
	for _, s := range [...]struct {
		err error
		sw  uint16
	}{
		{ErrBlocked, SWBlocked},
		{ErrWrongPIN, 0x63C0},
		{ErrSecurityStatus, SWSecurityStatus},
		{ErrNotFound, SWFileNotFound},
		{ErrWrongData, SWWrongData},
		{ErrINSNotSupported, SWINSNotSupported},
		{ErrCLANotSupported, SWCLANotSupported},
		{ErrWrongLength, SWWrongLength},
		{ErrConditions, SWConditions},
		{ErrWrongP1P2, SWWrongP1P2},
		{ErrSecureMessaging, SWSMIncorrect},
	} {
		if errors.Is(err, s.err) {
			return s.sw, true
		}
	}
	return 0, false
}
