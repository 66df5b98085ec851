package apdu

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	b := []byte{0x01, 0x02, 0x61, 0x10}
	r, err := ParseResponse(b)
	if err != nil || !bytes.Equal(r.Data, []byte{1, 2}) || r.SW != 0x6110 || r.SW1() != 0x61 || r.SW2() != 0x10 {
		t.Fatalf("ParseResponse = %+v, %v", r, err)
	}
	if !bytes.Equal(r.Bytes(), b) {
		t.Errorf("Bytes() = %X, want %X", r.Bytes(), b)
	}
	// Data aliases the input but cannot be appended into the status bytes.
	r.Data = append(r.Data, 0xEE)
	if b[2] != 0x61 {
		t.Error("appending to Data overwrote SW1")
	}
	for _, short := range [][]byte{nil, {0x90}} {
		if _, err := ParseResponse(short); !errors.Is(err, ErrShortResponse) {
			t.Errorf("ParseResponse(%X) error = %v, want ErrShortResponse", short, err)
		}
	}
	r, err = ParseResponse([]byte{0x90, 0x00})
	if err != nil || len(r.Data) != 0 || !r.OK() || r.Err() != nil {
		t.Errorf("ParseResponse(9000) = %+v, %v; Err() = %v", r, err, r.Err())
	}
}

func TestStatusSentinels(t *testing.T) {
	sentinels := []error{ErrWrongPIN, ErrBlocked, ErrSecurityStatus, ErrNotFound, ErrWrongData,
		ErrINSNotSupported, ErrCLANotSupported, ErrWrongLength, ErrConditions, ErrWrongP1P2, ErrSecureMessaging}
	for _, tc := range []struct {
		sw   uint16
		want []error
	}{
		{0x63C3, []error{ErrWrongPIN}},
		{0x63C0, []error{ErrWrongPIN, ErrBlocked}},
		{0x6983, []error{ErrBlocked}},
		{0x6982, []error{ErrSecurityStatus}},
		{0x6A82, []error{ErrNotFound}},
		{0x6A83, []error{ErrNotFound}},
		{0x6A88, []error{ErrNotFound}},
		{0x6A80, []error{ErrWrongData}},
		{0x6D00, []error{ErrINSNotSupported}},
		{0x6E00, []error{ErrCLANotSupported}},
		{0x6700, []error{ErrWrongLength}},
		{0x6985, []error{ErrConditions}},
		{0x6A86, []error{ErrWrongP1P2}},
		{0x6B00, []error{ErrWrongP1P2}},
		{0x6987, []error{ErrSecureMessaging}},
		{0x6988, []error{ErrSecureMessaging}},
		{0x6F00, nil},
		{0x6281, nil},
		{0x6300, nil},
	} {
		err := StatusErr(tc.sw)
		if err == nil {
			t.Fatalf("StatusErr(%04X) = nil", tc.sw)
		}
		wrapped := fmt.Errorf("reading: %w", err)
		for _, s := range sentinels {
			want := false
			for _, w := range tc.want {
				want = want || w == s
			}
			if got := errors.Is(wrapped, s); got != want {
				t.Errorf("errors.Is(StatusErr(%04X), %v) = %v, want %v", tc.sw, s, got, want)
			}
		}
		var se *StatusError
		if !errors.As(wrapped, &se) || se.SW != tc.sw {
			t.Errorf("errors.As(StatusErr(%04X), *StatusError) gives %v", tc.sw, se)
		}
		if !errors.Is(wrapped, &StatusError{SW: tc.sw}) || errors.Is(wrapped, &StatusError{SW: tc.sw ^ 1}) {
			t.Errorf("StatusErr(%04X) does not match *StatusError by SW", tc.sw)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%04X", tc.sw)) {
			t.Errorf("message %q lacks the status word", err)
		}
		if sw, ok := StatusWord(wrapped); !ok || sw != tc.sw {
			t.Errorf("StatusWord(StatusErr(%04X)) = %04X, %v", tc.sw, sw, ok)
		}
	}
	if StatusErr(0x9000) != nil {
		t.Error("StatusErr(9000) != nil")
	}
}

func TestWrongPINError(t *testing.T) {
	err := fmt.Errorf("verify: %w", StatusErr(0x63C2))
	var w *WrongPINError
	if !errors.As(err, &w) || w.TriesLeft != 2 {
		t.Fatalf("errors.As(63C2) = %v", w)
	}
	if !strings.Contains(err.Error(), "2 tries left") || !strings.Contains(err.Error(), "never retry") {
		t.Errorf("message %q does not say what to do", err)
	}
	if errors.Is(err, ErrBlocked) {
		t.Error("63C2 matches ErrBlocked")
	}
	if !errors.Is(StatusErr(0x63C0), ErrBlocked) || !errors.Is(&StatusError{SW: 0x63C0}, ErrBlocked) {
		t.Error("63C0 does not match ErrBlocked")
	}
	if !errors.Is(&StatusError{SW: 0x63C5}, ErrWrongPIN) {
		t.Error("a bare *StatusError 63C5 does not match ErrWrongPIN")
	}
}

func TestStatusWordOfSentinels(t *testing.T) {
	for _, tc := range []struct {
		err error
		sw  uint16
	}{
		{ErrSecurityStatus, 0x6982},
		{fmt.Errorf("x: %w", ErrNotFound), 0x6A82},
		{ErrWrongP1P2, 0x6A86},
		{ErrBlocked, 0x6983},
		{&WrongPINError{TriesLeft: 1}, 0x63C1},
	} {
		if sw, ok := StatusWord(tc.err); !ok || sw != tc.sw {
			t.Errorf("StatusWord(%v) = %04X, %v; want %04X", tc.err, sw, ok, tc.sw)
		}
	}
	for _, err := range []error{nil, errors.New("disk full")} {
		if _, ok := StatusWord(err); ok {
			t.Errorf("StatusWord(%v) reports a status word", err)
		}
	}
}
