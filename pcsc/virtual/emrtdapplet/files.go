package emrtdapplet

import (
	"bytes"

	"github.com/puce-id/puce/pcsc/apdu"
)

// The file system as a standard reader sees it: SELECT and READ BINARY in
// the master file and in the application (ISO/IEC 7816-4 §11.2, §11.3),
// and the access rules in front of the files.

// selectP2 checks P2 of a SELECT by DF name (ISO/IEC 7816-4 §11.2.2): b8-b5
// are 0000 (6A86 otherwise); b2-b1 01 and 11 ask for the last and the
// previous occurrence, 10 for the next one. The card holds one LDS1
// application: once it is current there is no next or previous one
// (6A82); the first and the last are it.
func (a *Applet) selectP2(cmd apdu.Command) uint16 {
	if cmd.P2&0xF0 != 0 {
		return apdu.SWWrongP1P2
	}
	if cmd.P2&0x02 != 0 && !a.inMF {
		return apdu.SWFileNotFound
	}
	return apdu.SWOK
}

// dfAnswer answers a SELECT of the application as P2 asks, when Le is
// present (ISO/IEC 7816-4 §11.2.2, §7.4): the FCI 6F { 84 DF name }, the
// FCP 62 { 82 38 (DF), 84 DF name }, or nothing (FMD 08, none 0C).
func dfAnswer(cmd apdu.Command) apdu.Response {
	if cmd.Ne == 0 {
		return apdu.Status(apdu.SWOK)
	}
	switch cmd.P2 & 0x0C {
	case 0x00:
		return apdu.Response{Data: tlv(0x6F, tlv(0x84, AID())), SW: apdu.SWOK}
	case 0x04:
		return apdu.Response{Data: tlv(0x62, tlv(0x82, []byte{0x38}), tlv(0x84, AID())), SW: apdu.SWOK}
	}
	return apdu.Status(apdu.SWOK)
}

// selectFile: SELECT by DF name (the application again, under secure
// messaging), MF (P1 00), EF by identifier (P1 00, 02) or by path (P1 08,
// 09) (ISO/IEC 7816-4 §11.2.2).
func (a *Applet) selectFile(cmd apdu.Command) apdu.Response {
	switch cmd.P1 {
	case 0x04:
		if !bytes.HasPrefix(AID(), cmd.Data) || len(cmd.Data) == 0 {
			return apdu.Status(apdu.SWFileNotFound)
		}
		if sw := a.selectP2(cmd); sw != apdu.SWOK {
			return apdu.Status(sw)
		}
		a.current, a.inMF = 0, false
		return dfAnswer(cmd)
	case 0x00:
		if len(cmd.Data) == 0 || bytes.Equal(cmd.Data, []byte{0x3F, 0x00}) {
			a.current, a.inMF = 0, true
			return fcpAnswer(cmd, mfFCP())
		}
	case 0x02:
	case 0x08, 0x09:
		// By path from the MF (08) or the current DF (09), as generic
		// middleware such as OpenSC selects. The MF's only DF, the
		// application, has no file identifier (ICAO 9303-10 §3.10: it is
		// selected by name), so a path names one EF below the DF it
		// starts from.
		if len(cmd.Data) == 0 || len(cmd.Data)%2 != 0 {
			return apdu.Status(apdu.SWWrongData)
		}
		if len(cmd.Data) != 2 {
			return apdu.Status(apdu.SWFileNotFound)
		}
		if cmd.P1 == 0x08 {
			fid := uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1])
			if !a.mfHas(fid) {
				return apdu.Status(apdu.SWFileNotFound)
			}
			a.inMF = true
		}
	default:
		return apdu.Status(apdu.SWWrongP1P2)
	}
	if len(cmd.Data) != 2 {
		return apdu.Status(apdu.SWWrongData)
	}
	fid := uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1])
	if a.guarded(fid) {
		// The application's files, and EF.CardSecurity, say nothing
		// before access control, not even whether they exist.
		return apdu.Status(apdu.SWSecurityStatus)
	}
	if !a.visible(fid) {
		return apdu.Status(apdu.SWFileNotFound)
	}
	a.current = fid
	data, _ := a.fileData(fid)
	return fcpAnswer(cmd, efFCP(fid, len(data)))
}

