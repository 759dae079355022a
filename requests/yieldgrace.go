package requests

import "time"

// YieldGrace is how long after a clip is received the agency's log may go
// on without a Yield that counts it before the share is missing.
//
// (Helper "yield" defines it here so that its branch builds; helper
// "omission" defines it in omission.go, the one place it belongs. At the
// merge, delete this file.)
const YieldGrace = 15 * time.Minute
