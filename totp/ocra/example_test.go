package ocra_test

import (
	"fmt"

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
