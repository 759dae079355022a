package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to write from a process's copier and
// read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watcher is a running `porchlight watch`: its stdout lines arrive on
// lines.
type watcher struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{} // closed when the process ended
	err    error         // its Wait error, once done is closed
}

func startWatch(t *testing.T, args ...string) *watcher {
	t.Helper()
	w := &watcher{cmd: exec.Command(binary, args...), lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan struct{})}
	w.cmd.Stderr = w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// postUntilSeen posts text (again every 3 s: the watcher may not have
// subscribed yet) until every watcher printed a line containing want.
func postUntilSeen(t *testing.T, data, text string, want func(string) bool, ws ...*watcher) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	seen := make([]bool, len(ws))
	for time.Now().Before(deadline) {
		if _, stderr, code := cli(t, "--data", data, "post", text); code != 0 {
			t.Fatalf("post: %s", stderr)
		}
		again := time.After(3 * time.Second)
	wait:
		for {
			all := true
			for i, w := range ws {
				if seen[i] {
					continue
				}
				all = false
				select {
				case l, ok := <-w.lines:
					if !ok {
						t.Fatalf("watch %v ended; stderr %q", w.cmd.Args, w.stderr.String())
					}
					if want(l) {
						seen[i] = true
					}
					continue wait
				default:
				}
			}
			if all {
				return
			}
			select {
			case <-again:
				break wait
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	t.Fatalf("no watcher line for the post within 30 s (seen %v)", seen)
}

// TestWatch: `watch` and `watch --json` print the node's events one line
// each, say on stderr when the node goes away, reconnect when it is back
// (on another API port), and end cleanly on Ctrl-C (SIGINT, exit 0).
func TestWatch(t *testing.T) {
	data := filepath.Join(t.TempDir(), "home")
	_, stop := runStoppable(t, data, "12 Maple St")
	text := startWatch(t, "--data", data, "watch")
	js := startWatch(t, "--data", data, "watch", "--json")

	isPost := func(l string) bool {
		var ev struct {
			Time time.Time
			Type string
			Data map[string]any
		}
		if strings.HasPrefix(l, "{") {
			return json.Unmarshal([]byte(l), &ev) == nil && ev.Type == "post" && ev.Data["id"] != nil && !ev.Time.IsZero()
		}
		f := strings.Fields(l)
		return len(f) >= 3 && f[1] == "post" && strings.Contains(l, " id=") && strings.Contains(l, "author=")
	}
	postUntilSeen(t, data, "Street party Saturday", isPost, text, js)

	// The node stops: both say so and keep trying.
	stop()
	for _, w := range []*watcher{text, js} {
		waitFor(t, "watch saying it lost the node", func() bool { return strings.Contains(w.stderr.String(), "reconnecting") })
		select {
		case <-w.done:
			t.Fatalf("watch ended when the node stopped: %s", w.stderr.String())
		default:
		}
	}
	// Back, on a new port (api = 127.0.0.1:0): both reconnect.
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns")
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	t.Cleanup(func() {
		run.Process.Signal(syscall.SIGTERM)
		<-runDone
	})
	waitStatus(t, data, &logs)
	for _, w := range []*watcher{text, js} {
		waitFor(t, "watch reconnecting", func() bool { return strings.Contains(w.stderr.String(), "reconnected") })
	}
	postUntilSeen(t, data, "Street party moved to Sunday", isPost, text, js)

	// Ctrl-C: a clean end, exit 0, nothing more on stderr than the notes.
	for _, w := range []*watcher{text, js} {
		w.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-w.done:
			if w.err != nil {
				t.Fatalf("watch after Ctrl-C: %v; stderr %q", w.err, w.stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not end within 10 s of Ctrl-C")
		}
		if strings.Contains(w.stderr.String(), "porchlight: context") || strings.Contains(w.stderr.String(), "Error") {
			t.Fatalf("watch stderr after Ctrl-C: %q", w.stderr.String())
		}
	}
}

// TestWatchWithoutNode: with no node running, watch fails at once and says
// how to start one, instead of waiting silently.
func TestWatchWithoutNode(t *testing.T) {
	data := t.TempDir()
	_, stderr, code := cli(t, "--data", data, "watch")
	if code != 1 || !strings.Contains(stderr, "no node is running") {
		t.Fatalf("watch without a node: exit %d, %q", code, stderr)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
