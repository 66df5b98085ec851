package identitytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// testUnit checks a UnitStore's read and its all-or-nothing commit.
func testUnit(t *testing.T, s identity.Store) {
	us, ok := s.(identity.UnitStore)
	if !ok {
		t.Skip("not a UnitStore")
	}
	ctx := context.Background()
	c := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Public: []byte{1}, Active: true, Counter: 5, CreatedAt: Epoch()}
	mustNoErr(t, s.CreateCredential(ctx, c), "create")
	other := &identity.Credential{Subject: "alice", Kind: identity.KindWebAuthn, ID: "w1", Active: true, CreatedAt: Epoch()}
	mustNoErr(t, s.CreateCredential(ctx, other), "create")
	ch := newChallenge(Epoch())
	ch.Subject = "alice"
	mustNoErr(t, s.PutChallenge(ctx, ch), "put")
	key := identity.ThrottleKey{Subject: "alice", Kind: identity.KindTOTP}
	client := identity.ThrottleKey{Subject: "192.0.2.1", Kind: identity.KindClient}
	ok, err := s.SwapThrottle(ctx, client, identity.ThrottleState{}, identity.ThrottleState{Failures: 2, NotBefore: Epoch(), Version: 1})
	if err != nil || !ok {
		t.Fatalf("seed client record: %v %v", ok, err)
	}

	rd := &identity.UnitRead{Challenge: ch.ID, Throttle: key, Client: client, Subject: "alice", Kind: identity.KindTOTP}
	mustNoErr(t, us.ReadUnit(ctx, rd), "read")
	switch {
	case !rd.Found || rd.Consumed || rd.Ch.ID != ch.ID || rd.Ch.Subject != "alice" || rd.Ch.Origin != ch.Origin || string(rd.Ch.Payload) != string(ch.Payload):
		t.Fatalf("challenge read: %+v", rd)
	case rd.ThrottleState.Version != 0 || rd.ClientState.Failures != 2 || rd.ClientState.Version != 1:
		t.Fatalf("throttle read: %+v %+v", rd.ThrottleState, rd.ClientState)
	case len(rd.Credentials) != 1 || rd.Credentials[0].ID != "c1" || rd.Credentials[0].Counter != 5:
		t.Fatalf("credentials read: %+v", rd.Credentials)
	}
	missing := &identity.UnitRead{Challenge: identity.NewChallengeID()}
	mustNoErr(t, us.ReadUnit(ctx, missing), "read an unknown challenge")
	if missing.Found {
		t.Fatal("an unknown challenge was found")
	}

	at := Epoch().Add(time.Minute)
	ev := identity.Event{Time: at, Subject: "alice", Kind: identity.KindTOTP, Action: "login", Result: identity.Success}
	// A unit whose last condition fails writes nothing of the others.
	bad := &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: at, ThrottleKey: key, Count: true,
		Next:     identity.ThrottleState{Failures: 1, NotBefore: at, Version: 1},
		Counters: []identity.CounterAdvance{{Ref: c.Ref(), N: 6, At: at}},
		Updates:  []identity.Credential{{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Active: true, Revision: 7}},
		Events:   []identity.Event{ev}}
	if err := us.CommitUnit(ctx, bad); !identity.IsUnitConflict(err) {
		t.Fatalf("a unit updating a credential at a stale revision: %v", err)
	}
	rd2 := &identity.UnitRead{Challenge: ch.ID, Throttle: key, Subject: "alice", Kind: identity.KindTOTP}
	mustNoErr(t, us.ReadUnit(ctx, rd2), "read")
	recs, _ := s.AuditEvents(ctx, "alice", 0)
	if rd2.Consumed || rd2.ThrottleState.Version != 0 || rd2.Credentials[0].Counter != 5 || len(recs) != 0 {
		t.Fatalf("a refused unit left state: consumed %v, throttle %+v, counter %d, %d events", rd2.Consumed, rd2.ThrottleState, rd2.Credentials[0].Counter, len(recs))
	}
	// The same unit at the right revision commits, all of it.
	good := *bad
	good.Updates = []identity.Credential{{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Name: "renamed", Public: []byte{2}, Active: true, Revision: 1, LastUsedAt: at}}
	mustNoErr(t, us.CommitUnit(ctx, &good), "commit")
	mustNoErr(t, us.ReadUnit(ctx, rd2), "read")
	got := rd2.Credentials[0]
	recs, _ = s.AuditEvents(ctx, "alice", 0)
	if !rd2.Consumed || rd2.ThrottleState.Failures != 1 || got.Counter != 6 || got.Name != "renamed" || got.Revision != 2 || len(recs) != 1 {
		t.Fatalf("after the commit: consumed %v, throttle %+v, credential %+v, %d events", rd2.Consumed, rd2.ThrottleState, got, len(recs))
	}
	// Each condition on its own.
	for name, w := range map[string]*identity.UnitWrites{
		"consumed challenge": {Challenge: ch.ID, ConsumedAt: at},
		"stale throttle":     {ThrottleKey: key, Count: true, Next: identity.ThrottleState{Failures: 1, Version: 1}},
		"counter replay":     {Counters: []identity.CounterAdvance{{Ref: c.Ref(), N: 6, At: at}}},
		"deleted credential": {Deletes: []identity.CredentialRef{{Subject: "bob", Kind: identity.KindTOTP, ID: "c1"}}},
		"taken ID":           {Creates: []identity.Credential{{Subject: "bob", Kind: identity.KindTOTP, ID: "c1", Active: true}}},
	} {
		if err := us.CommitUnit(ctx, w); !identity.IsUnitConflict(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A success clears the record at the version it read, and only then:
	// a failure counted since must not be erased by it.
	stale := &identity.UnitWrites{ThrottleKey: key, Clear: true, Prev: identity.ThrottleState{Failures: 1, Version: 2}, Deletes: []identity.CredentialRef{other.Ref()}}
	if err := us.CommitUnit(ctx, stale); !identity.IsUnitConflict(err) {
		t.Fatalf("a clear at a version the record is not at: %v", err)
	}
	if st, _ := s.LoadThrottle(ctx, key); st.Version != 1 {
		t.Fatalf("throttle after a refused clear: %+v", st)
	}
	mustNoErr(t, us.CommitUnit(ctx, &identity.UnitWrites{ThrottleKey: key, Clear: true, Prev: identity.ThrottleState{Failures: 1, Version: 1}, Deletes: []identity.CredentialRef{other.Ref()}}), "clear")
	if st, _ := s.LoadThrottle(ctx, key); st.Version != 0 {
		t.Fatalf("throttle after a clear: %+v", st)
	}
	if _, err := s.Credential(ctx, other.Ref()); err == nil {
		t.Fatal("the deleted credential is still there")
	}
	// An enrolment's credential commits with the rest of its unit, at
	// revision 1 whatever it carried; a unit whose other condition fails
	// creates nothing.
	fresh := identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c2", Name: "new", Secret: []byte{7}, Counter: 9, Active: true, CreatedAt: at, Revision: 5}
	if err := us.CommitUnit(ctx, &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: at, Creates: []identity.Credential{fresh}}); !identity.IsUnitConflict(err) {
		t.Fatalf("a create beside a used challenge: %v", err)
	}
	if _, err := s.Credential(ctx, fresh.Ref()); err == nil {
		t.Fatal("a refused unit created its credential")
	}
	mustNoErr(t, us.CommitUnit(ctx, &identity.UnitWrites{Creates: []identity.Credential{fresh}, Events: []identity.Event{ev}}), "create")
	if got, err := s.Credential(ctx, fresh.Ref()); err != nil || got.Name != "new" || got.Counter != 9 || got.Revision != 1 || string(got.Secret) != "\x07" {
		t.Fatalf("created credential: %+v, %v", got, err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
		t.Fatal(err)
	}
}

// testUnitRace commits one challenge's unit from 64 goroutines on two
// handles: exactly one commits, the others conflict and write nothing.
func testUnitRace(t *testing.T, a, b identity.Store) {
	ua, ok := a.(identity.UnitStore)
	if !ok {
		t.Skip("not a UnitStore")
	}
	ub := b.(identity.UnitStore)
	ctx := context.Background()
	ch := newChallenge(Epoch())
	mustNoErr(t, a.PutChallenge(ctx, ch), "put")
	key := identity.ThrottleKey{Subject: "alice", Kind: identity.KindTOTP}
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	start := make(chan struct{})
	for i := range n {
		us := ua
		if i%2 == 1 {
			us = ub
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			w := &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: Epoch(), ThrottleKey: key, Count: true,
				Next:   identity.ThrottleState{Failures: 1, NotBefore: Epoch(), Version: 1},
				Events: []identity.Event{{Time: Epoch(), Subject: "alice", Action: "login", Result: identity.Failure}}}
			err := us.CommitUnit(ctx, w)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !identity.IsUnitConflict(err):
				t.Errorf("racing commit: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	recs, _ := a.AuditEvents(ctx, "alice", 0)
	st, _ := a.LoadThrottle(ctx, key)
	if wins != 1 || len(recs) != 1 || st.Failures != 1 {
		t.Fatalf("%d of %d units committed, %d events, throttle %+v; want exactly one of each", wins, n, len(recs), st)
	}
}

// testUnitOrder: ReadUnit returns a subject's credentials in the order
// Credentials does (creation time, then ID), whatever order they were
// written in.
func testUnitOrder(t *testing.T, s identity.Store) {
	us, ok := s.(identity.UnitStore)
	if !ok {
		t.Skip("not a UnitStore")
	}
	ctx := context.Background()
	for _, c := range []struct {
		id string
		at time.Duration
	}{{"d", 2 * time.Minute}, {"b", time.Minute}, {"c", time.Minute}, {"a", 3 * time.Minute}, {"e", 0}} {
		mustNoErr(t, s.CreateCredential(ctx, &identity.Credential{Subject: "carol", Kind: identity.KindTOTP, ID: c.id,
			Active: true, CreatedAt: Epoch().Add(c.at)}), "create")
	}
	rd := &identity.UnitRead{Challenge: identity.NewChallengeID(), Subject: "carol", Kind: identity.KindTOTP}
	mustNoErr(t, us.ReadUnit(ctx, rd), "read")
	listed, err := s.Credentials(ctx, "carol", identity.KindTOTP)
	mustNoErr(t, err, "list")
	var got, want string
	for _, c := range rd.Credentials {
		got += c.ID
	}
	for _, c := range listed {
		want += c.ID
	}
	if got != "ebcda" || want != "ebcda" {
		t.Fatalf("ReadUnit gave credentials %q and Credentials %q, want both ebcda (by creation time, then ID)", got, want)
	}
}
