package mesh_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/aurora-federation/aurora/mesh/meshtest"
)

// TestMain checks that every test leaves no goroutine behind, except the
// process-wide ones libp2p's dependencies keep (see
// meshtest.GoleakOptions).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, meshtest.GoleakOptions()...)
}
