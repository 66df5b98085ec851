package memstore

import (
	"context"

	"github.com/puce-id/puce/identity"
)

// AuditHandle is another writer of s's audit trail, as another server
// instance on one database is for sqlstore: its own audit configuration
// and checkpoint clock, the same trail. Only its Audit and Checkpoint
// write as it is configured; everything else is s's.
type AuditHandle struct {
	*Store
	w auditWriter
}

// NewAuditHandle returns a writer of s's trail configured by c, dating its
// checkpoints by clock.
func (s *Store) NewAuditHandle(c identity.AuditConfig, clock identity.Clock) (*AuditHandle, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	return &AuditHandle{Store: s, w: auditWriter{cfg: c, clock: clock}}, nil
}

// Audit appends e as h is configured.
func (h *AuditHandle) Audit(ctx context.Context, e identity.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.appendAuditBy(&h.w, e)
	return nil
}

// Checkpoint seals a checkpoint with h's key, dated by h's clock.
func (h *AuditHandle) Checkpoint(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w.cfg.Key != nil {
		h.checkpointLocked(&h.w)
	}
	return nil
}
