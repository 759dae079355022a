package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAgencyNeighborhoods: `agency neighborhoods` lists the node's own
// neighborhood and the [[serve]] ones of config.toml, as a table and as
// JSON.
func TestAgencyNeighborhoods(t *testing.T) {
	data := filepath.Join(t.TempDir(), "agency")
	if _, stderr, code := cli(t, "--data", data, "init", "--name", "Springfield PD", "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	f, err := os.OpenFile(filepath.Join(data, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n[[serve]]\nneighborhood = \"oak-st\"\n\n[[serve]]\nneighborhood = \"elm-st\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns")
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		run.Process.Signal(syscall.SIGTERM)
		<-done
	})
	waitStatus(t, data, &logs)

	out, stderr, code := cli(t, "--data", data, "agency", "neighborhoods", "--json")
	if code != 0 {
		t.Fatalf("agency neighborhoods --json: %d %s", code, stderr)
	}
	var got []struct {
		Neighborhood string   `json:"neighborhood"`
		Home         bool     `json:"home"`
		Peers        []string `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(got) != 3 || got[0].Neighborhood != "maple-st" || !got[0].Home ||
		got[1].Neighborhood != "oak-st" || got[1].Home || got[2].Neighborhood != "elm-st" || got[1].Peers == nil {
		t.Fatalf("agency neighborhoods --json = %s", out)
	}
	out, stderr, code = cli(t, "--data", data, "agency", "neighborhoods")
	if code != 0 {
		t.Fatalf("agency neighborhoods: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NEIGHBORHOOD") || !strings.Contains(lines[1], "home") || !strings.Contains(lines[2], "requests") {
		t.Fatalf("agency neighborhoods:\n%s", out)
	}
}
