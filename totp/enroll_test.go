package totp_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

// recordingStore keeps a copy of everything written to it, as a database
// dump would show it.
type recordingStore struct {
	identity.Store
	mu      sync.Mutex
	written [][]byte
}

func (s *recordingStore) record(b ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range b {
		s.written = append(s.written, bytes.Clone(x))
	}
}

func (s *recordingStore) PutChallenge(ctx context.Context, ch *identity.Challenge) error {
	s.record(ch.Payload, ch.State)
	return s.Store.PutChallenge(ctx, ch)
}

func (s *recordingStore) CreateCredential(ctx context.Context, c *identity.Credential) error {
	s.record(c.Secret, c.Public, []byte(c.ID), []byte(c.Name))
	return s.Store.CreateCredential(ctx, c)
}

func (s *recordingStore) UpdateCredential(ctx context.Context, c *identity.Credential) error {
	s.record(c.Secret, c.Public)
	return s.Store.UpdateCredential(ctx, c)
}

func (s *recordingStore) Audit(ctx context.Context, e identity.Event) error {
	s.record([]byte(fmt.Sprintf("%+v", e)))
	return s.Store.Audit(ctx, e)
}

// holds reports whether anything written contains any of needles.
func (s *recordingStore) holds(needles ...[]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.written {
		for _, n := range needles {
			if len(n) > 0 && bytes.Contains(bytes.ToUpper(w), bytes.ToUpper(n)) {
				return true
			}
		}
	}
	return false
}

// decodeQR reads the QR code in a PNG with gozxing, as a pure barcode: the
// image is rendered, not photographed, so the modules are read straight off
// the grid, and the format information and Reed-Solomon blocks are decoded
// and checked in full. (gozxing's general finder-pattern detector, meant for
// camera images, misses about one symbol in twenty of these; see
// TestQRCodeDecodesReliably.)
func decodeQR(t *testing.T, pngBytes []byte) string {
	t.Helper()
	bmp := qrBitmap(t, pngBytes)
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}

func qrBitmap(t *testing.T, pngBytes []byte) *gozxing.BinaryBitmap {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	return bmp
}

func TestEnrolQRCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []totp.Option
		alg  totp.Algorithm
		dig  int
		per  time.Duration
		size int
	}{
		{"default", nil, totp.SHA1, 6, 30 * time.Second, 20},
		{"SHA256-8", []totp.Option{totp.WithAlgorithm(totp.SHA256), totp.WithDigits(8), totp.WithPeriod(60 * time.Second)}, totp.SHA256, 8, time.Minute, 32},
		{"SHA512", []totp.Option{totp.WithAlgorithm(totp.SHA512), totp.WithQRSize(400)}, totp.SHA512, 6, 30 * time.Second, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingStore{Store: memstore.New()}
			e := newEnv(t, rec, tc.opts...)
			ctx := context.Background()
			ch, err := e.factor.BeginEnroll(ctx, identity.Request{Subject: "u-42", Origin: origin, UserName: "alice smith@bank.example"})
			if err != nil {
				t.Fatal(err)
			}
			uri := string(ch.Payload)
			pngBytes, err := e.factor.QRCode(ch)
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeQR(t, pngBytes); got != uri {
				t.Fatalf("QR code decodes to %q, want the payload %q", got, uri)
			}
			k, err := totp.ParseURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			if k.Issuer != "Example Bank" || k.Account != "alice smith@bank.example" || k.Algorithm != tc.alg ||
				k.Digits != tc.dig || k.Period != tc.per || len(k.Secret) != tc.size {
				t.Fatalf("URI %s read back as %v", uri, k)
			}
			// A second enrolment gets another secret.
			ch2, _ := e.factor.BeginEnroll(ctx, identity.Request{Subject: "u-42", Origin: origin})
			if k2, _ := totp.ParseURI(string(ch2.Payload)); bytes.Equal(k2.Secret, k.Secret) || k2.Account != "u-42" {
				t.Fatal("two enrolments, one secret (or the subject was not the default account)")
			}

			// Not active before a code is proven.
			if creds, _ := e.store.Credentials(ctx, "u-42", totp.Kind); len(creds) != 0 {
				t.Fatalf("credential stored before any code: %+v", creds)
			}
			_, err = e.login(t, "u-42", codeAt(t, k, e.clock.Now()))
			wantErr(t, err, identity.ErrNotEnrolled, "login before FinishEnroll")

			code := codeAt(t, k, e.clock.Now())
			c, err := e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-42", Origin: origin, Data: []byte(code), Name: "Pixel"})
			if err != nil {
				t.Fatal(err)
			}
			if !c.Active || c.Name != "Pixel" || c.Kind != totp.Kind || bytes.Contains(c.Secret, k.Secret) {
				t.Fatalf("credential %+v", c)
			}
			e.clock.Advance(time.Duration(tc.per))
			if _, err := e.login(t, "u-42", codeAt(t, k, e.clock.Now())); err != nil {
				t.Fatalf("login after enrolment: %v", err)
			}
			// Nothing written to the store — challenges, credentials, audit —
			// holds the secret or a code in clear.
			if rec.holds(k.Secret, []byte(k.Base32()), []byte(code)) {
				t.Fatal("the store holds the secret or a code in clear")
			}
			if rec.holds([]byte("otpauth")) {
				t.Fatal("the enrolment URI reached the store")
			}
			if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, *k); strings.Contains(s, k.Base32()) || !strings.Contains(s, "redacted") {
				t.Fatalf("a Key prints its secret: %s", s)
			}
		})
	}
}

