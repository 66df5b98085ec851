//go:build !unix

// Package vpcdlock serialises tests that use pcscd's shared vpcd reader.
package vpcdlock

import "testing"

// Lock does nothing: vpcd runs with pcscd, on Unix only.
func Lock(testing.TB, int) {}