// fcpAnswer answers a SELECT as P2 asks (ISO/IEC 7816-4 §11.2.2): the FCP
// template for 00 (FCI, of which the FCP is the part this card has) and 04,
// nothing for 08 and 0C.
func fcpAnswer(cmd apdu.Command, fcp []byte) apdu.Response {
	if cmd.P2&0x0C == 0x00 || cmd.P2&0x0C == 0x04 {
		return apdu.Response{Data: fcp, SW: apdu.SWOK}
	}
	return apdu.Status(apdu.SWOK)
}

// efFCP is the FCP template of a transparent EF (ISO/IEC 7816-4 §7.4.3):
// 62 { 80 size, 82 01 (working EF, transparent), 83 FID }.
func efFCP(fid uint16, size int) []byte {
	return tlv(0x62, tlv(0x80, []byte{byte(size >> 8), byte(size)}), tlv(0x82, []byte{0x01}), tlv(0x83, []byte{byte(fid >> 8), byte(fid)}))
}

// mfFCP is the FCP template of the MF: 62 { 82 38 (DF), 83 3F00 }.
func mfFCP() []byte {
	return tlv(0x62, tlv(0x82, []byte{0x38}), tlv(0x83, []byte{0x3F, 0x00}))
}

// mfFile reports the elementary files of the master file (ICAO 9303-10
// §3.11; ISO/IEC 7816-4 §8.2.1.1).
func mfFile(fid uint16) bool {
	return fid == fidCardAccess || fid == fidDIR || fid == fidATRInfo
}

// visible reports whether an EF exists under the current DF: the MF's files
// at MF level, the application's (and EF.CardAccess, see Applet) in the
// application.
func (a *Applet) visible(fid uint16) bool {
	_, ok := a.fileData(fid)
	return ok
}

// sfiFile resolves a short EF identifier in the current DF: in the MF, 1C
// EF.CardAccess, 1D EF.CardSecurity, 1E EF.DIR, 01 EF.ATR/INFO (ICAO 9303-10
// §3.11, 9303-11 §9.2.11); in the
// application, 01xx (ICAO 9303-10 §4.6, Table 33).
func (a *Applet) sfiFile(sfi byte) uint16 {
	if !a.inMF {
		return 0x0100 | uint16(sfi)
	}
	switch sfi {
	case 0x1C:
		return fidCardAccess
	case 0x1D:
		return fidCardSecurity
	case 0x1E:
		return fidDIR
	case 0x01:
		return fidATRInfo
	}
	return 0
}

// guarded reports an EF of the current DF whose existence the chip keeps to
// itself before access control: every file of the application but
// EF.CardAccess, and EF.CardSecurity in the MF before PACE. SELECT and READ
// BINARY answer 6982 for it whether it exists or not, so that a reader
// without the holder's key cannot tell which data groups the chip holds
// (ICAO 9303-11 §4.1: the LDS1 application's data only after BAC or PACE;
// ISO/IEC 7816-4 §5.6, 6982). fid 0 (no file) is not guarded.
func (a *Applet) guarded(fid uint16) bool {
	switch {
	case fid == 0:
		return false
	case a.inMF:
		return fid == fidCardSecurity && a.level != accessPACE
	}
	return !mfFile(fid) && a.level == accessNone
}

// readable applies the access rules: EF.CardAccess to anyone,
// EF.CardSecurity after PACE, the rest after BAC or PACE, DG3 and DG4 only after Terminal Authentication with a
// chain whose effective rights include them (ICAO 9303-11 §7.1, BSI
// TR-03110-3 §C.4.1).
func (a *Applet) readable(fid uint16) uint16 {
	if a.inMF && fid == fidCardSecurity {
		// EF.CardSecurity: read access PACE (ICAO 9303-11 §9.2.11), so
		// neither a plain reader nor a BAC session gets it.
		if a.level != accessPACE {
			return apdu.SWSecurityStatus
		}
		return apdu.SWOK
	}
	if mfFile(fid) {
		// Always readable (ICAO 9303-10 §3.11).
		return apdu.SWOK
	}
	if a.level == accessNone {
		return apdu.SWSecurityStatus
	}
	switch fid {
	case fidDG3:
		if !a.terminal.done || a.terminal.rights&rightDG3 == 0 {
			return apdu.SWSecurityStatus
		}
	case fidDG4:
		if !a.terminal.done || a.terminal.rights&rightDG4 == 0 {
			return apdu.SWSecurityStatus
		}
	}
	return apdu.SWOK
}

