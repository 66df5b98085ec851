package loginsrv

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

var nonceRE = regexp.MustCompile(`data-nonce="([^"]+)"`)

// onboardingServer runs the login server trusting csca for identity
// documents.
func onboardingServer(t *testing.T, clk *clock, csca *x509.Certificate) (*httptest.Server, identity.Store) {
	t.Helper()
	ts, store, _ := startServer(t, clk, func(cfg *Config) {
		cfg.AgentURL = "http://127.0.0.1:24727"
		cfg.CSCAs = []*x509.Certificate{csca}
		// Verifying a document needs a fresh second factor; these tests
		// move the clock through many attempts and are not about step-up
		// (TestRouteNeeds is).
		cfg.StepUpAge = time.Hour
	})
	return ts, store
}

// signedIn signs a user up and logs in with password and TOTP.
func signedIn(t *testing.T, ts *httptest.Server, clk *clock, user string) *client {
	t.Helper()
	return newAccount(t, ts.URL, clk, user).c
}

// readPassport reads a virtual document in-process, as the card agent does.
func readPassport(t *testing.T, p *emrtdapplet.Personalised) *emrtd.Record {
	t.Helper()
	rec, _ := readChip(t, p, []emrtd.DG{emrtd.DG1, emrtd.DG2, emrtd.DG11}, nil)
	return rec
}

// readChip reads the data groups of a virtual document and, when challenge
// is set, has its chip sign it (Active Authentication).
func readChip(t *testing.T, p *emrtdapplet.Personalised, dgs []emrtd.DG, challenge []byte) (*emrtd.Record, *emrtd.ActiveProof) {
	t.Helper()
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := emrtd.Open(ctx, card, emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(ctx, &emrtd.ReadOptions{DataGroups: dgs})
	if err != nil {
		t.Fatal(err)
	}
	if challenge == nil {
		return rec, nil
	}
	proof, err := s.ProveActive(ctx, challenge)
	if err != nil {
		t.Fatal(err)
	}
	return rec, proof
}

func makeEnvelope(t *testing.T, origin, nonce string, d *emrtd.Disclosure) string {
	b, err := json.Marshal(map[string]any{"format": "puce-disclosure:1", "origin": origin, "nonce": nonce, "disclosure": d})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func disclose(t *testing.T, rec *emrtd.Record, dgs ...emrtd.DG) *emrtd.Disclosure {
	d, err := rec.Disclose(dgs...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// submit opens the onboarding page and posts what make builds from its
// nonce. The clock moves on first: failures are throttled (1 s, 2 s, 4 s…
// after the third).
func submit(t *testing.T, c *client, clk *clock, make func(nonce string) string) string {
	t.Helper()
	clk.Advance(20 * time.Second)
	page := c.get("/onboarding")
	m := nonceRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no challenge on the onboarding page:\n%s", page)
	}
	return c.post(page, "/onboarding", url.Values{"disclosure": {make(m[1])}})
}

func TestOnboarding(t *testing.T) {
	clk := &clock{}
	prof := emrtdapplet.SampleProfile()
	passport, err := emrtdapplet.Personalise(prof, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts, store := onboardingServer(t, clk, passport.CSCA)
	c := signedIn(t, ts, clk, "alice")
	rec := readPassport(t, passport)

	page := c.get("/account")
	must(t, page, "No identity document verified.")
	must(t, page, `href="/onboarding"`)
	page = c.get("/onboarding")
	must(t, page, `data-require="1"`)
	must(t, page, `data-optional="2"`)
	must(t, page, "does <b>not</b> prove that the card is present now")

	// Tampered: a changed name in DG1 fails passive authentication.
	tampered := disclose(t, rec, emrtd.DG1)
	tampered.DataGroups[emrtd.DG1] = bytes.Replace(tampered.DataGroups[emrtd.DG1], []byte("ERIKSSON"), []byte("ERIKSSEN"), 1)
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, tampered) })
	must(t, page, "altered after it left the chip")

	// Unknown CSCA: a document of another issuer.
	other, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	page = submit(t, c, clk, func(n string) string {
		return makeEnvelope(t, ts.URL, n, disclose(t, readPassport(t, other), emrtd.DG1))
	})
	must(t, page, "does not trust (unknown CSCA)")

	// Expired document, genuinely signed.
	old := emrtdapplet.SampleProfile()
	old.ExpiryDate = time.Now().AddDate(0, -1, 0)
	expired, err := emrtdapplet.Personalise(old, &emrtdapplet.Options{Issuer: passport.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	page = submit(t, c, clk, func(n string) string {
		return makeEnvelope(t, ts.URL, n, disclose(t, readPassport(t, expired), emrtd.DG1))
	})
	must(t, page, "has expired")

	// Wrong challenge, wrong origin.
	page = submit(t, c, clk, func(string) string {
		return makeEnvelope(t, ts.URL, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", disclose(t, rec, emrtd.DG1))
	})
	must(t, page, "wrong or already used challenge")
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, "https://evil.example", n, disclose(t, rec, emrtd.DG1)) })
	must(t, page, "wrong or already used challenge")

	// More than asked for (DG11) is refused: minimal data.
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, disclose(t, rec, emrtd.DG1, emrtd.DG11)) })
	must(t, page, "could not be read")
	// DG1 is required.
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, disclose(t, rec, emrtd.DG2)) })
	must(t, page, "(DG1), which this site needs")

	// The genuine disclosure, with the photo.
	var posted url.Values
	clk.Advance(20 * time.Second)
	page = c.get("/onboarding")
	nonce := nonceRE.FindStringSubmatch(page)[1]
	posted = url.Values{"disclosure": {makeEnvelope(t, ts.URL, nonce, disclose(t, rec, emrtd.DG1, emrtd.DG2))}}
	done := c.post(page, "/onboarding", posted)
	must(t, done, "Identity document verified.")
	must(t, done, "ERIKSSON")
	must(t, done, "1974-08-12")
	must(t, done, `id="verified-photo"`)
	must(t, done, "<b>Not</b> your name")
	// The same answer again: its challenge is used up.
	page = c.post(page, "/onboarding", posted)
	must(t, page, "wrong or already used challenge")

	page = c.get("/account")
	must(t, page, "Identity document verified on")
	must(t, page, "identity card issued by UTO; DG1, DG2")
	if strings.Contains(page, `data-kind="identity-document"`) {
		t.Fatal("the identity document is listed as a login factor")
	}
	must(t, page, "identity-document")

	// What is stored: no name, birth date or document number.
	creds, err := store.Credentials(context.Background(), "alice", KindIdentityDocument)
	if err != nil || len(creds) != 1 {
		t.Fatalf("stored %v, %v", creds, err)
	}
	for _, secret := range []string{"ERIKSSON", "ANNA", "T22000129", "740812", "1974"} {
		if bytes.Contains(creds[0].Public, []byte(secret)) || strings.Contains(creds[0].ID+creds[0].Name, secret) {
			t.Fatalf("the stored record holds %q: %s %s", secret, creds[0].ID, creds[0].Public)
		}
	}
	var doc DocumentRecord
	json.Unmarshal(creds[0].Public, &doc)
	if doc.IssuingState != "UTO" || doc.Expires != "2034-04-15" || doc.Groups() != "DG1, DG2" {
		t.Fatalf("record %+v", doc)
	}

	// Verifying again refreshes the record; another account cannot use the
	// same document.
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, disclose(t, rec, emrtd.DG1)) })
	must(t, page, "Identity document verified.")
	bob := signedIn(t, ts, clk, "bob")
	page = submit(t, bob, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, disclose(t, rec, emrtd.DG1)) })
	must(t, page, "already linked to another account")
}

