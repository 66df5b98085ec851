package webauthn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

// A payment approved with Secure Payment Confirmation: the credential is
// registered with BeginEnrollPayment, BeginSPC's Payload goes to the page,
// which hands it to new PaymentRequest(methodData, details).show(), and
// the PublicKeyCredential the browser returns goes back to FinishSPC with
// the transaction.
func ExampleFactor_BeginSPC() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	f, err := webauthn.New(svc, webauthn.Config{RPID: "bank.example", RPDisplayName: "Example Bank", Origins: []string{"https://bank.example"}})
	if err != nil {
		log.Fatal(err)
	}
	// The holder's phone, registered for payments.
	ch, err := f.BeginEnrollPayment(ctx, identity.Request{Subject: "user-1042", Origin: "https://bank.example"})
	if err != nil {
		log.Fatal(err)
	}
	opts, _ := virtualwebauthn.ParseAttestationOptions(string(ch.Payload))
	phone := virtualwebauthn.NewAuthenticator()
	phone.Options.UserHandle = []byte(opts.UserID)
	created := virtualwebauthn.CreateAttestationResponse(virtualwebauthn.RelyingParty{Name: "Example Bank", ID: "bank.example", Origin: "https://bank.example"},
		phone, virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeRSA), *opts) // RSA: virtualwebauthn may write a short P-256 coordinate
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "user-1042", Origin: "https://bank.example", Data: []byte(created), Name: "phone"}); err != nil {
		log.Fatal(err)
	}

	tx := identity.Transaction{Amount: "100", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89370400440532013000"}
	ch, err = f.BeginSPC(ctx, identity.Request{Subject: "user-1042", Origin: "https://bank.example", Transaction: &tx},
		webauthn.SPCOptions{Instrument: webauthn.PaymentInstrument{DisplayName: "Current account ****3000", Icon: "https://bank.example/account.png"}})
	if err != nil {
		log.Fatal(err)
	}
	var req struct {
		MethodData []struct {
			SupportedMethods string
			Data             struct{ RPID, PayeeName string }
		}
		Details struct {
			Total struct {
				Amount struct{ Currency, Value string }
			}
		}
	}
	json.Unmarshal(ch.Payload, &req)
	m := req.MethodData[0]
	fmt.Println(m.SupportedMethods, m.Data.RPID)
	fmt.Println(m.Data.PayeeName)
	fmt.Println(req.Details.Total.Amount.Value, req.Details.Total.Amount.Currency)
	// Output:
	// secure-payment-confirmation bank.example
	// Muster GmbH, DE89 3704 0044 0532 0130 00
	// 100.00 EUR
}
