package cardauth

// The card holder's side, as library calls: what a card agent (or any
// program beside the reader) runs once the holder has agreed and typed the
// PIN. Each call takes an open card (an apdu.Transport: a pcsc.Tx, or the
// virtual card in-process), selects the PIV application itself, and never
// keeps, logs or retries the PIN: a wrong one ends the call with the card's
// tries left (*apdu.WrongPINError).

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
)

// PIN is how the holder gives the card's PIN for one operation: typed on
// the host (Value), or on the reader's PIN pad (PINPad), so that it never
// reaches the host. It prints and logs as "[PIN]" whatever it holds.
type PIN struct {
	// Value is the PIN the holder typed; ignored with PINPad.
	Value string
	// PINPad has the holder type the PIN on the reader's keys. The
	// transport must have a PIN pad (piv.Card.HasPINPad); otherwise the
	// call fails with an error matching apdu.ErrNoPINPad.
	PINPad bool
	// PINPadTimeout bounds the entry on the PIN pad; 0 lets the reader
	// choose.
	PINPadTimeout time.Duration
	// AllowLastTry lets the call spend the PIN's last try. Set it only
	// once the holder has been told that a wrong PIN now blocks the card;
	// otherwise, with one try left, the call fails with piv.ErrLastTry
	// and spends nothing.
	AllowLastTry bool
}

// String hides the PIN from fmt.
func (PIN) String() string { return "[PIN]" }

// GoString hides the PIN from %#v.
func (PIN) GoString() string { return "[PIN]" }

// LogValue hides the PIN from log/slog.
func (PIN) LogValue() slog.Value { return slog.StringValue("[PIN]") }

// given refuses an empty PIN before the card sees it: an empty VERIFY would
// only ask the card for its state, and a PIN of nothing is a holder's
// mistake, not a try to spend.
func (p PIN) given() error {
	if !p.PINPad && p.Value == "" {
		return fmt.Errorf("cardauth: %w", piv.ErrPINRequired)
	}
	return nil
}

// verify presents the PIN to the card once, the way the holder chose.
func (p PIN) verify(ctx context.Context, card *piv.Card) error {
	opts := &piv.VerifyOptions{AllowLastTry: p.AllowLastTry}
	if p.PINPad {
		return card.VerifyPINPad(ctx, p.PINPadTimeout, opts)
	}
	return card.VerifyPIN(ctx, p.Value, opts)
}

// signerOptions give the PIN to a slot that asks it for every signature
// (9C). The function hands over the Value it holds, once per signature.
func (p PIN) signerOptions() *piv.SignerOptions {
	v := p.Value
	return &piv.SignerOptions{
		PIN:           func(context.Context) (string, error) { return v, nil },
		PINPad:        p.PINPad,
		PINPadTimeout: p.PINPadTimeout,
		AllowLastTry:  p.AllowLastTry,
	}
}

// LoginToken is the holder's half of a card login in one call: select the
// PIV application on the card behind t, read the authentication
// certificate (slot 9A), verify the PIN, and sign origin and nonce with
// key 9A into a Web eID token (NewToken), ready to go into a JSON body as
// it is. origin is the page's origin as the browser reported it, nonce the
// server's challenge (its Payload).
//
// The PIN is verified for every call, not once per card session: each
// site's request gets the holder's own consent. A wrong PIN fails with an
// error matching apdu.ErrWrongPIN whose *apdu.WrongPINError says the tries
// left; a blocked one with apdu.ErrBlocked; an empty one with
// piv.ErrPINRequired; a card without a 9A certificate with apdu.ErrNotFound.
func LoginToken(ctx context.Context, t apdu.Transport, origin, nonce string, pin PIN, opts *TokenOptions) (json.RawMessage, error) {
	if err := pin.given(); err != nil {
		return nil, err
	}
	card, err := piv.Open(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("cardauth: open the card: %w", err)
	}
	cert, err := card.Certificate(ctx, piv.SlotAuthentication)
	if err != nil {
		return nil, fmt.Errorf("cardauth: read the authentication certificate: %w", err)
	}
	defer forget(ctx, card)
	if err := pin.verify(ctx, card); err != nil {
		return nil, fmt.Errorf("cardauth: %w", err)
	}
	signer, err := card.Signer(piv.SlotAuthentication, cert.PublicKey, nil)
	if err != nil {
		return nil, fmt.Errorf("cardauth: %w", err)
	}
	return NewToken(contextSigner{ctx, signer}, cert, origin, nonce, opts)
}

// SigningCertificate reads the e-signature certificate (slot 9C) of the
// card behind t, with no PIN: the certificate a server prepares a signature
// for (esign.Ceremony.Begin) before the holder signs.
func SigningCertificate(ctx context.Context, t apdu.Transport) (*x509.Certificate, error) {
	card, err := piv.Open(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("cardauth: open the card: %w", err)
	}
	cert, err := card.Certificate(ctx, piv.SlotSignature)
	if err != nil {
		return nil, fmt.Errorf("cardauth: read the signing certificate: %w", err)
	}
	return cert, nil
}

