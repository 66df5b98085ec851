package identitytest

import (
	"context"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// testAuditTimes appends events at instants a store might encode
// specially — the zero time, the Unix epoch, before it, far after 2038,
// in another zone, with nanoseconds — and verifies the trail: a time that
// does not come back as it was hashed would make an honest trail look
// tampered with.
func testAuditTimes(t *testing.T, s identity.Store) {
	ctx := context.Background()
	zone := time.FixedZone("UTC+13:45", 13*3600+45*60)
	for i, at := range []time.Time{{}, time.Unix(0, 0), time.Unix(-1, 0), time.Unix(0, 1500),
		time.Date(2039, 1, 19, 3, 14, 8, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, zone), Epoch().In(zone)} {
		mustNoErr(t, s.Audit(ctx, identity.Event{Time: at, Subject: "frank", Action: "login", Result: identity.Success}), "audit")
		if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
			t.Fatalf("after an event at %v (#%d): %v", at, i, err)
		}
	}
}
