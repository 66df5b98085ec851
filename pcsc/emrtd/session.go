package emrtd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Protocol is the access control protocol that opened a session.
type Protocol int

const (
	// ProtocolPACE is PACE (ICAO 9303-11 §4.4).
	ProtocolPACE Protocol = iota + 1
	// ProtocolBAC is Basic Access Control (ICAO 9303-11 §4.3).
	ProtocolBAC
)

func (p Protocol) String() string {
	switch p {
	case ProtocolPACE:
		return "PACE"
	case ProtocolBAC:
		return "BAC"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Read sizes. A short READ BINARY asks for at most 0xDF bytes so that the
// protected answer (DO'87' with padding, DO'99', DO'8E') fits the 256 bytes of
// a short response APDU with either cipher. With extended length the reader
// asks for up to 0x7FFF bytes, the largest offset P1-P2 can hold, so that a
// second read can start anywhere in a file of 64 KiB.
const (
	shortChunk    = 0xDF
	extendedChunk = 0x7FFF
	maxP1P2Offset = 0x7FFF
	maxFileSize   = 1 << 20
)

// Options configures Open.
type Options struct {
	// Rand supplies the nonces and ephemeral keys; crypto/rand when nil.
	Rand io.Reader
	// DisablePACE skips PACE and opens the chip with BAC (which needs an
	// MRZKey), as for a chip without EF.CardAccess.
	DisablePACE bool
	// RequirePACE refuses BAC: when PACE cannot run, Open fails with
	// ErrPACERequired instead of falling back. Read catches a downgrade to
	// BAC only when the chip's signed DG14 or EF.CardSecurity announces
	// PACE (ErrCardAccessMismatch); with this option a chip, or someone
	// between it and the reader, that hides EF.CardAccess or turns PACE
	// down with a status word gets no session at all. For inspection
	// systems whose policy forbids BAC (ICAO 9303-11 §4.2 lets a terminal
	// use PACE only, and BAC's keys have no more entropy than the MRZ).
	RequirePACE bool
	// (PACE with Chip Authentication Mapping needs no option: Open prefers
	// it whenever EF.CardAccess offers it, for it authenticates the chip in
	// the same run, ICAO 9303-11 §4.4.3.5; Session.ChipAuthenticated then
	// reports true, and a failed check is ErrPACECAM.)
	//
	// ShortReads forbids extended-length READ BINARY even when the reader
	// and chip accept it.
	ShortReads bool
	// MaxRead caps the bytes one READ BINARY asks for (0: automatic, 0xDF
	// short, 0x7FFF extended).
	MaxRead int
}

// Session is an open secure messaging session with the LDS1 application.
// It reads elementary files; Read reads a whole Record. A Session is not for
// concurrent use beyond what its SecureChannel serialises.
type Session struct {
	sm       *SecureChannel
	client   *apdu.Client
	protocol Protocol
	chunk    int
	access   *CardAccess
	t        apdu.Transport // below secure messaging, for Chip Authentication's new channel
	// idIC identifies the chip to Terminal Authentication (ICAO 9303-11
	// §7.1): Comp(PK_IC) of PACE, or the MRZ document number with its check
	// digit after BAC.
	idIC []byte
	eac  eacState
	// seen is what Open learnt of EF.CardAccess, which Read checks
	// against DG14 (cardAccessSeen); cardAccess its bytes when read.
	seen       cardAccessSeen
	cardAccess []byte
	// cardSecurity is EF.CardSecurity as read from the MF under secure
	// messaging (cardsecurity.go), nil when the chip has none or it was
	// not read; csTried says it was looked for.
	cardSecurity []byte
	csTried      bool
}

// Open opens the LDS1 application with the holder's access key in the order
// of ICAO 9303-11 §4.2: EF.CardAccess read from the master file, PACE when
// it offers a supported variant (Chip Authentication Mapping first: then
// Open checks the chip's proof against EF.CardSecurity's key and a failure
// gives ErrPACECAM), then SELECT of the application (under
// PACE's secure messaging); BAC after the SELECT otherwise, when the key is
// an MRZKey. After PACE, and before the SELECT, EF.CardSecurity is read
// from the MF when EF.CardAccess names a protocol that requires it (ICAO
// 9303-11 §9.2.11). EF.CardAccess is unsigned: Session.Read checks it
// against EF.CardSecurity or DG14 (ErrCardAccessMismatch). The chip's refusal of the key gives
// ErrAccessDenied and nothing is read; a malformed key gives ErrInvalidKey
// before anything is sent. PACE is not retried with BAC after the chip
// refused the password: the same key would fail again and count against the
// holder.
func Open(ctx context.Context, t apdu.Transport, key AccessKey, opts *Options) (*Session, error) {
	if opts == nil {
		opts = &Options{}
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no access key", ErrInvalidKey)
	}
	if opts.DisablePACE && opts.RequirePACE {
		return nil, fmt.Errorf("%w: Options.DisablePACE and RequirePACE are both set", ErrPACERequired)
	}
	if _, err := key.paceSecret(); err != nil {
		return nil, err
	}
	plain := &apdu.Client{Transport: t}
	var access *CardAccess
	var paceErr error
	seen, caRaw := cardAccessNotRead, []byte(nil)
	if !opts.DisablePACE {
		// ICAO 9303-11 §4.2, step 1: read EF.CardAccess, in the master file,
		// which is current after reset (ISO/IEC 7816-4 §7.1.1), by its short
		// EF identifier. 6A82 means there is none (a BAC-only chip). Another
		// refusal means another DF is current (an earlier session's
		// application): SELECT MF and read again.
		raw, err := readPlain(ctx, plain, FileCardAccess)
		if err != nil && isStatus(err) && !errors.Is(err, apdu.ErrNotFound) {
			if _, serr := plain.Do(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x00, P2: 0x0C}); serr == nil {
				raw, err = readPlain(ctx, plain, FileCardAccess)
			}
		}
		switch {
		case err == nil:
			seen, caRaw = cardAccessRead, raw
			if access, err = ParseCardAccess(raw); err != nil {
				paceErr = err
			}
		case !isStatus(err):
			return nil, err
		default:
			// Absent or refused: a chip whose DG14 announces PACE is then
			// caught by Read (a downgrade to BAC).
			seen = cardAccessAbsent
			paceErr = fmt.Errorf("%w: no EF.CardAccess: %w", ErrUnsupported, err)
		}
	}
	if access != nil {
		info, err := access.choose()
		if err == nil {
			r, err := runPACE(ctx, t, key, info, opts.Rand)
			if err == nil {
				s := newSession(t, r.sm, ProtocolPACE, opts)
				s.access, s.idIC, s.seen, s.cardAccess = access, r.idIC, seen, caRaw
				// ICAO 9303-11 §9.2.11: EF.CardSecurity, in the MF and
				// readable after PACE, is read now, before the
				// application is selected, when EF.CardAccess names a
				// protocol that requires it; other chips are asked
				// only if they lack DG14 (Read), so that a chip without
				// it costs no extra APDU.
				if access.announcesCardSecurity() {
					s.csTried = true
					if s.cardSecurity, err = readCardSecurityInMF(ctx, s.client, s.chunk); err != nil {
						if r.cam != nil && (errors.Is(err, ErrMalformed) || isStatus(err)) {
							// The chip's own answer, not the link:
							// it has not shown the key it proves
							// (ICAO 9303-11 §4.4.3.5).
							err = fmt.Errorf("%w: %w", ErrPACECAM, err)
						}
						return nil, err
					}
				}
				if r.cam != nil {
					if err := s.checkCAM(r); err != nil {
						// The session is not returned: its keys die
						// with it, and nothing was read from the
						// application.
						return nil, err
					}
				}
				// ICAO 9303-11 §4.2, step 3: PACE ran in the MF; the
				// application is selected under its secure messaging.
				if err := selectLDS1(ctx, s.client); err != nil {
					return nil, err
				}
				return s, nil
			}
			// Only a chip that turns the PACE variant down (a status word
			// before any authentication), or a variant this reader cannot
			// carry (a 2048-bit DH group without extended length, found
			// before any command), gets BAC instead.
			if errors.Is(err, ErrAccessDenied) || (!isStatus(err) && !errors.Is(err, errPACENeedsExtended)) {
				return nil, err
			}
			paceErr = err
		} else {
			paceErr = err
		}
	}
	if opts.RequirePACE {
		if paceErr == nil {
			paceErr = ErrUnsupported
		}
		return nil, fmt.Errorf("%w: %w", ErrPACERequired, paceErr)
	}
	mrz, ok := key.(MRZKey)
	if !ok {
		if paceErr == nil {
			paceErr = ErrUnsupported
		}
		return nil, fmt.Errorf("emrtd: the chip offers no usable PACE and BAC needs the MRZ, not a CAN: %w", paceErr)
	}
	// ICAO 9303-11 §4.2, steps 3 and 4: select the application, then BAC.
	if err := selectLDS1(ctx, plain); err != nil {
		return nil, err
	}
	sm, err := BAC(ctx, t, mrz, opts.Rand)
	if err != nil {
		return nil, err
	}
	s := newSession(t, sm, ProtocolBAC, opts)
	s.access, s.idIC, s.seen, s.cardAccess = access, mrz.documentID(), seen, caRaw
	return s, nil
}

func newSession(t apdu.Transport, sm *SecureChannel, p Protocol, opts *Options) *Session {
	chunk := shortChunk
	if sm.ExtendedLength() && !opts.ShortReads {
		chunk = extendedChunk
	}
	if opts.MaxRead > 0 && opts.MaxRead < chunk {
		chunk = opts.MaxRead
	}
	return &Session{sm: sm, client: &apdu.Client{Transport: sm}, protocol: p, chunk: chunk, t: t}
}

// isStatus reports an error that is a status word from the chip, as opposed
// to a transport failure or a cancelled context.
func isStatus(err error) bool {
	_, ok := apdu.StatusWord(err)
	return ok
}

// selectLDS1 selects the eMRTD application, no answer expected (P2 0C,
// ICAO 9303-10 §3.10.1).
func selectLDS1(ctx context.Context, c *apdu.Client) error {
	if _, err := c.Do(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x0C, Data: lds1AID}); err != nil {
		return fmt.Errorf("emrtd: select the eMRTD application: %w", err)
	}
	return nil
}

