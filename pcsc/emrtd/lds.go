package emrtd

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/puce-id/puce/pcsc/apdu"
)

// findChild returns the value of the first direct child of v with the tag.
func findChild(v []byte, tag apdu.Tag) ([]byte, error) {
	objs, err := apdu.DecodeTLVs(v)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.Tag == tag {
			return o.Value, nil
		}
	}
	return nil, malformed("no data object %v", tag)
}

// Face is one facial image of DG2 with the attributes of its ISO/IEC 19794-5
// record.
type Face struct {
	// MIMEType is "image/jpeg" or "image/jp2" (JPEG 2000).
	MIMEType string
	// Image is the encoded image as stored, ready to be written to a file.
	Image         []byte
	Width, Height int
	// Gender and EyeColour are the ISO/IEC 19794-5 §5.5.3, §5.5.4 codes
	// spelled out ("male", "brown", …); "" when unspecified.
	Gender    string
	EyeColour string
}

// ISO/IEC 19794-5:2005 §5.5.3 and §5.5.4 codes.
var (
	faceGenders = map[byte]string{1: "male", 2: "female"}
	faceEyes    = map[byte]string{1: "black", 2: "blue", 3: "brown", 4: "gray", 5: "green", 6: "multi-coloured", 7: "pink"}
)

// ParseDG2 decodes DG2 (ICAO 9303-10 §4.7.2): 75 { 7F61 { 02 count, 7F60
// { A1 header, 5F2E biometric data block } … } } and extracts the facial
// images of the ISO/IEC 19794-5 records. A data block in another format (ISO
// 39794-5) yields the first JPEG or JPEG 2000 image found in it, without
// attributes.
func ParseDG2(b []byte) ([]Face, error) {
	v, err := outer(b, 0x75)
	if err != nil {
		return nil, err
	}
	group, err := findChild(v, 0x7F61)
	if err != nil {
		return nil, malformed("DG2: %w", err)
	}
	objs, err := apdu.DecodeTLVs(group)
	if err != nil {
		return nil, malformed("DG2: %w", err)
	}
	var faces []Face
	for _, o := range objs {
		if o.Tag != 0x7F60 {
			continue
		}
		block, err := findChild(o.Value, 0x5F2E)
		if err != nil {
			if block, err = findChild(o.Value, 0x7F2E); err != nil {
				return nil, malformed("DG2 biometric template without data block")
			}
		}
		fs, err := parseFaceBlock(block)
		if err != nil {
			return nil, err
		}
		faces = append(faces, fs...)
	}
	if len(faces) == 0 {
		return nil, malformed("DG2 holds no facial image")
	}
	return faces, nil
}

// parseFaceBlock reads an ISO/IEC 19794-5:2005 facial record (§5.4 general
// header, §5.5 facial information, §5.6 feature points, §5.7 image
// information, §5.8 image data).
func parseFaceBlock(b []byte) ([]Face, error) {
	if !bytes.HasPrefix(b, []byte("FAC\x00")) {
		return scanImage(b)
	}
	if len(b) < 14 {
		return nil, malformed("ISO/IEC 19794-5 header truncated")
	}
	count := int(binary.BigEndian.Uint16(b[12:14]))
	rest := b[14:]
	var faces []Face
	for i := 0; i < count; i++ {
		if len(rest) < 20 {
			return nil, malformed("ISO/IEC 19794-5 facial record %d truncated", i)
		}
		recLen := binary.BigEndian.Uint32(rest[0:4])
		points := int(binary.BigEndian.Uint16(rest[4:6]))
		if recLen > uint32(len(rest)) || int(recLen) < 20+8*points+12 {
			return nil, malformed("ISO/IEC 19794-5 facial record %d of length %d", i, recLen)
		}
		rec := rest[:recLen]
		f := Face{Gender: faceGenders[rec[6]], EyeColour: faceEyes[rec[7]]}
		info := rec[20+8*points:]
		switch info[1] {
		case 0:
			f.MIMEType = "image/jpeg"
		case 1:
			f.MIMEType = "image/jp2"
		default:
			return nil, malformed("ISO/IEC 19794-5 image data type %d", info[1])
		}
		f.Width = int(binary.BigEndian.Uint16(info[2:4]))
		f.Height = int(binary.BigEndian.Uint16(info[4:6]))
		f.Image = info[12:]
		if len(f.Image) == 0 {
			return nil, malformed("ISO/IEC 19794-5 facial record %d without image", i)
		}
		faces = append(faces, f)
		rest = rest[recLen:]
	}
	if len(faces) == 0 {
		return nil, malformed("ISO/IEC 19794-5 record without facial image")
	}
	return faces, nil
}

// Image signatures: JPEG SOI (ISO/IEC 10918-1), the JP2 signature box and
// the bare JPEG 2000 codestream (ISO/IEC 15444-1 §I.5.1, §A.4.1).
var (
	jpegSOI  = []byte{0xFF, 0xD8, 0xFF}
	jp2Box   = []byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A}
	j2kCodes = []byte{0xFF, 0x4F, 0xFF, 0x51}
)

// scanImage finds the first JPEG or JPEG 2000 image in a data block whose
// layout is not ISO/IEC 19794-5:2005 and returns the rest of the block from
// there.
func scanImage(b []byte) ([]Face, error) {
	best, mime := -1, ""
	for _, c := range []struct {
		sig  []byte
		mime string
	}{{jpegSOI, "image/jpeg"}, {jp2Box, "image/jp2"}, {j2kCodes, "image/jp2"}} {
		if i := bytes.Index(b, c.sig); i >= 0 && (best < 0 || i < best) {
			best, mime = i, c.mime
		}
	}
	if best < 0 {
		return nil, malformed("no JPEG or JPEG 2000 image in the DG2 data block")
	}
	return []Face{{MIMEType: mime, Image: b[best:]}}, nil
}

