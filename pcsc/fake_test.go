package pcsc

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/ebfe/scard"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// fakeHandle stands in for a pcsc-lite card handle over a virtual card, so
// that Card's logic (transactions, reset recovery, removal, PIN pad) runs
// under the race detector without a daemon. It follows pcsc-lite where it
// matters: a reset by another program is reported by every call but
// Reconnect until Reconnect acknowledges it, begins are counted, and a card
// pulled out in the middle of an exchange yields an empty response and no
// error.
type fakeHandle struct {
	card *virtual.Card

	mu         sync.Mutex
	resetSeen  bool // another program reset the card; not yet acknowledged
	locks      int
	reconnects int
	removedMid bool // the card left during the last transmit
	pinpad     bool // the reader has FEATURE_VERIFY_PIN_DIRECT at code 0x42330006
	maxAPDU    int  // dwMaxAPDUDataSize, -1 when the reader does not say
	lastCtl    []byte
	disconnect bool
}

func newFake(t *testing.T, cfg virtual.Config) (*fakeHandle, *virtual.Card) {
	t.Helper()
	vc, err := virtual.NewCard(cfg, virtual.NewEchoApplet())
	if err != nil {
		t.Fatal(err)
	}
	return &fakeHandle{card: vc, maxAPDU: -1}, vc
}

// resetByOther resets the card as another program's SCardDisconnect with
// SCARD_RESET_CARD would.
func (f *fakeHandle) resetByOther() {
	f.card.Reset()
	f.mu.Lock()
	f.resetSeen = true
	f.mu.Unlock()
}

func (f *fakeHandle) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.disconnect {
		return scard.ErrInvalidHandle
	}
	if !f.card.Present() {
		return scard.ErrRemovedCard
	}
	if f.resetSeen {
		return scard.ErrResetCard
	}
	return nil
}

func (f *fakeHandle) Transmit(cmd []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	resp, err := f.card.Transmit(context.Background(), cmd)
	if errors.Is(err, virtual.ErrRemoved) {
		return nil, nil // what pcsc-lite gives over vpcd
	}
	return resp, err
}

func (f *fakeHandle) BeginTransaction() error {
	if err := f.check(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks++
	return nil
}

func (f *fakeHandle) EndTransaction(scard.Disposition) error {
	if err := f.check(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locks == 0 {
		return scard.ErrNotTransacted
	}
	f.locks--
	return nil
}

func (f *fakeHandle) Reconnect(scard.ShareMode, scard.Protocol, scard.Disposition) error {
	if !f.card.Present() {
		return scard.ErrNoSmartcard
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetSeen = false
	f.reconnects++
	return nil
}

func (f *fakeHandle) Status() (*scard.CardStatus, error) {
	if !f.card.Present() {
		return nil, scard.ErrRemovedCard
	}
	return &scard.CardStatus{Reader: "Fake 00 00", State: scard.Present | scard.Powered | scard.Specific,
		ActiveProtocol: scard.ProtocolT1, Atr: f.card.ATR()}, nil
}

func (f *fakeHandle) Control(code uint32, in []byte) ([]byte, error) {
	f.mu.Lock()
	pinpad, maxAPDU := f.pinpad, f.maxAPDU
	f.mu.Unlock()
	switch {
	case code == ioctlGetFeatureRequest:
		var out []byte
		if pinpad {
			out = append(out, byte(FeatureVerifyPINDirect), 4, 0x42, 0x33, 0x00, 0x06)
		}
		if maxAPDU >= 0 {
			out = append(out, byte(FeatureGetTLVProperties), 4, 0x42, 0x33, 0x00, 0x12)
		}
		if out == nil {
			return nil, scard.ErrUnsupportedFeature
		}
		return out, nil
	case code == 0x42330012 && maxAPDU >= 0:
		out := []byte{0x06, 1, 4, propMaxAPDUDataSize, 4}
		return binary.LittleEndian.AppendUint32(out, uint32(maxAPDU)), nil
	case code == 0x42330006 && pinpad:
		f.mu.Lock()
		f.lastCtl = slices.Clone(in)
		f.mu.Unlock()
		return f.typePIN(in, virtual.EchoPIN)
	}
	return nil, scard.ErrUnsupportedFeature
}

// typePIN plays a PIN pad reader: it reads PIN_VERIFY_STRUCTURE, writes the
// digits the "holder" typed into the template (ASCII or BCD, left
// justified), and sends the command to the card.
func (f *fakeHandle) typePIN(s []byte, digits string) ([]byte, error) {
	if len(s) < 19 || int(binary.LittleEndian.Uint32(s[15:19])) != len(s)-19 {
		return []byte{0x6B, 0x80}, nil
	}
	cmd := slices.Clone(s[19:])
	offset := int(s[2]>>3) & 0x0F
	block := int(s[3] & 0x0F)
	maxDigits, minDigits := int(s[5]), int(s[6])
	if len(digits) < minDigits || len(digits) > maxDigits {
		return []byte{0x64, 0x03}, nil
	}
	data := cmd[5:]
	switch s[2] & 0x03 {
	case byte(PINASCII):
		if len(digits) > block {
			return []byte{0x6B, 0x80}, nil
		}
		copy(data[offset:], digits)
	default:
		return []byte{0x6B, 0x80}, nil
	}
	return f.card.Transmit(context.Background(), cmd)
}

func (f *fakeHandle) Disconnect(scard.Disposition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnect = true
	return nil
}

func (f *fakeHandle) ActiveProtocol() scard.Protocol { return scard.ProtocolT1 }

func (f *fakeHandle) lockCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locks
}

// fakeCard connects a Card to a fake handle.
func fakeCard(t *testing.T, f *fakeHandle, o ConnectOptions) *Card {
	t.Helper()
	c, err := newCard(t.Context(), nil, "Fake 00 00", scard.ShareShared, o, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var echoSelect = apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: virtual.EchoAID(), Ne: 256}

func echoCmd(ins byte, p1p2 int, data []byte, ne int) apdu.Command {
	return apdu.Command{CLA: 0x00, INS: ins, P1: byte(p1p2 >> 8), P2: byte(p1p2), Data: data, Ne: ne}
}