// readPlain reads a file without secure messaging (EF.CardAccess).
func readPlain(ctx context.Context, c *apdu.Client, f File) ([]byte, error) {
	return readFile(ctx, c, f, shortChunk)
}

// Protocol reports how the session was opened.
func (s *Session) Protocol() Protocol { return s.protocol }

// Cipher reports the secure messaging cipher.
func (s *Session) Cipher() Cipher { return s.sm.Cipher() }

// CardAccess returns the chip's EF.CardAccess, nil when it has none.
func (s *Session) CardAccess() *CardAccess { return s.access }

// TerminalAuthenticated reports whether EAC Terminal Authentication
// succeeded in this session (Session.AuthenticateTerminal).
func (s *Session) TerminalAuthenticated() bool { return s.eac.terminal }

// ChipAuthenticated reports whether the chip proved it holds the private
// key of its Chip Authentication public key: by Chip Authentication
// (Session.AuthenticateChip), the key in DG14, secure messaging then
// running under the keys it agreed; or by PACE with Chip Authentication
// Mapping in Open, the key in EF.CardSecurity (ICAO 9303-11 §4.4.3.5).
// The key is the issuer's only once passive authentication covers DG14 or
// EF.CardSecurity (Session.Read with CSCAs): this reports the protocol
// alone, and a clone that wrote its own key into an unsigned or self-signed
// EF.CardSecurity passes it. Record.ChipAuthenticated, set only when
// passive authentication vouched for the key, is what a relying party
// checks.
func (s *Session) ChipAuthenticated() bool { return s.eac.chip }

