package webauthn

import "github.com/puce-id/puce/identity"

// decodeRecord is DecodeRecord through the Factor's cache of the records
// of credentials that logged in (internal/decodecache): a record is a pure
// function of the credential's Public bytes, which a login reads again
// each time, so an entry keyed by the credential's kind and ID is served
// only for those exact bytes, and a record edited in the store (backup
// state, re-enrolment) is decoded again, never served stale. The Record
// returned is the caller's own, but its slices and pointers are shared:
// read them, do not modify them.
func (f *Factor) decodeRecord(cred *identity.Credential) (*Record, error) {
	cached, err := f.recordCache.Decode(string(cred.Kind)+"\x00"+cred.ID, cred.Public, func() (*Record, error) { return DecodeRecord(cred) })
	if err != nil {
		return nil, err
	}
	r := *cached
	r.Name, r.SignCount, r.CreatedAt, r.LastUsedAt = cred.Name, cred.Counter, cred.CreatedAt, cred.LastUsedAt
	return &r, nil
}
