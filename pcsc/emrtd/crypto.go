package emrtd

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// Cipher is the block cipher of a secure messaging channel and of the PACE
// nonce encryption (ICAO 9303-11 §9.8 and §9.7.1).
type Cipher uint8

const (
	// Cipher3DES is two-key 3DES in CBC mode with the ISO/IEC 9797-1 MAC
	// algorithm 3 ("retail MAC"): BAC, and PACE with the 3DES-CBC-CBC suites
	// (ICAO 9303-11 §9.8.6).
	Cipher3DES Cipher = iota + 1
	// CipherAES128 is AES-128 in CBC mode with CMAC truncated to 8 bytes
	// (ICAO 9303-11 §9.8.7).
	CipherAES128
	// CipherAES192 is AES-192 (keys derived with SHA-256).
	CipherAES192
	// CipherAES256 is AES-256 (keys derived with SHA-256).
	CipherAES256
)

func (c Cipher) String() string {
	switch c {
	case Cipher3DES:
		return "3DES"
	case CipherAES128:
		return "AES-128"
	case CipherAES192:
		return "AES-192"
	case CipherAES256:
		return "AES-256"
	}
	return fmt.Sprintf("Cipher(%d)", uint8(c))
}

// blockSize is 8 for 3DES and 16 for AES.
func (c Cipher) blockSize() int {
	if c == Cipher3DES {
		return des.BlockSize
	}
	return aes.BlockSize
}

// keyLen is the length of the derived key (two-key 3DES: 16 bytes).
func (c Cipher) keyLen() int {
	switch c {
	case CipherAES192:
		return 24
	case CipherAES256:
		return 32
	}
	return 16
}

// Key derivation counters of ICAO 9303-11 §9.7.1.
const (
	kdfEnc uint32 = 1
	kdfMAC uint32 = 2
	kdfPi  uint32 = 3
)

// kdf is the key derivation function of ICAO 9303-11 §9.7.1:
// keydata = H(K ‖ c) with c a 32-bit big-endian counter, H SHA-1 for 3DES and
// AES-128 and SHA-256 for AES-192 and AES-256, truncated to the key length.
// 3DES keys get odd parity (the DES cipher ignores those bits, but the ICAO
// worked examples show them adjusted).
func kdf(c Cipher, secret []byte, counter uint32) []byte {
	var ctr [4]byte
	binary.BigEndian.PutUint32(ctr[:], counter)
	var sum []byte
	switch c {
	case CipherAES192, CipherAES256:
		h := sha256.New()
		h.Write(secret)
		h.Write(ctr[:])
		sum = h.Sum(nil)
	default:
		h := sha1.New()
		h.Write(secret)
		h.Write(ctr[:])
		sum = h.Sum(nil)
	}
	key := sum[:c.keyLen()]
	if c == Cipher3DES {
		adjustParity(key)
	}
	return key
}

// adjustParity sets the DES parity bit (the low bit) of each byte so that
// every byte has an odd number of ones (FIPS 46-3).
func adjustParity(key []byte) {
	for i, b := range key {
		ones := 0
		for v := b >> 1; v != 0; v >>= 1 {
			ones += int(v & 1)
		}
		key[i] = b&0xFE | byte(1-ones%2)
	}
}

// newBlock makes the cipher for a derived key.
func newBlock(c Cipher, key []byte) (cipher.Block, error) {
	if c == Cipher3DES {
		if len(key) != 16 {
			return nil, fmt.Errorf("%w: 3DES key of %d bytes", ErrCrypto, len(key))
		}
		k := make([]byte, 24)
		copy(k, key)
		copy(k[16:], key[:8])
		return des.NewTripleDESCipher(k)
	}
	return aes.NewCipher(key)
}

// pad applies ISO/IEC 9797-1 padding method 2: 80 then zeros up to a
// multiple of the block size (ICAO 9303-11 §9.8.6.1, §9.8.7.1).
func pad(b []byte, bs int) []byte {
	out := make([]byte, len(b), len(b)+bs)
	copy(out, b)
	out = append(out, 0x80)
	for len(out)%bs != 0 {
		out = append(out, 0)
	}
	return out
}

