package emrtd

import "strings"

// Country codes: the MRZ names the issuing state and the nationality with the
// three-letter codes of ICAO 9303-3 §5, X.509 certificates name countries
// with ISO 3166-1 alpha-2 (RFC 5280 Appendix A, X.520 countryName; ICAO
// 9303-12 §7.1.1 for the CSCA and document signer profiles). The two are
// not related by truncation — SWE is SE, AUT is AT (AU is Australia) — hence
// one table, used by passive authentication and by the virtual card's test
// PKI alike.

// iso3166 maps every ISO 3166-1 alpha-3 code, which ICAO 9303-3 §5 Part A
// adopts, to its alpha-2 code. Generated from the ISO 3166-1 list of
// Debian's iso-codes 4.15.0 (249 entries); country_test.go checks it against
// that file and against golang.org/x/text.
var iso3166 = map[string]string{
	"ABW": "AW", "AFG": "AF", "AGO": "AO", "AIA": "AI", "ALA": "AX", "ALB": "AL", "AND": "AD", "ARE": "AE",
	"ARG": "AR", "ARM": "AM", "ASM": "AS", "ATA": "AQ", "ATF": "TF", "ATG": "AG", "AUS": "AU", "AUT": "AT",
	"AZE": "AZ", "BDI": "BI", "BEL": "BE", "BEN": "BJ", "BES": "BQ", "BFA": "BF", "BGD": "BD", "BGR": "BG",
	"BHR": "BH", "BHS": "BS", "BIH": "BA", "BLM": "BL", "BLR": "BY", "BLZ": "BZ", "BMU": "BM", "BOL": "BO",
	"BRA": "BR", "BRB": "BB", "BRN": "BN", "BTN": "BT", "BVT": "BV", "BWA": "BW", "CAF": "CF", "CAN": "CA",
	"CCK": "CC", "CHE": "CH", "CHL": "CL", "CHN": "CN", "CIV": "CI", "CMR": "CM", "COD": "CD", "COG": "CG",
	"COK": "CK", "COL": "CO", "COM": "KM", "CPV": "CV", "CRI": "CR", "CUB": "CU", "CUW": "CW", "CXR": "CX",
	"CYM": "KY", "CYP": "CY", "CZE": "CZ", "DEU": "DE", "DJI": "DJ", "DMA": "DM", "DNK": "DK", "DOM": "DO",
	"DZA": "DZ", "ECU": "EC", "EGY": "EG", "ERI": "ER", "ESH": "EH", "ESP": "ES", "EST": "EE", "ETH": "ET",
	"FIN": "FI", "FJI": "FJ", "FLK": "FK", "FRA": "FR", "FRO": "FO", "FSM": "FM", "GAB": "GA", "GBR": "GB",
	"GEO": "GE", "GGY": "GG", "GHA": "GH", "GIB": "GI", "GIN": "GN", "GLP": "GP", "GMB": "GM", "GNB": "GW",
	"GNQ": "GQ", "GRC": "GR", "GRD": "GD", "GRL": "GL", "GTM": "GT", "GUF": "GF", "GUM": "GU", "GUY": "GY",
	"HKG": "HK", "HMD": "HM", "HND": "HN", "HRV": "HR", "HTI": "HT", "HUN": "HU", "IDN": "ID", "IMN": "IM",
	"IND": "IN", "IOT": "IO", "IRL": "IE", "IRN": "IR", "IRQ": "IQ", "ISL": "IS", "ISR": "IL", "ITA": "IT",
	"JAM": "JM", "JEY": "JE", "JOR": "JO", "JPN": "JP", "KAZ": "KZ", "KEN": "KE", "KGZ": "KG", "KHM": "KH",
	"KIR": "KI", "KNA": "KN", "KOR": "KR", "KWT": "KW", "LAO": "LA", "LBN": "LB", "LBR": "LR", "LBY": "LY",
	"LCA": "LC", "LIE": "LI", "LKA": "LK", "LSO": "LS", "LTU": "LT", "LUX": "LU", "LVA": "LV", "MAC": "MO",
	"MAF": "MF", "MAR": "MA", "MCO": "MC", "MDA": "MD", "MDG": "MG", "MDV": "MV", "MEX": "MX", "MHL": "MH",
	"MKD": "MK", "MLI": "ML", "MLT": "MT", "MMR": "MM", "MNE": "ME", "MNG": "MN", "MNP": "MP", "MOZ": "MZ",
	"MRT": "MR", "MSR": "MS", "MTQ": "MQ", "MUS": "MU", "MWI": "MW", "MYS": "MY", "MYT": "YT", "NAM": "NA",
	"NCL": "NC", "NER": "NE", "NFK": "NF", "NGA": "NG", "NIC": "NI", "NIU": "NU", "NLD": "NL", "NOR": "NO",
	"NPL": "NP", "NRU": "NR", "NZL": "NZ", "OMN": "OM", "PAK": "PK", "PAN": "PA", "PCN": "PN", "PER": "PE",
	"PHL": "PH", "PLW": "PW", "PNG": "PG", "POL": "PL", "PRI": "PR", "PRK": "KP", "PRT": "PT", "PRY": "PY",
	"PSE": "PS", "PYF": "PF", "QAT": "QA", "REU": "RE", "ROU": "RO", "RUS": "RU", "RWA": "RW", "SAU": "SA",
	"SDN": "SD", "SEN": "SN", "SGP": "SG", "SGS": "GS", "SHN": "SH", "SJM": "SJ", "SLB": "SB", "SLE": "SL",
	"SLV": "SV", "SMR": "SM", "SOM": "SO", "SPM": "PM", "SRB": "RS", "SSD": "SS", "STP": "ST", "SUR": "SR",
	"SVK": "SK", "SVN": "SI", "SWE": "SE", "SWZ": "SZ", "SXM": "SX", "SYC": "SC", "SYR": "SY", "TCA": "TC",
	"TCD": "TD", "TGO": "TG", "THA": "TH", "TJK": "TJ", "TKL": "TK", "TKM": "TM", "TLS": "TL", "TON": "TO",
	"TTO": "TT", "TUN": "TN", "TUR": "TR", "TUV": "TV", "TWN": "TW", "TZA": "TZ", "UGA": "UG", "UKR": "UA",
	"UMI": "UM", "URY": "UY", "USA": "US", "UZB": "UZ", "VAT": "VA", "VCT": "VC", "VEN": "VE", "VGB": "VG",
	"VIR": "VI", "VNM": "VN", "VUT": "VU", "WLF": "WF", "WSM": "WS", "YEM": "YE", "ZAF": "ZA", "ZMB": "ZM",
	"ZWE": "ZW",
}