// SignDigest is the holder's half of signing a document: the card behind t
// signs digest, the digest of a pending signature's signed attributes
// (esign's challenge payload), with its e-signature key (slot 9C) after
// the PIN, which that key asks before every signature (SP 800-73-4). hash
// names the digest's hash (crypto.SHA256 for esign); RSA keys are padded
// PKCS #1 v1.5, ECDSA signatures are ASN.1 DER, as CMS carries them.
//
// SignDigest signs whatever digest it is given: the holder's side first
// checks what it is the digest of, or any 32 bytes — a payment approval's
// token, say — would be signed. For a PDF, pades.SignOnCard does the check
// and this call in one; for a detached signature, esign.CheckSignedAttributes
// checks the attributes name the document shown, and digest is their
// SHA-256, computed by the holder's side.
//
// want, when not nil, is the certificate the signature was prepared for:
// a card with another 9C certificate (the holder changed cards since) is
// refused with ErrUnknownCard before the PIN is spent. It returns the
// signature and the card's signing certificate. PIN errors are those of
// LoginToken.
func SignDigest(ctx context.Context, t apdu.Transport, digest []byte, hash crypto.Hash, want *x509.Certificate, pin PIN) ([]byte, *x509.Certificate, error) {
	if err := pin.given(); err != nil {
		return nil, nil, err
	}
	if !hash.Available() || len(digest) != hash.Size() {
		return nil, nil, fmt.Errorf("%w: cardauth: a digest of %d bytes for %v", piv.ErrBadInput, len(digest), hash)
	}
	card, err := piv.Open(ctx, t, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("cardauth: open the card: %w", err)
	}
	cert, err := card.Certificate(ctx, piv.SlotSignature)
	if err != nil {
		return nil, nil, fmt.Errorf("cardauth: read the signing certificate: %w", err)
	}
	if want != nil && !want.Equal(cert) {
		return nil, nil, fmt.Errorf("%w: this card's signing certificate is not the one the signature was prepared for", ErrUnknownCard)
	}
	defer forget(ctx, card)
	signer, err := card.Signer(piv.SlotSignature, cert.PublicKey, pin.signerOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("cardauth: %w", err)
	}
	sig, err := signer.SignContext(ctx, digest, hash)
	if err != nil {
		return nil, nil, fmt.Errorf("cardauth: %w", err)
	}
	return sig, cert, nil
}

// contextSigner lets NewToken's crypto.Signer calls keep the caller's
// context, so that a cancelled request stops the card.
type contextSigner struct {
	ctx context.Context
	s   *piv.Signer
}

func (c contextSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c contextSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.s.SignContext(c.ctx, digest, opts)
}

// ApprovalToken is the holder's half of a payment approval in one call:
// the card behind t signs, with its e-signature key (slot 9C, PIN asked for
// this signature), a Web eID token over origin and the ApprovalNonce of
// nonce (ApprovalRequest.Nonce) and tx, the payment decoded from the very
// bytes of the challenge (ParseApprovalRequest) and shown to the holder.
// PIN errors are those of LoginToken.
func ApprovalToken(ctx context.Context, t apdu.Transport, origin, nonce string, tx identity.Transaction, pin PIN) (json.RawMessage, error) {
	if err := pin.given(); err != nil {
		return nil, err
	}
	msg, err := ApprovalNonce(nonce, tx)
	if err != nil {
		return nil, err
	}
	card, err := piv.Open(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("cardauth: open the card: %w", err)
	}
	cert, err := card.Certificate(ctx, piv.SlotSignature)
	if err != nil {
		return nil, fmt.Errorf("cardauth: read the signing certificate: %w", err)
	}
	defer forget(ctx, card)
	signer, err := card.Signer(piv.SlotSignature, cert.PublicKey, pin.signerOptions())
	if err != nil {
		return nil, fmt.Errorf("cardauth: %w", err)
	}
	return NewToken(contextSigner{ctx, signer}, cert, origin, msg, nil)
}

// forget resets the PIN status once the holder's operation is done,
// whatever its outcome (piv.Card.ForgetPIN): the card stays in a shared
// reader, and left verified its 9A key would sign for any program on the
// computer, without the PIN, until the card is reset. It runs even when
// the request was cancelled (a closed tab); a transport that can no longer
// send resets the card instead (pcsc's transactions do). A card that
// refuses the reset (or has gone) has nothing more to tell: the
// operation's own outcome stands.
func forget(ctx context.Context, card *piv.Card) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	_ = card.ForgetPIN(ctx)
}

// forgetTimeout bounds the PIN reset of a cancelled request.
const forgetTimeout = 5 * time.Second
