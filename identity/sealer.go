package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrUnseal: a sealed value does not open. Its key is unknown, it was altered,
// or it was moved to another row than the one it was sealed for.
var ErrUnseal = errors.New("identity: sealed value does not open")

// SealerKeySize is the key length: AES-256.
const SealerKeySize = 32

const (
	sealVersion = 1
	maxKeyIDLen = 64
	// cipher.NewGCM's nonce and tag sizes, which the format fixes.
	nonceSize = 12
	tagSize   = 16
)

// Sealer encrypts secrets at rest with AES-256-GCM. Each sealed value names
// the key that sealed it, so keys can rotate: Seal uses the current key, Open
// any key the Sealer knows. The row the value belongs to (subject, factor,
// credential ID) is bound in as additional data, so a sealed secret copied to
// another account or credential does not open.
//
// Format: version (1) ‖ len(keyID) ‖ keyID ‖ nonce (12) ‖ ciphertext ‖ tag (16).
type Sealer struct {
	current     string
	currentAEAD cipher.AEAD
	keys        map[string]sealerKey
	// bufs holds OpenFunc's buffers (*[]byte).
	bufs sync.Pool
}

type sealerKey struct {
	id   string
	aead cipher.AEAD
}

// NewSealer returns a Sealer that seals with keys[current] and opens with any
// of keys. Keys are 32 random bytes each (GenerateSealerKey).
func NewSealer(current string, keys map[string][]byte) (*Sealer, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("%w: sealer: current key %q is not among the keys", ErrBadInput, current)
	}
	s := &Sealer{current: current, keys: make(map[string]sealerKey, len(keys))}
	for id, k := range keys {
		if id == "" || len(id) > maxKeyIDLen {
			return nil, fmt.Errorf("%w: sealer: key ID must be 1 to %d bytes", ErrBadInput, maxKeyIDLen)
		}
		if len(k) != SealerKeySize {
			return nil, fmt.Errorf("%w: sealer: key %q is %d bytes, want %d", ErrBadInput, id, len(k), SealerKeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("sealer: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("sealer: %w", err)
		}
		s.keys[id] = sealerKey{id, aead}
	}
	s.currentAEAD = s.keys[current].aead
	return s, nil
}

// ParseSealer builds a Sealer from a key list such as an operator keeps in a
// secret store or environment variable: "id=base64key[,id=base64key...]". The
// first key is the current one; the others are kept to open older values.
// Each key is SealerKeySize random bytes ("k1=$(head -c 32 /dev/urandom |
// base64)"); an ID names the key in every value it seals, so an ID is never
// given to another key.
func ParseSealer(spec string) (*Sealer, error) {
	var current string
	keys := map[string][]byte{}
	for i, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%w: sealer key %d: want id=base64key", ErrBadInput, i+1)
		}
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: sealer key %q: %v", ErrBadInput, id, err)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("%w: sealer key %q listed twice", ErrBadInput, id)
		}
		keys[id] = k
		if i == 0 {
			current = id
		}
	}
	return NewSealer(current, keys)
}

// GenerateSealerKey returns a new random 32-byte key.
func GenerateSealerKey() []byte {
	k := make([]byte, SealerKeySize)
	rand.Read(k)
	return k
}

// CurrentKeyID names the key Seal uses.
func (s *Sealer) CurrentKeyID() string { return s.current }

// putSealAD writes the additional data into ad, which is exactly
// sealADLen(len(keyID), row) long: the key ID and the row, each
// length-prefixed so that no two rows share an encoding.
func putSealAD(ad []byte, keyID string, row CredentialRef) {
	n := copy(ad, sealADTag)
	for _, f := range [...]string{keyID, string(row.Subject), string(row.Kind), row.ID} {
		binary.BigEndian.PutUint32(ad[n:], uint32(len(f)))
		n += 4 + copy(ad[n+4:], f)
	}
}

const sealADTag = "puce-seal-v1"

// sealADLen is the length of the additional data for a key ID of n bytes.
func sealADLen(n int, row CredentialRef) int {
	return len(sealADTag) + 16 + n + len(row.Subject) + len(row.Kind) + len(row.ID)
}

// Seal encrypts plaintext for the given row with the current key.
func (s *Sealer) Seal(plaintext []byte, row CredentialRef) []byte {
	aead := s.currentAEAD
	out := make([]byte, 0, 2+len(s.current)+nonceSize+len(plaintext)+tagSize)
	out = append(out, sealVersion, byte(len(s.current)))
	out = append(out, s.current...)
	nonce := out[len(out) : len(out)+nonceSize]
	rand.Read(nonce)
	out = out[:len(out)+len(nonce)]
	ad := make([]byte, sealADLen(len(s.current), row))
	putSealAD(ad, s.current, row)
	return aead.Seal(out, nonce, plaintext, ad)
}