func TestEnrolWrongCode(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ch, _ := e.factor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	k, _ := totp.ParseURI(string(ch.Payload))
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(wrongCodeAt(t, k, e.clock.Now(), 1))}
	_, err := e.factor.FinishEnroll(ctx, resp)
	wantErr(t, err, identity.ErrInvalidResponse, "enrolment with a wrong code")
	if creds, _ := e.store.Credentials(ctx, "alice", totp.Kind); len(creds) != 0 {
		t.Fatal("a wrong code stored a credential")
	}
	resp.Data = []byte(codeAt(t, k, e.clock.Now()))
	_, err = e.factor.FinishEnroll(ctx, resp)
	wantErr(t, err, identity.ErrReplayed, "the right code to a used enrolment challenge")
	// A code from another key does not complete someone's enrolment either.
	ch, _ = e.factor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	resp.ChallengeID = ch.ID
	_, err = e.factor.FinishEnroll(ctx, resp)
	wantErr(t, err, identity.ErrInvalidResponse, "code of the previous key")
}

// TestMalformedChangesNothing: bad input fails with ErrMalformedCode, which is
// also ErrInvalidResponse and ErrBadInput, and leaves the challenge, the
// throttle, the counter and the audit trail as they were.
func TestMalformedChangesNothing(t *testing.T) {
	bad := []string{
		"", "1", "12345", "1234567", "123456789", "1234567890123",
		"12 456", " 12345", "12345 ", "123456\n", "\t12345", "12345a", "abcdef", "-12345", "+12345", "12.456",
		"١٢٣٤٥٦", // Arabic-Indic digits
		"１２３４５６", // full-width digits
		"12345\x00", "１２３", "12345６",
	}
	e := newEnv(t, nil)
	k := e.enroll(t, "alice")
	e.clock.Advance(time.Hour)
	ctx := context.Background()
	events := func() int {
		recs, _ := e.store.AuditEvents(ctx, "", 0)
		return len(recs)
	}
	ch, err := e.factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	nEvents := events()
	for _, b := range bad {
		_, err := e.factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(b)})
		if !errors.Is(err, totp.ErrMalformedCode) || !errors.Is(err, identity.ErrInvalidResponse) || !errors.Is(err, identity.ErrBadInput) {
			t.Fatalf("Finish(%q): %v, want ErrMalformedCode (and ErrInvalidResponse, ErrBadInput)", b, err)
		}
		if strings.Contains(err.Error(), b) && b != "" && b != "1" {
			t.Fatalf("the error quotes the input: %v", err)
		}
	}
	if n := events(); n != nEvents {
		t.Fatalf("malformed codes wrote %d audit events", n-nEvents)
	}
	if err := e.svc.Throttle.Status(ctx, "alice", totp.Kind); err != nil {
		t.Fatalf("malformed codes moved the throttle: %v", err)
	}
	// The same challenge still takes the right code.
	if _, err := e.factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codeAt(t, k, e.clock.Now()))}); err != nil {
		t.Fatalf("good code after malformed ones: %v", err)
	}
	// Enrolment and import reject bad input the same way.
	ch, _ = e.factor.BeginEnroll(ctx, identity.Request{Subject: "bob", Origin: origin})
	_, err = e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "bob", Origin: origin, Data: []byte("12 345")})
	wantErr(t, err, totp.ErrMalformedCode, "FinishEnroll with a malformed code")
	_, err = e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "bob", Origin: origin, Data: []byte("123456"), Name: "\xff"})
	wantErr(t, err, identity.ErrBadInput, "FinishEnroll with a name that is not UTF-8")
	kb, _ := totp.ParseURI(string(ch.Payload))
	if _, err := e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "bob", Origin: origin, Data: []byte(codeAt(t, kb, e.clock.Now()))}); err != nil {
		t.Fatalf("FinishEnroll after malformed answers: %v", err)
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	// A user pastes the secret of their existing app, grouped and lower case.
	secret, err := totp.ParseSecret("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp")
	if err != nil {
		t.Fatal(err)
	}
	k := &totp.Key{Secret: secret}
	ch, err := e.factor.BeginImport(ctx, identity.Request{Subject: "alice", Origin: origin}, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Payload) != 0 {
		t.Fatal("BeginImport echoes the secret")
	}
	if _, err := e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codeAt(t, k, e.clock.Now()))}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.login(t, "alice", codeAt(t, k, e.clock.Now())); err != nil {
		t.Fatalf("login with the imported key: %v", err)
	}

	// Bulk import, audited.
	c, err := e.factor.Import(ctx, "bob", "migrated", &totp.Key{Secret: secret, Digits: 8, Algorithm: totp.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.store.AuditEvents(ctx, "bob", 1); len(recs) != 1 || recs[0].Event.Action != "import" || recs[0].Event.CredentialID != c.ID {
		t.Fatalf("import audit: %+v", recs)
	}
	if _, err := e.login(t, "bob", codeAt(t, &totp.Key{Secret: secret, Digits: 8, Algorithm: totp.SHA256}, e.clock.Now())); err != nil {
		t.Fatalf("login with the bulk-imported key: %v", err)
	}

	// Bad keys change nothing.
	for _, bk := range []*totp.Key{
		nil,
		{Secret: secret[:15]},
		{Secret: secret, Algorithm: "MD5"},
		{Secret: secret, Digits: 7},
		{Secret: secret, Period: 1500 * time.Millisecond},
		{Secret: secret, Period: 2 * time.Hour},
	} {
		if _, err := e.factor.Import(ctx, "carol", "", bk); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Import(%v): %v, want ErrBadInput", bk, err)
		}
		if _, err := e.factor.BeginImport(ctx, identity.Request{Subject: "carol", Origin: origin}, bk); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("BeginImport(%v): %v, want ErrBadInput", bk, err)
		}
	}
	if creds, _ := e.store.Credentials(ctx, "carol", ""); len(creds) != 0 {
		t.Fatal("a bad import stored a credential")
	}
	for _, subject := range []identity.Subject{"", identity.Subject(strings.Repeat("x", 257))} {
		if _, err := e.factor.Import(ctx, subject, "", &totp.Key{Secret: secret}); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Import for a subject of %d bytes: %v", len(subject), err)
		}
	}
}

