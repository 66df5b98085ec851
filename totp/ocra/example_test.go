package ocra_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp/ocra"
)

// A signing token with a counter and a PIN: the server computes what the
// token must show for the question and checks what the holder typed. The
// key, PIN and response are RFC 6287's own (Appendix C.1).
func ExampleSuite_Verify() {
	suite, err := ocra.ParseSuite("OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1")
	if err != nil {
		panic(err)
	}
	key := []byte("12345678901234567890123456789012")
	in := ocra.Input{Counter: 0, Question: "12345678", PIN: "1234"}
	ok, err := suite.Verify(key, in, "65347737")
	fmt.Println(ok, err)
	ok, err = suite.Verify(key, in, "65347738")
	fmt.Println(ok, err)
	// Output:
	// true <nil>
	// false <nil>
}

// A bank's signing tokens approve payments: the question derived from the
// payment is what the holder types into the token beside the page, the
// payee account's last four digits and the amount in minor units. Digits
// cannot show a currency, so the factor is told the one its tokens approve
// in, and refuses a payment in another.
func ExampleFactor_BeginApprove() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	sealer, err := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	if err != nil {
		panic(err)
	}
	f, err := ocra.New(svc, sealer, ocra.WithCurrency("EUR"))
	if err != nil {
		panic(err)
	}
	key := []byte("12345678901234567890123456789012")
	if _, err := f.Import(ctx, "alice", "token-1", "signing token", "OCRA-1:HOTP-SHA256-8:C-QN10", key, nil, "192.0.2.1"); err != nil {
		panic(err)
	}
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	ch, err := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: "https://bank.example", Transaction: &tx})
	if err != nil {
		panic(err)
	}
	fmt.Printf("type %s into the token\n", ch.Payload)

	tx.Currency = "GBP"
	_, err = f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: "https://bank.example", Transaction: &tx})
	fmt.Println(errors.Is(err, ocra.ErrCurrency))
	// Output:
	// type 300010000 into the token
	// true
}
