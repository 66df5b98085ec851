package numbered

import "testing"

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                           "SELECT 1",
		"UPDATE t SET a = ? WHERE b = ?":     "UPDATE t SET a = $1 WHERE b = $2",
		"INSERT INTO é (x) VALUES (?, ?, ?)": "INSERT INTO é (x) VALUES ($1, $2, $3)",
		"?????????????":                      "$1$2$3$4$5$6$7$8$9$10$11$12$13",
	} {
		if got := Rebind(in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
	}
}
