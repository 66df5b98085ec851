package emrtd

import (
	"fmt"
	"strconv"

	"github.com/puce-id/puce/pcsc/apdu"
)

// LDS1AID is the application identifier of the eMRTD LDS1 application
// (ICAO 9303-10 §3.10.1).
var lds1AID = []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}

// LDS1AID returns the application identifier of the eMRTD LDS1 application
// (ICAO 9303-10 §3.10.1).
func LDS1AID() []byte { return append([]byte(nil), lds1AID...) }

// DG is a data group number of the LDS1 application, 1 to 16 (ICAO 9303-10
// §4.6).
type DG int

// The data groups this package reads or names.
const (
	DG1  DG = 1  // MRZ
	DG2  DG = 2  // encoded face
	DG3  DG = 3  // encoded fingerprints (EAC Terminal Authentication)
	DG4  DG = 4  // encoded irises (EAC Terminal Authentication)
	DG5  DG = 5  // displayed portrait
	DG7  DG = 7  // displayed signature
	DG11 DG = 11 // additional personal details
	DG12 DG = 12 // additional document details
	DG13 DG = 13 // optional details (issuer-defined)
	DG14 DG = 14 // security options (chip authentication)
	DG15 DG = 15 // active authentication public key
	DG16 DG = 16 // persons to notify
)

// dgTags are the LDS1 data group tags of ICAO 9303-10 §4.6.1, Table 34.
var dgTags = [17]apdu.Tag{0, 0x61, 0x75, 0x63, 0x76, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70}

// Valid reports whether dg is 1 to 16.
func (dg DG) Valid() bool { return dg >= 1 && dg <= 16 }

// Tag is the data group's outermost tag (ICAO 9303-10 Table 34).
func (dg DG) Tag() apdu.Tag {
	if !dg.Valid() {
		return 0
	}
	return dgTags[dg]
}

// File is the data group's elementary file.
func (dg DG) File() File { return File(0x0100 | int(dg)) }

// NeedsTerminalAuthentication reports the data groups a chip releases only to
// a terminal that passed EAC Terminal Authentication (ICAO 9303-11 §7.1):
// fingerprints and irises.
func (dg DG) NeedsTerminalAuthentication() bool { return dg == DG3 || dg == DG4 }

func (dg DG) String() string { return "DG" + strconv.Itoa(int(dg)) }

// dgForTag maps a data group tag (as listed in EF.COM) to its number.
func dgForTag(t apdu.Tag) (DG, bool) {
	for i := 1; i < len(dgTags); i++ {
		if dgTags[i] == t {
			return DG(i), true
		}
	}
	return 0, false
}

// File is an elementary file identifier of the LDS1 application or the master
// file (ICAO 9303-10 §4.6.1); its low byte is the short EF identifier.
type File uint16

// Files outside the data groups (ICAO 9303-10 §3.11, §4.6).
const (
	FileCardAccess File = 0x011C // EF.CardAccess, in the master file
	FileSOD        File = 0x011D // EF.SOD, the document security object
	FileCOM        File = 0x011E // EF.COM, the common data
)

// SFI is the short EF identifier (the low five bits of the file identifier).
func (f File) SFI() byte { return byte(f) & 0x1F }

func (f File) String() string {
	switch f {
	case FileCardAccess:
		return "EF.CardAccess"
	case FileSOD:
		return "EF.SOD"
	case FileCOM:
		return "EF.COM"
	}
	if f&0xFF00 == 0x0100 && DG(f&0xFF).Valid() {
		return DG(f & 0xFF).String()
	}
	return fmt.Sprintf("EF %04X", uint16(f))
}

// COM is EF.COM (ICAO 9303-10 §4.6.1): the LDS version, the Unicode version
// and the data groups present.
type COM struct {
	LDSVersion     string // "0107" for LDS 1.7
	UnicodeVersion string // "040000" for Unicode 4.0.0
	DataGroups     []DG
}

// ParseCOM decodes EF.COM: 60 { 5F01 LDS version, 5F36 Unicode version,
// 5C tag list }.
func ParseCOM(b []byte) (*COM, error) {
	v, err := outer(b, 0x60)
	if err != nil {
		return nil, err
	}
	objs, err := apdu.DecodeTLVs(v)
	if err != nil {
		return nil, malformed("EF.COM: %w", err)
	}
	com := &COM{}
	var list []byte
	found := false
	for _, o := range objs {
		switch o.Tag {
		case 0x5F01:
			com.LDSVersion = string(o.Value)
		case 0x5F36:
			com.UnicodeVersion = string(o.Value)
		case 0x5C:
			list, found = o.Value, true
		}
	}
	if !found {
		return nil, malformed("EF.COM without tag list 5C")
	}
	// The tag list holds one-byte data group tags (Table 34: all 61 to 70).
	for _, t := range list {
		dg, ok := dgForTag(apdu.Tag(t))
		if !ok {
			return nil, malformed("EF.COM lists unknown tag %02X", t)
		}
		com.DataGroups = append(com.DataGroups, dg)
	}
	return com, nil
}

// outer decodes the single outermost object of an LDS file and checks its
// tag. Trailing bytes (files padded by the issuer) are ignored.
func outer(b []byte, tag apdu.Tag) ([]byte, error) {
	t, _, err := apdu.DecodeTLV(b)
	if err != nil {
		return nil, malformed("%v: %w", tag, err)
	}
	if t.Tag != tag {
		return nil, malformed("tag %v, want %v", t.Tag, tag)
	}
	return t.Value, nil
}

// tlvLength returns the length of the whole first data object of b — tag,
// length and value — from its first bytes, so that a file can be read to its
// end. It needs only the tag and length fields.
func tlvLength(b []byte) (int, error) {
	i := 0
	if len(b) < 1 {
		return 0, malformed("empty file")
	}
	if b[0]&0x1F == 0x1F {
		i++
		for i < len(b) && b[i]&0x80 != 0 {
			i++
			if i > 4 {
				return 0, malformed("tag too long")
			}
		}
	}
	i++
	if i >= len(b) {
		return 0, malformed("file header truncated")
	}
	l := int(b[i])
	i++
	if l > 0x80 {
		n := l & 0x7F
		if n > 3 || i+n > len(b) {
			return 0, malformed("length field of %d bytes", n)
		}
		l = 0
		for _, c := range b[i : i+n] {
			l = l<<8 | int(c)
		}
		i += n
	} else if l == 0x80 {
		return 0, malformed("indefinite length")
	}
	return i + l, nil
}
