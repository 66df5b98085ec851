package webauthn

import (
	"strconv"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/internal/decodecache"
)

// TestRecordCache: bounded; a changed Public is decoded again; the fields
// the credential itself holds come from the credential, not the cache.
func TestRecordCache(t *testing.T) {
	var f Factor
	cred := func(id, format string) *identity.Credential {
		r := Record{ID: []byte(id), PublicKey: []byte{1}, AttestationFormat: format}
		return &identity.Credential{Kind: Kind, ID: CredentialID(r.ID), Public: r.encode()}
	}
	for i := range decodecache.Max + 10 {
		if _, err := f.decodeRecord(cred(strconv.Itoa(i), "none")); err != nil {
			t.Fatal(err)
		}
		if n := f.recordCache.Len(); n > decodecache.Max {
			t.Fatalf("%d records cached", n)
		}
	}
	a := cred("x", "none")
	a.Name, a.Counter = "one", 1
	if r, err := f.decodeRecord(a); err != nil || r.AttestationFormat != "none" || r.Name != "one" || r.SignCount != 1 {
		t.Fatal(r, err)
	}
	b := cred("x", "packed")
	b.Name, b.Counter = "two", 2
	if r, err := f.decodeRecord(b); err != nil || r.AttestationFormat != "packed" || r.Name != "two" || r.SignCount != 2 {
		t.Fatalf("changed record served stale: %+v %v", r, err)
	}
	b.Kind = "totp"
	if _, err := f.decodeRecord(b); err == nil {
		t.Fatal("a TOTP credential decoded as a WebAuthn record")
	}
}