// PersonalDetails is DG11 (ICAO 9303-10 §4.7.11). Multi-part fields (place
// of birth, address) are split at the '<' separators.
type PersonalDetails struct {
	FullName        string // "SURNAME<<GIVEN<NAMES" as stored, see Names
	OtherNames      []string
	PersonalNumber  string
	FullDateOfBirth string // YYYYMMDD
	PlaceOfBirth    []string
	Address         []string
	Telephone       string
	Profession      string
	Title           string
	PersonalSummary string
	OtherTDNumbers  []string
	CustodyInfo     string
}

// Names splits FullName into primary and secondary identifiers.
func (p *PersonalDetails) Names() (primary, secondary string) { return names(p.FullName) }

// ParseDG11 decodes DG11: 6B { 5C tag list, 5F0E full name, A0 { 02 count,
// 5F0F other name … }, 5F10 personal number, 5F2B full date of birth, 5F11
// place of birth, 5F42 address, 5F12 telephone, 5F13 profession, 5F14 title,
// 5F15 summary, 5F17 other TD numbers, 5F18 custody }.
func ParseDG11(b []byte) (*PersonalDetails, error) {
	v, err := outer(b, 0x6B)
	if err != nil {
		return nil, err
	}
	objs, err := apdu.DecodeTLVs(v)
	if err != nil {
		return nil, malformed("DG11: %w", err)
	}
	p := &PersonalDetails{}
	for _, o := range objs {
		s := string(o.Value)
		switch o.Tag {
		case 0x5F0E:
			p.FullName = s
		case 0xA0:
			inner, err := apdu.DecodeTLVs(o.Value)
			if err != nil {
				return nil, malformed("DG11 other names: %w", err)
			}
			for _, n := range inner {
				if n.Tag == 0x5F0F {
					p.OtherNames = append(p.OtherNames, string(n.Value))
				}
			}
		case 0x5F0F:
			p.OtherNames = append(p.OtherNames, s)
		case 0x5F10:
			p.PersonalNumber = s
		case 0x5F2B:
			p.FullDateOfBirth = s
		case 0x5F11:
			p.PlaceOfBirth = parts(s)
		case 0x5F42:
			p.Address = parts(s)
		case 0x5F12:
			p.Telephone = s
		case 0x5F13:
			p.Profession = s
		case 0x5F14:
			p.Title = s
		case 0x5F15:
			p.PersonalSummary = s
		case 0x5F17:
			p.OtherTDNumbers = parts(s)
		case 0x5F18:
			p.CustodyInfo = s
		}
	}
	return p, nil
}

// parts splits a DG11/DG12 field at its '<' separators.
func parts(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "<") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// DocumentDetails is DG12 (ICAO 9303-10 §4.7.12).
type DocumentDetails struct {
	IssuingAuthority    string
	DateOfIssue         string // YYYYMMDD
	OtherPersons        []string
	Endorsements        string
	TaxExit             string
	ImageFront          []byte
	ImageRear           []byte
	PersonalisationTime string // YYYYMMDDhhmmss
	PersonalisationSN   string
}

// ParseDG12 decodes DG12: 6C { 5C tag list, 5F19 issuing authority, 5F26
// date of issue, A0 { 02 count, 5F1A name … }, 5F1B endorsements, 5F1C
// tax/exit, 5F1D front image, 5F1E rear image, 5F55 personalisation time,
// 5F56 personalisation system serial }.
func ParseDG12(b []byte) (*DocumentDetails, error) {
	v, err := outer(b, 0x6C)
	if err != nil {
		return nil, err
	}
	objs, err := apdu.DecodeTLVs(v)
	if err != nil {
		return nil, malformed("DG12: %w", err)
	}
	d := &DocumentDetails{}
	for _, o := range objs {
		s := string(o.Value)
		switch o.Tag {
		case 0x5F19:
			d.IssuingAuthority = s
		case 0x5F26:
			d.DateOfIssue = s
		case 0xA0:
			inner, err := apdu.DecodeTLVs(o.Value)
			if err != nil {
				return nil, malformed("DG12 other persons: %w", err)
			}
			for _, n := range inner {
				if n.Tag == 0x5F1A {
					d.OtherPersons = append(d.OtherPersons, string(n.Value))
				}
			}
		case 0x5F1B:
			d.Endorsements = s
		case 0x5F1C:
			d.TaxExit = s
		case 0x5F1D:
			d.ImageFront = o.Value
		case 0x5F1E:
			d.ImageRear = o.Value
		case 0x5F55:
			d.PersonalisationTime = s
		case 0x5F56:
			d.PersonalisationSN = s
		}
	}
	return d, nil
}

// OptionalDetails is DG13 (ICAO 9303-10 §4.7.13), whose content each issuer
// defines. Objects holds its top-level data objects as stored. puce's issuer
// profile (the virtual card) stores the holder's height in centimetres in
// private tag C1 and eye colour in C2; Height and EyeColour decode them.
type OptionalDetails struct {
	Objects   []apdu.TLV
	Height    string
	EyeColour string
}

// ParseDG13 decodes DG13: 6D { issuer-defined data objects }.
func ParseDG13(b []byte) (*OptionalDetails, error) {
	v, err := outer(b, 0x6D)
	if err != nil {
		return nil, err
	}
	objs, err := apdu.DecodeTLVs(v)
	if err != nil {
		return nil, malformed("DG13: %w", err)
	}
	d := &OptionalDetails{Objects: objs}
	for _, o := range objs {
		switch o.Tag {
		case 0xC1:
			d.Height = string(o.Value)
		case 0xC2:
			d.EyeColour = string(o.Value)
		}
	}
	return d, nil
}