func TestParseSecret(t *testing.T) {
	seed := []byte("12345678901234567890")
	enc := base32.StdEncoding.EncodeToString(seed)
	for _, s := range []string{enc, strings.ToLower(enc), strings.TrimRight(enc, "="), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"} {
		got, err := totp.ParseSecret(s)
		if err != nil || !bytes.Equal(got, seed) {
			t.Errorf("ParseSecret(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{
		"",
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",   // 1 is not base32
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ=",  // padding on a full block
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ",    // impossible length
		"GEZDGNBVGY3TQOJQGEZDGNBVGZ",         // 128 bits with non-zero trailing bits
		"GEZDGNBVGY3TQOJQ",                   // 80 bits: too short
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", // control character
		"GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ",  // hyphen
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQÖJQ",   // non-ASCII
		strings.Repeat("A", 1000),            // too long
	} {
		if _, err := totp.ParseSecret(s); !errors.Is(err, totp.ErrBadSecret) || !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("ParseSecret(%q): %v, want ErrBadSecret", s, err)
		}
	}
}

func TestParseURI(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	k, err := totp.ParseURI("otpauth://totp/ACME%20Co:john.doe@email.com?secret=" + secret + "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60&image=https://x/y.png")
	if err != nil {
		t.Fatal(err)
	}
	if k.Issuer != "ACME Co" || k.Account != "john.doe@email.com" || k.Algorithm != totp.SHA256 || k.Digits != 8 || k.Period != time.Minute {
		t.Fatalf("%v", k)
	}
	k, err = totp.ParseURI("otpauth://totp/Example:%20alice?secret=" + secret)
	if err != nil || k.Issuer != "Example" || k.Account != "alice" || k.Algorithm != "" || k.Digits != 0 || k.Period != 0 {
		t.Fatalf("defaults: %v, %v", k, err)
	}
	// Round trip through URI.
	k.Algorithm, k.Digits, k.Period = totp.SHA512, 8, 45*time.Second
	uri, err := k.URI()
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := totp.ParseURI(uri); err != nil || k2.String() != k.String() || !bytes.Equal(k2.Secret, k.Secret) {
		t.Fatalf("round trip: %v, %v", k2, err)
	}
	// Issuers with query metacharacters survive (pquerna's own writer
	// leaves "&", "=" and "+" unescaped).
	odd := &totp.Key{Issuer: "AT&T+Co=1 %", Account: "a+b@x.example", Secret: k.Secret}
	uri, err = odd.URI()
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := totp.ParseURI(uri); err != nil || k2.Issuer != odd.Issuer || k2.Account != odd.Account {
		t.Fatalf("%s read back as %v, %v", uri, k2, err)
	}
	for _, tc := range []struct {
		uri    string
		target error
	}{
		{"", totp.ErrBadURI},
		{"https://totp/x?secret=" + secret, totp.ErrBadURI},
		{"otpauth://hotp/x?secret=" + secret + "&counter=1", totp.ErrBadURI},
		{"otpauth://steam/x?secret=" + secret, totp.ErrBadURI},
		{"otpauth:totp/x?secret=" + secret, totp.ErrBadURI},
		{"otpauth://totp/x", totp.ErrBadSecret},
		{"otpauth://totp/x?secret=" + secret[:31] + "1", totp.ErrBadSecret},
		{"otpauth://totp/x?secret=" + secret + "&secret=" + secret, totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&algorithm=MD5", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&algorithm=SHA3", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&digits=7", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&digits=06", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&period=0", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&period=-30", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&period=+30", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&period=99999999999", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "&%zz", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + "#frag", totp.ErrBadURI},
		{"otpauth://totp/x?secret=" + secret + strings.Repeat("&a=b", 2000), totp.ErrBadURI},
	} {
		_, err := totp.ParseURI(tc.uri)
		if !errors.Is(err, tc.target) || !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("ParseURI(%q): %v, want %v", tc.uri, err, tc.target)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	s := memstore.New()
	svc := &identity.Services{Store: s, Throttle: &identity.Throttle{Store: s}}
	sealer := newSealer(t)
	for name, build := range map[string]func() (*totp.Factor, error){
		"no throttle":   func() (*totp.Factor, error) { return totp.New(&identity.Services{Store: s}, sealer, "Bank") },
		"no sealer":     func() (*totp.Factor, error) { return totp.New(svc, nil, "Bank") },
		"no issuer":     func() (*totp.Factor, error) { return totp.New(svc, sealer, "") },
		"colon issuer":  func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank:EU") },
		"MD5":           func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithAlgorithm("MD5")) },
		"7 digits":      func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithDigits(7)) },
		"negative skew": func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithSkew(-1)) },
		"huge skew":     func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithSkew(11)) },
		"short secret":  func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithSecretSize(16)) },
		"zero period":   func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithPeriod(-time.Second)) },
		"tiny QR":       func() (*totp.Factor, error) { return totp.New(svc, sealer, "Bank", totp.WithQRSize(10)) },
	} {
		if _, err := build(); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%s: %v, want ErrBadInput", name, err)
		}
	}
	if _, err := totp.NewRecovery(&identity.Services{Store: s}, sealer, 0); !errors.Is(err, identity.ErrBadInput) {
		t.Errorf("recovery without throttle: %v", err)
	}
	if _, err := totp.NewRecovery(svc, sealer, 51); !errors.Is(err, identity.ErrBadInput) {
		t.Errorf("recovery with 51 codes: %v", err)
	}
}

