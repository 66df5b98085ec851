package apdu_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

func ExampleCommand_Bytes() {
	// SELECT the PIV application (NIST SP 800-73-4), case 3 short.
	sel := apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}}
	b, _ := sel.Bytes()
	fmt.Printf("% X\n", b)

	// Ne above 256 needs the extended form.
	get := apdu.Command{CLA: 0x00, INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, 0x05}, Ne: 65536}
	b, _ = get.Bytes()
	fmt.Printf("% X\n", b)
	// Output:
	// 00 A4 04 00 05 A0 00 00 03 08
	// 00 CB 3F FF 00 00 05 5C 03 5F C1 05 00 00
}

func ExampleParseResponse() {
	r, err := apdu.ParseResponse([]byte{0x63, 0xC2})
	if err != nil {
		panic(err)
	}
	err = r.Err()
	var wrong *apdu.WrongPINError
	if errors.As(err, &wrong) {
		fmt.Println("tries left:", wrong.TriesLeft)
	}
	fmt.Println(errors.Is(err, apdu.ErrWrongPIN), errors.Is(err, apdu.ErrBlocked))
	// Output:
	// tries left: 2
	// true false
}

func ExampleFindPath() {
	// A PIV certificate object: 53 { 70 <certificate>, 71 <certinfo>, FE <LRC> }.
	obj := []byte{0x53, 0x09, 0x70, 0x02, 0x30, 0x00, 0x71, 0x01, 0x00, 0xFE, 0x00}
	cert, err := apdu.FindPath(obj, 0x53, 0x70)
	if err != nil {
		panic(err)
	}
	fmt.Printf("certificate: % X\n", cert.Value)

	_, err = apdu.FindPath(obj[:5], 0x53, 0x70)
	fmt.Println(errors.Is(err, apdu.ErrTLVTruncated))
	// Output:
	// certificate: 30 00
	// true
}

func ExampleTLVBuilder() {
	// The dynamic authentication template of a PIV GENERAL AUTHENTICATE:
	// 7C { 82 (empty: the response goes here), 81 <challenge> }.
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(b *apdu.TLVBuilder) {
		b.Add(0x82, nil)
		b.Add(0x81, []byte{0xC0, 0xFF, 0xEE})
	})
	data, err := b.Bytes()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", data)
	// Output:
	// 7C 07 82 00 81 03 C0 FF EE
}

func ExampleWalk() {
	data := []byte{0x7C, 0x07, 0x82, 0x00, 0x81, 0x03, 0xC0, 0xFF, 0xEE}
	_ = apdu.Walk(data, func(depth int, t apdu.TLV) error {
		fmt.Printf("%*s%s (%d bytes)\n", 2*depth, "", t.Tag, len(t.Value))
		return nil
	})
	// Output:
	// 7C (7 bytes)
	//   82 (0 bytes)
	//   81 (3 bytes)
}

func ExampleRedact() {
	verify := []byte{0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4', '5', '6', 0xFF, 0xFF}
	fmt.Printf("% X\n", apdu.Redact(verify))
	// Output:
	// 00 20 00 80
}

func ExampleClient() {
	ctx := context.Background()
	card, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
	if err != nil {
		panic(err)
	}
	c := &apdu.Client{Transport: card}
	if _, err := c.Do(ctx, apdu.Command{INS: 0xA4, P1: 0x04, Data: virtual.EchoAID(), Ne: 256}); err != nil {
		panic(err)
	}
	// 1000 bytes do not fit one short response: the card answers 61xx and
	// the Client fetches the rest with GET RESPONSE.
	data, err := c.Do(ctx, apdu.Command{INS: virtual.EchoINSGenerate, P1: 0x03, P2: 0xE8, Ne: 256})
	fmt.Println(len(data), err)

	_, err = c.Do(ctx, apdu.Command{INS: virtual.EchoINSSecret, Ne: 256})
	fmt.Println(errors.Is(err, apdu.ErrSecurityStatus))
	// Output:
	// 1000 <nil>
	// true
}
