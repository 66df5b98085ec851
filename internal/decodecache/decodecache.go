// Package decodecache remembers what stored bytes decode to, for a factor
// that decodes the same credential record or certificate at every login of
// the same user. An entry is found by a key (a credential's kind and ID)
// and served only while the bytes it was decoded from are byte for byte
// the bytes at hand, so an edited record is decoded again, never served
// stale. The zero Cache is ready; it holds at most Max entries and starts
// over when full, which costs one decode per entry, never a wrong answer.
// It is safe for concurrent use.
package decodecache

import (
	"bytes"
	"sync"
)

// Max bounds a Cache.
const Max = 4096

// Cache maps keys to decoded values of type T.
type Cache[T any] struct {
	mu      sync.Mutex
	entries map[string]entry[T]
}

type entry[T any] struct {
	src []byte
	v   T
}

// Lookup returns the value stored under key if it was decoded from src.
func (c *Cache[T]) Lookup(key string, src []byte) (T, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.src, src) {
		var zero T
		return zero, false
	}
	return e.v, true
}

// Store keeps v, decoded from src, under key (src is copied).
func (c *Cache[T]) Store(key string, src []byte, v T) {
	e := entry[T]{src: bytes.Clone(src), v: v}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= Max {
		c.entries = make(map[string]entry[T])
	}
	c.entries[key] = e
}

// Decode returns the value under key decoded from src, calling decode and
// keeping its result on a miss; an error is returned and not kept.
func (c *Cache[T]) Decode(key string, src []byte, decode func() (T, error)) (T, error) {
	if v, ok := c.Lookup(key, src); ok {
		return v, nil
	}
	v, err := decode()
	if err != nil {
		return v, err
	}
	c.Store(key, src, v)
	return v, nil
}

// Len returns the number of entries.
func (c *Cache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
