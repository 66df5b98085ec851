// Package pcscdtest puts virtual cards into the real PC/SC stack for tests:
// pcscd with the vsmartcard vpcd driver, which make test starts (setting
// PUCE_PCSCD=1). Without PUCE_PCSCD the tests skip, saying so; with it, a
// missing daemon or reader fails them.
//
// Its helpers reach pcscd through package pcsc, the one cgo package, so they
// are built only with cgo (pcscdtest.go carries the constraint): every other
// package, this one included, builds with CGO_ENABLED=0 (DESIGN.md, package
// map). Test files that use them carry //go:build cgo too.
package pcscdtest

import "os"

// Reader is the reader of the vpcd driver's first slot, on
// virtual.DefaultVPCDAddr.
const (
	Reader = "Virtual PCD 00 00"
	Port   = 35963
)

// Wanted reports whether the environment promises pcscd (PUCE_PCSCD set,
// as make test does).
func Wanted() bool { return os.Getenv("PUCE_PCSCD") != "" }
