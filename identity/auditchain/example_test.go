package auditchain_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// A store's append and its VerifyAudit, reduced to one partition kept in
// memory: seal the record with the key, chain it to the partition's head,
// seal a checkpoint now and then; to verify, stream everything through a
// Verifier in the order it asks for.
func Example() {
	key := bytes.Repeat([]byte{0x42}, 32) // from a secret store, never the database
	seals := auditchain.NewRecordKey(key)
	const p = 0
	head := auditchain.Head{Partition: p, Hash: auditchain.Genesis(p, auditchain.Zero())}
	var records []identity.AuditRecord
	for i, result := range []identity.Result{identity.Failure, identity.Success} {
		e := identity.Event{Time: time.Date(2026, 12, 6, 9, 0, i, 0, time.UTC), Subject: "alice", Action: "login", Result: result}
		r := identity.AuditRecord{Partition: p, Seq: head.Seq + 1, Event: e, Prev: head.Hash}
		r.Nonce, r.MAC = seals.Seal(p, e)
		r.Hash = auditchain.RecordHash(r)
		records = append(records, r)
		head.Seq, head.Hash = r.Seq, r.Hash
	}
	c := auditchain.Checkpoint{Seq: 1, Time: time.Date(2026, 12, 6, 9, 1, 0, 0, time.UTC), Prev: auditchain.Zero(),
		Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}, Heads: []auditchain.Head{head}}
	c.Seal(key)

	verify := func(records []identity.AuditRecord, head auditchain.Head) error {
		v, err := auditchain.NewVerifier(identity.AuditKeys{Current: key})
		if err != nil {
			return err
		}
		if err := v.EndLegacy(auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}); err != nil {
			return err
		}
		if err := v.Checkpoint(c); err != nil {
			return err
		}
		for _, r := range records {
			if err := v.Record(r); err != nil {
				return err
			}
		}
		_, err = v.Finish([]auditchain.Head{head})
		return err
	}
	fmt.Println("as written:", verify(records, head))

	// Someone who can write the database appends a success of their own,
	// chained as the store would chain it, but cannot seal it.
	forged := identity.AuditRecord{Partition: p, Seq: head.Seq + 1, Prev: head.Hash,
		Event: identity.Event{Time: time.Date(2026, 12, 6, 9, 2, 0, 0, time.UTC), Subject: "alice", Action: "unlock", Result: identity.Success}}
	forged.Hash = auditchain.RecordHash(forged)
	fmt.Println("with an unsealed record:", verify(append(records, forged), auditchain.Head{Partition: p, Seq: forged.Seq, Hash: forged.Hash}))
	// Output:
	// as written: <nil>
	// with an unsealed record: identity: audit chain broken: partition 0: record 3 carries no seal, and checkpoint 1 requires one (added by someone without the audit key, or appended by an instance of an older puce more than 24h0m0s after the first checkpoint that required seals)
}
