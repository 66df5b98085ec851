package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Transaction is a payment a holder is asked to approve. Under PSD2 strong
// customer authentication the code that approves a remote payment must be
// dynamically linked to its amount and payee (Commission Delegated
// Regulation (EU) 2018/389, Article 5): factors sign, or derive their
// challenge from, the transaction's Digest, so a code made for one amount
// or payee does not verify for another.
//
// Canonical checks every field (Digest too), so an application validates a
// payment a client posts by calling it. To keep a pending payment as a
// string (a session value), store Canonical's bytes and read them back
// with ParseTransaction. Its JSON is openapi.json's Transaction (amount,
// currency, payeeName, payeeAccount, reference, text), the shape
// identity/httpauth's endpoints and its browser client use, so a page can
// be sent the struct as it is. encoding/json matches names without regard
// to case, so values written before the struct had tags ("Amount") still
// read back.
type Transaction struct {
	// Amount is a decimal number with a '.' before the fraction
	// ("1234.50"), positive, in the currency's major unit.
	Amount string `json:"amount"`
	// Currency is the ISO 4217 alphabetic code ("EUR").
	Currency string `json:"currency"`
	// PayeeName is who is paid, as the holder sees it.
	PayeeName string `json:"payeeName"`
	// PayeeAccount identifies the payee's account: an IBAN (checked by its
	// ISO 13616 check digits), or another identifier.
	PayeeAccount string `json:"payeeAccount"`
	// Reference is the payer's reference for the payment.
	Reference string `json:"reference,omitempty"`
	// Text is optional free text shown with the payment.
	Text string `json:"text,omitempty"`
}

// ErrTransaction: a transaction is malformed, or bytes are not a canonical
// transaction. It wraps ErrBadInput.
var ErrTransaction = fmt.Errorf("%w: transaction", ErrBadInput)

// Which field of a transaction is wrong, for a page that asks the user to
// correct it. Each wraps ErrTransaction.
var (
	// ErrAmount: the amount or currency is not one this encoding takes.
	ErrAmount = fmt.Errorf("%w: amount", ErrTransaction)
	// ErrIBAN: the payee's IBAN fails its check digits.
	ErrIBAN = fmt.Errorf("%w: IBAN", ErrTransaction)
)

// transactionTag starts every encoding: the format's name and version. A
// later version gets another tag, so no encoding of one version reads as
// another's.
const transactionTag = "puce-transaction-v1"

// Limits on the text fields, in bytes (SEPA's remittance information is
// 140 characters; names and references are shorter).
const (
	maxAmountDigits = 18
	maxTxField      = 140
	maxTxText       = 420
)

// minorUnits returns the ISO 4217 minor unit of a currency code (the
// digits after the decimal separator), and false for a code that is not
// in ISO 4217's list of currencies and funds (Table A.1, amendments up to
// 2025), or whose minor unit is "N.A." (precious metals, XDR, XTS for
// testing, XXX for no currency): three letters alone may be a typo or a
// look-alike (EUX), and guessing its minor unit would approve an amount
// nobody meant.
func minorUnits(currency string) (int, bool) {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0, true
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3, true
	case "CLF", "UYW":
		return 4, true
	}
	if len(currency) == 3 && strings.Contains(iso4217TwoDigits, currency) {
		return 2, true
	}
	return 0, false
}

// iso4217TwoDigits lists the codes of minor unit 2, space-separated
// (ISO 4217 Table A.1; ANG, CUC, SLL and ZWL, withdrawn lately, are kept
// so that a payment made out in them still reads).
const iso4217TwoDigits = "" +
	"AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD " +
	"BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD " +
	"EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR " +
	"IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP " +
	"MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN " +
	"QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL " +
	"THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR " +
	"ZMW ZWG ZWL"

