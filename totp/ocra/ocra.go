// Package ocra computes and checks OCRA responses, the OATH
// challenge-response algorithm of RFC 6287 that the signing tokens banks
// hand out use: the token shows a challenge's answer (or a transaction's
// signature) computed with HMAC over a shared key, a question, and
// optionally a counter, a PIN hash, session data and the time.
//
// An application parses the token's suite once and asks it for the
// response it expects:
//
//	suite, err := ocra.ParseSuite("OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1")
//	ok, err := suite.Verify(key, ocra.Input{Question: "12345678", Counter: 3, PIN: pin}, typed)
//
// Replay protection (advancing the counter or time step) and the sealed
// storage of the key belong to the factor built on this package; this
// package is the algorithm only, checked against the RFC's own vectors
// (Appendix C).
package ocra

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
)

// ErrSuite: an OCRA suite string does not follow RFC 6287 §6. It wraps
// identity.ErrBadInput.
var ErrSuite = fmt.Errorf("%w: ocra: malformed suite", identity.ErrBadInput)

// ErrInput: the input does not fit the suite (a question of the wrong
// format or length, a missing PIN or session, a counter the suite has no
// place for). It wraps identity.ErrBadInput.
var ErrInput = fmt.Errorf("%w: ocra: input does not fit the suite", identity.ErrBadInput)

// Question formats (RFC 6287 §6.3: QFxx, F one of A, N, H).
const (
	Alphanumeric = 'A'
	Numeric      = 'N'
	Hex          = 'H'
)

// Suite is a parsed OCRA suite, "OCRA-1:HOTP-SHA1-6:QN08" for example.
type Suite struct {
	raw string
	// Hash is the HMAC's hash: SHA-1, SHA-256 or SHA-512.
	Hash crypto.Hash
	// Digits is the response's length; 0 means no truncation (the whole
	// HMAC, in hex).
	Digits int
	// Counter: the data input carries an 8-byte counter C.
	Counter bool
	// QuestionFormat is Alphanumeric, Numeric or Hex; QuestionLen the most
	// characters a question may have (4 to 64).
	QuestionFormat byte
	QuestionLen    int
	// PIN is the hash of the PIN in the data input (zero: no PIN).
	PIN crypto.Hash
	// SessionLen is the length in bytes of the session information (zero:
	// none).
	SessionLen int
	// TimeStep is the time step T counts (zero: no time).
	TimeStep time.Duration
}

// ParseSuite parses an OCRA suite: Algorithm:CryptoFunction:DataInput
// (RFC 6287 §6).
func ParseSuite(s string) (*Suite, error) {
	bad := func(why string) (*Suite, error) { return nil, fmt.Errorf("%w %q: %s", ErrSuite, s, why) }
	if len(s) > 128 {
		return bad("longer than 128 bytes")
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return bad("want Algorithm:CryptoFunction:DataInput")
	}
	// §6.1: the only version is 1.
	if parts[0] != "OCRA-1" {
		return bad("algorithm is not OCRA-1")
	}
	su := &Suite{raw: s}
	// §6.2: HOTP-SHAx-t, t in {0, 4..10}.
	cf := strings.Split(parts[1], "-")
	if len(cf) != 3 || cf[0] != "HOTP" {
		return bad("crypto function is not HOTP-SHAx-t")
	}
	var ok bool
	if su.Hash, ok = hashNamed(cf[1]); !ok {
		return bad("hash is not SHA1, SHA256 or SHA512")
	}
	d, err := decimal(cf[2], 2)
	if err != nil || (d != 0 && (d < 4 || d > 10)) {
		return bad("truncation is not 0 or 4 to 10 digits")
	}
	su.Digits = d
	// §6.3: [C] | QFxx | [PH | Snnn | TG], in that order, each at most once.
	fields := strings.Split(parts[2], "-")
	i := 0
	if fields[0] == "C" {
		su.Counter = true
		i++
	}
	if i >= len(fields) || len(fields[i]) != 4 || fields[i][0] != 'Q' {
		return bad("data input has no question QFxx")
	}
	su.QuestionFormat = fields[i][1]
	if su.QuestionFormat != Alphanumeric && su.QuestionFormat != Numeric && su.QuestionFormat != Hex {
		return bad("question format is not A, N or H")
	}
	if su.QuestionLen, err = decimal(fields[i][2:], 2); err != nil || su.QuestionLen < 4 || su.QuestionLen > 64 {
		return bad("question length is not 04 to 64")
	}
	i++
	order := 0 // P, then S, then T
	for ; i < len(fields); i++ {
		f := fields[i]
		switch {
		case strings.HasPrefix(f, "P") && order < 1:
			if su.PIN, ok = hashNamed(f[1:]); !ok {
				return bad("PIN hash is not SHA1, SHA256 or SHA512")
			}
			order = 1
		case strings.HasPrefix(f, "S") && order < 2:
			// Snnn: nnn bytes of session information; the RFC's examples
			// run from S064 to S512.
			n, err := decimal(f[1:], 3)
			if err != nil || len(f) != 4 || n < 1 || n > 512 {
				return bad("session length is not 001 to 512")
			}
			su.SessionLen, order = n, 2
		case strings.HasPrefix(f, "T") && order < 3:
			step, err := timeStep(f[1:])
			if err != nil {
				return bad(err.Error())
			}
			su.TimeStep, order = step, 3
		default:
			return bad("unknown or repeated data input " + strconv.Quote(f))
		}
	}
	return su, nil
}

