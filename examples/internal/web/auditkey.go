package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

// DevKeyBase is where the examples keep their development keys beside a
// SQLite database (db.dev-sealer-key, db.dev-audit-key…): "" for
// PostgreSQL and ":memory:", which have no file to keep them beside.
func DevKeyBase(db string) string {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") || db == ":memory:" || db == "sqlite::memory:" {
		return ""
	}
	return strings.TrimPrefix(db, "sqlite:")
}

// AuditKey decodes the key that seals the audit trail's records and checkpoints
// (base64, at least 32 bytes; identity.AuditConfig). Without one it uses a
// development key kept in devKeyFile (made on first use, mode 0600) and
// says so on out; without that file either it returns nil: the trail is
// then a hash chain that anyone who can write the database can recompute.
func AuditKey(spec, devKeyFile string, out io.Writer) ([]byte, error) {
	if spec == "" && devKeyFile != "" {
		data, err := os.ReadFile(devKeyFile)
		switch {
		case err == nil:
			spec = strings.TrimSpace(string(data))
		case errors.Is(err, os.ErrNotExist):
			if spec, err = createDevKey(devKeyFile, base64.StdEncoding.EncodeToString(identity.GenerateSealerKey())); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		fmt.Fprintf(out, "WARNING: the audit trail's records and checkpoints are sealed with a DEVELOPMENT key kept beside the database (%s): "+
			"whoever can write the database can read it and forge them; production passes -audit-key from a secret store\n", devKeyFile)
	}
	if spec == "" {
		fmt.Fprintln(out, "WARNING: no audit key (-audit-key or PUCE_AUDIT_KEY): the audit trail is not sealed, and whoever can write the database can rewrite it")
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(spec)
	if err != nil || len(k) < 32 {
		return nil, errors.New("audit key: want at least 32 bytes in base64")
	}
	return k, nil
}

// createDevKey writes spec, a new development key, to file unless another
// process has just done so, and returns the key the file holds: the demo
// starts the login and signing servers at once on one database, and two
// keys would seal one trail (or one table of secrets). The key is written
// to a file of its own, then linked to file's name, which fails if that
// exists: the file is never seen half written.
func createDevKey(file, spec string) (string, error) {
	var r [6]byte
	rand.Read(r[:])
	tmp := file + ".tmp-" + hex.EncodeToString(r[:])
	if err := os.WriteFile(tmp, []byte(spec+"\n"), 0o600); err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	switch err := os.Link(tmp, file); {
	case err == nil:
		return spec, nil
	case errors.Is(err, os.ErrExist):
		data, err := os.ReadFile(file)
		return strings.TrimSpace(string(data)), err
	default:
		return "", err
	}
}

// OpenStore opens the examples' database with the audit key that seals its
// trail: keySpec (base64, -audit-key or PUCE_AUDIT_KEY), or the
// development key beside a SQLite file. Every program that writes to the
// database must hold it: a record appended without it carries no seal,
// which VerifyAudit reports once a checkpoint requires seals, and the
// login server checkpoints as soon as it starts.
func OpenStore(ctx context.Context, db, keySpec string, out io.Writer) (*sqlstore.Store, error) {
	dev := ""
	if base := DevKeyBase(db); base != "" {
		dev = base + ".dev-audit-key"
	}
	key, err := AuditKey(keySpec, dev, out)
	if err != nil {
		return nil, err
	}
	return sqlstore.Open(ctx, db, sqlstore.WithAudit(identity.AuditConfig{Key: key}))
}
