package emrtd

import (
	"crypto/sha1"
	"fmt"
	"log/slog"
	"strings"
)

// AccessKey is the holder's secret that opens the chip: a CAN or an MRZKey.
// Neither prints its value: fmt and log/slog show only its kind.
type AccessKey interface {
	// paceRef is the password reference of MSE:Set AT (ICAO 9303-11
	// §4.4.4.1): 01 MRZ, 02 CAN.
	paceRef() byte
	// paceSecret is f(π) of ICAO 9303-11 §9.7.3.
	paceSecret() ([]byte, error)
}

// CAN is the card access number printed on the document (ICAO 9303-11
// §4.4.2), usually six digits. It opens the chip through PACE only.
type CAN string

func (CAN) paceRef() byte { return 0x02 }

// paceSecret: for the CAN, f(π) is the CAN's ISO 8859-1 encoding (§9.7.3).
func (c CAN) paceSecret() ([]byte, error) {
	if len(c) == 0 {
		return nil, fmt.Errorf("%w: empty CAN", ErrInvalidKey)
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return nil, fmt.Errorf("%w: a CAN is digits only", ErrInvalidKey)
		}
	}
	return []byte(c), nil
}

// String hides the number.
func (CAN) String() string { return "CAN(redacted)" }

// GoString hides the number from %#v too.
func (c CAN) GoString() string { return c.String() }

// LogValue hides the number from log/slog.
func (c CAN) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MRZKey is the part of the machine readable zone that opens the chip: the
// document number, the date of birth and the date of expiry, dates YYMMDD
// (ICAO 9303-11 §9.7.2). It opens the chip through PACE and BAC.
type MRZKey struct {
	DocumentNumber string
	DateOfBirth    string
	DateOfExpiry   string
}

func (MRZKey) paceRef() byte { return 0x01 }

// information builds the MRZ information of §9.7.2: the document number
// padded with '<' to at least nine characters, the dates, each followed by
// its check digit.
func (k MRZKey) information() ([]byte, error) {
	num := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(k.DocumentNumber), " ", "<"))
	if num == "" {
		return nil, fmt.Errorf("%w: empty document number", ErrInvalidKey)
	}
	for len(num) < 9 {
		num += "<"
	}
	var b strings.Builder
	for _, f := range []struct{ name, v string }{{"document number", num}, {"date of birth", k.DateOfBirth}, {"date of expiry", k.DateOfExpiry}} {
		if f.name != "document number" {
			if len(f.v) != 6 || strings.Trim(f.v, "0123456789") != "" {
				return nil, fmt.Errorf("%w: %s must be YYMMDD", ErrInvalidKey, f.name)
			}
		}
		d, ok := CheckDigit(f.v)
		if !ok {
			return nil, fmt.Errorf("%w: %s outside the MRZ alphabet", ErrInvalidKey, f.name)
		}
		b.WriteString(f.v)
		b.WriteByte(d)
	}
	return []byte(b.String()), nil
}

// documentID is ID_IC of Terminal Authentication after BAC: the document
// number as the MRZ prints it (padded with '<' to nine characters) followed by
// its check digit (ICAO 9303-11 §7.1). The key was checked by Open.
func (k MRZKey) documentID() []byte {
	info, err := k.information()
	if err != nil {
		return nil
	}
	// information is number, digit, 7 characters of birth date, 7 of expiry.
	return info[:len(info)-14]
}

// paceSecret: for the MRZ, f(π) = SHA-1(MRZ information) (§9.7.3).
func (k MRZKey) paceSecret() ([]byte, error) {
	info, err := k.information()
	if err != nil {
		return nil, err
	}
	h := sha1.Sum(info)
	return h[:], nil
}

// bacSeed is Kseed, the first 16 bytes of SHA-1(MRZ information) (§9.7.2).
func (k MRZKey) bacSeed() ([]byte, error) {
	h, err := k.paceSecret()
	if err != nil {
		return nil, err
	}
	return h[:16], nil
}

// String hides the key.
func (MRZKey) String() string { return "MRZKey(redacted)" }

// GoString hides the key from %#v too.
func (k MRZKey) GoString() string { return k.String() }

// LogValue hides the key from log/slog.
func (k MRZKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MRZKeyFromMRZ takes the access key from the printed MRZ (TD1, TD2 or TD3,
// line breaks optional), checking its check digits.
func MRZKeyFromMRZ(mrz string) (MRZKey, error) {
	m, err := ParseMRZ(mrz)
	if err != nil {
		return MRZKey{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return m.Key(), nil
}
