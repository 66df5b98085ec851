package virtual

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// ErrRemoved reports a command sent to a card that is not inserted (see
// Card.Remove), like a reader whose card was pulled out. Insert the card and
// start again: its volatile state (selection, PIN verified) is gone. It wraps
// apdu.ErrCardRemoved, so code written against any apdu.Transport can test
// for removal without knowing the transport.
var ErrRemoved = fmt.Errorf("virtual: %w", apdu.ErrCardRemoved)

// ErrDropped reports a command whose answer was lost because the connection
// dropped in the middle of the exchange (a Fault with Drop set). The card lost
// power, as if pulled out and put back: it matches ErrRemoved too.
var ErrDropped = fmt.Errorf("%w: connection dropped in the middle of the exchange", ErrRemoved)

// ErrConfig reports an invalid Config or applet.
var ErrConfig = errors.New("virtual: invalid configuration")

// DefaultMaxCommandData is the default cap on the data a card gathers from a
// chained command.
const DefaultMaxCommandData = 65535

// maxChunk is the most response data a card sends in one response APDU: the
// vpcd frame length is 16 bits and must also hold SW1 SW2. The rest follows
// through GET RESPONSE.
const maxChunk = 0xFFFF - 2

// DefaultATR returns the ATR of a card built without Config.ATR, for a card
// that accepts extended-length APDUs or not (Config.ExtendedLength): direct
// convention, T=0 and T=1 offered (ISO/IEC 7816-3 §8.2.3), and historical
// bytes that say what the card does (ISO/IEC 7816-4:2013 §12.1.1; §8.1.1 in
// the 2005 edition), so that a host reading them learns what it may send.
//
// The historical bytes are compact-TLV objects (category indicator 80):
//   - card capabilities (73; tables 85 to 87 of the 2005 edition): DF
//     selection by full and by partial DF name, which the card does itself
//     (SELECT with P1 = 04 takes any leading part of an installed AID); a
//     data coding byte of one-byte data units with proprietary write
//     behaviour; command chaining, which the card always gathers; extended
//     Lc and Le fields exactly when it accepts them; one logical channel,
//     the basic one.
//   - card issuer's data (58): "puce-vc1", naming the card.
//
// Hosts read the card capabilities (package pcsc's ExtendedAuto, ATR
// parsers such as pcsc-tools' ATR_analysis): a card whose ATR kept quiet
// while it accepted extended APDUs was driven with chaining only, and one
// that announced them without accepting them would answer 6700 to every
// long command.
func DefaultATR(extendedLength bool) []byte {
	chaining := byte(0x80) // third software function table: b8 command chaining
	if extendedLength {
		chaining |= 0x40 // b7 extended Lc and Le fields
	}
	hist := []byte{0x80, 0x73, 0xC0, 0x21, chaining, 0x58, 'p', 'u', 'c', 'e', '-', 'v', 'c', '1'}
	atr := append([]byte{0x3B, 0x80 | byte(len(hist)), 0x80, 0x01}, hist...)
	// TCK makes the XOR of T0 … TCK zero; it is present because T=1 is
	// offered (ISO/IEC 7816-3 §8.2.5).
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

// Config configures a Card.
type Config struct {
	// ATR is the answer to reset; DefaultATR(ExtendedLength) when empty. At
	// most 33 bytes (ISO/IEC 7816-3 §8.2.1). An ATR given here must not
	// announce extended length (card capabilities, ISO/IEC 7816-4 §12.1.1)
	// unless ExtendedLength is set; one that keeps quiet about it while the
	// card accepts it is allowed, as on cards that tell it elsewhere.
	ATR []byte
	// ExtendedLength makes the card accept extended-length APDUs, announce
	// it in the default ATR's card capabilities, and report it through
	// ExtendedLength. Without it an extended APDU gets 6700, as on a card
	// that lacks the feature, and clients must chain.
	ExtendedLength bool
	// MaxCommandData caps the data gathered by command chaining; beyond it
	// the card answers 6A84. 0 means DefaultMaxCommandData.
	MaxCommandData int
	// Logger receives applet failures (warn) and a transcript with PINs
	// redacted (debug). nil discards.
	Logger *slog.Logger
}

// Card is a virtual smart card: applets selected by AID behind one ATR. It is
// an apdu.Transport in-process, and Bridge attaches it to pcscd through vpcd.
// Its methods are safe for concurrent use; the card processes one APDU at a
// time, as a real card does.
//
// The card has one logical channel, the basic one: commands on another
// channel are answered 6881.
//
// The master file (MF) is current after reset and after SELECT MF (ISO/IEC
// 7816-4 §7.1.1): commands then go to the MasterFileHolder applet, if one is
// installed, in its MF context; a card without one has a bare MF, which
// answers SELECT MF and refuses file commands with 6A82 and the rest with
// 6985 until an application is selected.
//
// Fault injection for integrators' tests: Remove and Insert pull the card out
// and put it back, SetDelay slows every APDU, Inject answers a status word or
// drops the connection for chosen commands.
type Card struct {
	atr     []byte
	ext     bool
	maxData int
	log     *slog.Logger

	mu       sync.Mutex
	applets  []Applet
	selected int // index in applets, -1 for none (the bare MF)
	mf       int // index of the MasterFileHolder, -1 for none
	chain    chainState
	pending  []byte // response data kept for GET RESPONSE
	finalSW  uint16 // status word after the last pending byte
	hasMore  bool   // pending is valid, even if empty
	present  bool
	changed  chan struct{} // closed and replaced when present changes
	faults   []fault
	delay    time.Duration
}

// chainState gathers the blocks of a chained command (ISO/IEC 7816-4 §5.3.3).
type chainState struct {
	active bool
	header [4]byte // CLA without the chaining bit, INS, P1, P2
	data   []byte
}

// NewCard returns an inserted card holding the applets, none selected.
func NewCard(cfg Config, applets ...Applet) (*Card, error) {
	atr := cfg.ATR
	if len(atr) == 0 {
		atr = DefaultATR(cfg.ExtendedLength)
	}
	if len(atr) < 2 || len(atr) > 33 {
		return nil, fmt.Errorf("%w: ATR of %d bytes, ISO/IEC 7816-3 allows 2 to 33", ErrConfig, len(atr))
	}
	if !cfg.ExtendedLength && apdu.ATRExtendedLength(atr) {
		// A host that reads the card capabilities would send extended
		// APDUs, and the card would answer each with 6700.
		return nil, fmt.Errorf("%w: the ATR announces extended Lc and Le (card capabilities) but Config.ExtendedLength is off", ErrConfig)
	}
	if cfg.MaxCommandData < 0 {
		return nil, fmt.Errorf("%w: negative MaxCommandData", ErrConfig)
	}
	maxData := cfg.MaxCommandData
	if maxData == 0 {
		maxData = DefaultMaxCommandData
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Card{
		atr:      bytes.Clone(atr),
		ext:      cfg.ExtendedLength,
		maxData:  maxData,
		log:      log,
		selected: -1,
		mf:       -1,
		present:  true,
		changed:  make(chan struct{}),
	}
	for _, a := range applets {
		if err := c.Install(a); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Install adds an applet. Its AID must be 5 to 16 bytes (ISO/IEC 7816-5) and
// must not be a leading part of another applet's AID, or the other way round,
// so that every SELECT has one answer.
func (c *Card) Install(a Applet) error {
	if a == nil {
		return fmt.Errorf("%w: nil applet", ErrConfig)
	}
	aid := a.AID()
	if len(aid) < 5 || len(aid) > 16 {
		return fmt.Errorf("%w: AID %X is %d bytes, want 5 to 16", ErrConfig, aid, len(aid))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.applets {
		if bytes.HasPrefix(o.AID(), aid) || bytes.HasPrefix(aid, o.AID()) {
			return fmt.Errorf("%w: AID %X clashes with installed AID %X", ErrConfig, aid, o.AID())
		}
	}
	if _, ok := a.(MasterFileHolder); ok {
		if c.mf >= 0 {
			return fmt.Errorf("%w: AID %X and %X both hold the master file", ErrConfig, c.applets[c.mf].AID(), aid)
		}
		c.mf = len(c.applets)
		if c.selected < 0 {
			// The MF is current once the card is up (ISO/IEC 7816-4 §7.1.1).
			c.selected = c.mf
		}
	}
	c.applets = append(c.applets, a)
	return nil
}

// ATR returns a copy of the answer to reset.
func (c *Card) ATR() []byte { return bytes.Clone(c.atr) }

// ExtendedLength reports whether the card accepts extended-length APDUs
// (Config.ExtendedLength); apdu.Client uses it to choose between extended
// length and chaining.
func (c *Card) ExtendedLength() bool { return c.ext }

// Transmit processes one command APDU and returns the response APDU. It
// fails with ErrRemoved when the card is not inserted, ErrDropped when a Drop
// fault fires, and ctx's error when ctx ends, during a delay included. Every
// other outcome, malformed commands included, is a response with a status
// word.
func (c *Card) Transmit(ctx context.Context, command []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	d := c.delay
	c.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.present {
		return nil, ErrRemoved
	}
	return c.process(ctx, command)
}

// Reset clears the card's volatile state as a warm reset or a power cycle
// does: the master file current and no application selected, no chained
// command or pending response, and every Resetter applet reset.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *Card) resetLocked() {
	// After reset the MF is the current DF (ISO/IEC 7816-4 §7.1.1): its
	// holder, if any, answers in its MF context.
	c.selected = c.mf
	c.chain = chainState{}
	c.clearPending()
	for _, a := range c.applets {
		if r, ok := a.(Resetter); ok {
			r.Reset()
		}
	}
}

func (c *Card) clearPending() {
	c.pending, c.finalSW, c.hasMore = nil, 0, false
}

// Remove pulls the card out: Transmit fails with ErrRemoved, a Bridge closes
// its vpcd connection (pcscd sees the card leave), and the volatile state is
// lost.
func (c *Card) Remove() { c.setPresent(false) }

// Insert puts the card back: Transmit works again and a Bridge reconnects.
func (c *Card) Insert() { c.setPresent(true) }

// Present reports whether the card is inserted.
func (c *Card) Present() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.present
}

func (c *Card) setPresent(p bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.present == p {
		return
	}
	c.present = p
	if !p {
		c.resetLocked()
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// presence returns whether the card is inserted and a channel closed at the
// next change.
func (c *Card) presence() (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.present, c.changed
}

// process runs one APDU; c.mu is held.
func (c *Card) process(ctx context.Context, raw []byte) ([]byte, error) {
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "virtual card command", slog.String("apdu", hex.EncodeToString(apdu.Redact(raw))))
	}
	resp, err := c.respond(ctx, raw)
	if err != nil {
		return nil, err
	}
	out := resp.Bytes()
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "virtual card response", slog.String("apdu", hex.EncodeToString(out)))
	}
	return out, nil
}

func (c *Card) respond(ctx context.Context, raw []byte) (apdu.Response, error) {
	cmd, extended, err := apdu.ParseCommand(raw)
	if err != nil {
		// Lc or Le inconsistent with the length: ISO/IEC 7816-4 §5.6 6700.
		return apdu.Status(apdu.SWWrongLength), nil
	}
	if f, ok := c.takeFault(cmd); ok {
		if f.Drop {
			c.resetLocked()
			return apdu.Response{}, ErrDropped
		}
		return apdu.Status(f.SW), nil
	}
	if extended && !c.ext {
		return apdu.Status(apdu.SWWrongLength), nil
	}
	if cmd.CLA == 0xFF {
		// FF is no class byte: ISO/IEC 7816-3 reserves it for PPS.
		return apdu.Status(apdu.SWCLANotSupported), nil
	}
	interindustry := cmd.CLA&0x80 == 0
	if interindustry && channel(cmd.CLA) != 0 {
		// One logical channel, the basic one (ISO/IEC 7816-4 §5.4.2).
		return apdu.Status(apdu.SWChannelNotSupported), nil
	}

	if cmd.INS == 0xC0 && interindustry && !secureMessaging(cmd.CLA) {
		return c.getResponse(cmd), nil
	}
	// Any other command forfeits the data a GET RESPONSE could have fetched.
	c.clearPending()

	if interindustry && cmd.CLA&0x10 != 0 {
		// Most chains carry one long command in pieces; PACE's GENERAL
		// AUTHENTICATE is a chain of steps, each answered (ICAO 9303-11
		// §4.4.4.2). The applet says which it wants.
		if c.selected >= 0 {
			if h, ok := c.applets[c.selected].(ChainHandler); ok && h.HandlesChain(cmd) {
				c.chain = chainState{}
				return c.paginate(c.dispatch(ctx, cmd), expected(cmd, extended), false), nil
			}
		}
		return c.chainBlock(cmd), nil
	}
	if c.chain.active {
		if c.chain.header == [4]byte{cmd.CLA, cmd.INS, cmd.P1, cmd.P2} {
			cmd.Data = append(c.chain.data, cmd.Data...)
			if len(cmd.Data) > c.maxData {
				c.chain = chainState{}
				return apdu.Status(apdu.SWNotEnoughMemory), nil
			}
		}
		// A command with another header abandons the chain (the host gave up
		// on it) and runs on its own.
		c.chain = chainState{}
	}

	resp := c.dispatch(ctx, cmd)
	return c.paginate(resp, expected(cmd, extended), false), nil
}

// expected is how much response data the card sends before it answers 61xx
// and keeps the rest for GET RESPONSE.
//
// With an Le field it is Ne. Without one (cases 1 and 3), ISO/IEC 7816-3:2006
// §12.1.2 reads as "no response data expected"; but under T=1, the protocol
// this card's ATR offers, the command APDU reaches the card unchanged, and
// the card answers with the data the command produced: the 61xx-then-GET
// RESPONSE exchange is the T=0 transport's answer to a case 4 command
// (ISO/IEC 7816-3:2006 §12.2), not a T=1 one. PIV middleware relies on it:
// libykpiv selects the PIV application with a case 3 SELECT (00 A4 04 00 05
// A0 00 00 03 08, no Le) and accepts only 9000 with the application property
// template that SP 800-73-4 Part 2 §3.1.1 names as SELECT's answer, as real
// T=1 PIV cards give it. So with no Le the card sends what one response of
// the command's form carries: 256 bytes short, 65536 extended (ISO/IEC
// 7816-4:2013 §5.1), and 61xx only beyond.
func expected(cmd apdu.Command, extended bool) int {
	switch {
	case cmd.Ne > 0:
		return cmd.Ne
	case extended:
		return 65536
	}
	return 256
}

// channel is the logical channel number of an interindustry class byte
// (ISO/IEC 7816-4 §5.4.1): bits 2-1 for the first interindustry values, 4 +
// bits 4-1 for the further ones.
func channel(cla byte) int {
	if cla&0x40 != 0 {
		return 4 + int(cla&0x0F)
	}
	return int(cla & 0x03)
}

// secureMessaging reports the secure messaging indication of an
// interindustry class byte (ISO/IEC 7816-4 §5.4.1).
func secureMessaging(cla byte) bool {
	if cla&0x40 != 0 {
		return cla&0x20 != 0
	}
	return cla&0x0C != 0
}

// chainBlock keeps one block of a chained command; the last block (chaining
// bit clear) runs the command.
func (c *Card) chainBlock(cmd apdu.Command) apdu.Response {
	header := [4]byte{cmd.CLA &^ 0x10, cmd.INS, cmd.P1, cmd.P2}
	if c.chain.active && c.chain.header != header {
		c.chain = chainState{}
	}
	if len(c.chain.data)+len(cmd.Data) > c.maxData {
		c.chain = chainState{}
		return apdu.Status(apdu.SWNotEnoughMemory)
	}
	c.chain.active = true
	c.chain.header = header
	c.chain.data = append(c.chain.data, cmd.Data...)
	return apdu.Status(apdu.SWOK)
}

// getResponse hands out the next part of a pending answer (ISO/IEC 7816-4
// §11.6.2 GET RESPONSE).
func (c *Card) getResponse(cmd apdu.Command) apdu.Response {
	if !c.hasMore {
		return apdu.Status(apdu.SWConditions)
	}
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return apdu.Status(apdu.SWWrongP1P2)
	}
	if cmd.Ne == 0 {
		return apdu.Status(apdu.SWWrongLength)
	}
	pending, sw := c.pending, c.finalSW
	c.clearPending()
	return c.paginate(apdu.Response{Data: pending, SW: sw}, cmd.Ne, true)
}

