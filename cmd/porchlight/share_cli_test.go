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

// runNode starts `porchlight run` on data (initializing it) and returns its
// status once it answers; the process is stopped at cleanup.
func runNode(t *testing.T, data, name string, extra ...string) map[string]any {
	t.Helper()
	if _, stderr, code := cli(t, "--data", data, "init", "--name", name, "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init %s: %s", name, stderr)
	}
	var logs bytes.Buffer
	run := exec.Command(binary, append([]string{"--data", data, "run", "--no-mdns"}, extra...)...)
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
	return waitStatus(t, data, &logs)
}

// TestShareWorkflow: import, share with a neighbor, the neighbor fetches
// (verified) to a file, grants, revoke, a refused fetch leaves no file, and
// the owner's audit log shows both attempts.
func TestShareWorkflow(t *testing.T) {
	dir := t.TempDir()
	ownerData, neighborData := filepath.Join(dir, "owner"), filepath.Join(dir, "neighbor")
	owner := runNode(t, ownerData, "owner")
	addr := owner["addrs"].([]any)[0].(string)
	neighbor := runNode(t, neighborData, "neighbor", "--peer", addr)

	clipFile := "../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4"
	out, stderr, code := cli(t, "--data", ownerData, "clips", "import", clipFile)
	if code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	clip := lastLine(out)
	other := filepath.Join(dir, "back-door-2026-11-27T19-50-00Z.mp4")
	b, _ := os.ReadFile(clipFile)
	os.WriteFile(other, append(b, 1), 0o600)
	out, _, _ = cli(t, "--data", ownerData, "clips", "import", other)
	clip2 := lastLine(out)

	// Without --yes, a "no" shares nothing.
	cmd := exec.Command(binary, "--data", ownerData, "share", "--to", neighbor["peer_id"].(string), "--clips", clip)
	cmd.Stdin = strings.NewReader("n\n")
	if o, _ := cmd.Output(); !strings.Contains(string(o), "nothing shared") || !strings.Contains(string(o), "front-door") {
		t.Fatalf("declined share printed %q", o)
	}
	out, stderr, code = cli(t, "--data", ownerData, "share", "--to", neighbor["peer_id"].(string), "--clips", clip+","+clip2, "--yes")
	if code != 0 {
		t.Fatalf("share: %s", stderr)
	}
	grant := lastLine(out)

	dst := filepath.Join(dir, "x.mp4")
	if _, stderr, code := cli(t, "--data", neighborData, "clips", "fetch", "--from", owner["peer_id"].(string), "--clip", clip, "--out", dst); code != 0 {
		t.Fatalf("fetch: %s", stderr)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, b) {
		t.Fatal("fetched file differs from the clip")
	}
	out, _, _ = cli(t, "--data", neighborData, "grants", "--json")
	if !strings.Contains(out, grant) {
		t.Fatalf("neighbor's grants lack %s: %s", grant, out)
	}
	if _, stderr, code := cli(t, "--data", ownerData, "grants", "revoke", grant); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	dst2 := filepath.Join(dir, "y.mp4")
	if _, stderr, code := cli(t, "--data", neighborData, "clips", "fetch", "--from", owner["peer_id"].(string), "--clip", clip2, "--out", dst2); code == 0 || !strings.Contains(stderr, "revoked") {
		t.Fatalf("fetch after revoke: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(dst2); !os.IsNotExist(err) {
		t.Fatal("a refused fetch left an output file")
	}
	out, _, _ = cli(t, "--data", ownerData, "audit", "--json")
	var log []map[string]any
	if err := json.Unmarshal([]byte(out), &log); err != nil || len(log) != 2 {
		t.Fatalf("audit --json: %v %q", err, out)
	}
	for _, k := range []string{"time", "peer", "clip", "served", "reason"} {
		if _, ok := log[0][k]; !ok {
			t.Errorf("audit entry lacks %q", k)
		}
	}
	if log[0]["served"] != false || log[1]["served"] != true || log[0]["peer"] != neighbor["peer_id"] {
		t.Fatalf("audit = %v", log)
	}
}
