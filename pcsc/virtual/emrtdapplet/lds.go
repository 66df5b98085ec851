package emrtdapplet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"strconv"
	"strings"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// The card's encoders of the LDS1 files (ICAO 9303-10 §4.6, §4.7), written
// independently of pcsc/emrtd's decoders.

// mrzChars keeps the MRZ alphabet: A-Z, 0-9, with everything else (spaces,
// hyphens, apostrophes) turned into the filler '<' (ICAO 9303-3 §4.6 gives
// transliterations; the profile is expected in Latin capitals).
func mrzChars(s string) string {
	s = strings.ToUpper(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('<')
		}
	}
	return b.String()
}

// fit pads with '<' or truncates to n characters.
func fit(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat("<", n-len(s))
}

// digit is the ICAO 9303-3 §4.9 check digit (weights 7 3 1).
func digit(s string) string {
	w := []int{7, 3, 1}
	t := 0
	for i, c := range s {
		v := 0
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		t += v * w[i%3]
	}
	return strconv.Itoa(t % 10)
}

func yymmdd(t time.Time) string { return t.Format("060102") }

// nameField is SURNAME<<GIVEN<NAMES (ICAO 9303-3 §4.6).
func nameField(p *Profile) string {
	return mrzChars(p.Surname) + "<<" + mrzChars(p.GivenNames)
}

// buildMRZ returns the MRZ lines: TD3 for passports (document code P), TD1
// otherwise (ICAO 9303-4 §4.2.2, 9303-5 §4.2.2).
func buildMRZ(p *Profile) ([]string, error) {
	num := mrzChars(p.DocumentNumber)
	if len(num) == 0 || len(num) > 9 {
		return nil, fmt.Errorf("%w: document number of 1 to 9 characters expected", ErrProfile)
	}
	num = fit(num, 9)
	sex := "<"
	if p.Sex == "M" || p.Sex == "F" {
		sex = p.Sex
	}
	dob, exp := yymmdd(p.BirthDate), yymmdd(p.ExpiryDate)
	state, nat := fit(mrzChars(p.IssuingState), 3), fit(mrzChars(p.Nationality), 3)
	code := fit(mrzChars(p.DocumentCode), 2)
	if strings.HasPrefix(code, "P") {
		l1 := fit(code+state+nameField(p), 44)
		opt := fit(mrzChars(p.PersonalNumber), 14)
		optDigit := digit(opt)
		if strings.Trim(opt, "<") == "" {
			optDigit = "<"
		}
		l2 := num + digit(num) + nat + dob + digit(dob) + sex + exp + digit(exp) + opt + optDigit
		comp := l2[0:10] + l2[13:20] + l2[21:43]
		return []string{l1, l2 + digit(comp)}, nil
	}
	l1 := code + state + num + digit(num) + fit(mrzChars(p.PersonalNumber), 15)
	l2 := dob + digit(dob) + sex + exp + digit(exp) + nat + fit("", 11)
	comp := l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
	l3 := fit(nameField(p), 30)
	return []string{l1, l2 + digit(comp), l3}, nil
}

// tlv encodes one data object, nested values already encoded.
func tlv(tag apdu.Tag, parts ...[]byte) []byte {
	// AppendTLV fails only for an invalid tag or a value beyond 4 GiB;
	// the card's tags are constants and its files small.
	b, _ := apdu.AppendTLV(nil, tag, bytes.Join(parts, nil))
	return b
}

// buildDIR is EF.DIR of the master file: one application template 61 {
// 4F AID, 50 label } for the LDS1 application (ISO/IEC 7816-4 §8.2.1.1,
// ICAO 9303-10 §3.11), so that generic readers find the application.
func buildDIR() []byte {
	return tlv(0x61, tlv(0x4F, AID()), tlv(0x50, []byte("eMRTD LDS1")))
}

// buildCOM is EF.COM: LDS 1.7, Unicode 4.0.0, the data group tags.
func buildCOM(tags []byte) []byte {
	return tlv(0x60, tlv(0x5F01, []byte("0107")), tlv(0x5F36, []byte("040000")), tlv(0x5C, tags))
}

// buildDG1 is 61 { 5F1F MRZ } (ICAO 9303-10 §4.7.1).
func buildDG1(lines []string) []byte {
	return tlv(0x61, tlv(0x5F1F, []byte(strings.Join(lines, ""))))
}

