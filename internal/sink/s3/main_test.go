package s3

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a push
// that leaves a request, a connection or a retry timer behind would leak
// in a long-running server.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
