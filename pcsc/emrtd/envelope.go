package emrtd

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EnvelopeFormat names the format of an Envelope.
const EnvelopeFormat = "puce-disclosure:1"

// MaxEnvelope bounds an envelope's encoding: EF.SOD, the MRZ and a face
// image of a real document are tens of kilobytes, in base64.
const MaxEnvelope = 1 << 20

var (
	// ErrEnvelope: the bytes are not an envelope of EnvelopeFormat
	// (not JSON, another format, no disclosure, or over MaxEnvelope).
	ErrEnvelope = fmt.Errorf("%w: not a disclosure envelope", ErrMalformed)
	// ErrWrongExchange: the envelope answers another site or another
	// challenge than the receiver's: a disclosure made for someone else,
	// or replayed.
	ErrWrongExchange = errors.New("emrtd: the disclosure answers another site or challenge")
	// ErrExpired: the document's date of expiry (DG1) has passed.
	ErrExpired = errors.New("emrtd: the document has expired")
)

// Envelope is a Disclosure as the holder's side sends it to a receiver:
// with the origin the holder saw when choosing what to disclose and the
// receiver's single-use nonce it answers, from which the chip's challenge
// is derived (DisclosureChallenge). It marshals to JSON as {"format",
// "origin", "nonce", "disclosure"}.
type Envelope struct {
	Format     string      `json:"format"`
	Origin     string      `json:"origin"`
	Nonce      string      `json:"nonce"`
	Disclosure *Disclosure `json:"disclosure"`
}

// NewEnvelope wraps the holder's disclosure d for the receiver at origin
// that issued nonce.
func NewEnvelope(origin, nonce string, d *Disclosure) *Envelope {
	return &Envelope{Format: EnvelopeFormat, Origin: origin, Nonce: nonce, Disclosure: d}
}

// ParseEnvelope decodes an envelope a holder's side sent; anything else is
// ErrEnvelope.
func ParseEnvelope(data []byte) (*Envelope, error) {
	if len(data) == 0 || len(data) > MaxEnvelope {
		return nil, fmt.Errorf("%w: %d bytes", ErrEnvelope, len(data))
	}
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	if env.Format != EnvelopeFormat || env.Disclosure == nil {
		return nil, fmt.Errorf("%w: format %q", ErrEnvelope, env.Format)
	}
	return &env, nil
}

// VerifyEnvelope is the receiver's whole check of a holder's answer to its
// request, in one call, so that none of it is left to the application:
//   - data is an envelope (ParseEnvelope) for this receiver's origin and
//     the nonce it issued, compared in constant time (ErrWrongExchange);
//   - VerifyDisclosure with opts, its challenge derived here from origin
//     and nonce (whatever opts.Challenge held), so that a chip's proof
//     made for another exchange fails;
//   - the document is in force at opts.Time (zero: now): DG1 is required
//     for that, and its date of expiry must not have passed (ErrExpired).
//
// The nonce must be single-use and bound to the account the disclosure
// is for: an identity.Challenge's payload, consumed before this call,
// serves.
func VerifyEnvelope(data []byte, origin, nonce string, opts DisclosureOptions) (*Record, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(env.Nonce), []byte(nonce)) != 1 || env.Origin != origin {
		return nil, ErrWrongExchange
	}
	opts.Challenge = DisclosureChallenge(origin, nonce)
	rec, err := VerifyDisclosure(env.Disclosure, opts)
	if err != nil {
		return nil, err
	}
	if rec.MRZ == nil {
		return nil, &DataGroupError{DG: DG1, Err: ErrMissingDataGroup}
	}
	now := opts.Time
	if now.IsZero() {
		now = time.Now()
	}
	expiry, err := rec.MRZ.Expiry(now)
	if err != nil {
		return nil, err
	}
	// The document is valid through its date of expiry; the day is taken
	// in UTC, at most a day's lenience for the issuing state's time zone.
	if !now.Before(expiry.AddDate(0, 0, 1)) {
		return nil, fmt.Errorf("%w: on %s", ErrExpired, expiry.Format(time.DateOnly))
	}
	return rec, nil
}

// Expiry is the MRZ's date of expiry (YYMMDD) as a date in UTC. The MRZ
// gives two digits of the year (ICAO 9303-3 §4.7, 9303-4 and -5): the
// century is the one that puts the date within 50 years of now, which a
// document valid for at most a few decades never leaves.
func (m *MRZ) Expiry(now time.Time) (time.Time, error) {
	t, err := time.Parse("060102", m.DateOfExpiry)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date of expiry %q", ErrMalformed, m.DateOfExpiry)
	}
	for t.Before(now.AddDate(-50, 0, 0)) {
		t = t.AddDate(100, 0, 0)
	}
	for t.After(now.AddDate(50, 0, 0)) {
		t = t.AddDate(-100, 0, 0)
	}
	return t, nil
}
