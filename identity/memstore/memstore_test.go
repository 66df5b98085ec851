package memstore_test

import (
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

func TestStore(t *testing.T) {
	identitytest.RunStore(t, identitytest.StoreFactory{
		Open: func(t *testing.T) identity.Store { return memstore.New() },
		DeleteAudit: func(t *testing.T, s identity.Store, seq int64) {
			s.(*memstore.Store).TamperAudit(func(rs []identity.AuditRecord) []identity.AuditRecord {
				return append(rs[:seq-1:seq-1], rs[seq:]...)
			})
		},
		EditAudit: func(t *testing.T, s identity.Store, seq int64) {
			s.(*memstore.Store).TamperAudit(func(rs []identity.AuditRecord) []identity.AuditRecord {
				rs[seq-1].Event.Result = identity.Success
				return rs
			})
		},
	})
}
