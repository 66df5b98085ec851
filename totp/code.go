package totp

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// parseCode checks a code as the user typed it: exactly 6 or 8 bytes, each an
// ASCII digit. Nothing is trimmed or converted: a space, a letter, a
// full-width or Arabic-Indic digit is a typo the user should see, not one we
// guess at. The error does not quote the input.
func parseCode(b []byte) ([]byte, error) {
	if len(b) != 6 && len(b) != 8 {
		return nil, fmt.Errorf("%w: want 6 or 8 digits, got %d bytes", ErrMalformedCode, len(b))
	}
	for i, c := range b {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: character %d is not an ASCII digit", ErrMalformedCode, i+1)
		}
	}
	return b, nil
}

// step returns the RFC 6238 §4.2 time step T = floor((now - T0) / X) with
// T0 = 0 (the Unix epoch). ok is false before T0, where no step exists.
func (p params) step(now time.Time) (t uint64, ok bool) {
	u := now.Unix()
	if u < 0 {
		return 0, false
	}
	return uint64(u) / p.period, true
}

// match looks for code among the time steps of the window around now and
// returns the step it belongs to. last is the credential's Counter: the last
// accepted step plus one, zero when none was accepted (see Factor.Finish).
//
// The window is walked step by step — T, T-1, T+1, T-2, T+2, ... — because
// which step matched decides replay (RFC 6238 §5.2: a code, once accepted,
// is never accepted again); pquerna's Validate only says yes or no. The
// current step comes first because that is where nearly every honest code
// falls. Each comparison is constant-time, and a wrong code is compared with
// every step of the window, so its timing says nothing about how close it
// was. Only a code that matches a step already accepted (or an older one)
// makes replayed true.
func (p params) match(secret, code []byte, now time.Time, skew int, last uint64) (step uint64, ok, replayed bool, err error) {
	t, ok := p.step(now)
	if !ok || len(code) != p.digits {
		return 0, false, false, nil
	}
	alg, _ := p.alg.otp()
	opts := hotp.ValidateOpts{Digits: otp.Digits(p.digits), Algorithm: alg}
	key := b32.EncodeToString(secret)
	for i := 0; i <= 2*skew; i++ {
		d := uint64(i+1) / 2
		s := t + d
		if i%2 == 1 {
			if t < d {
				continue // before T0
			}
			s = t - d
		}
		want, err := hotp.GenerateCodeCustom(key, s, opts)
		if err != nil {
			return 0, false, false, fmt.Errorf("totp: compute code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), code) == 1 {
			if s >= last { // s+1 > last, without overflow
				return s, true, false, nil
			}
			replayed = true
		}
	}
	return 0, false, replayed, nil
}
