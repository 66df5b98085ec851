package identity_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
)

func payment() identity.Transaction {
	// DE89 3704 0044 0532 0130 00 is ISO 13616's own example IBAN.
	return identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
}

func digest(t *testing.T, tx identity.Transaction) [32]byte {
	t.Helper()
	d, err := tx.Digest()
	if err != nil {
		t.Fatalf("%+v: %v", tx, err)
	}
	return d
}

// TestTransactionDigest: one cent or one character of the payee changes
// the digest (RTS on SCA Article 5(1)); writing the same payment another
// way does not.
func TestTransactionDigest(t *testing.T) {
	base := digest(t, payment())
	same := []func(*identity.Transaction){
		func(tx *identity.Transaction) { tx.Amount = "100" },
		func(tx *identity.Transaction) { tx.Amount = "0100.000" },
		func(tx *identity.Transaction) { tx.PayeeAccount = "de89370400440532013000" },
		func(tx *identity.Transaction) { tx.PayeeName = "  Muster GmbH " },
	}
	for i, f := range same {
		tx := payment()
		f(&tx)
		if digest(t, tx) != base {
			t.Errorf("the same payment written another way (%d: %+v) has another digest", i, tx)
		}
	}
	other := []func(*identity.Transaction){
		func(tx *identity.Transaction) { tx.Amount = "100.01" },
		func(tx *identity.Transaction) { tx.Amount = "1000" },
		func(tx *identity.Transaction) { tx.Currency = "CHF" },
		func(tx *identity.Transaction) { tx.PayeeName = "Muster GmbH." },
		func(tx *identity.Transaction) { tx.PayeeAccount = "GB82 WEST 1234 5698 7654 32" },
		func(tx *identity.Transaction) { tx.Reference = "INV-2026-0043" },
		func(tx *identity.Transaction) { tx.Text = "rent" },
		// Moving text between fields must not give the same bytes.
		func(tx *identity.Transaction) { tx.PayeeName, tx.Reference = "Muster GmbHINV-2026-0042", "" },
	}
	for i, f := range other {
		tx := payment()
		f(&tx)
		if digest(t, tx) == base {
			t.Errorf("change %d (%+v) kept the digest", i, tx)
		}
	}
}

