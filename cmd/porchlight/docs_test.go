package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCLIDocsUpToDate fails when docs/cli differs from what the commands'
// own help renders: run `go generate ./cmd/porchlight`.
func TestCLIDocsUpToDate(t *testing.T) {
	want, err := cliDocs(newRootCmd())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "cli")
	have, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(have) != len(want) {
		t.Errorf("docs/cli has %d files, the commands render %d: run go generate ./cmd/porchlight", len(have), len(want))
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("docs/cli/%s is stale or missing (%v): run go generate ./cmd/porchlight", name, err)
		}
	}
	if _, ok := want["porchlight_demo.md"]; !ok {
		t.Error("the reference lacks the demo command")
	}
	if _, ok := want["porchlight_docs.md"]; ok {
		t.Error("the hidden docs command is in the reference")
	}
}
