package emrtd

import (
	"strings"
)

// MRZFormat is the size of a machine readable zone (ICAO 9303-3 §4.2).
type MRZFormat int

const (
	// TD1: three lines of 30 characters (identity cards, ICAO 9303-5).
	TD1 MRZFormat = 1
	// TD2: two lines of 36 characters (ICAO 9303-6).
	TD2 MRZFormat = 2
	// TD3: two lines of 44 characters (passports, ICAO 9303-4).
	TD3 MRZFormat = 3
)

func (f MRZFormat) String() string {
	switch f {
	case TD1:
		return "TD1"
	case TD2:
		return "TD2"
	case TD3:
		return "TD3"
	}
	return "unknown MRZ format"
}

// MRZ is the machine readable zone of DG1 (ICAO 9303-10 §4.7.1), its fields
// decoded and every check digit verified. Fields keep the MRZ's filler '<'
// turned into spaces and trimmed; dates are YYMMDD as printed.
type MRZ struct {
	Format         MRZFormat
	Lines          []string
	DocumentCode   string // "P", "I", "ID", …
	IssuingState   string // three-letter code
	DocumentNumber string
	Nationality    string
	DateOfBirth    string // YYMMDD
	Sex            string // "M", "F" or "" (unspecified '<')
	DateOfExpiry   string // YYMMDD
	PrimaryID      string // surname(s)
	SecondaryID    string // given name(s)
	OptionalData1  string
	OptionalData2  string // TD1 only
}

// Key returns the MRZ access key for BAC and PACE.
func (m *MRZ) Key() MRZKey {
	return MRZKey{DocumentNumber: m.DocumentNumber, DateOfBirth: m.DateOfBirth, DateOfExpiry: m.DateOfExpiry}
}

// String returns the MRZ lines joined by newlines, as printed.
func (m *MRZ) String() string { return strings.Join(m.Lines, "\n") }

// CheckDigit computes the check digit of ICAO 9303-3 §4.9: weights 7, 3, 1
// over digits, letters A=10 … Z=35 and filler '<' = 0, modulo 10. It
// reports false for a character outside the MRZ alphabet.
func CheckDigit(s string) (byte, bool) {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		case c == '<':
			v = 0
		default:
			return 0, false
		}
		sum += v * weights[i%3]
	}
	return byte('0' + sum%10), true
}

// ParseDG1 decodes DG1: 61 { 5F1F MRZ } (ICAO 9303-10 §4.7.1).
func ParseDG1(b []byte) (*MRZ, error) {
	v, err := outer(b, 0x61)
	if err != nil {
		return nil, err
	}
	t, err := findChild(v, 0x5F1F)
	if err != nil {
		return nil, malformed("DG1: %w", err)
	}
	return ParseMRZ(string(t))
}

// ParseMRZ decodes a machine readable zone given as its 90 (TD1), 72 (TD2)
// or 88 (TD3) characters, with or without line breaks, and verifies every
// check digit, the composite one included.
func ParseMRZ(s string) (*MRZ, error) {
	s = strings.NewReplacer("\n", "", "\r", "", " ", "").Replace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c == '<') {
			return nil, malformed("MRZ character %q outside A-Z 0-9 <", c)
		}
	}
	switch len(s) {
	case 90:
		return parseTD1(s)
	case 72:
		return parseTD23(s, TD2, 36)
	case 88:
		return parseTD23(s, TD3, 44)
	}
	return nil, malformed("MRZ of %d characters, want 90 (TD1), 72 (TD2) or 88 (TD3)", len(s))
}

// checked verifies field's check digit.
func checked(name, field string, digit byte) error {
	d, ok := CheckDigit(field)
	if !ok || d != digit {
		return &mrzError{name}
	}
	return nil
}

type mrzError struct{ field string }

func (e *mrzError) Error() string { return ErrCheckDigit.Error() + ": " + e.field }
func (e *mrzError) Unwrap() error { return ErrCheckDigit }