func TestTransactionRefused(t *testing.T) {
	for i, f := range []func(*identity.Transaction){
		func(tx *identity.Transaction) { tx.Amount = "" },
		func(tx *identity.Transaction) { tx.Amount = "-1" },
		func(tx *identity.Transaction) { tx.Amount = "1e3" },
		func(tx *identity.Transaction) { tx.Amount = "1,00" },
		func(tx *identity.Transaction) { tx.Amount = " 1" },
		func(tx *identity.Transaction) { tx.Amount = "1." },
		func(tx *identity.Transaction) { tx.Amount = ".5" },
		func(tx *identity.Transaction) { tx.Amount = "0.00" },
		func(tx *identity.Transaction) { tx.Amount = "100.001" },
		func(tx *identity.Transaction) { tx.Amount = "1000000000000000000" },
		func(tx *identity.Transaction) { tx.Amount, tx.Currency = "100.5", "JPY" },
		func(tx *identity.Transaction) { tx.Currency = "eur" },
		func(tx *identity.Transaction) { tx.Currency = "EURO" },
		func(tx *identity.Transaction) { tx.PayeeAccount = "DE88 3704 0044 0532 0130 00" }, // check digits
		func(tx *identity.Transaction) { tx.PayeeAccount = "" },
		func(tx *identity.Transaction) { tx.PayeeName = " " },
		func(tx *identity.Transaction) { tx.PayeeName = "Muster\nGmbH" },
		func(tx *identity.Transaction) { tx.Text = "\xff" },
		func(tx *identity.Transaction) { tx.Reference = string(make([]byte, 141)) },
	} {
		tx := payment()
		f(&tx)
		if _, err := tx.Digest(); !errors.Is(err, identity.ErrTransaction) || !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("case %d %+v: %v, want ErrTransaction", i, tx, err)
		}
	}
	// The field at fault is told apart, for a page to say which to correct.
	bad := payment()
	bad.PayeeAccount = "DE88 3704 0044 0532 0130 00"
	if _, err := bad.Digest(); !errors.Is(err, identity.ErrIBAN) || errors.Is(err, identity.ErrAmount) {
		t.Errorf("bad IBAN: %v", err)
	}
	bad = payment()
	bad.Amount = "1,00"
	if _, err := bad.Digest(); !errors.Is(err, identity.ErrAmount) || errors.Is(err, identity.ErrIBAN) {
		t.Errorf("bad amount: %v", err)
	}
	// Currencies with other minor units.
	for _, ok := range []identity.Transaction{
		{Amount: "100", Currency: "JPY", PayeeName: "x", PayeeAccount: "y"},
		{Amount: "1.234", Currency: "KWD", PayeeName: "x", PayeeAccount: "y"},
	} {
		if _, err := ok.Digest(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

// TestTransactionEncoding pins version 1 of the encoding byte for byte, so
// that it cannot change without a new version tag, and reads it back.
func TestTransactionEncoding(t *testing.T) {
	b, err := payment().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = append(want, "puce-transaction-v1"...)
	for _, f := range []string{"100.00", "EUR", "Muster GmbH", "DE89370400440532013000", "INV-2026-0042", ""} {
		want = binary.BigEndian.AppendUint16(want, uint16(len(f)))
		want = append(want, f...)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n%s\nwant\n%s", hex.Dump(b), hex.Dump(want))
	}
	tx, err := identity.ParseTransaction(b)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Amount != "100.00" || tx.PayeeAccount != "DE89370400440532013000" || tx.Reference != "INV-2026-0042" {
		t.Fatalf("read back %+v", tx)
	}
	// Bytes that are a transaction, but not its canonical form, are refused.
	nonCanonical := append([]byte("puce-transaction-v1"), 0, 3, '1', '0', '0')
	for _, f := range []string{"EUR", "x", "y", "", ""} {
		nonCanonical = binary.BigEndian.AppendUint16(nonCanonical, uint16(len(f)))
		nonCanonical = append(nonCanonical, f...)
	}
	for _, bad := range [][]byte{nil, []byte("puce-transaction-v2"), b[:len(b)-1], append(append([]byte{}, b...), 0), nonCanonical} {
		if _, err := identity.ParseTransaction(bad); !errors.Is(err, identity.ErrTransaction) {
			t.Errorf("ParseTransaction(%q): %v", bad, err)
		}
	}
}

func FuzzParseTransaction(f *testing.F) {
	b, _ := payment().Canonical()
	f.Add(b)
	jp, _ := identity.Transaction{Amount: "5000", Currency: "JPY", PayeeName: "山田", PayeeAccount: "123-456", Text: "家賃"}.Canonical()
	f.Add(jp)
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := identity.ParseTransaction(b)
		if err != nil {
			if !errors.Is(err, identity.ErrTransaction) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := tx.Canonical()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("parsed %+v does not encode back: %v", tx, err)
		}
	})
}