// paginate sends at most ne bytes of r and keeps the rest for GET RESPONSE,
// answering 61xx with xx the bytes still available (00 for 256 or more).
// owned says r.Data belongs to the card already (it is the pending data), so
// the rest need not be copied from the applet's buffer again.
func (c *Card) paginate(r apdu.Response, ne int, owned bool) apdu.Response {
	limit := min(ne, maxChunk)
	if len(r.Data) <= limit {
		return r
	}
	rest := r.Data[limit:]
	if !owned {
		rest = bytes.Clone(rest)
	}
	c.pending = rest
	c.finalSW = r.SW
	c.hasMore = true
	return apdu.Response{Data: r.Data[:limit], SW: 0x6100 | uint16(min(len(rest), 256)&0xFF)}
}

func (c *Card) dispatch(ctx context.Context, cmd apdu.Command) apdu.Response {
	if cmd.INS == 0xA4 && cmd.CLA&0x80 == 0 && !secureMessaging(cmd.CLA) {
		switch {
		case cmd.P1 == 0x04:
			return c.selectAID(ctx, cmd)
		case isSelectMF(cmd):
			return c.selectMF(ctx, cmd)
		}
	}
	if c.selected < 0 {
		switch cmd.INS {
		case 0xA4, 0xB0, 0xB1:
			// A bare MF holds no file (ISO/IEC 7816-4 §5.6: 6A82).
			return apdu.Status(apdu.SWFileNotFound)
		}
		return apdu.Status(apdu.SWConditions)
	}
	a := c.applets[c.selected]
	r, err := a.Process(ctx, cmd)
	return c.fromErr(ctx, a, r, err)
}