// ISO/IEC 19794-5 eye colour codes (§5.5.4).
var eyeCodes = map[string]byte{"black": 1, "blue": 2, "brown": 3, "gray": 4, "grey": 4, "green": 5, "multi-coloured": 6, "pink": 7}

// biometricTemplate wraps a data block in the biometric information group
// template of ICAO 9303-10 §4.7.2.1 (ISO/IEC 7816-11): 7F61 { 02 count,
// 7F60 { A1 header, 5F2E block } }.
func biometricTemplate(bioType byte, formatType uint16, block []byte) []byte {
	header := tlv(0xA1,
		tlv(0x80, []byte{0x01, 0x01}),
		tlv(0x81, []byte{bioType}),
		tlv(0x87, []byte{0x01, 0x01}), // format owner: ISO/IEC JTC 1/SC 37
		tlv(0x88, []byte{byte(formatType >> 8), byte(formatType)}))
	return tlv(0x7F61, tlv(0x02, []byte{1}), tlv(0x7F60, header, tlv(0x5F2E, block)))
}

// buildDG2 is the face: an ISO/IEC 19794-5:2005 record around the JPEG.
func buildDG2(p *Profile) []byte {
	w, h := 0, 0
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(p.Photo)); err == nil {
		w, h = cfg.Width, cfg.Height
	}
	gender := byte(0)
	switch p.Sex {
	case "M":
		gender = 1
	case "F":
		gender = 2
	}
	facial := make([]byte, 20)
	binary.BigEndian.PutUint32(facial[0:4], uint32(20+12+len(p.Photo)))
	facial[6], facial[7] = gender, eyeCodes[strings.ToLower(p.EyeColour)]
	info := make([]byte, 12)
	info[0] = 1 // full frontal
	info[1] = 0 // JPEG
	binary.BigEndian.PutUint16(info[2:4], uint16(w))
	binary.BigEndian.PutUint16(info[4:6], uint16(h))
	info[7] = 2 // source: digital still camera
	record := make([]byte, 14, 14+20+12+len(p.Photo))
	copy(record, "FAC\x00010\x00")
	binary.BigEndian.PutUint32(record[8:12], uint32(14+20+12+len(p.Photo)))
	binary.BigEndian.PutUint16(record[12:14], 1)
	record = append(append(append(record, facial...), info...), p.Photo...)
	return tlv(0x75, biometricTemplate(0x02, 0x0008, record))
}

// buildDG3 is the fingerprints: a finger image record (ISO/IEC 19794-4
// header "FIR") around the profile's bytes.
func buildDG3(p *Profile) []byte {
	block := append([]byte("FIR\x00010\x00"), p.Fingerprints...)
	return tlv(0x63, biometricTemplate(0x08, 0x0009, block))
}

// buildDG11 is the additional personal details (ICAO 9303-10 §4.7.11).
func buildDG11(p *Profile) []byte {
	var tags, body []byte
	add := func(tag apdu.Tag, v string) {
		if v == "" {
			return
		}
		tags = append(tags, byte(tag>>8), byte(tag))
		body = append(body, tlv(tag, []byte(v))...)
	}
	add(0x5F0E, nameField(p))
	add(0x5F10, p.PersonalNumber)
	add(0x5F2B, p.BirthDate.Format("20060102"))
	add(0x5F11, strings.Join(p.PlaceOfBirth, "<"))
	add(0x5F42, strings.Join(p.Address, "<"))
	return tlv(0x6B, tlv(0x5C, tags), body)
}

// buildDG12 is the additional document details (ICAO 9303-10 §4.7.12).
func buildDG12(p *Profile) []byte {
	var tags, body []byte
	add := func(tag apdu.Tag, v string) {
		if v == "" {
			return
		}
		tags = append(tags, byte(tag>>8), byte(tag))
		body = append(body, tlv(tag, []byte(v))...)
	}
	add(0x5F19, p.IssuingAuthority)
	if !p.IssueDate.IsZero() {
		add(0x5F26, p.IssueDate.Format("20060102"))
	}
	return tlv(0x6C, tlv(0x5C, tags), body)
}

// buildDG13 is puce's issuer profile for the optional details: height in
// centimetres (private tag C1) and eye colour (C2).
func buildDG13(p *Profile) []byte {
	var body []byte
	if p.Height > 0 {
		body = append(body, tlv(0xC1, []byte(strconv.Itoa(p.Height)))...)
	}
	if p.EyeColour != "" {
		body = append(body, tlv(0xC2, []byte(p.EyeColour))...)
	}
	return tlv(0x6D, body)
}