// TestSealedSecretBoundToRow: a sealed secret copied onto another account's
// credential row does not open there, so it cannot log that account in.
func TestSealedSecretBoundToRow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	k := e.enroll(t, "mallory")
	e.enroll(t, "alice")
	mc, _ := e.store.Credentials(ctx, "mallory", totp.Kind)
	ac, _ := e.store.Credentials(ctx, "alice", totp.Kind)
	ac[0].Secret = mc[0].Secret
	ac[0].Public = mc[0].Public
	if err := e.store.UpdateCredential(ctx, &ac[0]); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	_, err := e.login(t, "alice", codeAt(t, k, e.clock.Now()))
	wantErr(t, err, identity.ErrUnseal, "mallory's secret moved onto alice's row")
}

func TestMultipleDevices(t *testing.T) {
	e := newEnv(t, nil)
	phone := e.enroll(t, "alice")
	e.clock.Advance(time.Minute)
	tablet := e.enroll(t, "alice")
	e.clock.Advance(time.Minute)
	for _, k := range []*totp.Key{phone, tablet} {
		e.clock.Advance(time.Minute)
		if _, err := e.login(t, "alice", codeAt(t, k, e.clock.Now())); err != nil {
			t.Fatalf("device: %v", err)
		}
	}
	// Each device has its own counter.
	e.clock.Advance(time.Minute)
	if _, err := e.login(t, "alice", codeAt(t, tablet, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.login(t, "alice", codeAt(t, phone, e.clock.Now())); err != nil {
		t.Fatalf("phone after tablet in the same step: %v", err)
	}
}

// TestQRCodeDecodesReliably: many random keys of each shape, each QR code
// decoded back to its URI. It also counts how many symbols gozxing's general
// (camera) detector locates, for information: it misses a few per cent of
// these valid symbols whatever the rendering.
func TestQRCodeDecodesReliably(t *testing.T) {
	ctx := context.Background()
	for name, opts := range map[string][]totp.Option{
		"SHA1":          nil,
		"SHA256-8":      {totp.WithAlgorithm(totp.SHA256), totp.WithDigits(8)},
		"SHA512":        {totp.WithAlgorithm(totp.SHA512)},
		"SHA512-small":  {totp.WithAlgorithm(totp.SHA512), totp.WithQRSize(160)},
		"SHA1-large":    {totp.WithQRSize(512)},
		"128-byte-seed": {totp.WithSecretSize(128), totp.WithQRSize(400)},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, opts...)
			const n = 10
			located := 0
			defer func() { t.Logf("general detector located %d of %d symbols", located, n) }()
			for i := range n {
				ch, err := e.factor.BeginEnroll(ctx, identity.Request{Subject: "u", Origin: origin,
					UserName: strings.Repeat("a", 3*i) + "@bank.example"})
				if err != nil {
					t.Fatal(err)
				}
				img, err := e.factor.QRCode(ch)
				if err != nil {
					t.Fatal(err)
				}
				if got := decodeQR(t, img); got != string(ch.Payload) {
					t.Fatalf("decoded %q, want %q", got, ch.Payload)
				}
				if r, err := qrcode.NewQRCodeReader().Decode(qrBitmap(t, img), nil); err == nil && r.GetText() == string(ch.Payload) {
					located++
				}
			}
		})
	}
	// Too small an image for the symbol is an error, not an unreadable code.
	e := newEnv(t, nil, totp.WithAlgorithm(totp.SHA512), totp.WithQRSize(64))
	ch, _ := e.factor.BeginEnroll(ctx, identity.Request{Subject: "u", Origin: origin})
	if _, err := e.factor.QRCode(ch); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("QR code in 64 pixels: %v", err)
	}
	if _, err := e.factor.QRCode(&identity.Challenge{Kind: totp.Kind, Purpose: identity.PurposeAuthenticate}); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("QR code of a login challenge: %v", err)
	}
}

