package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/record"
)

// TestPublishOmissionNothingToPublish: `requests publish-omission` checks
// its argument, and on a home that shared nothing for the request says so
// and publishes nothing, without asking.
func TestPublishOmissionNothingToPublish(t *testing.T) {
	data := filepath.Join(t.TempDir(), "home")
	runNode(t, data, "12 Maple St")
	if _, stderr, code := cli(t, "--data", data, "requests", "publish-omission", "not-an-id"); code == 0 || !strings.Contains(stderr, "REQUEST_ID") {
		t.Fatalf("a malformed ID: exit %d, %q", code, stderr)
	}
	id := record.IDOf([]byte("some request")).String()
	out, stderr, code := cli(t, "--data", data, "requests", "publish-omission", id)
	if code != 0 || !strings.Contains(out, "nothing to publish") || strings.Contains(out, "[y/N]") {
		t.Fatalf("nothing shared: exit %d, %q, %q", code, out, stderr)
	}
}
