package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/puce-id/puce/totp/ocra"
)

// token is the demo's OCRA signing token, in software: the account page
// issues a token (suite and key, shown once, as a bank prints them in the
// token's letter), and
//
//	go run ./examples/login token -key HEX -question 300010000 -counter 1
//
// prints the answer a hardware token would show for the question the
// payment page asks. The counter starts at 0 (the first answer, when the
// token is added) and goes up by one for each answer.
func token(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(out)
	suite := fs.String("suite", "OCRA-1:HOTP-SHA256-8:C-QN12", "the token's OCRA suite (RFC 6287), as the account page shows it")
	key := fs.String("key", "", "the token's key in hex, as the account page shows it")
	question := fs.String("question", "", "the question the page asks")
	counter := fs.Uint64("counter", 0, "the token's counter: 0 for its first answer, one more for each next one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := ocra.ParseSuite(*suite)
	if err != nil {
		return err
	}
	k, err := hex.DecodeString(*key)
	if err != nil || len(k) == 0 {
		return errors.New("-key: the token's key in hex")
	}
	answer, err := s.Response(k, ocra.Input{Question: *question, Counter: *counter})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, answer)
	return err
}
