package node

import "time"

// SetShareRetry shortens the share outbox's retry interval for a test.
func SetShareRetry(d time.Duration) func() {
	old := shareRetry
	shareRetry = d
	return func() { shareRetry = old }
}
