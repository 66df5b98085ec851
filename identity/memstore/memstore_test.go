package memstore_test

import (
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

func TestStore(t *testing.T) {
	identitytest.RunStore(t, identitytest.StoreFactory{
		Open: func(t *testing.T) identity.Store { return memstore.New() },
		OpenAudit: func(t *testing.T, c identity.AuditConfig) identity.Store {
			s, err := memstore.NewWith(memstore.WithAudit(c))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		AuditHandle: func(t *testing.T, s identity.Store, c identity.AuditConfig, clock identity.Clock) identity.Store {
			h, err := s.(*memstore.Store).NewAuditHandle(c, clock)
			if err != nil {
				t.Fatal(err)
			}
			return h
		},
		TamperAudit: func(t *testing.T, s identity.Store, f func(*auditchain.Trail)) {
			s.(*memstore.Store).TamperAudit(f)
		},
		SeedLegacy: func(t *testing.T, s identity.Store, records []identity.AuditRecord, head auditchain.Head) {
			if err := s.(*memstore.Store).ImportLegacyAudit(records, head); err != nil {
				t.Fatal(err)
			}
		},
	})
}