// selectAID runs SELECT by DF name (ISO/IEC 7816-4 §11.2.2, P1 = 04).
func (c *Card) selectAID(ctx context.Context, cmd apdu.Command) apdu.Response {
	target := -1
	if len(cmd.Data) > 0 {
		for i, a := range c.applets {
			if bytes.HasPrefix(a.AID(), cmd.Data) {
				target = i
				break
			}
		}
	}
	if target < 0 {
		return apdu.Status(apdu.SWFileNotFound)
	}
	a := c.applets[target]
	r, err := a.Select(ctx, cmd)
	r = c.fromErr(ctx, a, r, err)
	if sw1 := r.SW1(); r.SW != apdu.SWOK && sw1 != 0x62 && sw1 != 0x63 {
		return r
	}
	if c.selected >= 0 && c.selected != target {
		if d, ok := c.applets[c.selected].(Deselecter); ok {
			d.Deselect()
		}
	}
	c.selected = target
	return r
}

// isSelectMF reports SELECT of the master file: P1 00 with no data or with
// its identifier 3F00 (ISO/IEC 7816-4 §11.2.2, §7.1.1).
func isSelectMF(cmd apdu.Command) bool {
	return cmd.P1 == 0x00 && (len(cmd.Data) == 0 || len(cmd.Data) == 2 && cmd.Data[0] == 0x3F && cmd.Data[1] == 0x00)
}

