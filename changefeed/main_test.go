package changefeed_test

import (
	"testing"

	"orgpulse/testsupport"
)

// TestMain provides PostgreSQL and Redis when DATABASE_URL or REDIS_URL is
// not set, so plain go test works in a fresh clone.
func TestMain(m *testing.M) { testsupport.Main(m) }