// ReadFile reads an elementary file of the application by its short EF
// identifier, whole, under secure messaging, with no check of its content.
// The chip's own access rules apply: a data group that needs Terminal
// Authentication gives ErrNotAuthorised (the chip answered 6982).
func (s *Session) ReadFile(ctx context.Context, f File) ([]byte, error) {
	b, err := readFile(ctx, s.client, f, s.chunk)
	if err != nil && errors.Is(err, apdu.ErrSecurityStatus) && f&0xFF00 == 0x0100 && DG(f&0xFF).NeedsTerminalAuthentication() {
		return nil, fmt.Errorf("emrtd: read %v: %w (chip: %w)", f, ErrNotAuthorised, err)
	}
	return b, err
}

// ReadDataGroup reads a data group. DG3 and DG4 need EAC Terminal
// Authentication with a chain granting them (Session.AuthenticateTerminal):
// without it they fail with ErrNotAuthorised before anything is sent. DG14
// and DG15 come from the session's copy once Chip or Active Authentication
// read them, so that passive authentication checks the bytes those used.
func (s *Session) ReadDataGroup(ctx context.Context, dg DG) ([]byte, error) {
	if !dg.Valid() {
		return nil, fmt.Errorf("%w: data group %d", ErrMalformed, int(dg))
	}
	if dg.NeedsTerminalAuthentication() && !s.eac.rights.allows(dg) {
		return nil, &DataGroupError{DG: dg, Err: ErrNotAuthorised}
	}
	if dg == DG14 && s.eac.dg14 != nil {
		return bytes.Clone(s.eac.dg14), nil
	}
	if dg == DG15 && s.eac.dg15 != nil {
		return bytes.Clone(s.eac.dg15), nil
	}
	return s.ReadFile(ctx, dg.File())
}

// readFile reads a whole file: a first READ BINARY by short EF identifier
// (ISO/IEC 7816-4 §11.3.3, P1 = 80 | SFI), which also makes the file
// current, then reads at offsets until the length its outer TLV announces.
// Offsets beyond 0x7FFF use READ BINARY with odd instruction (B1) and the
// offset in DO'54'.
func readFile(ctx context.Context, c *apdu.Client, f File, chunk int) ([]byte, error) {
	return readFileSFI(ctx, c, f.SFI(), f.String(), chunk)
}

