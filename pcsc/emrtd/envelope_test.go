package emrtd_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

const (
	bank  = "https://bank.example"
	nonce = "PZ1G-Ogm3S6C3riF8K1OfggFOx9KTH-2vKtIpg4ZZVM"
)

// envelopeFixture has the holder's side answer bank's request (DG1
// required, DG2 optional) for nonce, on a chip with Active Authentication,
// and returns the envelope's JSON and the receiver's options.
func envelopeFixture(t testing.TB, disclose ...emrtd.DG) ([]byte, emrtd.DisclosureOptions, *emrtd.PreparedDisclosure) {
	t.Helper()
	f := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true})
	s, err := emrtd.Open(t.Context(), f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := emrtd.DisclosureRequest{Optional: []emrtd.DG{emrtd.DG1, emrtd.DG2}, Challenge: emrtd.DisclosureChallenge(bank, nonce)}
	p, err := s.PrepareDisclosure(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Disclose(disclose...)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(emrtd.NewEnvelope(bank, nonce, d))
	if err != nil {
		t.Fatal(err)
	}
	// Sample documents expire on 2034-04-15; their document signer is valid
	// until 2036.
	opts := emrtd.DisclosureOptions{DisclosureRequest: emrtd.DisclosureRequest{Optional: req.Optional}, CSCAs: []*x509.Certificate{f.p.CSCA},
		Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	return wire, opts, p
}

func TestVerifyEnvelope(t *testing.T) {
	wire, opts, p := envelopeFixture(t, emrtd.DG1, emrtd.DG2)
	rec, err := emrtd.VerifyEnvelope(wire, bank, nonce, opts)
	if err != nil || !rec.ActiveAuthenticated || rec.MRZ == nil || rec.Face() == nil {
		t.Fatalf("genuine envelope: %v", err)
	}
	// The chip's proof is bound to the exchange by VerifyEnvelope, not by
	// what the caller put in opts.
	stale := opts
	stale.Challenge = emrtd.DisclosureChallenge("https://evil.example", "other")
	if _, err := emrtd.VerifyEnvelope(wire, bank, nonce, stale); err != nil {
		t.Fatalf("a stale challenge in opts: %v", err)
	}

	refused := func(name string, data []byte, origin, nonce string, opts emrtd.DisclosureOptions, want error) {
		t.Helper()
		if _, err := emrtd.VerifyEnvelope(data, origin, nonce, opts); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	refused("another site", wire, "https://evil.example", nonce, opts, emrtd.ErrWrongExchange)
	refused("another nonce", wire, bank, nonce[:len(nonce)-1]+"N", opts, emrtd.ErrWrongExchange)
	// A disclosure made for another exchange, relabelled: the chip signed
	// another challenge.
	var env emrtd.Envelope
	json.Unmarshal(wire, &env)
	other, _ := json.Marshal(emrtd.NewEnvelope(bank, "another nonce", env.Disclosure))
	refused("relabelled for another nonce", other, bank, "another nonce", opts, emrtd.ErrNoChipProof)
	for name, data := range map[string]string{"empty": "", "not JSON": "{", "another format": `{"format":"x","disclosure":{}}`,
		"no disclosure": `{"format":"puce-disclosure:1"}`, "too large": `{"format":"puce-disclosure:1","origin":"` + strings.Repeat("a", emrtd.MaxEnvelope) + `"}`} {
		refused(name, []byte(data), bank, nonce, opts, emrtd.ErrEnvelope)
		refused(name, []byte(data), bank, nonce, opts, emrtd.ErrMalformed)
	}

	// In force through its date of expiry (2034-04-15), in UTC.
	last := opts
	last.Time = time.Date(2034, 4, 15, 23, 59, 0, 0, time.UTC)
	if _, err := emrtd.VerifyEnvelope(wire, bank, nonce, last); err != nil {
		t.Fatalf("on its last day: %v", err)
	}
	after := opts
	after.Time = time.Date(2034, 4, 16, 0, 0, 1, 0, time.UTC)
	refused("expired", wire, bank, nonce, after, emrtd.ErrExpired)

	// Without DG1 there is no date of expiry to judge.
	d, err := p.Disclose(emrtd.DG2)
	if err != nil {
		t.Fatal(err)
	}
	noDG1, _ := json.Marshal(emrtd.NewEnvelope(bank, nonce, d))
	refused("DG1 not disclosed", noDG1, bank, nonce, opts, emrtd.ErrMissingDataGroup)
}

func TestMRZExpiry(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{"340415": "2034-04-15", "991231": "1999-12-31", "260101": "2026-01-01", "761231": "1976-12-31", "761205": "2076-12-05"} {
		m := emrtd.MRZ{DateOfExpiry: in}
		got, err := m.Expiry(now)
		if err != nil || got.Format(time.DateOnly) != want {
			t.Errorf("%s: %v, %v, want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "34041", "341315", "34<<15", "3404150"} {
		m := emrtd.MRZ{DateOfExpiry: in}
		if _, err := m.Expiry(now); !errors.Is(err, emrtd.ErrMalformed) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// seedCSCA is the CSCA of the committed corpus's genuine seeds (made by
// an earlier test with a virtual document, for the login example's
// origin), and seedTime when their document signer is valid.
var seedTime = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const seedOrigin = "http://localhost:8080"

func seedCSCA(t testing.TB) *x509.Certificate {
	b, err := os.ReadFile(filepath.Join("testdata", "envelope-csca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEnvelopeSeedVerifies keeps the corpus honest: its genuine seed
// passes, so the fuzzer starts from the success path too.
func TestEnvelopeSeedVerifies(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerifyEnvelope", "virtual-dg1-dg2"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := emrtd.VerifyEnvelope([]byte(raw), seedOrigin, nonce, emrtd.DisclosureOptions{CSCAs: []*x509.Certificate{seedCSCA(t)}, Time: seedTime})
	if err != nil || rec.MRZ == nil || rec.Face() == nil {
		t.Fatalf("the genuine seed does not verify: %v", err)
	}
}

// FuzzVerifyEnvelope feeds the receiver's check what a holder's side (or
// anyone posting to the receiver) can send: it must refuse or verify, never
// panic, and verify only an envelope for this exchange.
func FuzzVerifyEnvelope(f *testing.F) {
	wire, opts, _ := envelopeFixture(f, emrtd.DG1)
	opts.CSCAs = append(opts.CSCAs, seedCSCA(f))
	opts.Optional = nil // whatever groups the input holds
	f.Add(wire)
	f.Add([]byte(`{"format":"puce-disclosure:1","disclosure":{"sod":"MA==","dataGroups":{"1":"YQ=="},"active":{"challenge":"AA==","signature":"AA=="}},"origin":"` + bank + `","nonce":"` + nonce + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, origin := range []string{bank, seedOrigin} {
			rec, err := emrtd.VerifyEnvelope(data, origin, nonce, opts)
			if err != nil {
				continue
			}
			env, perr := emrtd.ParseEnvelope(data)
			if perr != nil || env.Origin != origin || env.Nonce != nonce || rec.MRZ == nil {
				t.Fatalf("verified an envelope for another exchange: %v", perr)
			}
		}
	})
}
