package pcsc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/apdu"
)

var pivSelect = apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}

// Wait for a card in any reader, connect, and select an application.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		log.Fatal(err) // ErrServiceDown: start pcscd
	}
	defer pc.Close()

	st, err := pc.WaitForCard(ctx, "") // any reader, plugged in now or later
	if err != nil {
		log.Fatal(err)
	}
	card, err := pc.Connect(ctx, st.Reader, nil) // shared
	if err != nil {
		log.Fatal(err)
	}
	defer card.Close()

	// Do runs GET RESPONSE, 6Cxx re-sends and chaining in one transaction.
	fci, err := card.Do(ctx, pivSelect)
	switch {
	case errors.Is(err, apdu.ErrNotFound):
		fmt.Println("not a PIV card")
	case errors.Is(err, pcsc.ErrCardRemoved):
		fmt.Println("card pulled out: insert it again")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Printf("PIV application: % X\n", fci)
	}
}

// Hold the card for a sequence that must not be interleaved with another
// program's commands.
func ExampleCard_Transaction() {
	ctx := context.Background()
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	readers, err := pc.Readers(ctx)
	if err != nil {
		log.Fatal(err) // ErrNoReaders: connect a reader
	}
	card, err := pc.Connect(ctx, readers[0], nil)
	if err != nil {
		log.Fatal(err) // ErrNoCard: insert the card
	}
	defer card.Close()
	err = card.Transaction(ctx, func(ctx context.Context, tx *pcsc.Tx) error {
		c := &apdu.Client{Transport: tx}
		if _, err := c.Do(ctx, pivSelect); err != nil {
			return err
		}
		// An empty VERIFY asks whether the PIN is verified (PIV).
		_, err := c.Do(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80})
		var wrong *apdu.WrongPINError
		if errors.As(err, &wrong) {
			fmt.Println("PIN needed,", wrong.TriesLeft, "tries left")
			return nil
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Let the holder type the PIN on the reader's PIN pad, so that it never
// reaches the computer.
func ExampleCard_VerifyPINDirect() {
	ctx := context.Background()
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	st, err := pc.WaitForCard(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	card, err := pc.Connect(ctx, st.Reader, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer card.Close()
	if _, err := card.Do(ctx, pivSelect); err != nil {
		log.Fatal(err)
	}
	// PIV VERIFY: the reader overwrites the FF padding with the digits.
	template := []byte{0x00, 0x20, 0x00, 0x80, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	err = card.VerifyPINDirect(ctx, template, pcsc.PINPad{
		Timeout: 30 * time.Second, Format: pcsc.PINASCII, BlockSize: 8, MinDigits: 6, MaxDigits: 8,
	})
	var wrong *apdu.WrongPINError
	switch {
	case errors.Is(err, pcsc.ErrUnsupported):
		fmt.Println("no PIN pad: ask for the PIN on screen")
	case errors.As(err, &wrong):
		fmt.Println("wrong PIN,", wrong.TriesLeft, "tries left")
	case errors.Is(err, pcsc.ErrCancelled), errors.Is(err, pcsc.ErrTimeout):
		fmt.Println("PIN entry abandoned")
	case err != nil:
		log.Fatal(err)
	}
}

// Wait for the card to be pulled out, for example to log the holder out.
func ExampleContext_WaitForRemoval() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	go func() {
		if err := pc.WaitForRemoval(ctx, "Virtual PCD 00 00"); err == nil {
			fmt.Println("card removed: logging out")
		}
	}()
}

// A long-running agent survives pcscd restarting: on ErrServiceDown it
// drops the dead Context and establishes a new one.
func Example_retry() {
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		pc, err := pcsc.Establish(ctx)
		if err == nil {
			var data []byte
			var card *pcsc.Card
			if card, err = pc.Connect(ctx, "Virtual PCD 00 00", nil); err == nil {
				data, err = card.Do(ctx, pivSelect)
				card.Close()
			}
			pc.Close()
			if err == nil {
				fmt.Printf("% X\n", data)
				return
			}
		}
		if !errors.Is(err, pcsc.ErrServiceDown) && !errors.Is(err, pcsc.ErrCardRemoved) || attempt == 20 {
			log.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
