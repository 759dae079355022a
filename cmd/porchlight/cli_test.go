package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	if os.Getenv(fakeBrowserEnv) != "" {
		os.Exit(fakeBrowser(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "porchlight-cli-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "porchlight")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build porchlight: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func TestInputErrorsExitTwo(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad location", []string{"--data", data, "init", "--location", "40.7,north"}, "LAT,LON"},
		{"bad neighborhood", []string{"--data", data, "init", "--neighborhood", "Maple St"}, "neighborhood"},
		{"empty post", []string{"--data", data, "post", "  "}, "empty post"},
		{"unknown kind", []string{"--data", data, "post", "hi", "--kind", "rumor"}, "unknown kind"},
		{"bad post location", []string{"--data", data, "post", "hi", "--location", "200,0"}, "latitude"},
		{"unknown flag", []string{"--data", data, "feed", "--colour"}, "unknown flag"},
		{"bad log level", []string{"--data", data, "--log-level", "loud", "run"}, "log-level"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := cli(t, c.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("stderr %q: want one line mentioning %q", stderr, c.want)
			}
		})
	}
}

func TestNoNodeRunning(t *testing.T) {
	data := t.TempDir()
	for _, cmd := range []string{"feed", "peers", "status"} {
		_, stderr, code := cli(t, "--data", data, cmd)
		if code != 1 || !strings.Contains(stderr, "no node is running") || !strings.Contains(stderr, "porchlight --data "+data+" run") {
			t.Errorf("%s without a node: exit %d, stderr %q", cmd, code, stderr)
		}
	}
}

