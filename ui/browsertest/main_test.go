package browsertest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine (of a node, an API server or chromedp)
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}
