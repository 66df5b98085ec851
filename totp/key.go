package totp

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
)

// Algorithm is the HMAC hash of a TOTP key (RFC 6238 §1.2 allows SHA-1,
// SHA-256 and SHA-512). Its value is the spelling of the otpauth URI.
type Algorithm string

const (
	// SHA1 is what nearly every authenticator app supports; the default.
	SHA1 Algorithm = "SHA1"
	// SHA256 and SHA512 are the RFC 6238 alternatives. Several popular apps
	// ignore the algorithm parameter of the URI and silently use SHA-1, so
	// check your users' apps before choosing them.
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// otp maps to pquerna's enumeration; ok is false for anything else (MD5 too).
func (a Algorithm) otp() (otp.Algorithm, bool) {
	switch a {
	case SHA1:
		return otp.AlgorithmSHA1, true
	case SHA256:
		return otp.AlgorithmSHA256, true
	case SHA512:
		return otp.AlgorithmSHA512, true
	}
	return 0, false
}

// sum appends the hash of b to dst (SHA-1 for anything unknown, which
// params has already refused).
func (a Algorithm) sum(dst, b []byte) []byte {
	switch a {
	case SHA256:
		h := sha256.Sum256(b)
		return append(dst, h[:]...)
	case SHA512:
		h := sha512.Sum512(b)
		return append(dst, h[:]...)
	}
	h := sha1.Sum(b)
	return append(dst, h[:]...)
}

// blockSize is the hash's block length, the unit of HMAC's key padding.
func (a Algorithm) blockSize() int {
	if a == SHA512 {
		return sha512.BlockSize
	}
	return sha1.BlockSize // = sha256.BlockSize
}

// size is the hash output length, which is also the secret length RFC 6238's
// reference implementation uses with each hash (Appendix A).
func (a Algorithm) size() int {
	switch a {
	case SHA256:
		return 32
	case SHA512:
		return 64
	}
	return 20
}

// parseAlgorithm reads the URI spelling, in any case.
func parseAlgorithm(s string) (Algorithm, bool) {
	a := Algorithm(strings.ToUpper(s))
	_, ok := a.otp()
	return a, ok
}

// Limits on keys. Secrets shorter than 128 bits are refused as RFC 4226 §4
// (requirement R6) demands; generated secrets have at least the 160 bits it
// recommends.
const (
	MinSecretSize      = 16  // bytes, for imported secrets
	MinGeneratedSecret = 20  // bytes
	MaxSecretSize      = 128 // bytes; bounds the work an imported key can cause
	// DefaultPeriod is the RFC 6238 §5.2 time step.
	DefaultPeriod = 30 * time.Second
	// MaxPeriod bounds the time step of an imported key.
	MaxPeriod = time.Hour
	// DefaultDigits is what authenticator apps show unless told otherwise.
	DefaultDigits = 6
	// maxURILen bounds what ParseURI reads.
	maxURILen = 4096
)

// Key is a TOTP key: the shared secret and the parameters both sides must
// agree on. Its String and GoString methods never print the secret, so a Key
// that reaches a log by mistake leaks nothing.
type Key struct {
	// Issuer and Account label the key in the user's app ("Example Bank",
	// "alice@example.com"). Neither may hold a colon (Key URI format).
	Issuer, Account string
	// Secret is the raw shared secret K of RFC 4226 §5.1.
	Secret []byte
	// Algorithm; empty means SHA1.
	Algorithm Algorithm
	// Digits is 6 or 8; zero means 6.
	Digits int
	// Period is the time step X of RFC 6238 §4.1, in whole seconds; zero
	// means 30 s.
	Period time.Duration
}

// String describes the key without its secret.
func (k Key) String() string {
	p, _ := k.params()
	return fmt.Sprintf("totp.Key{Issuer: %q, Account: %q, %s, %d digits, period %s, secret: %d bytes, redacted}",
		k.Issuer, k.Account, p.alg, p.digits, time.Duration(p.period)*time.Second, len(k.Secret))
}

// GoString is String, so that %#v does not print the secret either.
func (k Key) GoString() string { return k.String() }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Base32 returns the secret as users type it into an app that cannot scan
// the QR code: unpadded RFC 4648 base32.
func (k *Key) Base32() string { return b32.EncodeToString(k.Secret) }

// URI returns the otpauth:// URI of the key (Google's Key URI format, which
// every authenticator app reads). It needs an Issuer and an Account.
func (k *Key) URI() (string, error) {
	p, err := k.params()
	if err != nil {
		return "", err
	}
	if err := checkLabel("issuer", k.Issuer); err != nil {
		return "", err
	}
	if err := checkLabel("account", k.Account); err != nil {
		return "", err
	}
	// Built here rather than with pquerna's Generate: its query encoder uses
	// path escaping, which leaves "&", "=" and "+" bare, so an issuer such as
	// "AT&T" or "A+B" would not read back (found by FuzzParseURI).
	// The label is escaped as a query value is, not as a path: apps that
	// decode it with form rules read a bare "+" as a space (an account
	// "alice+bank@example.com" would show as "alice bank@…"), and %2B, %20
	// and %26 read the same under RFC 3986 and form decoding alike.
	label := queryEscape(k.Issuer) + ":" + queryEscape(k.Account)
	q := []string{
		"secret=" + k.Base32(),
		"issuer=" + queryEscape(k.Issuer),
		"algorithm=" + string(p.alg),
		"digits=" + strconv.Itoa(p.digits),
		"period=" + strconv.FormatUint(p.period, 10),
	}
	return "otpauth://totp/" + label + "?" + strings.Join(q, "&"), nil
}

// queryEscape escapes a query value with %20 for spaces: some authenticator
// apps show a "+" literally.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// maxLabelLen keeps labels short enough for a QR code and an app's screen.
const maxLabelLen = 128

func checkLabel(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrBadURI, what)
	case len(s) > maxLabelLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrBadURI, what, maxLabelLen)
	case strings.ContainsRune(s, ':'):
		// The label is "issuer:account"; a colon in either part makes it
		// ambiguous (Key URI format).
		return fmt.Errorf("%w: %s contains a colon", ErrBadURI, what)
	}
	return nil
}