// TestRunPostFeedStop runs a real node process on an empty data dir (run
// initializes it), posts through the CLI, reads the feed and status as JSON,
// and stops it with SIGTERM.
func TestRunPostFeedStop(t *testing.T) {
	data := filepath.Join(t.TempDir(), "node")
	if _, _, code := cli(t, "--data", data, "init", "--name", "12 Maple St", "--neighborhood", "maple-st",
		"--location", "40.7128,-74.0060", "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init exit %d", code)
	}
	if _, stderr, code := cli(t, "--data", data, "init"); code == 0 || !strings.Contains(stderr, "already has an identity") {
		t.Fatalf("second init: exit %d, %q", code, stderr)
	}
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns")
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	defer func() {
		if run.ProcessState == nil {
			run.Process.Kill()
			<-done
		}
	}()

	status := waitStatus(t, data, &logs)
	for _, k := range []string{"peer_id", "name", "neighborhood", "api", "peers"} {
		if _, ok := status[k]; !ok {
			t.Errorf("status --json lacks %q: %v", k, status)
		}
	}
	if status["name"] != "12 Maple St" || status["neighborhood"] != "maple-st" {
		t.Errorf("status = %v", status)
	}

	out, stderr, code := cli(t, "--data", data, "post", "Lost grey cat near the park", "--kind", "lost-found")
	if code != 0 {
		t.Fatalf("post: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	if len(id) != 64 {
		t.Fatalf("post printed %q, want the 64-hex post ID last", out)
	}
	out, _, _ = cli(t, "--data", data, "feed", "--json")
	var feed []map[string]any
	if err := json.Unmarshal([]byte(out), &feed); err != nil {
		t.Fatalf("feed --json: %v in %q", err, out)
	}
	if len(feed) != 1 || feed[0]["id"] != id || feed[0]["author"] != status["peer_id"] || feed[0]["author_name"] != "12 Maple St" ||
		feed[0]["kind"] != "lost-found" || feed[0]["text"] != "Lost grey cat near the park" {
		t.Fatalf("feed = %v", feed)
	}
	if _, err := time.Parse(time.RFC3339, feed[0]["created"].(string)); err != nil {
		t.Errorf("created is not RFC 3339: %v", feed[0]["created"])
	}
	out, _, _ = cli(t, "--data", data, "feed")
	if !strings.Contains(out, "Lost grey cat") || !strings.Contains(out, "12 Maple St") {
		t.Errorf("feed table = %q", out)
	}
	// A full page says how to see the older posts; a bad cursor is the
	// node's 400.
	if _, stderr, code := cli(t, "--data", data, "post", "Found the cat"); code != 0 {
		t.Fatalf("second post: exit %d, %s", code, stderr)
	}
	out, stderr, _ = cli(t, "--data", data, "feed", "--limit", "1")
	_, more, ok := strings.Cut(strings.TrimSpace(stderr), "older posts: porchlight feed --limit 1 --before ")
	if !strings.Contains(out, "Found the cat") || !ok || more == "" {
		t.Fatalf("feed --limit 1: %q, stderr %q", out, stderr)
	}
	out, stderr, _ = cli(t, "--data", data, "feed", "--limit", "1", "--before", more)
	if !strings.Contains(out, "Lost grey cat") || strings.Contains(out, "Found the cat") || !strings.Contains(stderr, "older posts") {
		t.Fatalf("feed --before %s: %q, stderr %q", more, out, stderr)
	}
	if _, stderr, code := cli(t, "--data", data, "feed", "--before", "yesterday"); code == 0 || !strings.Contains(stderr, "not a feed cursor") {
		t.Errorf("feed --before yesterday: exit %d, %q", code, stderr)
	}
	clip := "../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4"
	out, stderr, code = cli(t, "--data", data, "clips", "import", clip)
	if code != 0 || len(lastLine(out)) != 64 {
		t.Fatalf("clips import: exit %d, %q %q", code, out, stderr)
	}
	clipID := lastLine(out)
	out, _, _ = cli(t, "--data", data, "clips", "ls", "--json")
	var cl []map[string]any
	if err := json.Unmarshal([]byte(out), &cl); err != nil || len(cl) != 1 {
		t.Fatalf("clips ls --json: %v %q", err, out)
	}
	for _, k := range []string{"id", "camera", "start", "end", "size", "sha256", "expires", "hold"} {
		if _, ok := cl[0][k]; !ok {
			t.Errorf("clips ls --json lacks %q", k)
		}
	}
	if cl[0]["id"] != clipID || cl[0]["camera"] != "front-door" || cl[0]["start"] != "2026-11-27T19:42:10Z" || cl[0]["hold"] != false {
		t.Errorf("clip = %v", cl[0])
	}
	empty := filepath.Join(t.TempDir(), "empty.mp4")
	os.WriteFile(empty, nil, 0o600)
	if _, stderr, code := cli(t, "--data", data, "clips", "import", empty); code != 2 || !strings.Contains(stderr, "empty") {
		t.Errorf("clips import of an empty file: exit %d, %q", code, stderr)
	}
	out, _, code = cli(t, "--data", data, "ui", "--print")
	if code != 0 || !strings.Contains(out, "/login?code=") {
		t.Errorf("ui --print: exit %d, %q", code, out)
	}
	out, _, _ = cli(t, "--data", data, "peers", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("peers --json alone = %q, want []", out)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run exited with %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("run did not stop within 15s of SIGTERM; logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), mustRead(t, filepath.Join(data, "api.token"))) {
		t.Fatal("the API token appears in the node's log")
	}
}

func TestRunInitializesEmptyDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "fresh")
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns", "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0")
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, code := cli(t, "--data", data, "status", "--json")
		if code == 0 && strings.Contains(out, `"neighborhood": "default"`) {
			break
		}
		if time.Now().After(deadline) {
			run.Process.Kill()
			<-done
			t.Fatalf("node on an empty dir never answered; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	run.Process.Signal(syscall.SIGINT)
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "initialized a new data directory") {
		t.Errorf("run did not say it initialized the directory; logs:\n%s", logs.String())
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// waitStatus polls `status --json` on data until the node answers (30 s),
// failing with the node's logs.
func waitStatus(t *testing.T, data string, logs *bytes.Buffer) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, code := cli(t, "--data", data, "status", "--json")
		var st map[string]any
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("node in %s never answered; logs:\n%s", data, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
