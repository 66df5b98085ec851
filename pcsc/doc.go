// Package pcsc reaches smart cards in PC/SC readers: pcsc-lite's pcscd on
// Linux and the BSDs, the PCSC framework on macOS, the Smart Card service on
// Windows, through github.com/ebfe/scard. It is puce's only cgo package
// (on Linux it needs libpcsclite-dev to build); everything above it talks
// to cards through the apdu.Transport interface, which Card implements, so
// the card clients also run over the in-process virtual card without a
// daemon.
//
// # Readers and cards
//
// Establish connects to the PC/SC service; Context.Readers lists the
// readers and Context.ReaderStates reports their states. Context.WaitForCard,
// Context.WaitForRemoval, Context.WaitForReaders and Context.WaitForChange
// block until something happens in the readers and end as soon as their
// context does: each wait runs on a PC/SC context of its own, which
// SCardCancel interrupts.
//
// Context.Connect connects shared by default, so that other programs on the
// machine (a browser's middleware, an agent) may use the card between our
// operations; ConnectOptions.Exclusive keeps them out for the whole
// connection. Every Card.Transmit is a PC/SC transaction of its own, and
// Card.Transaction holds the card across a sequence that must not be
// interleaved, such as select, verify PIN, sign.
//
// When another program resets the card (SCARD_W_RESET_CARD), the Card
// reconnects once and re-sends the last successful SELECT by AID once, then
// re-sends the interrupted command, unless that command carries a PIN or
// belongs to a longer transaction: those fail with ErrCardReset, because the
// card forgot the PIN verification and the caller must start over.
//
// # Errors
//
// PC/SC return codes become *Error values that match one sentinel with
// errors.Is, whatever the platform: ErrNoReaders, ErrReaderUnavailable,
// ErrNoCard, ErrCardRemoved, ErrCardReset, ErrCardUnresponsive,
// ErrServiceDown, ErrSharingViolation, ErrTimeout, ErrCancelled,
// ErrUnsupported. A context that ends gives ErrCancelled, or ErrTimeout for
// a deadline, with the context's own error in the chain too. Each
// sentinel's message says what to do about it.
//
// After ErrServiceDown (pcscd stopped or restarted) a Context is dead:
// Establish a new one, and connect again. Context.WaitForReaders alone waits
// through a restart by itself.
//
// # PIN pad readers
//
// Card.Features lists a reader's PC/SC part 10 features
// (CM_IOCTL_GET_FEATURE_REQUEST). Card.VerifyPINDirect has the holder type
// the PIN on the reader (FEATURE_VERIFY_PIN_DIRECT), described by a PINPad:
// the reader fills it into a VERIFY template and the PIN never reaches the
// host, so this package never sees, holds or logs it.
//
// # Testing without hardware
//
// pcsc/virtual attaches a virtual card to pcscd through the vsmartcard vpcd
// driver (reader "Virtual PCD 00 00"); make test starts pcscd with that
// driver and sets PUCE_PCSCD=1 for the integration tests here.
package pcsc