// timeStep parses G of TG: [1-59]S, [1-59]M or [1-48]H (§6.3; the RFC's
// range for hours starts at 0, but a zero step counts nothing).
func timeStep(g string) (time.Duration, error) {
	if len(g) < 2 || len(g) > 3 {
		return 0, errors.New("time step is not nS, nM or nH")
	}
	n, err := decimal(g[:len(g)-1], 2)
	if err != nil {
		return 0, errors.New("time step is not a number")
	}
	switch unit := g[len(g)-1]; {
	case unit == 'S' && n >= 1 && n <= 59:
		return time.Duration(n) * time.Second, nil
	case unit == 'M' && n >= 1 && n <= 59:
		return time.Duration(n) * time.Minute, nil
	case unit == 'H' && n >= 1 && n <= 48:
		return time.Duration(n) * time.Hour, nil
	}
	return 0, errors.New("time step out of range (1-59S, 1-59M, 1-48H)")
}

// decimal parses 1 to max ASCII digits.
func decimal(s string, max int) (int, error) {
	if s == "" || len(s) > max || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

func hashNamed(name string) (crypto.Hash, bool) {
	switch name {
	case "SHA1":
		return crypto.SHA1, true
	case "SHA256":
		return crypto.SHA256, true
	case "SHA512":
		return crypto.SHA512, true
	}
	return 0, false
}

func newHash(h crypto.Hash) func() hash.Hash {
	switch h {
	case crypto.SHA1:
		return sha1.New
	case crypto.SHA256:
		return sha256.New
	}
	return sha512.New
}

// String is the suite as parsed.
func (s *Suite) String() string { return s.raw }

// Input is what one response is computed over; the suite says which fields
// count.
type Input struct {
	// Counter is C, for suites with a counter.
	Counter uint64
	// Question is the challenge as the token shows or takes it: decimal
	// digits, hex digits or printable characters, per the suite's format,
	// at most QuestionLen of them.
	Question string
	// Mutual: Question is two challenges, the client's and the server's,
	// one after the other, for mutual challenge-response (§7.3); it may
	// then be twice QuestionLen long.
	Mutual bool
	// PIN is the holder's PIN, for suites with P; the suite's hash is taken
	// of it. PINHash, when set, is that hash already (a server that keeps
	// only the hash).
	PIN     string
	PINHash []byte
	// Session is the session information, for suites with S: exactly
	// SessionLen bytes.
	Session []byte
	// Time is when the response is made, for suites with T.
	Time time.Time
}

// String describes the input without its PIN, PIN hash or session
// information, so that an Input that reaches a log or an error by mistake
// leaks none of them.
func (in Input) String() string {
	return fmt.Sprintf("ocra.Input{Counter: %d, Question: %q, Mutual: %t, PIN: %s, Session: %d bytes, Time: %s}",
		in.Counter, in.Question, in.Mutual, redacted(in.PIN != "" || in.PINHash != nil), len(in.Session), in.Time.UTC().Format(time.RFC3339))
}

// GoString is String, so that %#v hides the PIN too.
func (in Input) GoString() string { return in.String() }

// LogValue is String for log/slog.
func (in Input) LogValue() slog.Value { return slog.StringValue(in.String()) }

func redacted(set bool) string {
	if set {
		return "[redacted]"
	}
	return "none"
}

// questionLen is Q's fixed size in the data input (§5.1).
const questionLen = 128

// DataInput is the message the HMAC is taken of (§5.1): the suite, a zero
// byte, then C, Q, P, S and T as the suite has them.
func (s *Suite) DataInput(in Input) ([]byte, error) {
	q, err := s.question(in.Question, in.Mutual)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, 0, len(s.raw)+1+8+questionLen+64+s.SessionLen+8)
	msg = append(msg, s.raw...)
	msg = append(msg, 0)
	if s.Counter {
		msg = binary.BigEndian.AppendUint64(msg, in.Counter)
	} else if in.Counter != 0 {
		return nil, fmt.Errorf("%w: a counter for a suite without C", ErrInput)
	}
	msg = append(msg, q...)
	if s.PIN != 0 {
		p := in.PINHash
		switch {
		case p == nil && in.PIN == "":
			return nil, fmt.Errorf("%w: the suite needs a PIN", ErrInput)
		case p == nil:
			h := newHash(s.PIN)()
			h.Write([]byte(in.PIN))
			p = h.Sum(nil)
		case len(p) != s.PIN.Size():
			return nil, fmt.Errorf("%w: PIN hash of %d bytes, the suite's %v gives %d", ErrInput, len(p), s.PIN, s.PIN.Size())
		}
		msg = append(msg, p...)
	}
	if s.SessionLen > 0 {
		if len(in.Session) != s.SessionLen {
			return nil, fmt.Errorf("%w: session information of %d bytes, the suite takes %d", ErrInput, len(in.Session), s.SessionLen)
		}
		msg = append(msg, in.Session...)
	}
	if s.TimeStep > 0 {
		if in.Time.IsZero() || in.Time.Unix() < 0 {
			return nil, fmt.Errorf("%w: the suite needs the time (after 1970)", ErrInput)
		}
		msg = binary.BigEndian.AppendUint64(msg, uint64(in.Time.Unix()/int64(s.TimeStep/time.Second)))
	}
	return msg, nil
}