// selectMF makes the master file current: its holder answers, and any other
// selected application is left (Deselecter). Without a holder the MF is
// bare and always selectable.
func (c *Card) selectMF(ctx context.Context, cmd apdu.Command) apdu.Response {
	r := apdu.Status(apdu.SWOK)
	if c.mf >= 0 {
		h := c.applets[c.mf].(MasterFileHolder)
		var err error
		r, err = h.SelectMF(ctx, cmd)
		r = c.fromErr(ctx, h, r, err)
		if sw1 := r.SW1(); r.SW != apdu.SWOK && sw1 != 0x62 && sw1 != 0x63 {
			return r
		}
	}
	if c.selected >= 0 && c.selected != c.mf {
		if d, ok := c.applets[c.selected].(Deselecter); ok {
			d.Deselect()
		}
	}
	c.selected = c.mf
	return r
}

func (c *Card) fromErr(ctx context.Context, a Applet, r apdu.Response, err error) apdu.Response {
	if err == nil {
		return r
	}
	if sw, ok := apdu.StatusWord(err); ok {
		return apdu.Status(sw)
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "virtual card applet failed",
		slog.String("aid", hex.EncodeToString(a.AID())), slog.Any("err", err))
	return apdu.Status(apdu.SWNoPreciseDiagnosis)
}
