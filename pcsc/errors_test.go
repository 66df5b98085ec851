package pcsc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ebfe/scard"
)

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		code scard.Error
		want error
	}{
		{scard.ErrNoReadersAvailable, ErrNoReaders},
		{scard.ErrUnknownReader, ErrReaderUnavailable},
		{scard.ErrReaderUnavailable, ErrReaderUnavailable},
		{scard.ErrNoSmartcard, ErrNoCard},
		{scard.ErrRemovedCard, ErrCardRemoved},
		{scard.ErrResetCard, ErrCardReset},
		{scard.ErrUnresponsiveCard, ErrCardUnresponsive},
		{scard.ErrNoService, ErrServiceDown},
		{scard.ErrServiceStopped, ErrServiceDown},
		{scard.ErrCommError, ErrServiceDown},
		{scard.ErrSharingViolation, ErrSharingViolation},
		{scard.ErrTimeout, ErrTimeout},
		{scard.ErrCancelled, ErrCancelled},
		{scard.ErrUnsupportedFeature, ErrUnsupported},
		{scard.ErrInvalidParameter, nil},
	} {
		err := wrap("connect", "Reader 00 00", tc.code)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != uint32(tc.code) || pe.Kind != tc.want {
			t.Errorf("%v: got %#v, want kind %v", tc.code, err, tc.want)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%v: errors.Is(%v) false", tc.code, tc.want)
		}
		msg := err.Error()
		if !strings.Contains(msg, `connect on "Reader 00 00"`) || !strings.Contains(msg, "0x8010") {
			t.Errorf("message %q lacks the operation, reader or code", msg)
		}
	}
	if wrap("x", "", nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
	if err := wrap("x", "", errors.New("other")); err == nil || !strings.Contains(err.Error(), "pcsc: x: other") {
		t.Errorf("foreign error: %v", err)
	}
	// Every sentinel's message tells the caller what to do.
	for _, s := range []error{ErrNoReaders, ErrNoCard, ErrCardRemoved, ErrCardReset, ErrServiceDown, ErrSharingViolation, ErrTimeout} {
		if !strings.Contains(s.Error(), ": ") {
			t.Errorf("sentinel %q gives no advice", s)
		}
	}
}

func TestContextErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	err := ctxErr(ctx, "wait")
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCancelled) {
		t.Errorf("deadline: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	err = ctxErr(ctx2, "wait")
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v", err)
	}
}

func TestStateFlags(t *testing.T) {
	s := ReaderState{Reader: "R", Flags: 0x00030000 | StatePresent | StateInUse, ATR: []byte{0x3B, 0x00}}
	if !s.CardPresent() || s.Empty() || !s.InUse() || s.Exclusive() || s.Gone() || s.Events() != 3 {
		t.Errorf("state %v: wrong predicates", s)
	}
	if got := s.String(); got != `"R": present|in use, ATR 3B 00` {
		t.Errorf("String() = %q", got)
	}
	if (ReaderState{Flags: StatePresent | StateMute}).CardPresent() {
		t.Error("a mute card counts as present")
	}
	if !(ReaderState{Flags: StateUnknown}).Gone() {
		t.Error("an unknown reader is not gone")
	}
	if got := StateFlags(0).String(); got != "StateFlags(0x0)" {
		t.Errorf("zero flags: %q", got)
	}
}
