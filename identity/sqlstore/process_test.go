package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
)

// processRounds is how many challenges and counter values the processes
// race for.
const processRounds = 200

// TestTwoProcessesOneFile races two operating-system processes on one
// SQLite file for the same challenges and the same counter values. Within
// one process SQLite arbitrates between connections in its own lock
// table; between processes it relies on the file locks of the operating
// system (SQLite, "File Locking And Concurrency In SQLite Version 3", and
// WAL's shared-memory index). Each challenge must be consumed, and each
// counter value accepted, exactly once over both.
func TestTwoProcessesOneFile(t *testing.T) {
	if os.Getenv("PUCE_RACE_CHILD") != "" {
		raceChild(t, os.Getenv("PUCE_RACE_CHILD"))
		return
	}
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "puce.db")
	s, err := sqlstore.OpenSQLite(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cred := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Active: true, CreatedAt: identitytest.Epoch()}
	if err := s.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range processRounds {
		ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: identity.KindCard, Purpose: identity.PurposeAuthenticate,
			Subject: "alice", Origin: "https://bank.example", CreatedAt: identitytest.Epoch(), ExpiresAt: identitytest.Epoch().Add(time.Hour)}
		if err := s.PutChallenge(ctx, ch); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID.String())
	}
	if err := os.WriteFile(p+".ids", []byte(strings.Join(ids, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesOneFile$", "-test.v")
			cmd.Env = append(os.Environ(), "PUCE_RACE_CHILD="+p)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	challenges, counters := 0, 0
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
		var c, n int
		for _, line := range strings.Split(string(outs[i]), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "wins: "); ok {
				fmt.Sscan(rest, &c, &n)
			}
		}
		t.Logf("process %d won %d challenges and %d counter values", i, c, n)
		challenges, counters = challenges+c, counters+n
	}
	if challenges != processRounds || counters != processRounds {
		t.Fatalf("over two processes %d challenges consumed and %d counter values accepted, want %d of each", challenges, counters, processRounds)
	}
	got, err := s.Credential(ctx, cred.Ref())
	if err != nil || got.Counter != processRounds {
		t.Fatalf("counter at %v (%v), want %d", got, err, processRounds)
	}
}

// raceChild is one process of TestTwoProcessesOneFile: it tries every
// challenge and every counter value, and reports what it won.
func raceChild(t *testing.T, path string) {
	ctx := context.Background()
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := os.ReadFile(path + ".ids")
	if err != nil {
		t.Fatal(err)
	}
	ref := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "c1"}
	challenges, counters := 0, 0
	for i, line := range strings.Split(string(b), "\n") {
		id, err := identity.ParseChallengeID(line)
		if err != nil {
			t.Fatal(err)
		}
		switch _, err := s.ConsumeChallenge(ctx, id, time.Now()); {
		case err == nil:
			challenges++
		case !errors.Is(err, identity.ErrReplayed):
			t.Fatalf("consume: %v", err)
		}
		switch err := s.AdvanceCounter(ctx, ref, uint64(i+1), time.Now()); {
		case err == nil:
			counters++
		case !errors.Is(err, identity.ErrReplayed):
			t.Fatalf("advance: %v", err)
		}
	}
	fmt.Println("wins: " + strconv.Itoa(challenges) + " " + strconv.Itoa(counters))
}
