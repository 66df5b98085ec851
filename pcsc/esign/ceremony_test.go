package esign_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

const ceremonyOrigin = "https://bank.example"

// instance is one server process: its own Services, card factor and
// ceremony over the SQLite file that all instances share.
type instance struct {
	store    *sqlstore.Store
	svc      *identity.Services
	cards    *cardauth.Factor
	ceremony *esign.Ceremony
}

type ceremonyEnv struct {
	// open is a new connection to the shared database: a SQLite file, or
	// a PostgreSQL schema.
	open  func() *sqlstore.Store
	clock *identitytest.Clock
	card  *testcard.Card
}

func newCeremonyEnv(t *testing.T) *ceremonyEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "puce.db")
	return newCeremonyEnvOn(t, func() *sqlstore.Store { return sqlstoretest.SQLiteAt(t, path) })
}

func newCeremonyEnvOn(t *testing.T, open func() *sqlstore.Store) *ceremonyEnv {
	t.Helper()
	clock := identitytest.NewClock(identitytest.Epoch())
	card, err := testcard.New(testcard.Options{Now: clock.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e := &ceremonyEnv{open: open, clock: clock, card: card}
	// Enrol the card (its 9A certificate) for alice.
	in := e.start(t)
	ctx := context.Background()
	ch, err := in.cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cardauth.LoginToken(ctx, card.Card, ceremonyOrigin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: ceremonyOrigin, Data: tok}); err != nil {
		t.Fatal(err)
	}
	in.store.Close()
	return e
}

// start is a new server process over the shared database.
func (e *ceremonyEnv) start(t *testing.T) *instance {
	t.Helper()
	st := e.open()
	in := &instance{store: st, svc: &identity.Services{Store: st, Clock: e.clock}}
	var err error
	in.cards, err = cardauth.New(in.svc, cardauth.Config{Roots: e.card.PKI.Roots, Intermediates: e.card.PKI.Intermediates, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	in.ceremony, err = esign.NewCeremony(in.svc, esign.CeremonyConfig{Cards: in.cards,
		Verify: esign.VerifyOptions{Roots: e.card.PKI.Roots, Intermediates: e.card.PKI.Intermediates},
		Chain:  []*x509.Certificate{e.card.PKI.Issuing}})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// holderSigns is the card holder's side: the card signs the challenge's
// digest with its 9C key after the PIN.
func holderSigns(t *testing.T, card *testcard.Card, ch *identity.Challenge) []byte {
	t.Helper()
	req, err := esign.ParseSignRequest(ch.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := cardauth.SignDigest(context.Background(), card.Card, req.Digest, crypto.SHA256, nil, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

var contract = []byte("Loan agreement 2026-1142: 12,000 EUR over 48 months\n")

func answer(ch *identity.Challenge, sig []byte) identity.Response {
	return identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: ceremonyOrigin, Data: sig}
}

// A signature begun on one server process finishes on another (a restart
// over the same SQLite file): the pending signature is in the store. The
// result verifies with openssl, the finish is audited, and a replay is
// refused.
func TestCeremonyAcrossRestart(t *testing.T) {
	testAcrossInstances(t, newCeremonyEnv(t))
}

// The same with two server instances on one PostgreSQL database.
func TestCeremonyAcrossPostgresInstances(t *testing.T) {
	_, open := sqlstoretest.Postgres(t)
	testAcrossInstances(t, newCeremonyEnvOn(t, open))
}

func testAcrossInstances(t *testing.T, e *ceremonyEnv) {
	ctx := context.Background()
	first := e.start(t)
	ch, err := first.ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin}, contract, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	first.store.Close()
	sig := holderSigns(t, e.card, ch)

	second := e.start(t)
	signed, err := second.ceremony.Finish(ctx, answer(ch, sig), contract)
	if err != nil {
		t.Fatal(err)
	}
	if !signed.Report.Signer.Equal(e.card.SignCert) || signed.CredentialID == "" {
		t.Fatalf("signed %+v", signed)
	}
	if _, err := second.ceremony.Finish(ctx, answer(ch, sig), contract); !errors.Is(err, identity.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	evs, err := second.store.AuditEvents(ctx, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ok, replay bool
	for _, r := range evs {
		if r.Event.Kind == esign.Kind && r.Event.Action == "sign" {
			ok = ok || (r.Event.Result == identity.Success && r.Event.CredentialID == signed.CredentialID)
			replay = replay || r.Event.Result == identity.Failure
		}
	}
	if !ok || !replay {
		t.Fatalf("audit trail lacks the signature or the replay: %+v", evs)
	}
	verifyWithOpenSSL(t, e.card, signed.P7S)
}

func verifyWithOpenSSL(t *testing.T, card *testcard.Card, p7s []byte) {
	t.Helper()
	bin := openssl(t)
	dir := t.TempDir()
	doc, sig, ca := filepath.Join(dir, "doc"), filepath.Join(dir, "doc.p7s"), filepath.Join(dir, "ca.pem")
	os.WriteFile(doc, contract, 0o600)
	os.WriteFile(sig, p7s, 0o600)
	writePEM(t, ca, card.PKI.Root)
	out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", doc,
		"-CAfile", ca, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, out)
	}
}

// A pending signature expires with its challenge.
func TestCeremonyExpired(t *testing.T) {
	ctx := context.Background()
	e := newCeremonyEnv(t)
	in := e.start(t)
	ch, err := in.ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin}, contract, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	sig := holderSigns(t, e.card, ch)
	e.clock.Advance(identity.DefaultChallengeTTL + time.Second)
	if _, err := in.ceremony.Finish(ctx, answer(ch, sig), contract); !errors.Is(err, identity.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

// Only the card enrolled on the account signs for it: another holder's
// card is refused at Begin, a card removed from the account at Finish, a
// signature by another key than the prepared certificate's, and another
// document, are refused too.
func TestCeremonyAnotherCard(t *testing.T) {
	ctx := context.Background()
	e := newCeremonyEnv(t)
	in := e.start(t)
	req := identity.Request{Subject: "alice", Origin: ceremonyOrigin}

	// Another holder's card from another CA, and one of the same CA.
	stranger, err := testcard.New(testcard.Options{Now: e.clock.Now().Add(-time.Hour), Holder: testcard.Holder{GivenName: "Eve", Surname: "Other", SerialNumber: "PNOFR-999"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Begin(ctx, req, contract, stranger.SignCert); !errors.Is(err, esign.ErrUntrustedSigner) {
		t.Fatalf("card of another CA: %v", err)
	}
	trusting, err := esign.NewCeremony(in.svc, esign.CeremonyConfig{Cards: in.cards,
		Verify: esign.VerifyOptions{Roots: stranger.PKI.Roots, Intermediates: stranger.PKI.Intermediates}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = trusting.Begin(ctx, req, contract, stranger.SignCert)
	if !errors.Is(err, esign.ErrNotAccountCard) || !errors.Is(err, cardauth.ErrUnknownCard) || !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("another holder's card: %v", err)
	}

	// Signed by another key than the one prepared for.
	ch, err := in.ceremony.Begin(ctx, req, contract, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Finish(ctx, answer(ch, holderSigns(t, stranger, ch)), contract); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("another key's signature: %v", err)
	}

	// Another document than the one prepared.
	ch, err = in.ceremony.Begin(ctx, req, contract, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Finish(ctx, answer(ch, holderSigns(t, e.card, ch)), []byte("another")); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("another document: %v", err)
	}

	// The card is disabled on the account between Begin and Finish.
	ch, err = in.ceremony.Begin(ctx, req, contract, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	sig := holderSigns(t, e.card, ch)
	creds, err := in.store.Credentials(ctx, "alice", identity.KindCard)
	if err != nil || len(creds) != 1 {
		t.Fatal(creds, err)
	}
	if err := identity.EditCredential(ctx, in.store, &creds[0], func(c *identity.Credential) error { c.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Finish(ctx, answer(ch, sig), contract); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("card disabled since Begin: %v", err)
	} else if !errors.Is(err, esign.ErrNotAccountCard) {
		t.Fatalf("card disabled since Begin, not ErrNotAccountCard: %v", err)
	}
	if _, err := in.ceremony.Begin(ctx, req, contract, e.card.SignCert); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("begin without an active card: %v", err)
	}
}

// ParseSignRequest reads what a server sends the holder's side: anything
// else is identity.ErrBadInput, never a panic, and what it accepts has a
// SHA-256-sized digest to sign.
func FuzzParseSignRequest(f *testing.F) {
	f.Add([]byte(`{"signedAttributes":"MQA=","digest":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","documentDigest":"","signingTime":"2026-11-02T09:30:00Z"}`))
	f.Add([]byte(`{"digest":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := esign.ParseSignRequest(data)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(r.Digest) != 32 || len(r.SignedAttributes) == 0 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// The holder's side refuses to sign attributes that name another document
// or another certificate than the card's.
func TestCheckSignedAttributes(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := esign.Prepare(contract, card.SignCert, at)
	if err != nil {
		t.Fatal(err)
	}
	got, err := esign.CheckSignedAttributes(p.SignedAttributes, contract, card.SignCert)
	if err != nil || !got.Equal(at) {
		t.Fatalf("good attributes: %v, %v", got, err)
	}
	if _, err := esign.CheckSignedAttributes(p.SignedAttributes, []byte("another"), card.SignCert); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("another document: %v", err)
	}
	if _, err := esign.CheckSignedAttributes(p.SignedAttributes, contract, card.AuthCert); !errors.Is(err, esign.ErrOtherCertificate) {
		t.Fatalf("another certificate: %v", err)
	}
	if _, err := esign.CheckSignedAttributes(append(p.SignedAttributes, 0), contract, card.SignCert); !errors.Is(err, esign.ErrMalformed) {
		t.Fatalf("trailing data: %v", err)
	}
}

// CheckSignedAttributesDigest takes the message digest the attributes must
// name, for signed bytes the holder's side does not hold (a PDF's byte
// ranges).
func TestCheckSignedAttributesDigest(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := esign.Prepare(contract, card.SignCert, at)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(contract)
	if got, err := esign.CheckSignedAttributesDigest(p.SignedAttributes, sum[:], card.SignCert); err != nil || !got.Equal(at) {
		t.Fatalf("good attributes: %v, %v", got, err)
	}
	other := sha256.Sum256([]byte("another"))
	if _, err := esign.CheckSignedAttributesDigest(p.SignedAttributes, other[:], card.SignCert); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("another digest: %v", err)
	}
	if _, err := esign.CheckSignedAttributesDigest(p.SignedAttributes, sum[:], card.AuthCert); !errors.Is(err, esign.ErrOtherCertificate) {
		t.Fatalf("another certificate: %v", err)
	}
	// 32 bytes that are not a DER SET of attributes (the digest of a
	// Web eID token's message, say) are no attributes.
	if _, err := esign.CheckSignedAttributesDigest(sum[:], sum[:], card.SignCert); !errors.Is(err, esign.ErrMalformed) {
		t.Fatalf("not attributes: %v", err)
	}
}

// Attributes from a page are outside bytes: typed errors, never a panic.
func FuzzCheckSignedAttributes(f *testing.F) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		f.Fatal(err)
	}
	p, err := esign.Prepare(contract, card.SignCert, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p.SignedAttributes)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := esign.CheckSignedAttributes(data, contract, card.SignCert)
		if err != nil && !errors.Is(err, esign.ErrMalformed) && !errors.Is(err, esign.ErrDocumentAltered) &&
			!errors.Is(err, esign.ErrBadSignature) && !errors.Is(err, esign.ErrUnsupported) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
