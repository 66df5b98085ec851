package webauthn_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

// A relying party on one origin, with passkeys preferred and user
// verification required. The key's attestation is not checked (no
// Config.Policy roots), so even a device-bound key that verified its user
// gives AAL2: AAL3 needs proof that hardware holds the key.
func ExampleNew() {
	store := memstore.New() // sqlstore in production
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	f, err := webauthn.New(svc, webauthn.Config{
		RPID:             "bank.example",
		RPDisplayName:    "Example Bank",
		Origins:          []string{"https://bank.example"},
		UserVerification: webauthn.VerificationRequired,
		ResidentKey:      webauthn.ResidentKeyPreferred,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Kind(), f.RPID())
	// Output: webauthn bank.example
}

// Registration and login, with a virtual authenticator standing in for the
// browser. In a web application, ch.Payload goes to the page (with ch.ID),
// the page calls navigator.credentials.create or .get, and posts the
// credential's JSON back as Response.Data.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	f, err := webauthn.New(svc, webauthn.Config{RPID: "bank.example", RPDisplayName: "Example Bank", Origins: []string{"https://bank.example"}})
	if err != nil {
		log.Fatal(err)
	}
	// The user's security key.
	rp := virtualwebauthn.RelyingParty{Name: "Example Bank", ID: "bank.example", Origin: "https://bank.example"}
	key := virtualwebauthn.NewAuthenticator()
	cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeRSA)

	// Registration.
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: "user-1042", Origin: "https://bank.example", UserName: "alice@bank.example"})
	if err != nil {
		log.Fatal(err)
	}
	opts, _ := virtualwebauthn.ParseAttestationOptions(string(ch.Payload))
	key.Options.UserHandle = []byte(opts.UserID)
	created := virtualwebauthn.CreateAttestationResponse(rp, key, cred, *opts)
	c, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "user-1042", Origin: "https://bank.example",
		Data: []byte(created), Name: "Security key"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered:", c.Name)

	// Username-less login: the subject comes from the passkey.
	ch, err = f.Begin(ctx, identity.Request{Origin: "https://bank.example"})
	if err != nil {
		log.Fatal(err)
	}
	req, _ := virtualwebauthn.ParseAssertionOptions(string(ch.Payload))
	cred.Counter++
	asserted := virtualwebauthn.CreateAssertionResponse(rp, key, cred, *req)
	p, err := f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Origin: "https://bank.example", Data: []byte(asserted)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Subject, p.Assurance, p.Factors)
	// Output:
	// registered: Security key
	// user-1042 AAL2 knowledge+possession+inherence
}

// Passkey autofill: the options carry "mediation": "conditional"; the page
// passes them to navigator.credentials.get while the username field (marked
// autocomplete="username webauthn") is shown.
func ExampleFactor_BeginConditional() {
	store := memstore.New()
	f, err := webauthn.New(&identity.Services{Store: store}, webauthn.Config{RPID: "bank.example", Origins: []string{"https://bank.example"}})
	if err != nil {
		log.Fatal(err)
	}
	ch, err := f.BeginConditional(context.Background(), identity.Request{Origin: "https://bank.example"})
	if err != nil {
		log.Fatal(err)
	}
	var options struct {
		Mediation string `json:"mediation"`
		PublicKey struct {
			RPID string `json:"rpId"`
		} `json:"publicKey"`
	}
	json.Unmarshal(ch.Payload, &options)
	fmt.Println(options.Mediation, options.PublicKey.RPID)
	// Output: conditional bank.example
}

// Only authenticators the FIDO Metadata Service vouches for may register.
// The operator downloads the blob (https://mds3.fidoalliance.org/) to a file
// and calls Refresh after each download.
func ExampleOpenMDS() {
	ctx := context.Background()
	var fidoRoot *x509.Certificate // the MDS root certificate the FIDO Alliance publishes
	mds, err := webauthn.OpenMDS(ctx, webauthn.MDSConfig{Path: "/var/lib/bank/mds3.jwt", Roots: []*x509.Certificate{fidoRoot}})
	if err != nil {
		log.Fatal(err)
	}
	store := memstore.New()
	f, err := webauthn.New(&identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}, webauthn.Config{
		RPID: "bank.example", Origins: []string{"https://bank.example"},
		UserVerification: webauthn.VerificationRequired,
		Policy:           webauthn.AttestationPolicy{MDS: mds}, // conveyance defaults to "direct"
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = f
	// Later, after downloading a new blob:
	if err := mds.Refresh(ctx); err != nil {
		log.Printf("keeping MDS blob %d: %v", mds.Number(), err)
	}
}

// A payment approved with the user's security key. The challenge is the
// payment's digest and a nonce, so the signature covers the amount and the
// payee: the same assertion offered for another payee is refused, and
// identity.Policy.Approve checks the proof against the payment the session
// is about to execute. identity/httpauth's approval endpoints make these
// calls (ExampleNewSite_payment there).
func ExampleFactor_BeginApprove() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	f, err := webauthn.New(svc, webauthn.Config{RPID: "bank.example", Origins: []string{"https://bank.example"}})
	if err != nil {
		log.Fatal(err)
	}
	rp := virtualwebauthn.RelyingParty{Name: "Example Bank", ID: "bank.example", Origin: "https://bank.example"}
	key := virtualwebauthn.NewAuthenticator()
	// A P-256 key with full-length coordinates (newEC2Credential): the
	// virtual authenticator's own drops a leading zero byte in 1 key of
	// 128, which the factor rightly refuses (RFC 9053 §7.1.1).
	cred := newEC2Credential()
	ch, _ := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: "https://bank.example"})
	opts, _ := virtualwebauthn.ParseAttestationOptions(string(ch.Payload))
	key.Options.UserHandle = []byte(opts.UserID)
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example",
		Data: []byte(virtualwebauthn.CreateAttestationResponse(rp, key, cred, *opts))}); err != nil {
		log.Fatal(err)
	}
	// alice's login, made earlier with her password and a second factor.
	policy := &identity.Policy{}
	login, _ := policy.Combine(
		identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: time.Now()},
		identity.Proof{Subject: "alice", Kind: identity.KindTOTP, Factors: identity.Possession, Assurance: identity.Level2, Time: time.Now()})

	// The payment as the application holds it (never as the client sends it).
	tx := identity.Transaction{Amount: "125.00", Currency: "EUR", PayeeName: "Bob", PayeeAccount: "DE89370400440532013000"}
	approve := func(shown identity.Transaction) (*identity.Proof, error) {
		ch, err := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: "https://bank.example", Transaction: &tx})
		if err != nil {
			return nil, err
		}
		// The page shows tx and hands ch.Payload to navigator.credentials.get.
		req, _ := virtualwebauthn.ParseAssertionOptions(string(ch.Payload))
		cred.Counter++
		signed := virtualwebauthn.CreateAssertionResponse(rp, key, cred, *req)
		return f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example",
			Data: []byte(signed), Transaction: &shown})
	}

	proof, err := approve(tx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("approved:", policy.Approve(login, *proof, tx) == nil)
	mallory := tx
	mallory.PayeeName, mallory.PayeeAccount = "Mallory", "GB82WEST12345698765432"
	fmt.Println("signature for Bob, checked against Mallory's payment:", errors.Is(policy.Approve(login, *proof, mallory), identity.ErrTransactionMismatch))
	_, err = approve(mallory) // the challenge was for tx
	fmt.Println("approval finished for another payment:", errors.Is(err, identity.ErrTransactionMismatch))
	// Output:
	// approved: true
	// signature for Bob, checked against Mallory's payment: true
	// approval finished for another payment: true
}
