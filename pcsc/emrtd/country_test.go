package emrtd

import (
	"encoding/json"
	"os"
	"testing"

	"golang.org/x/text/language"
)

func TestCountryAlpha2(t *testing.T) {
	for _, c := range []struct {
		icao, want string
		ok         bool
	}{
		{"SWE", "SE", true}, {"AUT", "AT", true}, {"AUS", "AU", true}, {"FRA", "FR", true},
		{"D", "DE", true}, {"D<<", "DE", true}, {"DEU", "DE", true}, {"deu", "DE", true},
		{"UTO", "XU", true}, {"EUE", "EU", true}, {"UNO", "UN", true}, {"GBD", "GB", true},
		{"XXA", "", false}, {"XOM", "", false}, {"QQQ", "", false}, {"", "", false}, {"SW", "", false},
	} {
		got, ok := CountryAlpha2(c.icao)
		if got != c.want || ok != c.ok {
			t.Errorf("CountryAlpha2(%q) = %q, %v; want %q, %v", c.icao, got, ok, c.want, c.ok)
		}
	}
}

// The table against two independent lists: Debian's iso-codes (when
// installed) and the CLDR region data of golang.org/x/text.
func TestCountryTableIndependent(t *testing.T) {
	for a3, a2 := range iso3166 {
		r, err := language.ParseRegion(a3)
		if err != nil || r.String() != a2 || r.ISO3() != a3 {
			t.Errorf("x/text: %s is %v (%v), table says %s", a3, r, err, a2)
		}
	}
	raw, err := os.ReadFile("/usr/share/iso-codes/json/iso_3166-1.json")
	if err != nil {
		t.Skipf("iso-codes not installed: %v", err)
	}
	var f struct {
		List []struct {
			Alpha2 string `json:"alpha_2"`
			Alpha3 string `json:"alpha_3"`
		} `json:"3166-1"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.List) != len(iso3166) {
		t.Errorf("iso-codes lists %d countries, the table %d", len(f.List), len(iso3166))
	}
	for _, e := range f.List {
		if got := iso3166[e.Alpha3]; got != e.Alpha2 {
			t.Errorf("iso-codes: %s is %s, table says %q", e.Alpha3, e.Alpha2, got)
		}
	}
	for code, a2 := range icaoCodes {
		if _, clash := iso3166[code]; clash {
			t.Errorf("ICAO code %s shadows an ISO 3166-1 code", code)
		}
		for _, e := range f.List {
			if a2 != "" && e.Alpha2 == a2 && code != "D" && a2 != "GB" {
				t.Errorf("ICAO code %s maps to %s, which ISO 3166-1 assigns to %s", code, a2, e.Alpha3)
			}
		}
	}
}
