//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the test writes the answers to the
// controller side, the command reads the terminal side as its stdin.
func openPTY(t *testing.T) (ctrl, term *os.File) {
	t.Helper()
	ctrl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	fd := int(ctrl.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		term.Close()
		ctrl.Close()
	})
	return ctrl, term
}

// postOnTTY runs `post` with a terminal as stdin, answering answer to the
// prompt, and returns stdout, stderr and the exit code.
func postOnTTY(t *testing.T, answer string, args ...string) (string, string, int) {
	t.Helper()
	ctrl, term := openPTY(t)
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term, &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The terminal buffers the line until the command reads it.
	if _, err := ctrl.Write([]byte(answer + "\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("post on a terminal did not end; stderr %q", errb.String())
	}
	return "", "", 0
}

// TestPostDescriptionPrompt: `post --kind safety` describing someone by
// race alone explains why it asks for more; on a terminal it posts only if
// the author says so, without one it warns and posts, and --yes skips the
// check. Other posts are not prompted.
func TestPostDescriptionPrompt(t *testing.T) {
	data := filepath.Join(t.TempDir(), "home")
	runNode(t, data, "12 Maple St")
	const raceOnly = "Black man on Elm St just now"
	feedTexts := func() []string {
		out, stderr, code := cli(t, "--data", data, "feed", "--json")
		if code != 0 {
			t.Fatalf("feed: %s", stderr)
		}
		var posts []struct{ Text string }
		if err := json.Unmarshal([]byte(out), &posts); err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, p := range posts {
			texts = append(texts, p.Text)
		}
		return texts
	}
	count := func(text string) int {
		n := 0
		for _, s := range feedTexts() {
			if s == text {
				n++
			}
		}
		return n
	}

	// On a terminal, answering no: explained, nothing posted.
	out, stderr, code := postOnTTY(t, "n", "--data", data, "post", "--kind", "safety", raceOnly)
	if code != 0 || out != "" || !strings.Contains(stderr, "can make innocent people suspects") ||
		!strings.Contains(stderr, "You could add: clothing, hair, build, age range, vehicle, behavior") ||
		!strings.Contains(stderr, "Post anyway? [y/N]") || !strings.Contains(stderr, "Not posted") {
		t.Fatalf("answer no: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if n := count(raceOnly); n != 0 {
		t.Fatalf("answered no, yet %d posts", n)
	}
	// Answering yes: posted.
	out, stderr, code = postOnTTY(t, "y", "--data", data, "post", "--kind", "safety", raceOnly)
	if code != 0 || len(strings.TrimSpace(out)) != 64 || !strings.Contains(stderr, "Post anyway?") {
		t.Fatalf("answer yes: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// Without a terminal (a script): the warning on stderr, and the post.
	out, stderr, code = cli(t, "--data", data, "post", "--kind", "safety", raceOnly+" (2)")
	if code != 0 || len(strings.TrimSpace(out)) != 64 || !strings.Contains(stderr, "can make innocent people suspects") || !strings.Contains(stderr, "Posting anyway") {
		t.Fatalf("no terminal: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// --yes: no check at all.
	out, stderr, code = cli(t, "--data", data, "post", "--kind", "safety", "--yes", raceOnly+" (3)")
	if code != 0 || len(strings.TrimSpace(out)) != 64 || stderr != "" {
		t.Fatalf("--yes: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// A full description, or another kind: no prompt, even on a terminal.
	for _, args := range [][]string{
		{"--kind", "safety", "Black man in a grey hoodie trying car doors on Elm St"},
		{"--kind", "general", raceOnly + " (4)"},
	} {
		out, stderr, code = postOnTTY(t, "", append([]string{"--data", data, "post"}, args...)...)
		if code != 0 || len(strings.TrimSpace(out)) != 64 || stderr != "" {
			t.Fatalf("post %q: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
	if n := count(raceOnly); n != 1 {
		t.Fatalf("%d posts of %q, want the 1 answered yes", n, raceOnly)
	}
}
