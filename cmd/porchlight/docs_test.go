package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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

// TestListenHelp: init's and join's --listen help name the mesh's default
// listeners, QUIC included (hole punching over UDP needs it).
func TestListenHelp(t *testing.T) {
	root := newRootCmd()
	for _, name := range []string{"init", "join"} {
		c, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup("listen")
		if f == nil {
			t.Fatalf("%s has no --listen", name)
		}
		for _, a := range []string{"/ip4/0.0.0.0/tcp/7781", "/ip6/::/tcp/7781", "/ip4/0.0.0.0/udp/7781/quic-v1", "/ip6/::/udp/7781/quic-v1"} {
			if !strings.Contains(f.Usage, a) {
				t.Errorf("%s --listen help %q lacks the default %s", name, f.Usage, a)
			}
		}
	}
}
