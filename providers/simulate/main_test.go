package simulate

import (
	"testing"

	"go.uber.org/goleak"
)

// Compare runs strategies on goroutines; none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
