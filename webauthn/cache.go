package webauthn

import (
	"bytes"
	"sync"

	"github.com/puce-id/puce/identity"
)

// maxCachedRecords bounds recordCache; when full it starts over, which
// costs one JSON decode per credential, never a wrong answer.
const maxCachedRecords = 4096

// recordCache keeps the decoded records of the credentials that logged in,
// per Factor: a record is a pure function of the credential's Public
// bytes, which a login reads again each time. An entry is keyed by the
// credential ID and holds the exact bytes it was decoded from; a hit
// requires the credential's current Public to equal them, so a record
// edited in the store (backup state, re-enrolment) is decoded again,
// never served stale.
type recordCache struct {
	mu      sync.Mutex
	entries map[string]recordEntry
}

type recordEntry struct {
	public []byte
	rec    *Record // the stored fields only; never modified
}

// decode is DecodeRecord through the cache. The Record returned is the
// caller's own, but its slices and pointers are shared: read them, do not
// modify them.
func (c *recordCache) decode(cred *identity.Credential) (*Record, error) {
	c.mu.Lock()
	e, ok := c.entries[cred.ID]
	c.mu.Unlock()
	if !ok || cred.Kind != Kind || !bytes.Equal(e.public, cred.Public) {
		r, err := DecodeRecord(cred)
		if err != nil {
			return nil, err
		}
		e = recordEntry{public: bytes.Clone(cred.Public), rec: r}
		c.mu.Lock()
		if c.entries == nil || len(c.entries) >= maxCachedRecords {
			c.entries = make(map[string]recordEntry)
		}
		c.entries[cred.ID] = e
		c.mu.Unlock()
	}
	r := *e.rec
	r.Name, r.SignCount, r.CreatedAt, r.LastUsedAt = cred.Name, cred.Counter, cred.CreatedAt, cred.LastUsedAt
	return &r, nil
}