func TestOnboardingNotConfigured(t *testing.T) {
	clk := &clock{}
	ts, _ := newServer(t, clk)
	c := signedIn(t, ts, clk, "carol")
	page := c.get("/account")
	if strings.Contains(page, `href="/onboarding"`) {
		t.Fatal("the account page offers onboarding without CSCA")
	}
	page = c.get("/onboarding")
	must(t, page, "not configured")
	anon := newClient(t, ts.URL)
	anon.get("/onboarding")
	if anon.last != "/login" {
		t.Fatalf("anonymous onboarding landed on %s", anon.last)
	}
}

// readWithProof reads a document whose chip has an Active Authentication
// key, as the card agent does for the given origin and nonce: the chosen
// groups, DG14 and DG15, and the chip's signature over the derived
// challenge.
func readWithProof(t *testing.T, p *emrtdapplet.Personalised, origin, nonce string) *emrtd.Disclosure {
	t.Helper()
	dgs := []emrtd.DG{emrtd.DG1, emrtd.DG14, emrtd.DG15}
	rec, proof := readChip(t, p, dgs, emrtd.DisclosureChallenge(origin, nonce))
	d := disclose(t, rec, dgs...)
	d.Active = proof
	return d
}

// TestOnboardingChipPresence: with a chip that has an Active Authentication
// key, the server demands its signature over this exchange's challenge: the
// same genuine data without it (a copy), or with a proof made for another
// nonce (a replay), is refused; with it the record says the chip was
// present, and DG14/DG15 are not counted as disclosed personal data.
func TestOnboardingChipPresence(t *testing.T) {
	clk := &clock{}
	passport, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{ActiveAuthentication: true})
	if err != nil {
		t.Fatal(err)
	}
	ts, store := onboardingServer(t, clk, passport.CSCA)
	c := signedIn(t, ts, clk, "alice")

	var old *emrtd.Disclosure
	page := submit(t, c, clk, func(n string) string {
		old = readWithProof(t, passport, ts.URL, n)
		copied := *old
		copied.Active = nil
		return makeEnvelope(t, ts.URL, n, &copied)
	})
	must(t, page, "did not sign this request")
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, old) })
	must(t, page, "did not sign this request")
	page = submit(t, c, clk, func(n string) string { return makeEnvelope(t, ts.URL, n, readWithProof(t, passport, ts.URL, n)) })
	must(t, page, "its chip signed this request")
	creds, err := store.Credentials(context.Background(), "alice", KindIdentityDocument)
	if err != nil || len(creds) != 1 {
		t.Fatalf("stored documents: %v %v", creds, err)
	}
	var doc DocumentRecord
	if err := json.Unmarshal(creds[0].Public, &doc); err != nil {
		t.Fatalf("stored record: %v", err)
	}
	if !doc.ChipPresent || doc.Groups() != "DG1" {
		t.Fatalf("stored record %+v", doc)
	}
	must(t, c.get("/account"), "chip present")
}
