package pades_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

const ceremonyOrigin = "https://bank.example"

// ceremonyEnv is alice's enrolled virtual card, a timestamping authority
// and an OCSP responder under the card's test PKI, all on one test clock,
// and a SQLite file that every server instance opens.
type ceremonyEnv struct {
	// open is a new connection to the shared database: a SQLite file, or
	// a PostgreSQL schema.
	open  func() *sqlstore.Store
	clock *identitytest.Clock
	card  *testcard.Card
	tsa   *esign.TSA
	ocsp  *ocspresponder.Responder
}

type ceremonyInstance struct {
	store    *sqlstore.Store
	svc      *identity.Services
	cards    *cardauth.Factor
	ceremony *pades.Ceremony
}

func newCeremonyEnv(t *testing.T) *ceremonyEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "puce.db")
	return newCeremonyEnvOn(t, func() *sqlstore.Store { return sqlstoretest.SQLiteAt(t, path) })
}

func newCeremonyEnvOn(t *testing.T, open func() *sqlstore.Store) *ceremonyEnv {
	t.Helper()
	clock := identitytest.NewClock(identitytest.Epoch())
	card, err := testcard.New(testcard.Options{Now: clock.Now().Add(-time.Hour), OCSPURL: "http://ocsp.test.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	tsa, err := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tsa)
	t.Cleanup(srv.Close)
	e := &ceremonyEnv{open: open, clock: clock, card: card,
		tsa:  &esign.TSA{URL: srv.URL, Roots: card.PKI.Roots},
		ocsp: ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, clock.Now)}
	in := e.start(t, pades.LevelBLT)
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

// start is a new server process over the shared database, signing at level.
func (e *ceremonyEnv) start(t *testing.T, level pades.Level) *ceremonyInstance {
	t.Helper()
	st := e.open()
	in := &ceremonyInstance{store: st, svc: &identity.Services{Store: st, Clock: e.clock}}
	var err error
	in.cards, err = cardauth.New(in.svc, cardauth.Config{Roots: e.card.PKI.Roots, Intermediates: e.card.PKI.Intermediates, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	in.ceremony, err = pades.NewCeremony(in.svc, pades.CeremonyConfig{Cards: in.cards, Level: level,
		Services: pades.Services{TSA: e.tsa, OCSP: e.ocsp},
		Verify:   pades.VerifyOptions{Roots: e.card.PKI.Roots, Intermediates: e.card.PKI.Intermediates, TSARoots: e.card.PKI.Roots},
		Chain:    []*x509.Certificate{e.card.PKI.Issuing},
		Sign:     pades.SignOptions{Reason: "Loan agreement", Location: "Lyon"}})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// cardSigns is the holder's side: it gets the request, never the PDF, and
// the card signs the digest with its 9C key after the PIN.
func cardSigns(t *testing.T, card *testcard.Card, ch *identity.Challenge) []byte {
	t.Helper()
	req, err := pades.ParseSignRequest(ch.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := cardauth.SignDigest(context.Background(), card.Card, req.Digest, crypto.SHA256, nil, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func reply(ch *identity.Challenge, sig []byte) identity.Response {
	return identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: ceremonyOrigin, Data: sig}
}

// A PDF signature begun on one server process finishes on another over the
// same database: the holder's side gets the document's size, hash and page
// count and the digest, the result is a B-LT signature over the original
// bytes, the signing is audited, and an answer given twice is refused.
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
	pdf := inputs(t)["contract.pdf"]
	first := e.start(t, pades.LevelBLT)
	ch, err := first.ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin}, pdf, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	first.store.Close()
	req, err := pades.ParseSignRequest(ch.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	if !bytes.Equal(req.DocumentSHA256, sum[:]) || req.Size != len(pdf) || req.Pages != 1 || req.Level != "B-LT" || !req.SigningTime.Equal(e.clock.Now()) {
		t.Fatalf("request %+v", req)
	}
	// The payload carries the update that adds the signature field, not
	// the document, nor the placeholder (DefaultContentsSize, as hex).
	if len(ch.Payload) > 1024+(len(req.Update)+2)/3*4 || bytes.Contains(ch.State, pdf[:64]) || bytes.Contains(req.Update, pdf[:64]) ||
		len(req.Update) > 4096 {
		t.Fatalf("the document travels with the challenge: payload %d bytes (update %d), state %d bytes", len(ch.Payload), len(req.Update), len(ch.State))
	}
	sig := cardSigns(t, e.card, ch)
	e.clock.Advance(30 * time.Second)

	second := e.start(t, pades.LevelBLT)
	signed, err := second.ceremony.Finish(ctx, reply(ch, sig), pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed.PDF, pdf) || signed.CredentialID == "" {
		t.Fatal("the original bytes changed, or no card named")
	}
	r := signed.Report
	if !r.Valid() || r.Level != pades.LevelBLT || !r.Signer.Equal(e.card.SignCert) || r.Timestamp == nil || r.Status == nil || !r.Status.Good || r.ChangedAfterSigning {
		t.Fatalf("report %+v", r)
	}
	// Anyone verifies it the same way.
	rep, err := pades.Verify(ctx, signed.PDF, pades.VerifyOptions{Roots: e.card.PKI.Roots, TSARoots: e.card.PKI.Roots})
	if err != nil || len(rep.Signatures) != 1 || rep.Signatures[0].Level != pades.LevelBLT {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if _, err := second.ceremony.Finish(ctx, reply(ch, sig), pdf); !errors.Is(err, identity.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	evs, err := second.store.AuditEvents(ctx, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ok, replay bool
	for _, ev := range evs {
		if ev.Event.Kind == pades.Kind && ev.Event.Action == "sign" {
			ok = ok || (ev.Event.Result == identity.Success && ev.Event.CredentialID == signed.CredentialID)
			replay = replay || ev.Event.Result == identity.Failure
		}
	}
	if !ok || !replay {
		t.Fatalf("audit trail lacks the signature or the replay: %+v", evs)
	}
}

// A pending PDF signature expires with its challenge; a challenge of the
// .p7s ceremony is not one of this ceremony's.
func TestCeremonyExpired(t *testing.T) {
	ctx := context.Background()
	e := newCeremonyEnv(t)
	in := e.start(t, pades.LevelBB)
	pdf := inputs(t)["contract-objstm.pdf"]
	ch, err := in.ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin}, pdf, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	sig := cardSigns(t, e.card, ch)
	e.clock.Advance(identity.DefaultChallengeTTL + time.Second)
	if _, err := in.ceremony.Finish(ctx, reply(ch, sig), pdf); !errors.Is(err, identity.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}

	p7s, err := esign.NewCeremony(in.svc, esign.CeremonyConfig{Cards: in.cards, Verify: esign.VerifyOptions{Roots: e.card.PKI.Roots, Intermediates: e.card.PKI.Intermediates}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := p7s.Begin(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin}, pdf, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Finish(ctx, reply(other, sig), pdf); err == nil {
		t.Fatal("a .p7s challenge finished a PDF signature")
	}
}

// Only the card enrolled on the account signs for it: another holder's card
// is refused at Begin; a signature by another key, another document at
// Finish, and an instance configured for another level are refused too.
func TestCeremonyAnotherCard(t *testing.T) {
	ctx := context.Background()
	e := newCeremonyEnv(t)
	in := e.start(t, pades.LevelBB)
	req := identity.Request{Subject: "alice", Origin: ceremonyOrigin}
	pdf := inputs(t)["contract.pdf"]

	stranger, err := testcard.New(testcard.Options{Now: e.clock.Now().Add(-time.Hour), Holder: testcard.Holder{GivenName: "Eve", Surname: "Other", SerialNumber: "PNOFR-999"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Begin(ctx, req, pdf, stranger.SignCert); !errors.Is(err, esign.ErrUntrustedSigner) {
		t.Fatalf("card of another CA: %v", err)
	}
	trusting, err := pades.NewCeremony(in.svc, pades.CeremonyConfig{Cards: in.cards, Level: pades.LevelBB,
		Verify: pades.VerifyOptions{Roots: stranger.PKI.Roots, Intermediates: stranger.PKI.Intermediates}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trusting.Begin(ctx, req, pdf, stranger.SignCert); !errors.Is(err, esign.ErrNotAccountCard) || !errors.Is(err, identity.ErrNotEnrolled) {
		t.Fatalf("another holder's card: %v", err)
	}

	ch, err := in.ceremony.Begin(ctx, req, pdf, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Finish(ctx, reply(ch, cardSigns(t, stranger, ch)), pdf); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("another key's signature: %v", err)
	}

	ch, err = in.ceremony.Begin(ctx, req, pdf, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ceremony.Finish(ctx, reply(ch, cardSigns(t, e.card, ch)), inputs(t)["contract-gs.pdf"]); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("another document: %v", err)
	}

	ch, err = in.ceremony.Begin(ctx, req, pdf, e.card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	lt := e.start(t, pades.LevelBLT)
	if _, err := lt.ceremony.Finish(ctx, reply(ch, cardSigns(t, e.card, ch)), pdf); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("finished at another level than begun: %v", err)
	}

	if _, err := in.ceremony.Begin(ctx, req, []byte("not a PDF"), e.card.SignCert); !errors.Is(err, pades.ErrMalformed) {
		t.Fatalf("not a PDF: %v", err)
	}
}

// ParseSignRequest reads what a server sends the holder's side: anything
// else is identity.ErrBadInput, never a panic.
func FuzzParseSignRequest(f *testing.F) {
	f.Add([]byte(`{"digest":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","documentSha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","size":1,"pages":1}`))
	f.Add([]byte(`{"digest":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := pades.ParseSignRequest(data)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(r.Digest) != 32 || len(r.DocumentSHA256) != 32 || r.Size <= 0 || len(r.Update) > pades.MaxUpdateSize {
			t.Fatalf("accepted %+v", r)
		}
	})
}
