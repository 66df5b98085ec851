// Package sqlhook lets sqlstore's test support (sqlstoretest) open a store's
// database through a connector of its own, such as the counting driver that
// measures statements, round trips and commits per verification.
//
// It is a context value rather than a sqlstore Option because it is not for
// applications: the store builds its SQLite DSN (WAL, busy timeout, BEGIN
// IMMEDIATE) itself, and a *sql.DB handed in from outside could silently lack
// those settings. Being internal, only packages under identity/sqlstore can
// set it; the opener still receives the store's own driver name and DSN.
package sqlhook

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"
)

// Opener opens the database for driver (the registered name sqlstore would
// use: "sqlite" or "pgx") and the DSN sqlstore built.
type Opener func(driver, dsn string) (*sql.DB, error)

type key struct{}

// With returns ctx carrying o: a store opened with it uses o instead of
// sql.Open.
func With(ctx context.Context, o Opener) context.Context {
	return context.WithValue(ctx, key{}, o)
}

// Open opens the database through ctx's Opener, or sql.Open without one.
func Open(ctx context.Context, driver, dsn string) (*sql.DB, error) {
	if o, ok := ctx.Value(key{}).(Opener); ok && o != nil {
		return o(driver, dsn)
	}
	return sql.Open(driver, dsn)
}

// BatchObserver is implemented by a driver connection that wraps another
// (the counting driver) and wants to see what sqlstore sends past
// database/sql, straight to the pgx connection beneath it: each batch of
// queries, sent in one round trip, and how long it took.
type BatchObserver interface {
	ObserveBatch(queries []string, took time.Duration)
}

// Unwrapper is a wrapping driver connection that hands out the one it
// wraps.
type Unwrapper interface {
	Unwrap() driver.Conn
}
