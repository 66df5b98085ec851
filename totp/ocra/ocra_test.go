package ocra_test

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/totp/ocra"
)

// The keys of RFC 6287 Appendix C: "1234567890" repeated to 20, 32 and 64
// bytes.
var (
	key20 = []byte(strings.Repeat("1234567890", 2))
	key32 = []byte(strings.Repeat("1234567890", 4)[:32])
	key64 = []byte(strings.Repeat("1234567890", 7)[:64])
	// The time of the T1M vectors: step 0x132d0b6 of one minute.
	rfcTime = time.Unix(0x132d0b6*60, 0)
)

// vec is an input and the response the RFC gives for it.
type vec struct {
	in   ocra.Input
	want string
}

func repeat(d byte) string { return strings.Repeat(string(d), 8) }

// TestRFC6287Vectors checks every vector of RFC 6287 Appendix C: one-way
// (C.1), mutual (C.2) and signature (C.3).
func TestRFC6287Vectors(t *testing.T) {
	pin := "1234"
	cases := []struct {
		suite string
		key   []byte
		vecs  []vec
	}{
		{"OCRA-1:HOTP-SHA1-6:QN08", key20, func() []vec {
			want := []string{"237653", "243178", "653583", "740991", "608993", "388898", "816933", "224598", "750600", "294470"}
			var v []vec
			for i, w := range want {
				v = append(v, vec{ocra.Input{Question: repeat('0' + byte(i))}, w})
			}
			return v
		}()},
		{"OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1", key32, func() []vec {
			want := []string{"65347737", "86775851", "78192410", "71565254", "10104329", "65983500", "70069104", "91771096", "75011558", "08522129"}
			var v []vec
			for i, w := range want {
				v = append(v, vec{ocra.Input{Counter: uint64(i), Question: "12345678", PIN: pin}, w})
			}
			return v
		}()},
		{"OCRA-1:HOTP-SHA256-8:QN08-PSHA1", key32, func() []vec {
			want := []string{"83238735", "01501458", "17957585", "86776967", "86807031"}
			var v []vec
			for i, w := range want {
				v = append(v, vec{ocra.Input{Question: repeat('0' + byte(i)), PIN: pin}, w})
			}
			return v
		}()},
		{"OCRA-1:HOTP-SHA512-8:C-QN08", key64, func() []vec {
			want := []string{"07016083", "63947962", "70123924", "25341727", "33203315", "34205738", "44343969", "51946085", "20403879", "31409299"}
			var v []vec
			for i, w := range want {
				v = append(v, vec{ocra.Input{Counter: uint64(i), Question: repeat('0' + byte(i))}, w})
			}
			return v
		}()},
		{"OCRA-1:HOTP-SHA512-8:QN08-T1M", key64, func() []vec {
			want := []string{"95209754", "55907591", "22048402", "24218844", "36209546"}
			var v []vec
			for i, w := range want {
				v = append(v, vec{ocra.Input{Question: repeat('0' + byte(i)), Time: rfcTime}, w})
			}
			return v
		}()},
		// C.3, plain signature: the question is the text signed.
		{"OCRA-1:HOTP-SHA256-8:QA08", key32, []vec{
			{ocra.Input{Question: "SIG10000"}, "53095496"}, {ocra.Input{Question: "SIG11000"}, "04110475"},
			{ocra.Input{Question: "SIG12000"}, "31331128"}, {ocra.Input{Question: "SIG13000"}, "76028668"},
			{ocra.Input{Question: "SIG14000"}, "46554205"},
		}},
		{"OCRA-1:HOTP-SHA512-8:QA10-T1M", key64, []vec{
			{ocra.Input{Question: "SIG1000000", Time: rfcTime}, "77537423"}, {ocra.Input{Question: "SIG1100000", Time: rfcTime}, "31970405"},
			{ocra.Input{Question: "SIG1200000", Time: rfcTime}, "10235557"}, {ocra.Input{Question: "SIG1300000", Time: rfcTime}, "95213541"},
			{ocra.Input{Question: "SIG1400000", Time: rfcTime}, "65360607"},
		}},
		// C.2, mutual challenge-response: the question is the client's
		// and the server's challenge together.
		{"OCRA-1:HOTP-SHA256-8:QA08", key32, mutual(
			"CLI22220SRV11110", "28247970", "CLI22221SRV11111", "01984843", "CLI22222SRV11112", "65387857",
			"CLI22223SRV11113", "03351211", "CLI22224SRV11114", "83412541", "SRV11110CLI22220", "15510767",
			"SRV11111CLI22221", "90175646", "SRV11112CLI22222", "33777207", "SRV11113CLI22223", "95285278",
			"SRV11114CLI22224", "28934924")},
		{"OCRA-1:HOTP-SHA512-8:QA08", key64, mutual(
			"CLI22220SRV11110", "79496648", "CLI22221SRV11111", "76831980", "CLI22222SRV11112", "12250499",
			"CLI22223SRV11113", "90856481", "CLI22224SRV11114", "12761449")},
		{"OCRA-1:HOTP-SHA512-8:QA08-PSHA1", key64, mutual(
			"SRV11110CLI22220", "18806276", "SRV11111CLI22221", "70020315", "SRV11112CLI22222", "01600026",
			"SRV11113CLI22223", "18951020", "SRV11114CLI22224", "32528969")},
	}
	for _, c := range cases {
		suite, err := ocra.ParseSuite(c.suite)
		if err != nil {
			t.Fatalf("%s: %v", c.suite, err)
		}
		for _, v := range c.vecs {
			got, err := suite.Response(c.key, v.in)
			if err != nil || got != v.want {
				t.Errorf("%s %+v: %q, %v; want %q", c.suite, v.in, got, err, v.want)
			}
			if ok, err := suite.Verify(c.key, v.in, v.want); !ok || err != nil {
				t.Errorf("%s %+v: Verify(%s) = %v, %v", c.suite, v.in, v.want, ok, err)
			}
			wrong := []byte(v.want)
			wrong[0] = '0' + (wrong[0]-'0'+1)%10
			if ok, _ := suite.Verify(c.key, v.in, string(wrong)); ok {
				t.Errorf("%s %+v: a wrong response verified", c.suite, v.in)
			}
		}
	}
}