// question encodes Q: 128 bytes, the question's bytes first, zeros after
// (§5.1). A numeric question is the hex form of its value and a hex
// question its hex digits, right-padded with '0' digits to 256 before they
// are decoded, as the RFC's reference code does (Appendix A): so an odd
// number of hex digits fills the high half of its last byte.
func (s *Suite) question(q string, mutual bool) ([]byte, error) {
	max := s.QuestionLen
	if mutual {
		max *= 2
	}
	if q == "" || len(q) > max {
		return nil, fmt.Errorf("%w: question of %d characters, the suite takes 1 to %d", ErrInput, len(q), max)
	}
	var digits string
	switch s.QuestionFormat {
	case Numeric:
		if strings.TrimLeft(q, "0123456789") != "" {
			return nil, fmt.Errorf("%w: a numeric question has digits only", ErrInput)
		}
		n, _ := new(big.Int).SetString(q, 10)
		digits = strings.ToUpper(n.Text(16))
	case Hex:
		if _, err := hex.DecodeString(q + strings.Repeat("0", len(q)%2)); err != nil {
			return nil, fmt.Errorf("%w: a hex question has hex digits only", ErrInput)
		}
		digits = q
	default:
		for i := 0; i < len(q); i++ {
			if q[i] < 0x21 || q[i] > 0x7e {
				return nil, fmt.Errorf("%w: an alphanumeric question has printable ASCII only", ErrInput)
			}
		}
		digits = hex.EncodeToString([]byte(q))
	}
	out := make([]byte, questionLen)
	padded := digits + strings.Repeat("0", 2*questionLen-len(digits))
	if _, err := hex.Decode(out, []byte(padded)); err != nil {
		return nil, fmt.Errorf("%w: question: %v", ErrInput, err)
	}
	return out, nil
}

// Response computes the response to in with the shared key (§5.2): HMAC
// over the data input, then HOTP's dynamic truncation to Digits digits
// (RFC 4226 §5.3), or the whole HMAC in hex when Digits is 0.
func (s *Suite) Response(key []byte, in Input) (string, error) {
	msg, err := s.DataInput(in)
	if err != nil {
		return "", err
	}
	m := hmac.New(newHash(s.Hash), key)
	m.Write(msg)
	sum := m.Sum(nil)
	if s.Digits == 0 {
		return hex.EncodeToString(sum), nil
	}
	off := sum[len(sum)-1] & 0x0f
	bin := uint64(binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff)
	mod := uint64(1)
	for range s.Digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", s.Digits, bin%mod), nil
}

// Verify reports whether response is the response to in, comparing in
// constant time.
func (s *Suite) Verify(key []byte, in Input, response string) (bool, error) {
	want, err := s.Response(key, in)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(response)) == 1, nil
}