// parseTD1 follows ICAO 9303-5 §4.2.2: line 1 document code, state, number,
// check digit, optional data; line 2 birth, sex, expiry, nationality,
// optional data, composite digit; line 3 name.
func parseTD1(s string) (*MRZ, error) {
	l1, l2, l3 := s[:30], s[30:60], s[60:90]
	m := &MRZ{Format: TD1, Lines: []string{l1, l2, l3}}
	m.DocumentCode = filler(l1[0:2])
	m.IssuingState = filler(l1[2:5])
	num, opt1, err := documentNumber(l1[5:14], l1[14], l1[15:30])
	if err != nil {
		return nil, err
	}
	m.DocumentNumber, m.OptionalData1 = num, opt1
	if err := checked("date of birth", l2[0:6], l2[6]); err != nil {
		return nil, err
	}
	if err := checked("date of expiry", l2[8:14], l2[14]); err != nil {
		return nil, err
	}
	m.DateOfBirth, m.DateOfExpiry = l2[0:6], l2[8:14]
	m.Sex = filler(l2[7:8])
	m.Nationality = filler(l2[15:18])
	m.OptionalData2 = filler(l2[18:29])
	if err := checked("composite", l1[5:30]+l2[0:7]+l2[8:15]+l2[18:29], l2[29]); err != nil {
		return nil, err
	}
	m.PrimaryID, m.SecondaryID = names(l3)
	return m, nil
}

// parseTD23 follows ICAO 9303-4 §4.2.2 (TD3) and 9303-6 §4.2.2 (TD2): line 1
// document code, state, name; line 2 number, nationality, birth, sex,
// expiry, optional data (with its own check digit in TD3), composite digit.
func parseTD23(s string, f MRZFormat, n int) (*MRZ, error) {
	l1, l2 := s[:n], s[n:]
	m := &MRZ{Format: f, Lines: []string{l1, l2}}
	m.DocumentCode = filler(l1[0:2])
	m.IssuingState = filler(l1[2:5])
	m.PrimaryID, m.SecondaryID = names(l1[5:])
	if f == TD3 {
		if err := checked("document number", l2[0:9], l2[9]); err != nil {
			return nil, err
		}
		m.DocumentNumber = filler(l2[0:9])
	} else {
		num, opt, err := documentNumber(l2[0:9], l2[9], l2[28:35])
		if err != nil {
			return nil, err
		}
		m.DocumentNumber, m.OptionalData1 = num, opt
	}
	m.Nationality = filler(l2[10:13])
	if err := checked("date of birth", l2[13:19], l2[19]); err != nil {
		return nil, err
	}
	m.DateOfBirth = l2[13:19]
	m.Sex = filler(l2[20:21])
	if err := checked("date of expiry", l2[21:27], l2[27]); err != nil {
		return nil, err
	}
	m.DateOfExpiry = l2[21:27]
	last := n - 1
	if f == TD3 {
		// Personal number with its own check digit, which may be '<' when
		// the field is empty (ICAO 9303-4 §4.2.2.2).
		opt, d := l2[28:42], l2[42]
		if !(d == '<' && strings.Trim(opt, "<") == "") {
			if err := checked("personal number", opt, d); err != nil {
				return nil, err
			}
		}
		m.OptionalData1 = filler(opt)
		if err := checked("composite", l2[0:10]+l2[13:20]+l2[21:43], l2[last]); err != nil {
			return nil, err
		}
	} else {
		if err := checked("composite", l2[0:10]+l2[13:20]+l2[21:35], l2[last]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// documentNumber reads the document number field, its check digit and the
// optional data after them (TD1 line 1, TD2 line 2), and returns the number
// and what remains of the optional data. A number longer than nine
// characters has a filler in place of the check digit and continues in the
// optional data, followed by the check digit of the whole number and a
// filler (ICAO 9303-5 §4.2.2.2 note j for TD1, ICAO 9303-6 §4.2.2.2 note j
// for TD2).
func documentNumber(num string, digit byte, opt string) (number, rest string, err error) {
	if digit != '<' {
		if err := checked("document number", num, digit); err != nil {
			return "", "", err
		}
		return filler(num), filler(opt), nil
	}
	end := strings.IndexByte(opt, '<')
	if end < 1 {
		return "", "", malformed("long document number without its check digit")
	}
	full := num + opt[:end-1]
	if err := checked("document number", full, opt[end-1]); err != nil {
		return "", "", err
	}
	return filler(full), filler(opt[end:]), nil
}

// filler turns the MRZ filler into spaces and trims.
func filler(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "<", " "))
}

// names splits the name field at the first "<<" into primary and secondary
// identifiers (ICAO 9303-3 §4.6).
func names(s string) (primary, secondary string) {
	p, sec, _ := strings.Cut(s, "<<")
	return filler(p), filler(sec)
}
