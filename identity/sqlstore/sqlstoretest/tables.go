package sqlstoretest

import (
	"slices"
	"strings"
)

// TableWrites is the row writes of one table, by verb, as the counting
// driver saw them (RecordTables): one per INSERT, UPDATE or DELETE
// statement naming the table, including those inside a WITH. The store
// writes one row per statement (by key, or one new row), which is what
// makes a statement count a row count here.
type TableWrites struct {
	Table                     string
	Inserts, Updates, Deletes int
}

// RecordTables starts (on) or stops counting writes per table, from zero
// when started. It costs a lock and a scan of each writing statement's text,
// so it is meant for one untimed operation, whose writes an anchor repeats.
func (c *Counter) RecordTables(on bool) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if on {
		c.tables = map[string]*TableWrites{}
	}
	c.recording.Store(on)
}

// Tables returns the writes per table recorded since RecordTables(true),
// by table name.
func (c *Counter) Tables() []TableWrites {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	var out []TableWrites
	for _, t := range c.tables {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b TableWrites) int { return strings.Compare(a.Table, b.Table) })
	return out
}

func (c *Counter) record(q string) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.tables == nil {
		return
	}
	for _, w := range writtenTables(q) {
		t := c.tables[w.table]
		if t == nil {
			t = &TableWrites{Table: w.table}
			c.tables[w.table] = t
		}
		switch w.verb {
		case "INSERT":
			t.Inserts++
		case "UPDATE":
			t.Updates++
		case "DELETE":
			t.Deletes++
		}
	}
}

type verbTable struct{ verb, table string }

// writtenTables reads, from the text of q (one or more statements), the
// table each data-modifying verb writes: INSERT INTO t, REPLACE INTO t,
// UPDATE t, DELETE FROM t; an upsert's DO UPDATE is not a write of its own.
// Quoted strings are skipped, so a literal naming a verb is not one.
func writtenTables(q string) []verbTable {
	var f []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			f = append(f, b.String())
			b.Reset()
		}
	}
	for i := 0; i < len(q); i++ {
		switch ch := q[i]; {
		case ch == '\'':
			flush()
			for i++; i < len(q) && q[i] != '\''; i++ {
			}
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '(' || ch == ')' || ch == ',' || ch == ';':
			flush()
		default:
			b.WriteByte(ch)
		}
	}
	flush()
	var out []verbTable
	name := func(i int) string {
		if i < len(f) {
			return strings.Trim(f[i], `"`)
		}
		return ""
	}
	for i, w := range f {
		switch strings.ToUpper(w) {
		case "INSERT", "REPLACE":
			if strings.EqualFold(name(i+1), "INTO") {
				out = append(out, verbTable{"INSERT", name(i + 2)})
			}
		case "UPDATE":
			if i == 0 || !strings.EqualFold(f[i-1], "DO") {
				out = append(out, verbTable{"UPDATE", name(i + 1)})
			}
		case "DELETE":
			if strings.EqualFold(name(i+1), "FROM") {
				out = append(out, verbTable{"DELETE", name(i + 2)})
			}
		}
	}
	return out
}