// readFileSFI is readFile for a short EF identifier of the current DF,
// named for the error messages (EF.CardSecurity has no File: its
// identifier is EF.SOD's in the application).
func readFileSFI(ctx context.Context, c *apdu.Client, sfi byte, f string, chunk int) ([]byte, error) {
	first, eof, err := readBinary(ctx, c, apdu.Command{CLA: 0x00, INS: 0xB0, P1: 0x80 | sfi, P2: 0x00, Ne: chunk})
	if err != nil {
		return nil, fmt.Errorf("emrtd: read %v: %w", f, err)
	}
	if eof && len(first) == 0 {
		return nil, fmt.Errorf("emrtd: read %v: %w: the file is empty (%w)", f, ErrMalformed, apdu.StatusErr(swEndOfFile))
	}
	total, err := tlvLength(first)
	if err != nil {
		return nil, fmt.Errorf("emrtd: read %v: %w", f, err)
	}
	if total > maxFileSize {
		return nil, fmt.Errorf("emrtd: read %v: %w: file of %d bytes", f, ErrMalformed, total)
	}
	if len(first) >= total {
		return first[:total], nil
	}
	if eof {
		return nil, endsEarly(f, len(first), total)
	}
	out := make([]byte, 0, total)
	out = append(out, first...)
	for len(out) < total {
		off := len(out)
		n := min(chunk, total-off)
		var cmd apdu.Command
		if off <= maxP1P2Offset {
			cmd = apdu.Command{CLA: 0x00, INS: 0xB0, P1: byte(off >> 8), P2: byte(off), Ne: n}
		} else {
			// Odd INS: offset in DO'54', data in DO'53' (ISO/IEC 7816-4
			// §11.3.3). The DO'53' header costs up to 4 bytes of the answer.
			cmd = apdu.Command{CLA: 0x00, INS: 0xB1, Data: offsetDO(off), Ne: min(n+4, chunk)}
		}
		b, eof, err := readBinary(ctx, c, cmd)
		if err != nil {
			return nil, fmt.Errorf("emrtd: read %v at %d: %w", f, off, err)
		}
		if cmd.INS == 0xB1 && !(eof && len(b) == 0) {
			// 6282 with nothing left carries no DO'53' (ISO/IEC 7816-4
			// (2020) §11.2.3): the end of file, not a malformed answer.
			v, err := apdu.FindPath(b, 0x53)
			if err != nil {
				return nil, fmt.Errorf("emrtd: read %v at %d: %w: %w", f, off, ErrMalformed, err)
			}
			b = v.Value
		}
		if eof && off+len(b) < total {
			return nil, endsEarly(f, off+len(b), total)
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("emrtd: read %v at %d: %w: chip returned no data before the end", f, off, ErrMalformed)
		}
		out = append(out, b[:min(len(b), total-off)]...)
	}
	return out, nil
}

// swEndOfFile: end of file reached before reading Ne bytes (ISO/IEC 7816-4
// (2020) Table 6).
const swEndOfFile = 0x6282

// endsEarly is the error for a file the chip says ends (6282) at n bytes
// while its outer TLV announces total: the chip has no more to give, so
// reading on would only ask past the end (6282 with nothing, or 6B00).
func endsEarly(f string, n, total int) error {
	return fmt.Errorf("emrtd: read %v: %w: the file ends at %d bytes (%w), its TLV announces %d",
		f, ErrMalformed, n, apdu.StatusErr(swEndOfFile), total)
}

// offsetDO encodes DO'54' with the offset on as few bytes as it needs.
func offsetDO(off int) []byte {
	v := []byte{byte(off >> 16), byte(off >> 8), byte(off)}
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	b, _ := apdu.AppendTLV(nil, 0x54, v)
	return b
}

// readBinary sends one READ BINARY and accepts 9000 and 6282, end of file
// reached before Ne bytes (ISO/IEC 7816-4 (2020) §11.2.3, Table 6), which
// it reports as eof: the data, possibly none, is all the file has from that
// offset. Under secure messaging a 6282 comes, like 9000, from DO'99' under
// the MAC (ICAO 9303-11 §9.8; SecureChannel refuses it otherwise).
func readBinary(ctx context.Context, c *apdu.Client, cmd apdu.Command) (data []byte, eof bool, err error) {
	r, err := c.Send(ctx, cmd)
	if err != nil {
		return nil, false, err
	}
	switch r.SW {
	case apdu.SWOK:
		return r.Data, false, nil
	case swEndOfFile:
		return r.Data, true, nil
	}
	return nil, false, apdu.StatusErr(r.SW)
}
