package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runNode starts `porchlight run` on data (initializing it) and returns its
// status once it answers; the process is stopped at cleanup.
func runNode(t *testing.T, data, name string, extra ...string) map[string]any {
	t.Helper()
	status, _ := runStoppable(t, data, name, extra...)
	return status
}

// runStoppable is runNode that also returns a stop func (SIGTERM, then
// wait; safe to call again at cleanup).
func runStoppable(t *testing.T, data, name string, extra ...string) (map[string]any, func()) {
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
	var once sync.Once
	stop := func() {
		once.Do(func() {
			run.Process.Signal(syscall.SIGTERM)
			<-done
		})
	}
	t.Cleanup(stop)
	return waitStatus(t, data, &logs), stop
}

// TestFetchFromOfflineOwner: `clips fetch` from an owner whose node is
// offline prints why, naming the owner, and what to do; it leaves no file.
func TestFetchFromOfflineOwner(t *testing.T) {
	dir := t.TempDir()
	ownerData, neighborData := filepath.Join(dir, "owner"), filepath.Join(dir, "neighbor")
	owner, stopOwner := runStoppable(t, ownerData, "12 Maple St")
	neighbor := runNode(t, neighborData, "14 Maple St", "--peer", owner["addrs"].([]any)[0].(string))
	out, stderr, code := cli(t, "--data", ownerData, "clips", "import", "../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	clip := lastLine(out)
	// Share once the neighbor is connected, so the grant is delivered now.
	for deadline := time.Now().Add(20 * time.Second); waitStatus(t, ownerData, &bytes.Buffer{})["peers"] == 0.0; {
		if time.Now().After(deadline) {
			t.Fatal("the neighbor did not connect within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, stderr, code := cli(t, "--data", ownerData, "share", "--to", neighbor["peer_id"].(string), "--clips", clip, "--yes"); code != 0 {
		t.Fatalf("share: %s", stderr)
	}
	// The neighbor names the owner from its profile record, which reaches
	// it by sync after the handshake: wait for the name before the owner
	// goes (on a busy machine the owner could stop first).
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(mustCLI(t, "--data", neighborData, "peers", "--json"), `"12 Maple St"`); {
		if time.Now().After(deadline) {
			t.Fatal("the neighbor did not learn the owner's name within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopOwner()
	dst := filepath.Join(dir, "x.mp4")
	_, stderr, code = cli(t, "--data", neighborData, "clips", "fetch", "--from", owner["peer_id"].(string), "--clip", clip, "--out", dst)
	const want = "12 Maple St is not reachable now (not connected, no relayed path): try again when it is online"
	if code == 0 || !strings.Contains(stderr, want) {
		t.Fatalf("fetch from an offline owner: exit %d, %q; want %q", code, stderr, want)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatal("a failed fetch left an output file")
	}
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

// mustCLI runs the CLI and returns its output, failing the test if it
// exits non-zero.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("porchlight %v: exit %d: %s", args, code, stderr)
	}
	return out
}
