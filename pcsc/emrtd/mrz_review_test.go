package emrtd

import (
	"errors"
	"testing"
)

// The worked examples of ICAO 9303-3 §4.9 (check digit, weights 7 3 1):
// a date of 27 July 1952 and a document number with fillers.
func TestCheckDigitICAOPart3(t *testing.T) {
	for _, c := range []struct {
		field string
		want  byte
	}{
		{"520727", '3'},
		{"AB2134<<<", '5'},
		{"L898902C3", '6'}, // 9303-4 specimen's document number
		{"", '0'},
	} {
		if d, ok := CheckDigit(c.field); !ok || d != c.want {
			t.Errorf("CheckDigit(%q) = %c %v, want %c", c.field, d, ok, c.want)
		}
	}
	if _, ok := CheckDigit("ab"); ok {
		t.Error("lower case accepted")
	}
}

// TD2 (ICAO 9303-6): the specimen, and a document number of more than nine
// characters, which ICAO 9303-6 §4.2.2.2 (note j) writes as in TD1: the
// first nine, a filler where the check digit would be, the rest in the
// optional data followed by the check digit of the whole number.
func TestParseMRZTD2(t *testing.T) {
	m, err := ParseMRZ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6")
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != TD2 || m.DocumentNumber != "D23145890" || m.DateOfExpiry != "120415" || m.PrimaryID != "ERIKSSON" {
		t.Errorf("TD2 specimen = %+v", m)
	}
	m, err = ParseMRZ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD23145890<UTO7408122F12041591233<<<4")
	if err != nil {
		t.Fatalf("TD2 with a 12-character document number: %v", err)
	}
	if m.DocumentNumber != "D23145890123" || m.OptionalData1 != "" {
		t.Errorf("TD2 long number = %q, optional %q", m.DocumentNumber, m.OptionalData1)
	}
	if key := m.Key(); key.DocumentNumber != "D23145890123" {
		t.Errorf("Key = %+v", key)
	}
	// The long number's check digit altered.
	if _, err := ParseMRZ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD23145890<UTO7408122F12041591234<<<4"); !errors.Is(err, ErrCheckDigit) {
		t.Errorf("altered long number check digit: %v", err)
	}
}