// params are the parameters of a credential, without its secret.
type params struct {
	alg    Algorithm
	digits int
	period uint64 // seconds
}

// params checks the key and fills in defaults. It checks the secret's length
// against MinSecretSize.
func (k *Key) params() (params, error) {
	p := params{alg: k.Algorithm, digits: k.Digits}
	if p.alg == "" {
		p.alg = SHA1
	}
	if p.digits == 0 {
		p.digits = DefaultDigits
	}
	per := k.Period
	if per == 0 {
		per = DefaultPeriod
	}
	if _, ok := p.alg.otp(); !ok {
		return p, fmt.Errorf("%w: unknown algorithm (want SHA1, SHA256 or SHA512)", ErrBadURI)
	}
	if p.digits != 6 && p.digits != 8 {
		return p, fmt.Errorf("%w: %d digits (want 6 or 8)", ErrBadURI, p.digits)
	}
	if per < time.Second || per > MaxPeriod || per%time.Second != 0 {
		return p, fmt.Errorf("%w: period %s (want whole seconds from 1s to %s)", ErrBadURI, per, MaxPeriod)
	}
	p.period = uint64(per / time.Second)
	if n := len(k.Secret); n < MinSecretSize || n > MaxSecretSize {
		return p, fmt.Errorf("%w: %d-byte secret (want %d to %d bytes; RFC 4226 §4 R6)", ErrBadSecret, n, MinSecretSize, MaxSecretSize)
	}
	return p, nil
}

// Credential.Public holds the parameters in 7 bytes: a version, the
// algorithm, the digits, and the period in seconds. They are read on every
// login, so the format is cheap to decode; none of it is secret.
const paramsVersion = 1

func (p params) encode() []byte {
	var a byte
	switch p.alg {
	case SHA1:
		a = 1
	case SHA256:
		a = 2
	case SHA512:
		a = 3
	}
	b := []byte{paramsVersion, a, byte(p.digits), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[3:], uint32(p.period))
	return b
}

var errBadParams = errors.New("totp: stored credential parameters are corrupt")

func decodeParams(b []byte) (params, error) {
	if len(b) != 7 || b[0] != paramsVersion {
		return params{}, errBadParams
	}
	p := params{digits: int(b[2]), period: uint64(binary.BigEndian.Uint32(b[3:]))}
	switch b[1] {
	case 1:
		p.alg = SHA1
	case 2:
		p.alg = SHA256
	case 3:
		p.alg = SHA512
	default:
		return params{}, errBadParams
	}
	if (p.digits != 6 && p.digits != 8) || p.period == 0 || p.period > uint64(MaxPeriod/time.Second) {
		return params{}, errBadParams
	}
	return p, nil
}

