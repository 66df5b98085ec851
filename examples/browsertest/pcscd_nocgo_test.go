//go:build !cgo

package browsertest

import (
	"testing"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

func pcscdSource(t *testing.T, card *testcard.Card) agent.Source {
	t.Skip("built without cgo: the agent cannot reach pcscd")
	return nil
}
