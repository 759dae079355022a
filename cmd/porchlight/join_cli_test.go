package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJoinAndFoundFromTheCLI: init --found founds an invite-only
// neighborhood; join refuses a garbled or tampered invite with one line,
// exit 2, and creates nothing; neighborhood charter adopts an open one.
func TestJoinAndFoundFromTheCLI(t *testing.T) {
	founder := filepath.Join(t.TempDir(), "a")
	out, stderr, code := cli(t, "--data", founder, "init", "--name", "12 Maple St", "--found", "Maple St")
	if code != 0 || !strings.Contains(out, "founded the invite-only neighborhood") {
		t.Fatalf("init --found: %d %q %q", code, out, stderr)
	}
	cfg := mustRead(t, filepath.Join(founder, "config.toml"))
	if !strings.Contains(cfg, "charter = ") || !strings.Contains(cfg, "neighborhood = 'nb") {
		t.Errorf("founder's config:\n%s", cfg)
	}
	if _, _, code := cli(t, "--data", filepath.Join(t.TempDir(), "x"), "init", "--found", "Maple St", "--neighborhood", "maple-st"); code != 2 {
		t.Errorf("init --found with --neighborhood: exit %d, want 2", code)
	}

	for _, inv := range []string{"porchlight:zzzz", "hello", "porchlight:" + strings.Repeat("a", 5000)} {
		dir := filepath.Join(t.TempDir(), "b")
		_, stderr, code := cli(t, "--data", dir, "join", inv, "--name", "14 Maple St")
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "invite") {
			t.Errorf("join %.20q: exit %d, stderr %q; want 2 and one line about the invite", inv, code, stderr)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused join created %s", dir)
		}
	}

	open := filepath.Join(t.TempDir(), "o")
	if _, stderr, code := cli(t, "--data", open, "init", "--neighborhood", "maple-st"); code != 0 {
		t.Fatalf("init open: %d %q", code, stderr)
	}
	out, stderr, code = cli(t, "--data", open, "neighborhood", "charter", "--name", "Maple St")
	if code != 0 || !strings.Contains(out, "invite-only") {
		t.Fatalf("neighborhood charter: %d %q %q", code, out, stderr)
	}
	if cfg := mustRead(t, filepath.Join(open, "config.toml")); !strings.Contains(cfg, "neighborhood = 'maple-st'") || !strings.Contains(cfg, "charter = ") {
		t.Errorf("adopted config:\n%s", cfg)
	}
	if _, _, code := cli(t, "--data", open, "neighborhood", "charter"); code == 0 {
		t.Error("a second charter was adopted")
	}
}
