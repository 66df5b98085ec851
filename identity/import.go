package identity

import (
	"context"
	"fmt"
)

// ImportCredential stores c, a credential enrolled elsewhere (a TOTP key
// migrated from another system, a hardware token the bank issued), and
// audits ev with the outcome: as one unit where the store runs units, so
// that a credential is never stored without its event, nor an event
// written for a credential that is not there. ErrExists when c's kind and
// ID are taken; the failure is audited too. Other auditors than the store
// hear of the event after the commit, as a login's do.
func (s *Services) ImportCredential(ctx context.Context, c *Credential, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = s.Now()
	}
	us, extra, ok := s.unitStore()
	if !ok {
		err := s.Store.CreateCredential(ctx, c)
		if err != nil {
			err = fmt.Errorf("identity: store credential: %w", err)
		}
		return s.Record(ctx, ev, err)
	}
	if err := c.Subject.Validate(); err != nil {
		return s.Record(ctx, ev, err)
	}
	if err := c.Kind.Validate(); err != nil {
		return s.Record(ctx, ev, err)
	}
	created := cloneCredentials([]Credential{*c})[0]
	created.Revision = 1
	e := outcomeEvent(ev, nil)
	err := us.CommitUnit(ctx, &UnitWrites{Creates: []Credential{created}, Events: []Event{e}})
	if IsUnitConflict(err) {
		err = fmt.Errorf("%w: %s credential %q", ErrExists, c.Kind, c.ID)
	}
	if err != nil {
		// Nothing was written: audit the failure on its own.
		return RecordOutcome(ctx, append(Auditors{us}, extra...), ev, fmt.Errorf("identity: store credential: %w", err))
	}
	c.Revision = 1
	if aerr := extra.Audit(ctx, e); aerr != nil {
		return fmt.Errorf("identity: audit: %w", aerr)
	}
	return nil
}
