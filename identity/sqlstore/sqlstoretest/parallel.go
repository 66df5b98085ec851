package sqlstoretest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

// ParallelGoroutines are the numbers of goroutines BenchFinishParallel runs
// at once.
var ParallelGoroutines = []int{1, 2, 4}

// BenchFinishParallel measures a factor's Finish with several goroutines
// logging in at once, each as a subject of its own, beside the same-tables
// anchor run the same way, on each engine:
//
//	<engine>/g=<n>   n goroutines; per round, each runs pairedRound
//	                 Finish calls, then (or first: the order turns with
//	                 each round) each runs as many same-tables anchor
//	                 transactions (same-tx on SQLite, same-1rt on
//	                 PostgreSQL, as BenchFinish names them), each
//	                 goroutine's anchor with a credential and an audit
//	                 partition of its own
//
// It reports the medians over the rounds of the wall time per operation
// of all goroutines together (finish-ns/op, anchor-ns/op: the inverse of
// throughput) and of each round's ratio (x-anchor); on SQLite also the
// means of how long an anchor transaction held the anchors' lock and
// waited for it (anchor-held-ns/op, anchor-wait-ns/op). On SQLite the
// anchors' transactions queue on a Go lock as the store's writes do
// (writelock.go): without it a writer that finds the lock taken sleeps in
// SQLite's busy handler for a millisecond or more, which would measure
// that sleep, not the writes.
//
// setup builds the factor on the store with subject enrolled; it is called
// once per goroutine, on the same store, with distinct subjects
// ("bench-0", "bench-1", …). One b.N iteration is one Finish and one anchor
// transaction per goroutine.
func BenchFinishParallel(b *testing.B, setup func(tb testing.TB, s *sqlstore.Store, subject identity.Subject) Finisher) {
	for _, eng := range Engines {
		b.Run(eng.Name, func(b *testing.B) {
			for _, g := range ParallelGoroutines {
				b.Run(fmt.Sprintf("g=%d", g), func(b *testing.B) { benchParallel(b, eng, g, setup) })
			}
		})
	}
}

func benchParallel(b *testing.B, eng Engine, g int, setup func(testing.TB, *sqlstore.Store, identity.Subject) Finisher) {
	s, c := eng.Open(b)
	c.Pause()
	fs := make([]Finisher, g)
	round := pairedRound
	for i := range fs {
		fs[i] = setup(b, s, identity.Subject(fmt.Sprintf("bench-%d", i)))
		if fs[i].Batch > 0 && fs[i].Batch < round {
			round = fs[i].Batch
		}
	}
	// The anchor copies the rows the second of two untimed verifications
	// wrote, as BenchFinish's does; every finisher is warmed the same way.
	var tables []TableWrites
	for i, f := range fs {
		f.Prepare(2)
		if err := f.Finish(0); err != nil {
			b.Fatalf("first Finish: %v", err)
		}
		if i == 0 {
			c.Resume()
			c.RecordTables(true)
		}
		if err := f.Finish(1); err != nil {
			b.Fatalf("second Finish: %v", err)
		}
		if i == 0 {
			c.RecordTables(false)
			c.Pause()
			tables = c.Tables()
		}
	}
	tmpl := readTemplates(b, s, tables)
	pg := s.Engine() == "postgres"
	var anchorLock chan struct{}
	if !pg {
		anchorLock = make(chan struct{}, 1)
	}
	anchors := make([]*sameTables, g)
	for i := range anchors {
		anchors[i] = newSameTables(b, s, tables, tmpl, pg, i)
		anchors[i].ownCredential()
		anchors[i].warm()
	}
	var held, waited atomic.Int64
	anchorStep := func(i int) error {
		if anchorLock != nil {
			t0 := time.Now()
			anchorLock <- struct{}{}
			t1 := time.Now()
			waited.Add(int64(t1.Sub(t0)))
			defer func() { held.Add(int64(time.Since(t1))); <-anchorLock }()
		}
		return anchors[i].step()
	}
	// run times n operations of op on each of the g goroutines at once,
	// from a common start, and returns the wall time per operation.
	run := func(n int, op func(who, i int) error) float64 {
		var start, done sync.WaitGroup
		start.Add(1)
		done.Add(g)
		errs := make([]error, g)
		for who := range g {
			go func() {
				defer done.Done()
				start.Wait()
				for i := range n {
					if err := op(who, i); err != nil {
						errs[who] = err
						return
					}
				}
			}()
		}
		t0 := time.Now()
		start.Done()
		done.Wait()
		took := time.Since(t0)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		return float64(took.Nanoseconds()) / float64(n*g)
	}
	sides := []func(who, i int) error{
		func(who, i int) error { return fs[who].Finish(i) },
		func(who, _ int) error { return anchorStep(who) },
	}
	var finish, anchor, ratio []float64
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; k++ {
		n := min(round, b.N-done)
		b.StopTimer()
		for i := range fs {
			fs[i].Prepare(n)
			anchors[i].refill(n)
		}
		b.StartTimer()
		var per [2]float64
		for j := range sides {
			side := (j + k) % 2
			per[side] = run(n, sides[side])
		}
		finish, anchor = append(finish, per[0]), append(anchor, per[1])
		ratio = append(ratio, per[0]/per[1])
		done += n
	}
	b.StopTimer()
	b.ReportMetric(median(finish), "finish-ns/op")
	b.ReportMetric(median(anchor), "anchor-ns/op")
	b.ReportMetric(median(ratio), "x-anchor")
	if anchorLock != nil {
		b.ReportMetric(float64(held.Load())/float64(b.N*g), "anchor-held-ns/op")
		b.ReportMetric(float64(waited.Load())/float64(b.N*g), "anchor-wait-ns/op")
	}
}
