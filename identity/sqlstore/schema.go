package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// migrations are applied in order, each once, and recorded in puce_schema.
// Never edit one that has shipped: add a new one. Types are written with
// placeholders that each dialect fills in: {bytes}, {bool}, {serial} (an
// integer primary key the database numbers).
//
// Times are BIGINT microseconds since the Unix epoch (0 for "never"): one
// representation on both engines, and the precision the audit hash covers.
var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE puce_credentials (
		kind         TEXT NOT NULL,
		id           TEXT NOT NULL,
		subject      TEXT NOT NULL,
		name         TEXT NOT NULL DEFAULT '',
		secret       {bytes},
		public       {bytes},
		counter      BIGINT NOT NULL DEFAULT 0,
		active       {bool} NOT NULL,
		created_at   BIGINT NOT NULL,
		last_used_at BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (kind, id)
	);
	CREATE INDEX puce_credentials_subject ON puce_credentials (subject, kind);
	CREATE TABLE puce_challenges (
		id          {bytes} PRIMARY KEY,
		kind        TEXT NOT NULL,
		purpose     INTEGER NOT NULL,
		subject     TEXT NOT NULL,
		origin      TEXT NOT NULL,
		payload     {bytes},
		state       {bytes},
		created_at  BIGINT NOT NULL,
		expires_at  BIGINT NOT NULL,
		consumed_at BIGINT
	);
	CREATE INDEX puce_challenges_expires ON puce_challenges (expires_at);
	CREATE TABLE puce_throttle (
		key        TEXT PRIMARY KEY,
		failures   INTEGER NOT NULL,
		not_before BIGINT NOT NULL,
		version    BIGINT NOT NULL
	);
	CREATE TABLE puce_audit (
		seq           BIGINT PRIMARY KEY,
		time          BIGINT NOT NULL,
		subject       TEXT NOT NULL,
		kind          TEXT NOT NULL,
		credential_id TEXT NOT NULL,
		action        TEXT NOT NULL,
		result        TEXT NOT NULL,
		remote_addr   TEXT NOT NULL,
		reason        TEXT NOT NULL,
		prev          {bytes} NOT NULL,
		hash          {bytes} NOT NULL
	);
	CREATE INDEX puce_audit_subject ON puce_audit (subject, seq);
	CREATE TABLE puce_audit_head (
		id   INTEGER PRIMARY KEY CHECK (id = 1),
		seq  BIGINT NOT NULL,
		hash {bytes} NOT NULL
	);`,
	// 2: credential revisions, which make UpdateCredential a compare-and-swap.
	`ALTER TABLE puce_credentials ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;`,
	// 3: server-side sessions, shared by every instance. The key is the
	// SHA-256 of the cookie's token, never the token.
	`CREATE TABLE puce_sessions (
		id           {bytes} PRIMARY KEY,
		subject      TEXT NOT NULL,
		data         {bytes},
		created_at   BIGINT NOT NULL,
		last_seen_at BIGINT NOT NULL,
		expires_at   BIGINT NOT NULL,
		version      BIGINT NOT NULL
	);
	CREATE INDEX puce_sessions_expires ON puce_sessions (expires_at);`,
	// 4: the transaction digest an approval challenge is bound to.
	`ALTER TABLE puce_challenges ADD COLUMN txn {bytes};`,
	// 5: the audit trail in partitions, each a chain of its own, and the
	// checkpoints that seal their heads (identity/auditchain). The single
	// chain of versions 1 to 4 stays where it is, in puce_audit and
	// puce_audit_head, verified as before; nothing writes to it any more,
	// and every partition's first record chains to its head. Stop every
	// instance of an older puce before starting a newer one: an older one
	// still running would go on appending to the single chain.
	`CREATE TABLE puce_audit_log (
		id            {serial},
		part          INTEGER NOT NULL,
		seq           BIGINT NOT NULL,
		time          BIGINT NOT NULL,
		subject       TEXT NOT NULL,
		kind          TEXT NOT NULL,
		credential_id TEXT NOT NULL,
		action        TEXT NOT NULL,
		result        TEXT NOT NULL,
		remote_addr   TEXT NOT NULL,
		reason        TEXT NOT NULL,
		prev          {bytes} NOT NULL,
		hash          {bytes} NOT NULL,
		UNIQUE (part, seq)
	);
	CREATE INDEX puce_audit_log_subject ON puce_audit_log (subject, id);
	CREATE TABLE puce_audit_parts (
		part INTEGER PRIMARY KEY,
		seq  BIGINT NOT NULL,
		prev {bytes} NOT NULL,
		hash {bytes} NOT NULL
	);
	CREATE TABLE puce_audit_checkpoints (
		seq         BIGINT PRIMARY KEY,
		time        BIGINT NOT NULL,
		legacy_seq  BIGINT NOT NULL,
		legacy_hash {bytes} NOT NULL,
		heads       {bytes} NOT NULL,
		prev        {bytes} NOT NULL,
		mac         {bytes} NOT NULL
	);`,
	// 6: RevokeSessions finds a subject's sessions by their subject (a
	// user signed out everywhere), without scanning every visitor's.
	`CREATE INDEX puce_sessions_subject ON puce_sessions (subject);`,
	// 7: each record sealed with the audit key (identity/auditchain,
	// "Sealed records"): a random nonce and an HMAC over it and the record.
	// NULL in the records written before, or by a store without a key. An
	// older puce still running names its columns when it appends, so it
	// goes on appending, unsealed, which VerifyAudit accepts for
	// auditchain.SealUpgradeWindow after the first checkpoint of a newer one.
	`ALTER TABLE puce_audit_log ADD COLUMN nonce {bytes};
	ALTER TABLE puce_audit_log ADD COLUMN mac {bytes};`,
}

func (d dialect) ddl(s string) string {
	r := strings.NewReplacer("{bytes}", d.bytesType, "{bool}", d.boolType, "{serial}", d.serialType)
	return r.Replace(s)
}

// migrate brings the schema up to date. It runs in one transaction, under a
// lock, so that several server instances starting at once apply each
// migration exactly once.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer tx.Rollback()
	// On PostgreSQL the schema table is created under the lock: CREATE
	// TABLE IF NOT EXISTS checks the catalog without locking it, so
	// instances starting together on an empty database both went on to
	// create it, and all but one failed on the catalog's unique index. On
	// SQLite BEGIN IMMEDIATE holds the write lock already, and the lock
	// statement needs the table.
	schemaTable := func() error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS puce_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("sqlstore: create schema table: %w", err)
		}
		return nil
	}
	if s.d.name != "postgres" {
		if err := schemaTable(); err != nil {
			return err
		}
	}
	if err := s.d.lockMigrations(ctx, tx); err != nil {
		return fmt.Errorf("sqlstore: migrate: lock: %w", err)
	}
	if s.d.name == "postgres" {
		if err := schemaTable(); err != nil {
			return err
		}
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM puce_schema`).Scan(&have); err != nil {
		return fmt.Errorf("sqlstore: migrate: read version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("sqlstore: database schema version %d is newer than this puce (%d): upgrade puce", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		for _, stmt := range strings.Split(s.d.ddl(migrations[v-1]), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlstore: migration %d: %w", v, err)
			}
		}
		if v == 1 {
			if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO puce_audit_head (id, seq, hash) VALUES (1, 0, ?)`), make([]byte, 32)); err != nil {
				return fmt.Errorf("sqlstore: migration %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO puce_schema (version, applied_at) VALUES (?, ?)`), v, micros(s.now())); err != nil {
			return fmt.Errorf("sqlstore: record migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}

// SchemaVersion returns the version of the schema in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM puce_schema`).Scan(&v)
	return v, err
}
