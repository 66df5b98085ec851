package identitytest

import (
	"context"
	"testing"

	"github.com/puce-id/puce/identity"
)

// testUnitSequence checks that a unit's writes apply in their documented
// order (counters, updates, deletes, creates), each condition judged on
// what the writes before it left, as one SQL transaction running them one
// by one does: a credential deleted and created again in one unit is
// replaced; two creates of one ID, two deletes of one credential, or a
// counter moved forward then back, conflict and write nothing.
func testUnitSequence(t *testing.T, s identity.Store) {
	us, ok := s.(identity.UnitStore)
	if !ok {
		t.Skip("not a UnitStore")
	}
	ctx := context.Background()
	c := &identity.Credential{Subject: "dave", Kind: identity.KindTOTP, ID: "d1", Name: "old", Active: true, Counter: 5, CreatedAt: Epoch()}
	mustNoErr(t, s.CreateCredential(ctx, c), "create")
	check := func(what string, name string, counter uint64) {
		t.Helper()
		got, err := s.Credential(ctx, c.Ref())
		mustNoErr(t, err, what)
		if got.Name != name || got.Counter != counter {
			t.Fatalf("%s: credential %q at counter %d, want %q at %d", what, got.Name, got.Counter, name, counter)
		}
		all, err := s.Credentials(ctx, "dave", "")
		mustNoErr(t, err, what)
		if len(all) != 1 {
			t.Fatalf("%s: dave holds %d credentials, want 1", what, len(all))
		}
	}
	fresh := identity.Credential{Subject: "dave", Kind: identity.KindTOTP, ID: "d1", Name: "new", Active: true, CreatedAt: Epoch()}
	for name, w := range map[string]*identity.UnitWrites{
		"two creates of one ID":        {Deletes: []identity.CredentialRef{c.Ref()}, Creates: []identity.Credential{fresh, fresh}},
		"two deletes of one":           {Deletes: []identity.CredentialRef{c.Ref(), c.Ref()}},
		"a counter moved back":         {Counters: []identity.CounterAdvance{{Ref: c.Ref(), N: 9, At: Epoch()}, {Ref: c.Ref(), N: 7, At: Epoch()}}},
		"an update at a revision gone": {Updates: []identity.Credential{{Subject: "dave", Kind: identity.KindTOTP, ID: "d1", Name: "x", Revision: 1}, {Subject: "dave", Kind: identity.KindTOTP, ID: "d1", Name: "y", Revision: 1}}},
	} {
		if err := us.CommitUnit(ctx, w); !identity.IsUnitConflict(err) {
			t.Errorf("%s: %v, want a conflict", name, err)
		}
		check(name, "old", 5)
	}
	mustNoErr(t, us.CommitUnit(ctx, &identity.UnitWrites{Counters: []identity.CounterAdvance{{Ref: c.Ref(), N: 6, At: Epoch()}, {Ref: c.Ref(), N: 8, At: Epoch()}}}), "a counter moved twice")
	check("a counter moved twice", "old", 8)
	mustNoErr(t, us.CommitUnit(ctx, &identity.UnitWrites{Deletes: []identity.CredentialRef{c.Ref()}, Creates: []identity.Credential{fresh}}), "replace")
	check("a credential replaced", "new", 0)
}
