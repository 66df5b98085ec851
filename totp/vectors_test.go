package totp_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp"
)

// RFC 6238 Appendix B. The table's prose names the 20-byte ASCII seed for all
// three hashes, but the values come from the reference code of Appendix A,
// which uses a seed as long as each hash's output (a known erratum); these
// are those seeds.
var rfc6238Seeds = map[totp.Algorithm]string{
	totp.SHA1:   "12345678901234567890",
	totp.SHA256: "12345678901234567890123456789012",
	totp.SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
}

var rfc6238Table = []struct {
	unix                 int64
	sha1, sha256, sha512 string
}{
	{59, "94287082", "46119246", "90693936"},
	{1111111109, "07081804", "68084774", "25091201"},
	{1111111111, "14050471", "67062674", "99943326"},
	{1234567890, "89005924", "91819424", "93441116"},
	{2000000000, "69279037", "90698825", "38618901"},
	{20000000000, "65353130", "77737706", "47863826"},
}

// importURI brings a seed in as another system would export it, through
// ParseURI and Import.
func importURI(t *testing.T, e *env, subject identity.Subject, seed string, alg totp.Algorithm, digits int) *identity.Credential {
	t.Helper()
	uri := fmt.Sprintf("otpauth://totp/Old%%20Bank:%s?secret=%s&issuer=Old%%20Bank&algorithm=%s&digits=%d&period=30",
		subject, base32.StdEncoding.EncodeToString([]byte(seed)), alg, digits)
	k, err := totp.ParseURI(uri)
	if err != nil {
		t.Fatalf("ParseURI: %v", err)
	}
	if string(k.Secret) != seed || k.Algorithm != alg || k.Digits != digits || k.Period != 30*time.Second || k.Issuer != "Old Bank" {
		t.Fatalf("ParseURI read %v", k)
	}
	c, err := e.factor.Import(context.Background(), subject, "old token", k)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return c
}

func TestRFC6238AppendixB(t *testing.T) {
	for _, alg := range []totp.Algorithm{totp.SHA1, totp.SHA256, totp.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, nil)
			subject := identity.Subject("rfc6238-" + string(alg))
			c := importURI(t, e, subject, rfc6238Seeds[alg], alg, 8)
			for _, v := range rfc6238Table {
				code := map[totp.Algorithm]string{totp.SHA1: v.sha1, totp.SHA256: v.sha256, totp.SHA512: v.sha512}[alg]
				e.clock.Set(time.Unix(v.unix, 0))
				// Off by one digit first: must fail (and count as a failure,
				// which the success below clears).
				wrong := []byte(code)
				wrong[7] = '0' + (wrong[7]-'0'+1)%10
				if _, err := e.login(t, subject, string(wrong)); err == nil {
					t.Fatalf("T=%d: altered code accepted", v.unix)
				}
				p, err := e.login(t, subject, code)
				if err != nil {
					t.Fatalf("T=%d code %s: %v", v.unix, code, err)
				}
				if p.CredentialID != c.ID || p.Assurance != identity.Level2 || p.Factors != identity.Possession || !p.Time.Equal(time.Unix(v.unix, 0)) {
					t.Fatalf("T=%d: proof %+v", v.unix, p)
				}
			}
		})
	}
}

// RFC 4226 Appendix D: HOTP values for counters 0 to 9 of the 20-byte seed.
// TOTP is HOTP of the time step (RFC 6238 §4.2), so with a 30 s period the
// code at Unix time 30·c is HOTP(c): the public API reaches every counter,
// step 0 included.
func TestRFC4226AppendixD(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	secret, err := totp.ParseSecret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") // base32 of "12345678901234567890"
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	if _, err := e.factor.Import(context.Background(), "rfc4226", "", &totp.Key{Secret: secret}); err != nil {
		t.Fatal(err)
	}
	for c, code := range want {
		// Mid-step, so that only step c's code is meant.
		e.clock.Set(time.Unix(int64(30*c+15), 0))
		if _, err := e.login(t, "rfc4226", code); err != nil {
			t.Fatalf("counter %d, code %s: %v", c, code, err)
		}
	}
}

func unix(s int64) time.Time { return time.Unix(s, 0) }
