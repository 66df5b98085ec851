// Package numbered rewrites the store's ? placeholders into PostgreSQL's
// numbered ones, for sqlstore and its benchmark support alike.
package numbered

import (
	"strconv"
	"strings"
)

// Rebind turns each ? of q into $1, $2, … in order. The store's queries
// hold no ? inside literals, so every ? is a placeholder.
func Rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