// readBinary: B0 with a short EF identifier (P1 bit 8) or an offset on 15
// bits in the current EF; B1 with the EF in P1-P2, the offset in DO'54',
// data in DO'53' (ISO/IEC 7816-4 §11.3.2, §11.3.3).
func (a *Applet) readBinary(cmd apdu.Command) apdu.Response {
	fid, off, bySFI := a.current, 0, false
	if cmd.INS == 0xB0 {
		if cmd.P1&0x80 != 0 {
			if cmd.P1&0x60 != 0 {
				return apdu.Status(apdu.SWWrongP1P2)
			}
			fid, off, bySFI = a.sfiFile(cmd.P1&0x1F), int(cmd.P2), true
		} else {
			off = int(cmd.P1)<<8 | int(cmd.P2)
		}
	} else {
		// P1-P2 names the EF (ISO/IEC 7816-4, data unit handling: §11.3.2
		// of the 2013 edition, §7.2.2 of 2005): 0000 the current
		// one; a short EF identifier in bits 5-1 when the first eleven
		// bits are 0 and bits 5-1 are not all equal; a file identifier
		// otherwise.
		if p := uint16(cmd.P1)<<8 | uint16(cmd.P2); p != 0 {
			if p&0xFFE0 == 0 && p != 0x1F {
				fid = a.sfiFile(byte(p))
			} else {
				fid = p
			}
			bySFI = true
		}
		o, _, err := apdu.DecodeTLV(cmd.Data)
		if err != nil || o.Tag != 0x54 || len(o.Value) == 0 || len(o.Value) > 3 {
			return apdu.Status(apdu.SWWrongData)
		}
		for _, b := range o.Value {
			off = off<<8 | int(b)
		}
	}
	if a.guarded(fid) {
		return apdu.Status(apdu.SWSecurityStatus)
	}
	data, ok := a.fileData(fid)
	if !ok {
		if fid == 0 && !bySFI {
			// No current EF (ISO/IEC 7816-4 §5.6).
			return apdu.Status(0x6986)
		}
		return apdu.Status(apdu.SWFileNotFound)
	}
	if sw := a.readable(fid); sw != apdu.SWOK {
		return apdu.Status(sw)
	}
	a.current = fid
	if off > len(data) {
		// No data unit at that offset (ISO/IEC 7816-4 (2020) Table 6:
		// 6B00). An offset at the very end is not beyond the file: it
		// reads nothing and reaches the end at once (6282 below).
		return apdu.Status(swOffsetBeyond)
	}
	rest := data[off:]
	if cmd.INS == 0xB1 {
		return readOdd(rest, cmd.Ne)
	}
	n := min(cmd.Ne, len(rest))
	return apdu.Response{Data: bytes.Clone(rest[:n]), SW: endOfFile(n < cmd.Ne)}
}

// endOfFile is the status of a READ BINARY: 6282 when the end of the file
// came before Ne bytes were read, with whatever bytes were there (ISO/IEC
// 7816-4 (2020) §11.2.3 and Table 6, "end of file or record reached before
// reading Ne bytes"), 9000 otherwise. Le 00 is Ne 256 (extended 0000, Ne
// 65536) like any other Ne (§5.1): a shorter rest of the file gives 6282.
// No Le (Ne 0) asks for nothing and gets 9000. Under secure messaging the
// warning goes, like every status but the secure messaging errors 6987 and
// 6988, in DO'99' under the MAC of DO'8E' (ICAO 9303-11 §9.8; session.seal).
func endOfFile(short bool) uint16 {
	if short {
		return swEndOfFile
	}
	return apdu.SWOK
}

// readOdd answers READ BINARY with odd instruction: the bytes in DO'53'
// (ISO/IEC 7816-4 (2020) §11.2.3), whose tag and length count in Ne, so
// as many bytes as fit with them. Nothing to read (the offset at the end)
// gives 6282 with no data object, no Le 9000 with none; an Ne too short
// for DO'53”s header while bytes remain is a wrong length (6700).
func readOdd(rest []byte, ne int) apdu.Response {
	if ne == 0 {
		return apdu.Status(apdu.SWOK)
	}
	if len(rest) == 0 {
		return apdu.Status(swEndOfFile)
	}
	header := func(n int) int {
		switch {
		case n < 0x80:
			return 2
		case n <= 0xFF:
			return 3
		case n <= 0xFFFF:
			return 4
		}
		return 5
	}
	if ne < header(0) {
		return apdu.Status(apdu.SWWrongLength)
	}
	n := min(len(rest), ne)
	for header(n)+n > ne {
		n--
	}
	out, _ := apdu.AppendTLV(nil, 0x53, rest[:n])
	return apdu.Response{Data: out, SW: endOfFile(n == len(rest) && len(out) < ne)}
}
