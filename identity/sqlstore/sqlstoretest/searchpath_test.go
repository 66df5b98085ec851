package sqlstoretest

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestWithSearchPath: the search path reaches the server as given, in
// both DSN forms, for a schema name that needs quoting (a tenant's,
// uppercase, with a space or a quote). pgx reads a URL as libpq does,
// decoding %XX only, so the '+' url.Values encodes a space as stayed a
// '+'; a key=value DSN needs the value quoted.
func TestWithSearchPath(t *testing.T) {
	for _, base := range []string{"postgres://puce@127.0.0.1:5432/db?sslmode=disable", "host=127.0.0.1 user=puce dbname=db sslmode=disable"} {
		for _, path := range []string{"puce_test_1", `"Ten ant"`, `"It's ""quoted"""`, `a+b`, `"back\slash"`} {
			cfg, err := pgx.ParseConfig(WithSearchPath(base, path))
			if err != nil {
				t.Errorf("%s with search_path %s: %v", base, path, err)
				continue
			}
			if got := cfg.RuntimeParams["search_path"]; got != path {
				t.Errorf("%s with search_path %s: the server is sent %q", base, path, got)
			}
		}
	}
}
