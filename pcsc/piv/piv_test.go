package piv_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// counting counts the APDUs that reach the card.
type counting struct {
	t apdu.Transport
	n atomic.Int64
}

func (c *counting) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	c.n.Add(1)
	return c.t.Transmit(ctx, cmd)
}

// connector reaches a personalised card: in-process, or through pcscd.
type connector func(t testing.TB, tc *testcard.Card) apdu.Transport

func inProcess(t testing.TB, tc *testcard.Card) apdu.Transport { return tc.Card }

// suite is every test of the client, each run on both connectors.
func suite() map[string]func(*testing.T, connector) {
	return map[string]func(*testing.T, connector){
		"ReadObjects":                  testReadObjects,
		"PINTriesAndUnblock":           testPINTriesAndUnblock,
		"SignEveryAlgorithm":           testSignEveryAlgorithm,
		"SignatureKeyAsksPINEveryTime": testSignatureKeyAsksPINEveryTime,
		"LoginAPDUs":                   testLoginAPDUs,
		"ManagementKeyAndIssuance":     testManagementKeyAndIssuance,
		"GenerateRSA":                  testGenerateRSA,
		"VendorExtras":                 testVendorExtras,
		"NoPINPad":                     testNoPINPad,
	}
}

func TestInProcess(t *testing.T) {
	for name, f := range suite() {
		t.Run(name, func(t *testing.T) { f(t, inProcess) })
	}
}