// Open decrypts a value sealed for the given row. Any failure is ErrUnseal.
// The caller owns the plaintext; OpenFunc suits a secret needed only briefly.
func (s *Sealer) Open(sealed []byte, row CredentialRef) ([]byte, error) {
	v, err := s.parse(sealed)
	if err != nil {
		return nil, err
	}
	// One allocation for both: the plaintext first, capped so that the
	// cipher cannot write past it, then the additional data.
	buf := make([]byte, v.size()+sealADLen(len(v.keyID), row))
	return v.open(buf, row)
}

// OpenFunc decrypts a value sealed for row, hands the plaintext to use and
// wipes it when use returns. The plaintext lives in a buffer the Sealer
// reuses, so a login pays no allocation for it and no copy of the secret is
// left behind in freed memory; use must not keep it. The error is ErrUnseal
// or use's.
func (s *Sealer) OpenFunc(sealed []byte, row CredentialRef, use func(plaintext []byte) error) error {
	v, err := s.parse(sealed)
	if err != nil {
		return err
	}
	need := v.size() + sealADLen(len(v.keyID), row)
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < need {
		b := make([]byte, max(need, 256))
		bp = &b
	}
	buf := (*bp)[:need]
	defer func() {
		clear(buf)
		s.bufs.Put(bp)
	}()
	pt, err := v.open(buf, row)
	if err != nil {
		return err
	}
	return use(pt)
}

// parsedSeal is a sealed value taken apart.
type parsedSeal struct {
	aead      cipher.AEAD
	keyID     string
	nonce, ct []byte
}

func (s *Sealer) parse(b []byte) (parsedSeal, error) {
	if len(b) < 2 || b[0] != sealVersion {
		return parsedSeal{}, fmt.Errorf("%w: not a sealed value", ErrUnseal)
	}
	n := int(b[1])
	if len(b) < 2+n {
		return parsedSeal{}, fmt.Errorf("%w: truncated", ErrUnseal)
	}
	id, aead := s.aead(b[2 : 2+n])
	if aead == nil {
		return parsedSeal{}, fmt.Errorf("%w: sealed with key %q, which this sealer does not have", ErrUnseal, b[2:2+n])
	}
	rest := b[2+n:]
	if len(rest) < nonceSize+tagSize {
		return parsedSeal{}, fmt.Errorf("%w: truncated", ErrUnseal)
	}
	return parsedSeal{aead: aead, keyID: id, nonce: rest[:nonceSize], ct: rest[nonceSize:]}, nil
}

// size is the plaintext's length.
func (v *parsedSeal) size() int { return len(v.ct) - tagSize }

// open decrypts into buf, which holds size() bytes of plaintext followed by
// the additional data, and returns the plaintext.
func (v *parsedSeal) open(buf []byte, row CredentialRef) ([]byte, error) {
	n := v.size()
	putSealAD(buf[n:], v.keyID, row)
	pt, err := v.aead.Open(buf[:0:n], v.nonce, v.ct, buf[n:])
	if err != nil {
		return nil, fmt.Errorf("%w: altered, or sealed for another row", ErrUnseal)
	}
	return pt, nil
}

// aead returns the cipher of the key named id, nil if the sealer does not
// have it. The current key, which opens nearly everything, is tried first.
func (s *Sealer) aead(id []byte) (string, cipher.AEAD) {
	if string(id) == s.current {
		return s.current, s.currentAEAD
	}
	k, ok := s.keys[string(id)]
	if !ok {
		return "", nil
	}
	return k.id, k.aead
}

// KeyID returns the ID of the key that sealed a value, so an operator can find
// values still sealed with a retired key and reseal them.
func KeyID(sealed []byte) (string, error) {
	if len(sealed) < 2 || sealed[0] != sealVersion || len(sealed) < 2+int(sealed[1]) {
		return "", fmt.Errorf("%w: not a sealed value", ErrUnseal)
	}
	return string(sealed[2 : 2+int(sealed[1])]), nil
}

// Reseal re-encrypts a value under the current key when another key sealed
// it, for rotating keys: walk the stored secrets, reseal, write back the ones
// that changed, then retire the old key. It reports whether anything changed.
func (s *Sealer) Reseal(sealed []byte, row CredentialRef) ([]byte, bool, error) {
	id, err := KeyID(sealed)
	if err != nil {
		return nil, false, err
	}
	if id == s.current {
		return sealed, false, nil
	}
	pt, err := s.Open(sealed, row)
	if err != nil {
		return nil, false, err
	}
	defer clear(pt)
	return s.Seal(pt, row), true, nil
}
