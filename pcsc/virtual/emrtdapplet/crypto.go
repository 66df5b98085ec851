package emrtdapplet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"math/big"
	"sync"

	"github.com/osanderson/brainpool"
)

// This file is the card's own cryptography, written apart from pcsc/emrtd's
// on purpose: the tests run the host library against this card, and two
// independent implementations agreeing (and both matching the ICAO 9303-11
// worked examples) is the evidence of interoperability.

// suite is a secure messaging cipher suite.
type suite int

const (
	suite3DES suite = iota + 1
	suiteAES128
	suiteAES192
	suiteAES256
)

func (s suite) block() int {
	if s == suite3DES {
		return 8
	}
	return 16
}

// deriveKey is KDF(K, c) of ICAO 9303-11 §9.7.1.
func deriveKey(s suite, k []byte, c byte) []byte {
	in := append(append([]byte(nil), k...), 0, 0, 0, c)
	switch s {
	case suiteAES192:
		d := sha256.Sum256(in)
		return d[:24]
	case suiteAES256:
		d := sha256.Sum256(in)
		return d[:]
	}
	d := sha1.Sum(in)
	return d[:16]
}

// blockCipher makes the cipher; a 16-byte 3DES key becomes K1 K2 K1.
func blockCipher(s suite, key []byte) (cipher.Block, error) {
	if s == suite3DES {
		return des.NewTripleDESCipher(append(append([]byte(nil), key...), key[:8]...))
	}
	return aes.NewCipher(key)
}

// padISO is ISO/IEC 9797-1 padding method 2.
func padISO(b []byte, n int) []byte {
	out := append(append([]byte(nil), b...), 0x80)
	for len(out)%n != 0 {
		out = append(out, 0)
	}
	return out
}

var errPadding = errors.New("emrtdapplet: bad padding")

func unpadISO(b []byte) ([]byte, error) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 {
		return nil, errPadding
	}
	return b[:i], nil
}

// macOf computes the 8-byte MAC over padded input: ISO/IEC 9797-1 MAC
// algorithm 3 for 3DES, AES-CMAC truncated for AES.
func macOf(s suite, key, msg []byte) []byte {
	if s == suite3DES {
		k1, _ := des.NewCipher(key[:8])
		k2, _ := des.NewCipher(key[8:16])
		y := make([]byte, 8)
		for off := 0; off < len(msg); off += 8 {
			for j := 0; j < 8; j++ {
				y[j] ^= msg[off+j]
			}
			k1.Encrypt(y, y)
		}
		k2.Decrypt(y, y)
		k1.Encrypt(y, y)
		return y
	}
	c, _ := aes.NewCipher(key)
	return aesCMAC(c, msg)[:8]
}

// aesCMAC is NIST SP 800-38B CMAC.
func aesCMAC(c cipher.Block, msg []byte) []byte {
	l := make([]byte, 16)
	c.Encrypt(l, l)
	dbl := func(v []byte) []byte {
		x := new(big.Int).SetBytes(v)
		x.Lsh(x, 1)
		if v[0]&0x80 != 0 {
			x.Xor(x, big.NewInt(0x87))
		}
		out := make([]byte, 17)
		x.FillBytes(out)
		return out[1:]
	}
	k1 := dbl(l)
	k2 := dbl(k1)
	var last []byte
	n := len(msg)
	full := n > 0 && n%16 == 0
	var head []byte
	if full {
		head, last = msg[:n-16], append([]byte(nil), msg[n-16:]...)
		for i := range last {
			last[i] ^= k1[i]
		}
	} else {
		cut := n - n%16
		head = msg[:cut]
		last = padISO(msg[cut:], 16)
		for i := range last {
			last[i] ^= k2[i]
		}
	}
	y := make([]byte, 16)
	for off := 0; off < len(head); off += 16 {
		for j := 0; j < 16; j++ {
			y[j] ^= head[off+j]
		}
		c.Encrypt(y, y)
	}
	for j := 0; j < 16; j++ {
		y[j] ^= last[j]
	}
	c.Encrypt(y, y)
	return y
}

// fixParity gives every byte of a DES key odd parity.
func fixParity(k []byte) []byte {
	out := append([]byte(nil), k...)
	for i, b := range out {
		p := byte(1)
		for j := 1; j < 8; j++ {
			p ^= (b >> j) & 1
		}
		out[i] = b&^1 | p
	}
	return out
}

// curveP192 is NIST P-192 (FIPS 186-4 §D.1.2.1).
var curveP192 = sync.OnceValue(func() elliptic.Curve {
	n := func(s string) *big.Int { v, _ := new(big.Int).SetString(s, 16); return v }
	return &elliptic.CurveParams{
		Name: "P-192", BitSize: 192,
		P:  n("fffffffffffffffffffffffffffffffeffffffffffffffff"),
		N:  n("ffffffffffffffffffffffff99def836146bc9b1b4d22831"),
		B:  n("64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1"),
		Gx: n("188da80eb03090f67cbf20eb43a18800f4ff0afd82ff1012"),
		Gy: n("07192b95ffc8da78631011ed6b24cdd573f977a11e794811"),
	}
})

// domainParameters are the standardized ECDH domain parameters of ICAO
// 9303-11 §9.5.1, Table 6.
func domainParameters(id int) elliptic.Curve {
	switch id {
	case 8:
		return curveP192()
	case 9:
		return brainpool.P192r1()
	case 10:
		return elliptic.P224()
	case 11:
		return brainpool.P224r1()
	case 12:
		return elliptic.P256()
	case 13:
		return brainpool.P256r1()
	case 14:
		return brainpool.P320r1()
	case 15:
		return elliptic.P384()
	case 16:
		return brainpool.P384r1()
	case 17:
		return brainpool.P512r1()
	case 18:
		return elliptic.P521()
	}
	return nil
}

// point is an affine point; the card validates every point it receives
// before any arithmetic on it.
type point struct{ x, y *big.Int }

func coordLen(c elliptic.Curve) int { return (c.Params().BitSize + 7) / 8 }

func (p point) bytes(c elliptic.Curve) []byte {
	n := coordLen(c)
	out := make([]byte, 1+2*n)
	out[0] = 4
	p.x.FillBytes(out[1 : 1+n])
	p.y.FillBytes(out[1+n:])
	return out
}

func parsePoint(c elliptic.Curve, b []byte) (point, bool) {
	n := coordLen(c)
	if len(b) != 1+2*n || b[0] != 4 {
		return point{}, false
	}
	x, y := new(big.Int).SetBytes(b[1:1+n]), new(big.Int).SetBytes(b[1+n:])
	if x.Cmp(c.Params().P) >= 0 || y.Cmp(c.Params().P) >= 0 || !c.IsOnCurve(x, y) {
		return point{}, false
	}
	return point{x, y}, true
}

func (p point) infinity() bool { return p.x.Sign() == 0 && p.y.Sign() == 0 }
