package aethir_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if goroutines leak: fakes and adapters
// must stop what they start.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
