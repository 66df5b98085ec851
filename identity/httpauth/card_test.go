package httpauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth"
)

// A card logs in alone (its key needs the PIN: AAL3) with no user name:
// the nonce goes to the page as a string, and the Web eID token comes back
// as the JSON object cardauth.NewToken made, not base64 of it. The same
// token sent as a JSON string is read the same way.
func TestEndpointsCardTokenIsJSON(t *testing.T) {
	s := memSite(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ERIN EXAMPLE"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := s.card.PinKey(context.Background(), "erin", &key.PublicKey, "card"); err != nil {
		t.Fatal(err)
	}

	for _, asString := range []bool{false, true} {
		c := &client{t: t}
		c.must(s, 200, "GET", "/auth/session", nil, nil)
		var ch challengeAnswer
		c.must(s, 200, "POST", "/auth/login/card/begin", nil, &ch)
		nonce := unquote(t, ch.Payload)
		tok, err := cardauth.NewToken(key, cert, origin, nonce, nil)
		if err != nil {
			t.Fatal(err)
		}
		var response any = json.RawMessage(tok)
		if asString {
			response = string(tok)
		}
		var st stateAnswer
		c.must(s, 200, "POST", "/auth/login/card/finish", map[string]any{"challengeId": ch.ChallengeID, "response": response}, &st)
		if !st.Complete || st.Subject != "erin" || st.Level != "AAL3" {
			t.Fatalf("card login (token as a string: %v): %+v", asString, st)
		}
	}
}
