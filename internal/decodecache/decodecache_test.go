package decodecache

import (
	"errors"
	"strconv"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	var c Cache[string]
	calls := 0
	dec := func(s string) func() (string, error) {
		return func() (string, error) { calls++; return "decoded " + s, nil }
	}
	if v, err := c.Decode("k", []byte("a"), dec("a")); err != nil || v != "decoded a" || calls != 1 {
		t.Fatal(v, err, calls)
	}
	if v, _ := c.Decode("k", []byte("a"), dec("a")); v != "decoded a" || calls != 1 {
		t.Fatalf("a hit decoded again: %q, %d calls", v, calls)
	}
	if v, _ := c.Decode("k", []byte("b"), dec("b")); v != "decoded b" || calls != 2 {
		t.Fatalf("changed bytes served stale: %q", v)
	}
	boom := errors.New("boom")
	if _, err := c.Decode("bad", []byte("x"), func() (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("bad", []byte("x")); ok {
		t.Fatal("a failed decode was kept")
	}
	src := []byte("s")
	c.Store("m", src, "v")
	src[0] = 't'
	if _, ok := c.Lookup("m", []byte("s")); !ok {
		t.Fatal("Store kept the caller's slice, not a copy")
	}
	for i := range Max + 10 {
		c.Store(strconv.Itoa(i), nil, "v")
		if c.Len() > Max {
			t.Fatalf("%d entries", c.Len())
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	var c Cache[int]
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := strconv.Itoa(i % 17)
				v, err := c.Decode(k, []byte(k), func() (int, error) { return i % 17, nil })
				if err != nil || v != i%17 {
					t.Errorf("goroutine %d: %d, %v", g, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