func newCard(t testing.TB, opts testcard.Options, connect connector) (*testcard.Card, *piv.Card, *counting) {
	t.Helper()
	tc, err := testcard.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ct := &counting{t: connect(t, tc)}
	c, err := piv.Open(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tc, c, ct
}

func testReadObjects(t *testing.T, connect connector) {
	ctx := context.Background()
	tc, c, _ := newCard(t, testcard.Options{}, connect)
	for slot, want := range map[piv.Slot]*x509.Certificate{piv.SlotAuthentication: tc.AuthCert, piv.SlotSignature: tc.SignCert,
		piv.SlotCardAuthentication: tc.CardAuthCert} {
		got, err := c.Certificate(ctx, slot)
		if err != nil || !got.Equal(want) {
			t.Fatalf("certificate of %s: %v", slot, err)
		}
	}
	if _, err := c.Certificate(ctx, piv.SlotKeyManagement); !errors.Is(err, apdu.ErrNotFound) {
		t.Fatalf("empty %s: %v", piv.SlotKeyManagement, err)
	}
	if _, err := c.Certificate(ctx, piv.SlotManagementKey); !errors.Is(err, piv.ErrBadInput) {
		t.Fatalf("9B certificate: %v", err)
	}
	ch, err := c.CHUID(ctx)
	if err != nil || len(ch.FASCN) != 25 || ch.GUID != [16]byte(tc.CardUUID) || len(ch.Expiration) != 8 {
		t.Fatalf("CHUID %+v, %v", ch, err)
	}
}

func testPINTriesAndUnblock(t *testing.T, connect connector) {
	ctx := context.Background()
	tc, c, ct := newCard(t, testcard.Options{}, connect)
	st, err := c.PINStatus(ctx)
	if err != nil || st.TriesLeft != 3 || st.Verified {
		t.Fatalf("fresh status %+v, %v", st, err)
	}
	for _, want := range []int{2, 1} {
		err := c.VerifyPIN(ctx, "000000", nil)
		var wp *apdu.WrongPINError
		if !errors.As(err, &wp) || wp.TriesLeft != want || !errors.Is(err, apdu.ErrWrongPIN) {
			t.Fatalf("wrong PIN: %v, want %d tries left", err, want)
		}
	}
	// The guard refuses the last try, without sending anything.
	before := ct.n.Load()
	if err := c.VerifyPIN(ctx, "000000", nil); !errors.Is(err, piv.ErrLastTry) {
		t.Fatalf("last try: %v", err)
	}
	if err := c.VerifyPIN(ctx, tc.PIN, nil); !errors.Is(err, piv.ErrLastTry) {
		t.Fatalf("last try, even with the right PIN: %v", err)
	}
	if ct.n.Load() != before || tc.Applet.PINTriesLeft() != 1 {
		t.Fatalf("the guard sent %d APDUs; card has %d tries", ct.n.Load()-before, tc.Applet.PINTriesLeft())
	}
	// A new handle does not know; its guard asks the card first.
	c2, _ := piv.Open(ctx, ct.t, nil)
	if err := c2.VerifyPIN(ctx, "000000", nil); !errors.Is(err, piv.ErrLastTry) {
		t.Fatalf("last try on a new handle: %v", err)
	}
	// Allowed, the last wrong try blocks the PIN.
	if err := c.VerifyPIN(ctx, "000000", &piv.VerifyOptions{AllowLastTry: true}); !errors.Is(err, apdu.ErrBlocked) {
		t.Fatalf("spent last try: %v", err)
	}
	if err := c.VerifyPIN(ctx, tc.PIN, &piv.VerifyOptions{AllowLastTry: true}); !errors.Is(err, apdu.ErrBlocked) {
		t.Fatalf("right PIN when blocked: %v", err)
	}
	if err := c.Unblock(ctx, "87654321", "246810"); !errors.Is(err, apdu.ErrWrongPIN) {
		t.Fatalf("wrong PUK: %v", err)
	}
	if err := c.Unblock(ctx, tc.PUK, "246810"); err != nil {
		t.Fatalf("unblock: %v", err)
	}
	if err := c.VerifyPIN(ctx, "246810", nil); err != nil {
		t.Fatalf("new PIN: %v", err)
	}
	if st, _ := c.PINStatus(ctx); !st.Verified {
		t.Fatalf("not verified: %+v", st)
	}
	if err := c.ChangePIN(ctx, "246810", "13579135", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangePUK(ctx, tc.PUK, "99999999"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unblock(ctx, tc.PUK, "123456"); !errors.Is(err, apdu.ErrWrongPIN) {
		t.Fatalf("old PUK after change: %v", err)
	}
	for _, bad := range []string{"12345", "123456789", "12345\x00"} {
		if err := c.VerifyPIN(ctx, bad, nil); !errors.Is(err, piv.ErrBadInput) {
			t.Errorf("PIN %q: %v", bad, err)
		}
	}
}

func verifySig(t *testing.T, pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) {
	t.Helper()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		var err error
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			err = rsa.VerifyPSS(k, opts.HashFunc(), digest, sig, pss)
		} else {
			err = rsa.VerifyPKCS1v15(k, opts.HashFunc(), digest, sig)
		}
		if err != nil {
			t.Fatalf("RSA signature does not verify: %v", err)
		}
	}
}

func testSignEveryAlgorithm(t *testing.T, connect connector) {
	ctx := context.Background()
	msg := []byte("puce signs this")
	d256, d384, d512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	for _, tc := range []struct {
		name string
		alg  byte
		dig  []byte
		opts crypto.SignerOpts
	}{
		{"P-256/SHA-256", pivapplet.AlgECCP256, d256[:], crypto.SHA256},
		{"P-256/SHA-384 (truncated)", pivapplet.AlgECCP256, d384[:], crypto.SHA384},
		{"P-384/SHA-384", pivapplet.AlgECCP384, d384[:], crypto.SHA384},
		{"P-384/SHA-256 (padded)", pivapplet.AlgECCP384, d256[:], crypto.SHA256},
		{"RSA-2048 PKCS1v15/SHA-256", pivapplet.AlgRSA2048, d256[:], crypto.SHA256},
		{"RSA-2048 PKCS1v15/SHA-512", pivapplet.AlgRSA2048, d512[:], crypto.SHA512},
		{"RSA-2048 PSS/SHA-256", pivapplet.AlgRSA2048, d256[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
		{"RSA-2048 PSS/SHA-384 auto salt", pivapplet.AlgRSA2048, d384[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA384}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card, c, _ := newCard(t, testcard.Options{AuthAlg: tc.alg, NoSignatureKey: true}, connect)
			s, err := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SignContext(ctx, tc.dig, tc.opts); !errors.Is(err, apdu.ErrSecurityStatus) {
				t.Fatalf("sign before the PIN: %v", err)
			}
			if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
				t.Fatal(err)
			}
			for range 2 { // 9A: the PIN holds for the session
				sig, err := s.SignContext(ctx, tc.dig, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				verifySig(t, card.AuthCert.PublicKey, tc.dig, sig, tc.opts)
			}
		})
	}
}

func testSignatureKeyAsksPINEveryTime(t *testing.T, connect connector) {
	ctx := context.Background()
	card, c, ct := newCard(t, testcard.Options{}, connect)
	d := sha256.Sum256([]byte("contract"))
	s, _ := c.Signer(piv.SlotSignature, card.SignCert.PublicKey, nil)
	if _, err := s.SignContext(ctx, d[:], crypto.SHA256); !errors.Is(err, piv.ErrPINRequired) {
		t.Fatalf("9C without a PIN prompt: %v", err)
	}
	prompts := 0
	s, _ = c.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{PIN: func(context.Context) (string, error) {
		prompts++
		return card.PIN, nil
	}})
	for i := range 3 {
		sig, err := s.SignContext(ctx, d[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		verifySig(t, card.SignCert.PublicKey, d[:], sig, crypto.SHA256)
	}
	if prompts != 3 {
		t.Fatalf("%d PIN prompts for 3 signatures", prompts)
	}
	// The card enforces it too: one VERIFY, then two raw signatures.
	if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
		t.Fatal(err)
	}
	raw := func() error {
		in := append([]byte{0x7C, 0x24, 0x82, 0x00, 0x81, 0x20}, d[:]...)
		_, err := apdu.Do(ctx, ct.t, apdu.Command{INS: 0x87, P1: 0x11, P2: 0x9C, Data: in, Ne: 256})
		return err
	}
	if err := raw(); err != nil {
		t.Fatalf("first raw signature: %v", err)
	}
	if err := raw(); !errors.Is(err, apdu.ErrSecurityStatus) {
		t.Fatalf("second raw signature on one VERIFY: %v", err)
	}
}

// TestLoginAPDUs counts a login-shaped exchange: select, verify, sign with
// 9A, the certificate already known.
func testLoginAPDUs(t *testing.T, connect connector) {
	ctx := context.Background()
	card, _, base := newCard(t, testcard.Options{NoSignatureKey: true}, connect)
	d := sha256.Sum256([]byte("H(origin)||H(nonce)"))
	login := func(opts *piv.VerifyOptions, knowTries bool) int64 {
		ct := &counting{t: base.t}
		c, err := piv.Open(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		if knowTries {
			c.PINStatus(ctx) // what a PIN prompt shows; not counted below
			ct.n.Add(-1)
		}
		if err := c.VerifyPIN(ctx, card.PIN, opts); err != nil {
			t.Fatal(err)
		}
		s, _ := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
		if _, err := s.SignContext(ctx, d[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		return ct.n.Load()
	}
	if n := login(nil, true); n != 3 {
		t.Fatalf("login with the tries known: %d APDUs, want 3", n)
	}
	if n := login(&piv.VerifyOptions{AllowLastTry: true}, false); n != 3 {
		t.Fatalf("login allowing the last try: %d APDUs, want 3", n)
	}
	if n := login(nil, false); n != 4 {
		t.Fatalf("login on a fresh handle with the guard: %d APDUs, want 4", n)
	}
}

func testManagementKeyAndIssuance(t *testing.T, connect connector) {
	ctx := context.Background()
	for _, mk := range []struct {
		name string
		alg  piv.Algorithm
		key  []byte
	}{
		{"3DES default", piv.Alg3DES, nil},
		{"AES-128", piv.AlgAES128, bytes.Repeat([]byte{7}, 16)},
		{"AES-192", piv.AlgAES192, bytes.Repeat([]byte{8}, 24)},
		{"AES-256", piv.AlgAES256, bytes.Repeat([]byte{9}, 32)},
	} {
		t.Run(mk.name, func(t *testing.T) {
			opts := testcard.Options{NoSignatureKey: true}
			key := piv.DefaultManagementKey()
			if mk.key != nil {
				opts.ManagementKey, opts.ManagementKeyAlg = mk.key, byte(mk.alg)
				key = piv.ManagementKey{Algorithm: mk.alg, Key: mk.key}
			}
			card, c, _ := newCard(t, opts, connect)
			if _, err := c.GenerateKey(ctx, piv.SlotKeyManagement, piv.AlgECCP256); !errors.Is(err, apdu.ErrSecurityStatus) {
				t.Fatalf("generate without the management key: %v", err)
			}
			wrong := piv.ManagementKey{Algorithm: key.Algorithm, Key: bytes.Repeat([]byte{0x42}, len(key.Key))}
			if err := c.Authenticate(ctx, wrong); !errors.Is(err, piv.ErrAuthentication) {
				t.Fatalf("wrong management key: %v", err)
			}
			if err := c.Authenticate(ctx, key); err != nil {
				t.Fatalf("authenticate: %v", err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "reissued"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
			cert, err := c.Issue(ctx, piv.SlotAuthentication, piv.AlgECCP384, tmpl, card.PKI.Issuing, card.PKI.IssuingKey)
			if err != nil {
				t.Fatalf("issue: %v", err)
			}
			if got, err := c.Certificate(ctx, piv.SlotAuthentication); err != nil || !got.Equal(cert) {
				t.Fatalf("certificate read back: %v", err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates}); err != nil {
				t.Fatalf("issued certificate does not chain: %v", err)
			}
			if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
				t.Fatal(err)
			}
			csr, err := c.CSR(ctx, piv.SlotAuthentication, cert.PublicKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr"}}, nil)
			if err != nil || csr.CheckSignature() != nil {
				t.Fatalf("CSR: %v", err)
			}
		})
	}
}

func testGenerateRSA(t *testing.T, connect connector) {
	if testing.Short() {
		t.Skip("RSA key generation is slow")
	}
	ctx := context.Background()
	_, c, _ := newCard(t, testcard.Options{NoSignatureKey: true}, connect)
	if err := c.Authenticate(ctx, piv.DefaultManagementKey()); err != nil {
		t.Fatal(err)
	}
	pub, err := c.GenerateKey(ctx, piv.SlotKeyManagement, piv.AlgRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := pub.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("public key %T", pub)
	}
}

func testVendorExtras(t *testing.T, connect connector) {
	ctx := context.Background()
	// One card per subtest: through pcscd the shared reader holds one at a time.
	t.Run("plain card", func(t *testing.T) {
		_, plain, _ := newCard(t, testcard.Options{NoSignatureKey: true}, connect)
		if _, err := plain.Version(ctx); !errors.Is(err, piv.ErrNotSupported) {
			t.Fatalf("version on a plain card: %v", err)
		}
		if _, err := plain.Metadata(ctx, piv.SlotPIN); !errors.Is(err, piv.ErrNotSupported) {
			t.Fatalf("metadata on a plain card: %v", err)
		}
	})
	t.Run("YubiKey-compatible card", func(t *testing.T) {
		_, yk, _ := newCard(t, testcard.Options{NoSignatureKey: true, Vendor: true}, connect)
		if v, err := yk.Version(ctx); err != nil || v != "1.0.0" {
			t.Fatalf("version: %q %v", v, err)
		}
		m, err := yk.Metadata(ctx, piv.SlotPIN)
		if err != nil || m.TriesTotal != 3 || m.TriesLeft != 3 || !m.Default {
			t.Fatalf("PIN metadata %+v, %v", m, err)
		}
		if m, err := yk.Metadata(ctx, piv.SlotAuthentication); err != nil || m.Algorithm != piv.AlgECCP256 || m.PINPolicy != piv.PINPolicyOnce {
			t.Fatalf("9A metadata %+v, %v", m, err)
		}
		if _, err := yk.Attest(ctx, piv.SlotAuthentication); !errors.Is(err, piv.ErrNotSupported) {
			t.Fatalf("attest: %v", err)
		}
		if err := yk.Authenticate(ctx, piv.DefaultManagementKey()); err != nil {
			t.Fatal(err)
		}
		want := piv.KeyPolicy{PIN: piv.PINPolicyNever, Touch: piv.TouchPolicyCached}
		if _, err := yk.GenerateKeyWith(ctx, piv.SlotAuthentication, piv.AlgECCP256, want); err != nil {
			t.Fatal(err)
		}
		if m, err := yk.Metadata(ctx, piv.SlotAuthentication); err != nil || m.PINPolicy != want.PIN || m.TouchPolicy != want.Touch {
			t.Fatalf("9A metadata after generating with %+v: %+v, %v", want, m, err)
		}
		// SP 800-73-4 Part 1 §3.2.1: the card keeps 9C at "always".
		if _, err := yk.GenerateKeyWith(ctx, piv.SlotSignature, piv.AlgECCP256, piv.KeyPolicy{PIN: piv.PINPolicyOnce}); err == nil {
			t.Fatal("9C generated with the PIN once per session")
		}
	})
}

// testNoPINPad: neither the virtual card in-process nor pcscd's vpcd reader
// has a PIN pad; the client says so with a typed error, spending nothing.
func testNoPINPad(t *testing.T, connect connector) {
	ctx := context.Background()
	tc, c, _ := newCard(t, testcard.Options{NoSignatureKey: true}, connect)
	if err := c.VerifyPINPad(ctx, time.Second, nil); !errors.Is(err, apdu.ErrNoPINPad) {
		t.Fatalf("PIN pad on a reader without one: %v", err)
	}
	if tc.Applet.PINTriesLeft() != 3 {
		t.Fatal("a try was spent")
	}
}