// mutual makes C.2's vectors from question, response pairs; the PIN is
// used only by the suite that has one.
func mutual(pairs ...string) []vec {
	var v []vec
	for i := 0; i < len(pairs); i += 2 {
		v = append(v, vec{ocra.Input{Question: pairs[i], Mutual: true, PIN: "1234"}, pairs[i+1]})
	}
	return v
}

// TestPINHash: a server that keeps only the PIN's hash gets the same
// response (RFC 6287 C.1 gives the SHA-1 of "1234").
func TestPINHash(t *testing.T) {
	suite, _ := ocra.ParseSuite("OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1")
	h, _ := hex.DecodeString("7110eda4d09e062aa5e4a390b0a572ac0d2c0220")
	got, err := suite.Response(key32, ocra.Input{Counter: 9, Question: "12345678", PINHash: h})
	if err != nil || got != "08522129" {
		t.Fatalf("with the PIN hash: %q, %v", got, err)
	}
	if _, err := suite.Response(key32, ocra.Input{Question: "12345678", PINHash: h[:10]}); !errors.Is(err, ocra.ErrInput) {
		t.Fatalf("a short PIN hash: %v", err)
	}
}

func TestParseSuite(t *testing.T) {
	s, err := ocra.ParseSuite("OCRA-1:HOTP-SHA512-8:C-QH40-PSHA256-S128-T30S")
	if err != nil {
		t.Fatal(err)
	}
	want := ocra.Suite{Hash: crypto.SHA512, Digits: 8, Counter: true, QuestionFormat: ocra.Hex, QuestionLen: 40,
		PIN: crypto.SHA256, SessionLen: 128, TimeStep: 30 * time.Second}
	got := *s
	if got.String() != "OCRA-1:HOTP-SHA512-8:C-QH40-PSHA256-S128-T30S" {
		t.Fatalf("String() = %q", got.String())
	}
	if fmt.Sprint(got.Hash, got.Digits, got.Counter, got.QuestionFormat, got.QuestionLen, got.PIN, got.SessionLen, got.TimeStep) !=
		fmt.Sprint(want.Hash, want.Digits, want.Counter, want.QuestionFormat, want.QuestionLen, want.PIN, want.SessionLen, want.TimeStep) {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{
		"", "OCRA-1:HOTP-SHA1-6", "OCRA-2:HOTP-SHA1-6:QN08", "OCRA-1:TOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA3-6:QN08",
		"OCRA-1:HOTP-SHA1-3:QN08", "OCRA-1:HOTP-SHA1-11:QN08", "OCRA-1:HOTP-SHA1-6:QX08", "OCRA-1:HOTP-SHA1-6:QN03",
		"OCRA-1:HOTP-SHA1-6:QN65", "OCRA-1:HOTP-SHA1-6:QNXX", "OCRA-1:HOTP-SHA1-6:C", "OCRA-1:HOTP-SHA1-6:QN08-C",
		"OCRA-1:HOTP-SHA1-6:QN08-PSHA3", "OCRA-1:HOTP-SHA1-6:QN08-S000", "OCRA-1:HOTP-SHA1-6:QN08-S513",
		"OCRA-1:HOTP-SHA1-6:QN08-T0H", "OCRA-1:HOTP-SHA1-6:QN08-T60M", "OCRA-1:HOTP-SHA1-6:QN08-T49H",
		"OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1", "OCRA-1:HOTP-SHA1-6:QN08-PSHA1-PSHA1", "OCRA-1:HOTP-SHA1-6:QN08-T1X",
		"OCRA-1:HOTP-SHA1-+6:QN08", "OCRA-1:HOTP-SHA1-6:QN+8",
	} {
		if _, err := ocra.ParseSuite(bad); !errors.Is(err, ocra.ErrSuite) {
			t.Errorf("ParseSuite(%q): %v, want ErrSuite", bad, err)
		}
	}
}

// TestInputRefused: an input that does not fit the suite is refused with
// ErrInput, never answered.
func TestInputRefused(t *testing.T) {
	for _, c := range []struct {
		suite string
		in    ocra.Input
	}{
		{"OCRA-1:HOTP-SHA1-6:QN08", ocra.Input{Question: "123456789"}},
		{"OCRA-1:HOTP-SHA1-6:QN08", ocra.Input{Question: ""}},
		{"OCRA-1:HOTP-SHA1-6:QN08", ocra.Input{Question: "12ab"}},
		{"OCRA-1:HOTP-SHA1-6:QH08", ocra.Input{Question: "12xz"}},
		{"OCRA-1:HOTP-SHA1-6:QA08", ocra.Input{Question: "a b"}},
		{"OCRA-1:HOTP-SHA1-6:QN08", ocra.Input{Question: "1234", Counter: 1}},
		{"OCRA-1:HOTP-SHA1-6:QN08-PSHA1", ocra.Input{Question: "1234"}},
		{"OCRA-1:HOTP-SHA1-6:QN08-S064", ocra.Input{Question: "1234", Session: make([]byte, 63)}},
		{"OCRA-1:HOTP-SHA1-6:QN08-T1M", ocra.Input{Question: "1234"}},
		{"OCRA-1:HOTP-SHA1-6:QN08-T1M", ocra.Input{Question: "1234", Time: time.Unix(-60, 0)}},
	} {
		s, err := ocra.ParseSuite(c.suite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Response(key20, c.in); !errors.Is(err, ocra.ErrInput) {
			t.Errorf("%s %+v: %v, want ErrInput", c.suite, c.in, err)
		}
	}
}

// TestTimeStep: responses change at step boundaries and not inside a step.
func TestTimeStep(t *testing.T) {
	s, _ := ocra.ParseSuite("OCRA-1:HOTP-SHA1-8:QN08-T30S")
	at := time.Unix(1_700_000_020, 0) // 10 s into a step (1,700,000,010 is a multiple of 30)
	a, _ := s.Response(key20, ocra.Input{Question: "1", Time: at})
	b, _ := s.Response(key20, ocra.Input{Question: "1", Time: at.Add(19 * time.Second)})
	c, _ := s.Response(key20, ocra.Input{Question: "1", Time: at.Add(20 * time.Second)})
	if a != b || a == c {
		t.Fatalf("within a step %s %s, across %s", a, b, c)
	}
}

// TestNoTruncation: digits 0 answer the whole HMAC in hex (§6.2).
func TestNoTruncation(t *testing.T) {
	s, _ := ocra.ParseSuite("OCRA-1:HOTP-SHA256-0:QN08")
	got, err := s.Response(key32, ocra.Input{Question: "12345678"})
	if err != nil || len(got) != 64 {
		t.Fatalf("%q, %v", got, err)
	}
}

func FuzzParseSuite(f *testing.F) {
	for _, s := range []string{"OCRA-1:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA512-8:C-QH40-PSHA256-S128-T30S",
		"OCRA-1:HOTP-SHA256-8:QA10-T1M", "OCRA-1:HOTP-SHA1-0:QN04-S512-T48H"} {
		f.Add(s, "1234", uint64(1))
	}
	f.Fuzz(func(t *testing.T, suite, question string, counter uint64) {
		s, err := ocra.ParseSuite(suite)
		if err != nil {
			if !errors.Is(err, ocra.ErrSuite) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if s.String() != suite {
			t.Fatalf("String() = %q for %q", s.String(), suite)
		}
		in := ocra.Input{Question: question, PIN: "1234", Session: make([]byte, s.SessionLen), Time: time.Unix(1_700_000_000, 0)}
		if s.Counter {
			in.Counter = counter
		}
		r, err := s.Response(key20, in)
		if err != nil {
			if !errors.Is(err, ocra.ErrInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if (s.Digits == 0 && len(r) != 2*s.Hash.Size()) || (s.Digits > 0 && len(r) != s.Digits) {
			t.Fatalf("response %q for %s", r, suite)
		}
	})
}

// TestInputHidesPIN: an Input that reaches a log or an error by mistake
// (fmt's %v, %+v, %#v, log/slog) shows neither the PIN, nor its hash, nor
// the session information: a PIN is never logged.
func TestInputHidesPIN(t *testing.T) {
	in := ocra.Input{Question: "12345678", Counter: 7, PIN: "9876", PINHash: []byte{0xde, 0xad, 0xbe, 0xef}, Session: []byte("sessionsecret")}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	log.Info("ocra", "input", in, "ptr", &in)
	for _, s := range []string{fmt.Sprint(in), fmt.Sprintf("%+v", in), fmt.Sprintf("%#v", in), fmt.Sprintf("%v", &in), fmt.Sprintf("%+v", &in), buf.String()} {
		for _, secret := range []string{"9876", "deadbeef", "222 173", "sessionsecret", "115 101 115"} {
			if strings.Contains(strings.ToLower(s), secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
		if !strings.Contains(s, "12345678") {
			t.Errorf("%q does not show the question", s)
		}
	}
}