// unpad removes ISO/IEC 9797-1 padding method 2.
func unpad(b []byte) ([]byte, error) {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 0x00:
			continue
		case 0x80:
			return b[:i], nil
		}
		break
	}
	return nil, fmt.Errorf("%w: bad ISO/IEC 9797-1 padding", ErrSecureMessaging)
}

// cbcEncrypt encrypts block-aligned data in CBC mode.
func cbcEncrypt(b cipher.Block, iv, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, data)
	return out
}

// cbcDecrypt decrypts block-aligned data in CBC mode; data must be a
// multiple of the block size (callers check).
func cbcDecrypt(b cipher.Block, iv, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
	return out
}

// retailMAC is ISO/IEC 9797-1 MAC algorithm 3 with DES, IV zero, over data
// already padded to 8 bytes: single-DES CBC with Ka, then the output
// transformation E(Ka, D(Kb, H)) (ICAO 9303-11 §9.8.6.2).
func retailMAC(key, padded []byte) ([]byte, error) {
	if len(key) != 16 || len(padded)%8 != 0 {
		return nil, fmt.Errorf("%w: retail MAC over %d bytes with a %d-byte key", ErrCrypto, len(padded), len(key))
	}
	ka, err := des.NewCipher(key[:8])
	if err != nil {
		return nil, err
	}
	kb, err := des.NewCipher(key[8:16])
	if err != nil {
		return nil, err
	}
	h := make([]byte, 8)
	for i := 0; i < len(padded); i += 8 {
		subtle.XORBytes(h, h, padded[i:i+8])
		ka.Encrypt(h, h)
	}
	kb.Decrypt(h, h)
	ka.Encrypt(h, h)
	return h, nil
}

// cmac is AES-CMAC (NIST SP 800-38B, RFC 4493) with the full 16-byte tag.
func cmac(b cipher.Block, msg []byte) []byte {
	const bs = aes.BlockSize
	k1, k2 := cmacSubkeys(b)
	n := (len(msg) + bs - 1) / bs
	complete := n > 0 && len(msg)%bs == 0
	if n == 0 {
		n = 1
	}
	last := make([]byte, bs)
	rest := msg[(n-1)*bs:]
	if complete {
		subtle.XORBytes(last, rest, k1)
	} else {
		copy(last, rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last, last, k2)
	}
	x := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x, x, msg[i*bs:(i+1)*bs])
		b.Encrypt(x, x)
	}
	subtle.XORBytes(x, x, last)
	b.Encrypt(x, x)
	return x
}

func cmacSubkeys(b cipher.Block) (k1, k2 []byte) {
	l := make([]byte, aes.BlockSize)
	b.Encrypt(l, l)
	k1 = shiftXor(l)
	k2 = shiftXor(k1)
	return k1, k2
}

// shiftXor doubles a 128-bit value in GF(2^128) (RFC 4493 §2.3).
func shiftXor(in []byte) []byte {
	out := make([]byte, len(in))
	var carry byte
	for i := len(in) - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	if in[0]&0x80 != 0 {
		out[len(out)-1] ^= 0x87
	}
	return out
}

// macFunc computes the 8-byte MAC of ICAO 9303-11 §9.8 over data already
// padded to the block size.
type macFunc func(data []byte) ([]byte, error)

// newMAC returns the 8-byte MAC for the cipher: retail MAC for 3DES, CMAC
// truncated to 8 bytes for AES.
func newMAC(c Cipher, key []byte) (macFunc, error) {
	if c == Cipher3DES {
		k := append([]byte(nil), key...)
		return func(data []byte) ([]byte, error) { return retailMAC(k, data) }, nil
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return func(data []byte) ([]byte, error) { return cmac(b, data)[:8], nil }, nil
}
