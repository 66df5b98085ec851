package esign_test

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/opensslocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestTimestampAuthorityRevocation: the signature timestamp's authority is
// judged as the signer is. LongTerm collects an answer about it; B-LT needs
// one when the authority names a responder; an authority revoked before
// its token's time, or for a key compromise at any time (RFC 3161 §4), fails
// the signature with ErrAuthorityRevoked (not ErrRevoked: the signer is not), from the kept data and from a
// live answer alike; one retired later for another reason leaves it valid.
// The revocation answers about the authority kept with the signature are
// made by OpenSSL's responder (`openssl ocsp -index`), so that the reading
// of reason codes and times is checked against answers puce did not write.
func TestTimestampAuthorityRevocation(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	signedAt := time.Now().Add(-12 * time.Hour).Truncate(time.Second)
	stampedAt, collectedAt := signedAt.Add(time.Minute), signedAt.Add(2*time.Minute)
	bb, cert := signedBB(t, pki, signedAt, func(c *x509.Certificate) {
		c.NotAfter = time.Now().Add(time.Hour)
		c.OCSPServer = []string{"http://ocsp.test.invalid/"}
	})
	tsa, tsaCert := testTSAWith(t, pki, stampedAt, func(c *x509.Certificate) {
		c.SerialNumber = big.NewInt(0x1092)
		c.OCSPServer = []string{"http://tsa-ocsp.test.invalid/"}
	})
	bt, _, err := esign.Timestamped(ctx, bb, tsa)
	if err != nil {
		t.Fatal(err)
	}
	responder := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, func() time.Time { return collectedAt })
	lt, err := esign.LongTerm(ctx, bt, esign.LongTermOptions{TSA: tsa, OCSP: responder, Roots: pki.Roots,
		Now: func() time.Time { return collectedAt }})
	if err != nil {
		t.Fatal(err)
	}
	opts := esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}
	rep, err := esign.Verify(document, lt, opts)
	if err != nil || rep.Level != "B-LT" || rep.AuthorityStatus == nil || !rep.AuthorityStatus.Good ||
		!rep.AuthorityStatus.ThisUpdate.Equal(collectedAt) {
		t.Fatalf("B-LT with the authority's answer collected: %v, %+v", err, rep)
	}

	// Only the signer's answer kept: the authority is not judged, B-T.
	signerAnswer, err := responder.Respond(ocspRequest(t, cert, pki.Issuing))
	if err != nil {
		t.Fatal(err)
	}
	withAnswers := func(answers ...[]byte) []byte {
		t.Helper()
		out, err := esign.WithValidationData(bt, &esign.ValidationData{OCSP: answers})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rep, err = esign.Verify(document, withAnswers(signerAnswer), opts)
	if err != nil || rep.Level != "B-T" || rep.Status == nil || rep.AuthorityStatus != nil {
		t.Fatalf("no answer about the authority: %v, %+v", err, rep)
	}

	peer := opensslocsp.New(t, pki.Issuing, pki.IssuingKey)
	for _, c := range []struct {
		name      string
		revokedAt time.Time
		reason    int
		refused   bool
	}{
		{"retired before the token", stampedAt.Add(-time.Minute), 5, true},
		{"key compromised after the token", stampedAt.Add(30 * time.Second), 1, true},
		{"issuing CA compromised after the token", stampedAt.Add(30 * time.Second), 2, true},
		{"retired after the token", stampedAt.Add(30 * time.Second), 5, false},
		{"superseded after the token", stampedAt.Add(30 * time.Second), 4, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			peer.Revoke(t, tsaCert, c.revokedAt, c.reason)
			rep, err := esign.Verify(document, withAnswers(signerAnswer, peer.Answer(t, tsaCert)), opts)
			if c.refused {
				if !errors.Is(err, esign.ErrAuthorityRevoked) || !errors.Is(err, esign.ErrTimestamp) || errors.Is(err, esign.ErrRevoked) {
					t.Fatalf("err = %v, want ErrAuthorityRevoked", err)
				}
				t.Log(err)
				return
			}
			if err != nil || rep.Level != "B-LT" || rep.AuthorityStatus == nil || !rep.AuthorityStatus.RevokedAt.Equal(c.revokedAt) ||
				rep.AuthorityStatus.Reason != c.reason {
				t.Fatalf("%v, %+v", err, rep)
			}
		})
	}

	// The CA above the authority compromised after the token's time: its
	// key could have issued another authority certificate, so the token is
	// refused too (found in review: only the authority's own certificate
	// was judged). The answer, from the root, is OpenSSL's.
	rootPeer := opensslocsp.New(t, pki.Root, pki.RootKey)
	rootPeer.Revoke(t, pki.Issuing, stampedAt.Add(30*time.Second), 2)
	peer.Valid(tsaCert)
	_, err = esign.Verify(document, withAnswers(signerAnswer, peer.Answer(t, tsaCert), rootPeer.Answer(t, pki.Issuing)), opts)
	if !errors.Is(err, esign.ErrAuthorityRevoked) || !strings.Contains(err.Error(), pki.Issuing.Subject.CommonName) {
		t.Fatalf("the authority's CA compromised after the token: %v, want ErrAuthorityRevoked naming it", err)
	}
	rootPeer.Revoke(t, pki.Issuing, stampedAt.Add(30*time.Second), 5)
	if rep, err := esign.Verify(document, withAnswers(signerAnswer, peer.Answer(t, tsaCert), rootPeer.Answer(t, pki.Issuing)), opts); err != nil || rep.Level != "B-LT" {
		t.Fatalf("the authority's CA retired after the token: %v, %+v", err, rep)
	}

	// The authority's responder asked live, as the signer's CA is.
	for _, c := range []struct {
		reason  int
		refused bool
	}{{1, true}, {5, false}} {
		live := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, nil)
		live.Revoke(tsaCert.SerialNumber, stampedAt.Add(30*time.Second), c.reason)
		o := opts
		o.OCSP = &ocsp.Checker{Client: live}
		rep, err := esign.Verify(document, lt, o)
		switch {
		case c.refused && !errors.Is(err, esign.ErrAuthorityRevoked):
			t.Fatalf("live answer, reason %d: %v, want ErrAuthorityRevoked", c.reason, err)
		case !c.refused && (err != nil || rep.AuthorityRevocation == nil || !rep.AuthorityRevocation.Revoked || rep.Level != "B-LT"):
			t.Fatalf("live answer, reason %d: %v, %+v", c.reason, err, rep)
		}
	}
}