// TestURILabelEscaping: the label of the otpauth URI is percent-encoded
// beyond what RFC 3986 strictly needs in a path: many apps decode it with
// application/x-www-form-urlencoded rules, where a bare "+" is a space
// (google/google-authenticator#581), so "alice+bank@example.com" would show
// as "alice bank@example.com". Written as %2B (and a space as %20), the
// label reads the same under both decodings (Key Uri Format: the label is
// URL-encoded per RFC 3986).
func TestURILabelEscaping(t *testing.T) {
	k := &totp.Key{Issuer: "A+B & Co", Account: "alice+bank@example.com", Secret: []byte("12345678901234567890")}
	uri, err := k.URI()
	if err != nil {
		t.Fatal(err)
	}
	label, _, _ := strings.Cut(strings.TrimPrefix(uri, "otpauth://totp/"), "?")
	if strings.ContainsAny(label, "+& ") {
		t.Errorf("label %q of %s holds a character apps decode differently", label, uri)
	}
	// As an app reading it as a form value sees it.
	formDecoded, err := url.QueryUnescape(label)
	if err != nil || formDecoded != "A+B & Co:alice+bank@example.com" {
		t.Errorf("form-decoded label %q, %v", formDecoded, err)
	}
	back, err := totp.ParseURI(uri)
	if err != nil || back.Issuer != k.Issuer || back.Account != k.Account {
		t.Fatalf("ParseURI(%s) = %v, %v", uri, back, err)
	}
}
