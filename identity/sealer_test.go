package identity_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
)

func TestSealer(t *testing.T) {
	k1, k2 := identity.GenerateSealerKey(), identity.GenerateSealerKey()
	old, err := identity.NewSealer("2025", map[string][]byte{"2025": k1})
	if err != nil {
		t.Fatal(err)
	}
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "c1"}
	secret := []byte("12345678901234567890")
	sealed := old.Seal(secret, row)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value holds the secret")
	}
	if !bytes.Equal(old.Seal(secret, row)[:6], sealed[:6]) || bytes.Equal(old.Seal(secret, row), sealed) {
		t.Fatal("sealing twice must differ (fresh nonce) but keep the header")
	}
	if id, err := identity.KeyID(sealed); err != nil || id != "2025" {
		t.Fatalf("KeyID = %q, %v", id, err)
	}
	got, err := old.Open(sealed, row)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %v", err)
	}

	// Rotation: the new sealer seals with 2026 and still opens 2025 values.
	spec := "2026=" + base64.StdEncoding.EncodeToString(k2) + ",2025=" + base64.StdEncoding.EncodeToString(k1)
	rotated, err := identity.ParseSealer(spec)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentKeyID() != "2026" {
		t.Fatalf("current key %q", rotated.CurrentKeyID())
	}
	if got, err := rotated.Open(sealed, row); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("rotated sealer opening an old value: %v", err)
	}
	newer := rotated.Seal(secret, row)
	if id, _ := identity.KeyID(newer); id != "2026" {
		t.Fatalf("new value sealed with %q", id)
	}
	if _, err := old.Open(newer, row); !errors.Is(err, identity.ErrUnseal) {
		t.Fatalf("old sealer opening a value of an unknown key: %v", err)
	}

	// Bound to its row: another subject, kind or ID does not open it.
	for _, other := range []identity.CredentialRef{
		{Subject: "mallory", Kind: identity.KindTOTP, ID: "c1"},
		{Subject: "alice", Kind: identity.KindWebAuthn, ID: "c1"},
		{Subject: "alice", Kind: identity.KindTOTP, ID: "c2"},
		{Subject: "alic", Kind: "etotp", ID: "c1"},
	} {
		if _, err := old.Open(sealed, other); !errors.Is(err, identity.ErrUnseal) {
			t.Errorf("opened for %+v: %v", other, err)
		}
	}
	// Any changed byte is detected.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := old.Open(bad, row); !errors.Is(err, identity.ErrUnseal) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, n := range []int{0, 1, 2, 6, 18, len(sealed) - 1} {
		if _, err := old.Open(sealed[:n], row); !errors.Is(err, identity.ErrUnseal) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

func TestSealerConfig(t *testing.T) {
	for _, tc := range []struct {
		current string
		keys    map[string][]byte
	}{
		{"a", map[string][]byte{"b": identity.GenerateSealerKey()}},
		{"a", map[string][]byte{"a": make([]byte, 16)}},
		{"", map[string][]byte{"": identity.GenerateSealerKey()}},
	} {
		if _, err := identity.NewSealer(tc.current, tc.keys); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("NewSealer(%q, …) = %v", tc.current, err)
		}
	}
	for _, spec := range []string{"", "nokey", "a=!!!", "a=" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + ",a=" + base64.StdEncoding.EncodeToString(make([]byte, 32))} {
		if _, err := identity.ParseSealer(spec); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("ParseSealer(%q) = %v", spec, err)
		}
	}
}

func TestSealerReseal(t *testing.T) {
	k1, k2 := identity.GenerateSealerKey(), identity.GenerateSealerKey()
	old, _ := identity.NewSealer("1", map[string][]byte{"1": k1})
	both, _ := identity.NewSealer("2", map[string][]byte{"1": k1, "2": k2})
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "c1"}
	v1 := old.Seal([]byte("seed"), row)
	v2, changed, err := both.Reseal(v1, row)
	if err != nil || !changed {
		t.Fatalf("reseal: %v %v", changed, err)
	}
	if id, _ := identity.KeyID(v2); id != "2" {
		t.Fatalf("resealed with %q", id)
	}
	if _, changed, _ := both.Reseal(v2, row); changed {
		t.Fatal("resealing a current value changed it")
	}
	newOnly, _ := identity.NewSealer("2", map[string][]byte{"2": k2})
	if pt, err := newOnly.Open(v2, row); err != nil || string(pt) != "seed" {
		t.Fatalf("the old key retired, the resealed value: %v", err)
	}
	if _, _, err := both.Reseal(v1, identity.CredentialRef{Subject: "bob"}); !errors.Is(err, identity.ErrUnseal) {
		t.Fatalf("reseal for the wrong row: %v", err)
	}
}

// TestSealedFormat builds a sealed value long-hand from the documented format
// (version, key ID, nonce, AES-256-GCM over the row's additional data) and
// checks that Open accepts it: values sealed by earlier versions must keep
// opening, however Open is written.
func TestSealedFormat(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, identity.SealerKeySize)
	s, err := identity.NewSealer("k1", map[string][]byte{"k1": key, "old": identity.GenerateSealerKey()})
	if err != nil {
		t.Fatal(err)
	}
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "c1"}
	var ad []byte
	ad = append(ad, "puce-seal-v1"...)
	for _, f := range []string{"k1", "alice", string(identity.KindTOTP), "c1"} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, gcm.NonceSize())
	secret := []byte("12345678901234567890")
	sealed := append([]byte{1, 2, 'k', '1'}, nonce...)
	sealed = gcm.Seal(sealed, nonce, secret, ad)
	got, err := s.Open(sealed, row)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the secret", got, err)
	}
	// And the other way: what Seal writes opens long-hand.
	mine := s.Seal(secret, row)
	if !bytes.Equal(mine[:4], sealed[:4]) {
		t.Fatalf("header % x, want % x", mine[:4], sealed[:4])
	}
	n := 4 + gcm.NonceSize()
	if pt, err := gcm.Open(nil, mine[4:n], mine[n:], ad); err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("long-hand open of Seal's output: %v", err)
	}
}

