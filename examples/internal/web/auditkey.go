package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/puce-id/puce/identity"
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
			spec = base64.StdEncoding.EncodeToString(identity.GenerateSealerKey())
			if err := os.WriteFile(devKeyFile, []byte(spec+"\n"), 0o600); err != nil {
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