// ParseSecret decodes a base32 secret as users and other systems hand it
// over: upper or lower case, with or without "=" padding, with spaces between
// groups. Anything else — other characters, an impossible length, non-zero
// trailing bits (RFC 4648 §3.5), fewer than 128 bits — is ErrBadSecret. The
// error never quotes the input.
func ParseSecret(s string) ([]byte, error) {
	if len(s) > 2*MaxSecretSize {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrBadSecret, 2*MaxSecretSize)
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	body := strings.TrimRight(string(buf), "=")
	if pad := len(buf) - len(body); pad > 0 && len(buf)%8 != 0 {
		return nil, fmt.Errorf("%w: wrong base32 padding", ErrBadSecret)
	}
	secret, err := b32.DecodeString(body)
	if err != nil {
		var ce base32.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w: not base32 (at character %d)", ErrBadSecret, int64(ce)+1)
		}
		return nil, fmt.Errorf("%w: not base32", ErrBadSecret)
	}
	// Reject encodings whose unused trailing bits are set: they are typos
	// (the last character is wrong), and accepting them would let two
	// different strings name one key.
	if b32.EncodeToString(secret) != body {
		return nil, fmt.Errorf("%w: non-canonical base32 (the last character is wrong)", ErrBadSecret)
	}
	if len(secret) < MinSecretSize || len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("%w: %d-byte secret (want %d to %d bytes; RFC 4226 §4 R6)", ErrBadSecret, len(secret), MinSecretSize, MaxSecretSize)
	}
	return secret, nil
}

// ParseURI reads an otpauth://totp/ URI, as exported by another system or an
// authenticator app, and checks everything in it: the secret (ParseSecret),
// the algorithm, the digits and the period. Parameters it does not know (such
// as "image") are ignored; missing ones take the Key URI format's defaults.
// Errors are ErrBadURI or ErrBadSecret and never quote the secret.
func ParseURI(uri string) (*Key, error) {
	if len(uri) > maxURILen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadURI, maxURILen)
	}
	u, err := url.Parse(uri)
	if err != nil {
		// url's errors quote the input, secret included: say less.
		return nil, fmt.Errorf("%w: not a URI", ErrBadURI)
	}
	switch {
	case u.Scheme != "otpauth":
		return nil, fmt.Errorf("%w: scheme is not otpauth", ErrBadURI)
	case u.Opaque != "" || u.User != nil || u.Fragment != "":
		return nil, fmt.Errorf("%w: not of the form otpauth://totp/label?parameters", ErrBadURI)
	case strings.EqualFold(u.Host, "hotp"):
		return nil, fmt.Errorf("%w: HOTP keys are not supported, only TOTP", ErrBadURI)
	case !strings.EqualFold(u.Host, "totp"):
		return nil, fmt.Errorf("%w: type is not totp", ErrBadURI)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed query", ErrBadURI)
	}
	get := func(name string) (string, error) {
		v := q[name]
		if len(v) > 1 {
			return "", fmt.Errorf("%w: parameter %q given %d times", ErrBadURI, name, len(v))
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	k := &Key{}
	label := strings.TrimPrefix(u.Path, "/")
	if issuer, account, ok := strings.Cut(label, ":"); ok {
		k.Issuer, k.Account = issuer, strings.TrimLeft(account, " ")
	} else {
		k.Account = label
	}
	issuer, err := get("issuer")
	if err != nil {
		return nil, err
	}
	if issuer != "" {
		// The parameter wins over the label prefix, as the Key URI format
		// recommends; apps that truncate labels still send it whole.
		k.Issuer = issuer
	}
	s, err := get("secret")
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, fmt.Errorf("%w: no secret", ErrBadSecret)
	}
	if k.Secret, err = ParseSecret(s); err != nil {
		return nil, err
	}
	if s, err = get("algorithm"); err != nil {
		return nil, err
	}
	if s != "" {
		a, ok := parseAlgorithm(s)
		if !ok {
			return nil, fmt.Errorf("%w: unknown algorithm (want SHA1, SHA256 or SHA512)", ErrBadURI)
		}
		k.Algorithm = a
	}
	if s, err = get("digits"); err != nil {
		return nil, err
	}
	if s != "" {
		switch s {
		case "6", "8":
			k.Digits = int(s[0] - '0')
		default:
			return nil, fmt.Errorf("%w: digits must be 6 or 8", ErrBadURI)
		}
	}
	if s, err = get("period"); err != nil {
		return nil, err
	}
	if s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 || time.Duration(n)*time.Second > MaxPeriod {
			return nil, fmt.Errorf("%w: period must be 1 to %d seconds", ErrBadURI, int(MaxPeriod/time.Second))
		}
		k.Period = time.Duration(n) * time.Second
	}
	if _, err := k.params(); err != nil {
		return nil, err
	}
	return k, nil
}