// icaoCodes are the codes of ICAO 9303-3 §5 that are not ISO 3166-1 alpha-3.
// An empty value marks a code with no alpha-2 equivalent: an issuing
// organisation's or a nationality status, which no country's certificate
// can name.
var icaoCodes = map[string]string{
	// Germany writes D, not DEU, in the MRZ (ICAO 9303-3 §5).
	"D": "DE",
	// Part B, codes reserved by the ISO 3166 maintenance agency: the
	// European Union, exceptionally reserved as EU in ISO 3166-1.
	"EUE": "EU",
	// British nationality categories on United Kingdom documents.
	"GBD": "GB", "GBN": "GB", "GBO": "GB", "GBP": "GB", "GBS": "GB",
	// Part D, other issuing authorities: the United Nations and its
	// agencies (UN is exceptionally reserved in ISO 3166-1 for it), and
	// organisations with no ISO 3166-1 code.
	"UNO": "UN", "UNA": "UN", "UNK": "UN",
	"XBA": "", "XIM": "", "XCC": "", "XCE": "", "XCO": "", "XEC": "", "XPO": "", "XES": "", "XMP": "", "XOM": "", "XDC": "",
	// Part C, persons without a defined nationality: never an issuing state.
	"XXA": "", "XXB": "", "XXC": "", "XXX": "",
	// Kosovo writes RKS; it has no ISO 3166-1 code and uses XK, a
	// user-assigned code of ISO 3166-1, as the EU does.
	"RKS": "XK",
	// Utopia, the fictitious state of ICAO's specimens (ICAO 9303-3 §5,
	// 9303-11 worked examples), has no country: it takes XU, a user-assigned
	// code, which ISO 3166-1 keeps from ever naming a country.
	"UTO": "XU",
}

// CountryAlpha2 returns the ISO 3166-1 alpha-2 code that certificates use
// for an ICAO 9303-3 code as the MRZ writes it ("SWE", "D<<", "UTO"), in
// upper case: SE, DE, XU. ok is false for codes with no alpha-2 equivalent
// (international organisations other than the UN and the EU, nationality
// statuses such as XXA) and for unknown codes.
func CountryAlpha2(icao string) (alpha2 string, ok bool) {
	a2, known := countryAlpha2(icao)
	return a2, known && a2 != ""
}

// countryAlpha2 looks a code up; known is false for a code outside ICAO
// 9303-3, and alpha2 empty for a known code without an equivalent.
func countryAlpha2(icao string) (alpha2 string, known bool) {
	c := strings.ToUpper(strings.TrimRight(strings.TrimSpace(icao), "<"))
	if a2, ok := icaoCodes[c]; ok {
		return a2, true
	}
	a2, ok := iso3166[c]
	return a2, ok
}