func TestSealerOpenFunc(t *testing.T) {
	s, err := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	if err != nil {
		t.Fatal(err)
	}
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "c1"}
	for _, size := range []int{0, 20, 64, 300, 5000} {
		secret := bytes.Repeat([]byte{0xa5}, size)
		sealed := s.Seal(secret, row)
		var kept []byte
		err := s.OpenFunc(sealed, row, func(pt []byte) error {
			if !bytes.Equal(pt, secret) {
				t.Fatalf("%d bytes: plaintext differs", size)
			}
			kept = pt // only to check the wipe below; real callers must not
			return nil
		})
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if bytes.IndexByte(kept, 0xa5) >= 0 {
			t.Fatalf("%d bytes: plaintext not wiped after use", size)
		}
		// Altered, or moved to another row: ErrUnseal, and use is not called.
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		for _, c := range []struct {
			sealed []byte
			row    identity.CredentialRef
		}{{bad, row}, {sealed, identity.CredentialRef{Subject: "mallory", Kind: identity.KindTOTP, ID: "c1"}}, {sealed[:3], row}} {
			err := s.OpenFunc(c.sealed, c.row, func([]byte) error { t.Fatal("use called on a value that does not open"); return nil })
			if !errors.Is(err, identity.ErrUnseal) {
				t.Fatalf("%d bytes: %v, want ErrUnseal", size, err)
			}
		}
	}
	// use's error comes back as it is.
	errUse := errors.New("use failed")
	if err := s.OpenFunc(s.Seal([]byte("x"), row), row, func([]byte) error { return errUse }); err != errUse {
		t.Fatalf("OpenFunc = %v, want use's error", err)
	}
	// Concurrent logins share the sealer's buffers: each sees its own secret
	// (run with -race).
	done := make(chan error)
	for g := range 8 {
		go func() {
			secret := bytes.Repeat([]byte{byte(g + 1)}, 20)
			sealed := s.Seal(secret, row)
			for range 200 {
				if err := s.OpenFunc(sealed, row, func(pt []byte) error {
					if !bytes.Equal(pt, secret) {
						return errors.New("another login's secret")
					}
					return nil
				}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzSealerOpen feeds Open what a database could hold in a sealed column,
// written by someone without the keys: it must refuse with ErrUnseal or,
// only for a value the Sealer itself sealed for that row, open it; never
// panic. OpenFunc and Reseal must agree with Open, and KeyID name the key
// that Open used.
func FuzzSealerOpen(f *testing.F) {
	old, cur := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s, err := identity.NewSealer("k2", map[string][]byte{"k2": cur, "k1": old})
	if err != nil {
		f.Fatal(err)
	}
	s1, _ := identity.NewSealer("k1", map[string][]byte{"k1": old})
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "c1"}
	// Seals are random, and fuzzing workers run this set-up again: a value
	// that opens is told genuine by its plaintext, which no forgery can
	// choose without the key.
	genuine := map[string]bool{"secret": true, "older secret": true, "": true}
	for _, v := range [][]byte{s.Seal([]byte("secret"), row), s1.Seal([]byte("older secret"), row), s.Seal(nil, row)} {
		f.Add(v)
		f.Add(v[:len(v)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := s.Open(b, row)
		if err != nil {
			if !errors.Is(err, identity.ErrUnseal) {
				t.Fatalf("error %v is not ErrUnseal", err)
			}
		} else if !genuine[string(pt)] {
			t.Fatalf("a value the sealer never sealed opened: %x", b)
		}
		ferr := s.OpenFunc(b, row, func(p []byte) error {
			if !bytes.Equal(p, pt) {
				t.Fatalf("OpenFunc gave %x, Open %x", p, pt)
			}
			return nil
		})
		if (ferr == nil) != (err == nil) {
			t.Fatalf("OpenFunc: %v, Open: %v", ferr, err)
		}
		if _, changed, rerr := s.Reseal(b, row); err != nil && rerr == nil && changed {
			t.Fatalf("Reseal re-encrypted a value Open refuses")
		}
		if err == nil {
			if id, kerr := identity.KeyID(b); kerr != nil || (id != "k1" && id != "k2") {
				t.Fatalf("KeyID %q, %v for a value that opened", id, kerr)
			}
		}
	})
}

// FuzzParseSealer: a key list from the environment is parsed or refused
// with ErrBadInput, never a panic.
func FuzzParseSealer(f *testing.F) {
	k := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, spec := range []string{"k1=" + k, "k1=" + k + ", k0=" + k, "k1", "=" + k, "k1=" + k[:10], "k1=" + k + ",k1=" + k, ""} {
		f.Add(spec)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := identity.ParseSealer(spec)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("error %v is not ErrBadInput", err)
			}
			return
		}
		row := identity.CredentialRef{Subject: "s", Kind: identity.KindTOTP, ID: "i"}
		if got, err := s.Open(s.Seal([]byte("x"), row), row); err != nil || string(got) != "x" {
			t.Fatalf("a parsed sealer does not open its own seal: %q, %v", got, err)
		}
	})
}
