package virtual_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

func ExampleCard() {
	ctx := context.Background()
	card, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
	if err != nil {
		panic(err)
	}
	// The card is an apdu.Transport: no reader, no daemon.
	c := &apdu.Client{Transport: card}
	if _, err := c.Do(ctx, apdu.Command{INS: 0xA4, P1: 0x04, Data: virtual.EchoAID(), Ne: 256}); err != nil {
		panic(err)
	}
	data, err := c.Do(ctx, apdu.Command{INS: virtual.EchoINSEcho, Data: []byte("hello card"), Ne: 256})
	fmt.Printf("%s %v\n", data, err)
	// Output:
	// hello card <nil>
}

func ExampleCard_Inject() {
	ctx := context.Background()
	card, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
	if err != nil {
		panic(err)
	}
	c := &apdu.Client{Transport: card}
	selectEcho := apdu.Command{INS: 0xA4, P1: 0x04, Data: virtual.EchoAID(), Ne: 256}

	// The next SELECT meets a card that says "security status not satisfied".
	if err := card.FailNext(1, apdu.SWSecurityStatus); err != nil {
		panic(err)
	}
	_, err = c.Do(ctx, selectEcho)
	fmt.Println(errors.Is(err, apdu.ErrSecurityStatus))

	// Pulled out: a typed error until it is put back.
	card.Remove()
	_, err = c.Do(ctx, selectEcho)
	fmt.Println(errors.Is(err, virtual.ErrRemoved))
	card.Insert()
	_, err = c.Do(ctx, selectEcho)
	fmt.Println(err)
	// Output:
	// true
	// true
	// <nil>
}

// Attach a card to pcscd (packages pcscd and vsmartcard-vpcd): it shows up in
// the reader "Virtual PCD 00 00" until the program is interrupted, and comes
// back by itself when pcscd restarts.
func ExampleBridge() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, virtual.NewEchoApplet())
	if err != nil {
		panic(err)
	}
	b := &virtual.Bridge{Card: card, Logger: slog.Default()}
	if err := b.Run(ctx); !errors.Is(err, context.Canceled) {
		fmt.Println(err)
	}
}
