package totp

import (
	"crypto/sha1"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"
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
func (p params) match(secret, code []byte, now time.Time, skew int, last uint64) (step uint64, ok, replayed bool) {
	t, ok := p.step(now)
	if !ok || len(code) != p.digits {
		return 0, false, false
	}
	var g hotpGen
	g.init(p.alg, secret, p.digits)
	defer g.wipe()
	var want [8]byte
	for i := 0; i <= 2*skew; i++ {
		d := uint64(i+1) / 2
		s := t + d
		if i%2 == 1 {
			if t < d {
				continue // before T0
			}
			s = t - d
		}
		if subtle.ConstantTimeCompare(g.code(want[:0], s), code) == 1 {
			if s >= last { // s+1 > last, without overflow
				return s, true, false
			}
			replayed = true
		}
	}
	return 0, false, replayed
}

// hotpGen computes RFC 4226 HOTP values of one key: HMAC (RFC 2104) of the
// 8-byte counter, dynamic truncation, modulo 10^digits.
//
// The HMAC is written out on the hash's one-shot Sum functions over stack
// buffers, because the message is always one 8-byte counter: each code then
// costs four block compressions and no allocation, where crypto/hmac (and
// pquerna's hotp.GenerateCodeCustom, which also decodes the base32 key and
// formats with fmt for every step) allocate and copy hash states. The tests
// check this computation against pquerna's on every algorithm and length,
// and the RFC 4226 and RFC 6238 vectors through the public API.
type hotpGen struct {
	alg    Algorithm
	digits int
	ipad   [sha512.BlockSize]byte // key XOR 0x36, one block of the hash
	opad   [sha512.BlockSize]byte // key XOR 0x5c
}

// newHOTP returns a generator for the key.
func newHOTP(alg Algorithm, secret []byte, digits int) *hotpGen {
	g := new(hotpGen)
	g.init(alg, secret, digits)
	return g
}

// init sets the key; a generator on the caller's stack costs no allocation.
func (g *hotpGen) init(alg Algorithm, secret []byte, digits int) {
	g.alg, g.digits = alg, digits
	var hashed [sha512.Size]byte
	key := secret
	if len(key) > alg.blockSize() {
		// RFC 2104 §2: keys longer than the block are hashed first.
		key = alg.sum(hashed[:0], key)
	}
	// The key, zero-padded to the block, XORed eight bytes at a time (every
	// block size is a multiple of eight).
	bs := alg.blockSize()
	clear(g.ipad[copy(g.ipad[:bs], key):bs])
	for i := 0; i < bs; i += 8 {
		k := binary.LittleEndian.Uint64(g.ipad[i:])
		binary.LittleEndian.PutUint64(g.ipad[i:], k^0x3636363636363636)
		binary.LittleEndian.PutUint64(g.opad[i:], k^0x5c5c5c5c5c5c5c5c)
	}
	clear(hashed[:])
}

// wipe clears the key material.
func (g *hotpGen) wipe() {
	clear(g.ipad[:])
	clear(g.opad[:])
}

// code appends the code of counter to dst, left-padded with zeros.
func (g *hotpGen) code(dst []byte, counter uint64) []byte {
	if g.alg == SHA1 {
		// Nearly every deployed token: buffers of the exact sizes, so that
		// less is zeroed and copied for each code.
		var inner [sha1.BlockSize + 8]byte
		copy(inner[:], g.ipad[:sha1.BlockSize])
		binary.BigEndian.PutUint64(inner[sha1.BlockSize:], counter)
		var outer [sha1.BlockSize + sha1.Size]byte
		copy(outer[:], g.opad[:sha1.BlockSize])
		h := sha1.Sum(inner[:])
		copy(outer[sha1.BlockSize:], h[:])
		mac := sha1.Sum(outer[:])
		clear(inner[:])
		clear(outer[:])
		return g.format(dst, mac[:])
	}
	bs := g.alg.blockSize()
	var inner [sha512.BlockSize + 8]byte
	n := copy(inner[:], g.ipad[:bs])
	binary.BigEndian.PutUint64(inner[n:], counter)
	var outer [sha512.BlockSize + sha512.Size]byte
	n = copy(outer[:], g.opad[:bs])
	n += len(g.alg.sum(outer[n:n], inner[:bs+8]))
	var mac [sha512.Size]byte
	sum := g.alg.sum(mac[:0], outer[:n])
	clear(inner[:])
	clear(outer[:])
	return g.format(dst, sum)
}

// format appends the code of an HMAC value: RFC 4226 §5.3's dynamic
// truncation, modulo 10^digits, left-padded with zeros.
func (g *hotpGen) format(dst, sum []byte) []byte {
	// The low nibble of the last byte picks 31 bits.
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	start := len(dst)
	for range g.digits {
		dst = append(dst, 0)
	}
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}