// Canonical returns the transaction's one byte encoding, version 1. The
// fields are first put in canonical form: the amount with exactly the
// currency's minor-unit digits ("100.5" EUR is "100.50"; a fraction finer
// than the currency's unit is refused), the account in upper case without
// spaces, text in Unicode NFC. Then: the ASCII tag "puce-transaction-v1",
// and the six fields in the order of the struct, each as a two-byte
// big-endian length and its UTF-8 bytes.
func (t Transaction) Canonical() ([]byte, error) {
	c, err := t.canonical()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+len(c.PayeeName)+len(c.PayeeAccount)+len(c.Reference)+len(c.Text))
	b = append(b, transactionTag...)
	for _, f := range c.fields() {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

// Digest is the SHA-256 of the canonical encoding: what a factor binds its
// approval to.
func (t Transaction) Digest() ([32]byte, error) {
	b, err := t.Canonical()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

func (t *Transaction) fields() [6]string {
	return [6]string{t.Amount, t.Currency, t.PayeeName, t.PayeeAccount, t.Reference, t.Text}
}

// canonical checks t and returns it in canonical form.
func (t Transaction) canonical() (Transaction, error) {
	bad := func(format string, a ...any) (Transaction, error) {
		return Transaction{}, fmt.Errorf("%w: "+format, append([]any{ErrTransaction}, a...)...)
	}
	c := t
	minor, ok := minorUnits(c.Currency)
	if len(c.Currency) != 3 || strings.Trim(c.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" || !ok {
		return Transaction{}, fmt.Errorf("%w: currency %q is not an ISO 4217 currency code", ErrAmount, c.Currency)
	}
	amount, err := canonicalAmount(c.Amount, minor)
	if err != nil {
		return Transaction{}, fmt.Errorf("%w %q: %v", ErrAmount, c.Amount, err)
	}
	c.Amount = amount
	c.PayeeAccount = strings.ToUpper(strings.Join(strings.Fields(c.PayeeAccount), ""))
	// Account identifiers are ASCII (ISO 13616-1 §4 for an IBAN, the
	// SEPA character set for ISO 20022's other identifiers). A letter or
	// digit of another script (Cyrillic Е, a full-width 8) would make an
	// account that reads as an IBAN skip its check digits.
	for i := 0; i < len(c.PayeeAccount); i++ {
		if b := c.PayeeAccount[i]; b < 0x21 || b > 0x7e {
			return bad("payee account holds a character outside printable ASCII")
		}
	}
	if looksLikeIBAN(c.PayeeAccount) && !ibanValid(c.PayeeAccount) {
		return Transaction{}, fmt.Errorf("%w %s: the check digits do not match (ISO 13616)", ErrIBAN, c.PayeeAccount)
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
		need bool
	}{
		{"payee name", &c.PayeeName, maxTxField, true},
		{"payee account", &c.PayeeAccount, maxTxField, true},
		{"reference", &c.Reference, maxTxField, false},
		{"text", &c.Text, maxTxText, false},
	} {
		if !utf8.ValidString(*f.v) || hidesText(*f.v) {
			return bad("%s is not printable UTF-8 (or holds invisible formatting characters)", f.name)
		}
		*f.v = norm.NFC.String(strings.TrimSpace(*f.v))
		switch {
		case f.need && *f.v == "":
			return bad("%s is empty", f.name)
		case len(*f.v) > f.max:
			return bad("%s longer than %d bytes", f.name, f.max)
		}
	}
	return c, nil
}

// hidesText reports characters that change how text is shown without
// being seen themselves: controls (Cc), format characters (Cf: the
// bidirectional overrides, embeddings, isolates and marks of UAX #9 §2,
// zero-width spaces, soft hyphens, tags) and the line and paragraph
// separators (Zl, Zp). A payee name with U+202E shows its characters in
// reverse, so the holder would approve a name other than the one signed.
// ZWNJ and ZWJ are kept where RFC 5892 Appendix A.1 and A.2 allow them in
// names: after a virama, and ZWNJ between two Arabic-script letters (its
// joining rule, which Persian needs), approximated by script.
func hidesText(s string) bool {
	prev := rune(-1)
	for i, r := range s {
		switch {
		case r == zwnj || r == zwj:
			next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
			afterVirama := prev >= 0 && norm.NFC.PropertiesString(string(prev)).CCC() == viramaCCC
			arabic := r == zwnj && unicode.Is(unicode.Arabic, prev) && unicode.Is(unicode.Arabic, next) &&
				unicode.IsLetter(prev) && unicode.IsLetter(next)
			if !afterVirama && !arabic {
				return true
			}
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return true
		}
		prev = r
	}
	return false
}

const (
	zwnj = '\u200c'
	zwj  = '\u200d'
	// viramaCCC is the canonical combining class Virama (UAX #44).
	viramaCCC = 9
)

// canonicalAmount writes a positive decimal with exactly minor fraction
// digits: digits only, one '.', no sign or exponent; zeros beyond the
// minor unit are dropped, other digits there refused.
func canonicalAmount(s string, minor int) (string, error) {
	whole, frac, dot := strings.Cut(s, ".")
	switch {
	case whole == "" || strings.Trim(whole, "0123456789") != "" || (dot && (frac == "" || strings.Trim(frac, "0123456789") != "")):
		return "", errors.New("not a decimal number such as 1234.50")
	case len(frac) > minor && strings.Trim(frac[minor:], "0") != "":
		return "", fmt.Errorf("finer than the currency's unit (%d decimals)", minor)
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	if len(whole) > maxAmountDigits {
		return "", errors.New("too large")
	}
	if len(frac) > minor {
		frac = frac[:minor]
	}
	frac += strings.Repeat("0", minor-len(frac))
	if strings.Trim(whole+frac, "0") == "" {
		return "", errors.New("not positive")
	}
	if minor == 0 {
		return whole, nil
	}
	return whole + "." + frac, nil
}

// looksLikeIBAN: two letters, two digits, then 11 to 30 letters and digits
// (ISO 13616-1: 15 to 34 characters in all).
func looksLikeIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 || !isUpper(s[0]) || !isUpper(s[1]) || !isDigit(s[2]) || !isDigit(s[3]) {
		return false
	}
	for i := 4; i < len(s); i++ {
		if !isUpper(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ibanValid checks ISO 13616's check digits: the first four characters
// moved to the end, letters as 10 to 35, the number mod 97 is 1 —
// computed digit by digit (ISO 7064 MOD 97-10), with no big numbers. The
// check digits themselves run from 02 to 98 (ISO 13616-1 §6.1): 00, 01
// and 99 are 97, 98 and 2 modulo 97, so MOD 97-10 alone passes an IBAN
// whose real check digits are 97, 98 or 02 written another way.
func ibanValid(s string) bool {
	if cd := s[2:4]; cd < "02" || cd > "98" {
		return false
	}
	rem := 0
	for _, c := range s[4:] + s[:4] {
		if c >= 'A' && c <= 'Z' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return rem == 1
}

// ParseTransaction decodes a canonical encoding (what a card agent shows
// before its holder signs). Bytes that are not exactly the canonical
// encoding of some transaction are refused with ErrTransaction.
func ParseTransaction(b []byte) (*Transaction, error) {
	bad := func(why string) (*Transaction, error) { return nil, fmt.Errorf("%w: %s", ErrTransaction, why) }
	if !bytes.HasPrefix(b, []byte(transactionTag)) {
		return bad("not a puce-transaction-v1 encoding")
	}
	rest := b[len(transactionTag):]
	var f [6]string
	for i := range f {
		if len(rest) < 2 {
			return bad("truncated")
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return bad("truncated")
		}
		f[i], rest = string(rest[2:2+n]), rest[2+n:]
	}
	if len(rest) != 0 {
		return bad("bytes after the last field")
	}
	t := &Transaction{Amount: f[0], Currency: f[1], PayeeName: f[2], PayeeAccount: f[3], Reference: f[4], Text: f[5]}
	again, err := t.Canonical()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return bad("not in canonical form")
	}
	return t, nil
}