// TestTransactionHiddenText: characters that change how the payee or the
// reference is shown without being seen themselves — bidirectional
// overrides and isolates, zero-width characters, line separators — are
// refused, so that what the holder reads is the text that is signed
// (Unicode UAX #9 §2; UTS #39 §3 lists them as not recommended in
// identifiers; RTS on SCA Article 5(1)(a): the payer is made aware of the
// amount and the payee).
func TestTransactionHiddenText(t *testing.T) {
	for _, s := range []string{
		"Muster GmbH\u202e", "Muster \u202eHbmG", // RIGHT-TO-LEFT OVERRIDE
		"Muster\u200bGmbH",     // ZERO WIDTH SPACE
		"Muster\u200dGmbH",     // ZERO WIDTH JOINER
		"Muster\u2066GmbH",     // LEFT-TO-RIGHT ISOLATE
		"Muster\u200fGmbH",     // RIGHT-TO-LEFT MARK
		"Muster\u2028GmbH",     // LINE SEPARATOR
		"Muster\u2029GmbH",     // PARAGRAPH SEPARATOR
		"Muster\ufeffGmbH",     // ZERO WIDTH NO-BREAK SPACE
		"Muster\u00adGmbH",     // SOFT HYPHEN
		"Muster\U000e0041GmbH", // TAG LATIN CAPITAL LETTER A
	} {
		for _, field := range []string{"payee", "reference", "text"} {
			tx := payment()
			switch field {
			case "payee":
				tx.PayeeName = s
			case "reference":
				tx.Reference = s
			case "text":
				tx.Text = s
			}
			if _, err := tx.Digest(); !errors.Is(err, identity.ErrTransaction) {
				t.Errorf("%s %+q: %v, want ErrTransaction", field, s, err)
			}
		}
	}
	// Other scripts stay accepted, with the joiners they need where
	// RFC 5892 Appendix A.1 and A.2 allow them: ZWNJ in Persian (Arabic
	// script, between joining letters), ZWJ and ZWNJ after a virama.
	for _, s := range []string{"山田太郎", "Müller & Söhne", "שלום בע״מ", "شركة",
		"می\u200cخواهم",          // Persian, ZWNJ between Arabic letters
		"क्\u200dष", "क्\u200cष", // Devanagari KA VIRAMA ZWJ/ZWNJ SSA
	} {
		tx := payment()
		tx.PayeeName = s
		if _, err := tx.Digest(); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestTransactionAccountLookalike: an account that looks like an IBAN
// but is written with letters or digits of other scripts (Cyrillic Е for
// Latin E, full-width digits) would skip the check digits and show as a
// real IBAN. Account identifiers are ASCII (ISO 13616-1 §4, ISO 20022's
// Max34Text under the SEPA character set), so anything else is refused.
func TestTransactionAccountLookalike(t *testing.T) {
	for _, acct := range []string{
		"D\u0415" + "89 3704 0044 0532 0130 00", // Cyrillic capital IE
		"DE８９ 3704 0044 0532 0130 00",           // full-width 8 and 9
	} {
		tx := payment()
		tx.PayeeAccount = acct
		if _, err := tx.Digest(); !errors.Is(err, identity.ErrTransaction) {
			t.Errorf("account %+q: %v, want ErrTransaction", acct, err)
		}
	}
}

// TestTransactionIBANCheckDigits: ISO 13616-1 check digits run from 02 to
// 98; 00, 01 and 99 pass MOD 97-10 for some account (they are 97, 98 and
// 2 modulo 97) but are never issued.
func TestTransactionIBANCheckDigits(t *testing.T) {
	// DE02 1203 0000 0000 2020 51 is valid (check digits 02); with 99 it
	// still passes mod 97.
	ok := payment()
	ok.PayeeAccount = "DE02120300000000202051"
	if _, err := ok.Digest(); err != nil {
		t.Fatalf("valid IBAN: %v", err)
	}
	bad := payment()
	bad.PayeeAccount = "DE99120300000000202051"
	if _, err := bad.Digest(); !errors.Is(err, identity.ErrIBAN) {
		t.Errorf("check digits 99: %v, want ErrIBAN", err)
	}
}

// TestTransactionCurrencyCode: the currency must be an ISO 4217 code of a
// currency (or fund) with a minor unit, not any three letters: a typo or
// a look-alike ("EUX") would otherwise be approved as written, with the
// minor unit guessed, and the codes whose minor unit is "N.A." (gold XAU,
// the testing code XTS, no currency XXX, SDR XDR) have no amount in the
// sense of this encoding.
func TestTransactionCurrencyCode(t *testing.T) {
	for _, cur := range []string{"EUX", "AAA", "ZZZ", "XAU", "XTS", "XXX", "XDR", "DEM"} {
		tx := payment()
		tx.Currency = cur
		if _, err := tx.Digest(); !errors.Is(err, identity.ErrAmount) {
			t.Errorf("currency %s: %v, want ErrAmount", cur, err)
		}
	}
	for cur, amount := range map[string]string{"USD": "1.00", "CHF": "1.00", "GBP": "1.00", "SEK": "1.00",
		"ISK": "1", "TND": "1.000", "CLF": "1.0000", "XOF": "1", "XCD": "1.00", "CHE": "1.00"} {
		tx := payment()
		tx.Currency, tx.Amount = cur, amount
		if _, err := tx.Digest(); err != nil {
			t.Errorf("currency %s: %v", cur, err)
		}
	}
}

// TestTransactionJSON: a Transaction's JSON is openapi.json's (the names
// httpauth's endpoints and puce.js use; httpauth's openapi test holds the
// document to the struct's tags), the optional members left out when
// empty; and what encoding/json wrote before the struct had tags, with
// the field names as they are, still reads back the same.
func TestTransactionJSON(t *testing.T) {
	tx := payment()
	got, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"amount":"100.00","currency":"EUR","payeeName":"Muster GmbH","payeeAccount":"DE89 3704 0044 0532 0130 00","reference":"INV-2026-0042"}`
	if string(got) != want {
		t.Fatalf("JSON\n  %s\nwant\n  %s", got, want)
	}
	legacy := `{"Amount":"100.00","Currency":"EUR","PayeeName":"Muster GmbH","PayeeAccount":"DE89 3704 0044 0532 0130 00","Reference":"INV-2026-0042","Text":""}`
	for _, in := range []string{want, legacy} {
		var back identity.Transaction
		if err := json.Unmarshal([]byte(in), &back); err != nil {
			t.Fatal(err)
		}
		if back != tx || digest(t, back) != digest(t, tx) {
			t.Fatalf("%s read back as %+v", in, back)
		}
	}
}
