package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestWritesRefusedWhenDiskFails: while the node's disk has failed, every
// route that writes answers 503 storage_failed with what failed and what to
// check, instead of acknowledging a write the disk may not hold; reads and
// the login link (how the user gets to see the failure) still work.
func TestWritesRefusedWhenDiskFails(t *testing.T) {
	failed := &store.StorageError{Dir: "/var/lib/porchlight/db", Problem: "the disk is full", Check: "free space with df -h", Since: time.Now()}
	s, _ := newServerWith(t, func(c *api.Config) { c.Storage = func() error { return failed } })
	for _, route := range s.Routes() {
		if strings.HasPrefix(route, "GET ") || route == "POST /api/v1/login-links" {
			continue
		}
		t.Run(route, func(t *testing.T) {
			code, body, _ := do(t, request(t, s, route))
			if code != 503 || !strings.Contains(body, "storage_failed") || !strings.Contains(body, "disk is full") || !strings.Contains(body, "df -h") {
				t.Errorf("%s on a failed disk: %d %s", route, code, body)
			}
		})
	}
	if code, body, _ := do(t, request(t, s, "GET /api/v1/feed")); code != 200 {
		t.Errorf("a read on a failed disk: %d %s", code, body)
	}
	if code, body, _ := do(t, request(t, s, "POST /api/v1/login-links")); code != 201 {
		t.Errorf("a login link on a failed disk: %d %s", code, body)
	}
}
