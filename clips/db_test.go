package clips_test

import (
	"testing"

	"github.com/porchlight-mesh/porchlight/clips"
)

// TestDBCloseTwice: Close is safe to call twice.
func TestDBCloseTwice(t *testing.T) {
	db, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
