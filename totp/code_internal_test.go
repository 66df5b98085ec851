package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// pquernaCode is the code pquerna's HOTP computes for the same inputs: the
// oracle puce's own computation must agree with.
func pquernaCode(t testing.TB, alg Algorithm, secret []byte, digits int, counter uint64) string {
	a, _ := alg.otp()
	want, err := hotp.GenerateCodeCustom(b32.EncodeToString(secret), counter, hotp.ValidateOpts{Digits: otp.Digits(digits), Algorithm: a})
	if err != nil {
		t.Fatalf("pquerna: %v", err)
	}
	return want
}

// TestHOTPAgreesWithPquerna: the window walk computes codes itself (one keyed
// HMAC per verification); on every algorithm, length, secret size and
// counter, including the ends of the counter's range and truncation offsets
// at the end of the hash, it must give pquerna's codes.
func TestHOTPAgreesWithPquerna(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	counters := []uint64{0, 1, 59 / 30, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64}
	for range 200 {
		counters = append(counters, r.Uint64(), r.Uint64N(1<<32))
	}
	for _, alg := range []Algorithm{SHA1, SHA256, SHA512} {
		for _, digits := range []int{6, 8} {
			for _, size := range []int{MinSecretSize, 20, 32, 64, MaxSecretSize} {
				secret := make([]byte, size)
				for i := range secret {
					secret[i] = byte(r.Uint32())
				}
				g := newHOTP(alg, secret, digits)
				for _, c := range counters {
					got := string(g.code(nil, c))
					if want := pquernaCode(t, alg, secret, digits, c); got != want {
						t.Fatalf("%s, %d digits, %d-byte secret, counter %d: got %s, pquerna %s", alg, digits, size, c, got, want)
					}
				}
			}
		}
	}
}

// FuzzHOTPAgreesWithPquerna widens the comparison to any secret and counter.
func FuzzHOTPAgreesWithPquerna(f *testing.F) {
	f.Add([]byte("12345678901234567890"), uint64(1), uint8(0), true)
	f.Fuzz(func(t *testing.T, secret []byte, counter uint64, alg uint8, eight bool) {
		if len(secret) == 0 || len(secret) > MaxSecretSize {
			return
		}
		a := []Algorithm{SHA1, SHA256, SHA512}[alg%3]
		digits := 6
		if eight {
			digits = 8
		}
		if got, want := string(newHOTP(a, secret, digits).code(nil, counter)), pquernaCode(t, a, secret, digits, counter); got != want {
			t.Fatalf("%s/%d counter %d: got %s, pquerna %s", a, digits, counter, got, want)
		}
	})
}

// BenchmarkHOTP isolates one code computation, the unit of the window walk:
// pquerna's hotp.GenerateCodeCustom, the same computation on crypto/hmac,
// and the factor's own (the key padded once per verification, four block
// compressions per code).
func BenchmarkHOTP(b *testing.B) {
	secret := []byte("12345678901234567890")
	b.Run("pquerna", func(b *testing.B) {
		key := b32.EncodeToString(secret)
		opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
		b.ReportAllocs()
		for i := range b.N {
			if _, err := hotp.GenerateCodeCustom(key, uint64(i), opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-hmac", func(b *testing.B) {
		b.ReportAllocs()
		var msg [8]byte
		var code [6]byte
		for i := range b.N {
			m := hmac.New(sha1.New, secret)
			binary.BigEndian.PutUint64(msg[:], uint64(i))
			m.Write(msg[:])
			sum := m.Sum(nil)
			off := sum[len(sum)-1] & 0x0f
			v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff % 1_000_000
			for j := len(code) - 1; j >= 0; j-- {
				code[j] = byte('0' + v%10)
				v /= 10
			}
		}
	})
	b.Run("puce", func(b *testing.B) {
		b.ReportAllocs()
		var code [8]byte
		for i := range b.N {
			var g hotpGen
			g.init(SHA1, secret, 6)
			g.code(code[:0], uint64(i))
			g.wipe()
		}
	})
}
