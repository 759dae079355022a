package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoDirRE finds the temporary directory the demo announces.
var demoDirRE = regexp.MustCompile(`under (\S+porchlight-demo-\d+)\.`)

// TestDemoExit runs `porchlight demo --exit` (the real binary: six homes
// on an invite-only street, an agency that is not a member, and a rogue
// agency) and checks that it exits 0, narrates every step, and leaves no
// data behind.
func TestDemoExit(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "demo", "--exit")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo --exit: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	t.Logf("demo --exit took %s", time.Since(began).Round(time.Millisecond))
	s := out.String()
	for _, want := range []struct {
		text  string
		count int
	}{
		{"Discovery: direct dialling on 127.0.0.1", 1},
		{`2 Maple St founds "Maple St", invite-only; the other homes join by invites: `, 1},
		{"12 Maple St invited by 6 Maple St (any member may invite)", 1},
		{"Springfield PD is not a member", 1},
		{"Every home lists the same 6 members and is connected to the 5 others and the agency", 1},
		{"all 6 have it in their feed", 1},
		{"Springfield PD, not a member, holds no record of any home's log", 1},
		{"Springfield PD asks for video: case 2026-1142", 1},
		{"covered: sees the request and 1 of its clips in the window", 3},
		{"not covered: sees the request in the public list only", 3},
		{"shares its clip with Springfield PD", 2},
		{"6 Maple St   declines: it does nothing", 1},
		{"6 Maple St's log is empty", 1},
		{": verified offline (", 2},
		{"Changing one byte of a bundle's video makes verification fail", 1},
		{"All 6 homes refused it at the handshake", 1},
		{"Public history of Springfield PD", 1},
		{"1 request(s): 0 open, 1 closed", 1},
		{"     yield: ", 1},
		{"Transparency report, as 12 Maple St computes it", 1},
		{": requests 1, ", 1},
		{"   ok (", 8},
		{"Every step held.", 1},
	} {
		if got := strings.Count(s, want.text); got != want.count {
			t.Errorf("narration has %q %d times, want %d", want.text, got, want.count)
		}
	}
	if strings.Contains(s, "FAILED") || strings.Contains(s, "login") {
		t.Errorf("narration of --exit mentions a failure or login links:\n%s", s)
	}
	m := demoDirRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("the demo did not say where its data is:\n%s", s)
	}
	if !strings.HasPrefix(m[1], tmp) {
		t.Errorf("demo data dir %s is not under TMPDIR %s", m[1], tmp)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("demo data dir %s still exists after exit (stat: %v)", m[1], err)
	}
	// Node warnings (e.g. a slow machine retrying a delivery) are not a
	// failure: every step's outcome is checked above.
	if errb.Len() != 0 {
		t.Logf("demo stderr:\n%s", errb.String())
	}
}

// TestDemoKeepsRunning runs the demo without --exit: it prints login links
// that really log a browser in, and Ctrl-C (SIGINT) stops it cleanly and
// removes its data.
func TestDemoKeepsRunning(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(binary, "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()

	var all strings.Builder
	var links []string
	dataDir := ""
	deadline := time.After(3 * time.Minute)
	for len(links) < 3 || !strings.Contains(all.String(), "Press Ctrl-C") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended early:\n%s\nstderr:\n%s", all.String(), errb.String())
			}
			all.WriteString(l + "\n")
			if m := demoDirRE.FindStringSubmatch(l); m != nil {
				dataDir = m[1]
			}
			if i := strings.Index(l, "http://127.0.0.1:"); i >= 0 && strings.Contains(l, "/login?") {
				links = append(links, l[i:])
			}
		case <-deadline:
			t.Fatalf("no login links within 3 minutes:\n%s", all.String())
		}
	}
	if n := len(regexp.MustCompile(`http://127\.0\.0\.1:\d+/#transparency`).FindAllString(all.String(), -1)); n != 3 {
		t.Errorf("%d Transparency page links, want one per UI:\n%s", n, all.String())
	}
	for _, want := range []string{"2 Maple St", "8 Maple St", "Springfield PD", "ui --print"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, all.String())
		}
	}
	// Each link logs a browser in once: a session cookie and a redirect.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, l := range links {
		resp, err := noRedirect.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
			t.Errorf("GET %s = %s with %d cookies, want 303 and a session cookie", l, resp.Status, len(resp.Cookies()))
		}
	}
	if dataDir == "" {
		t.Fatal("the demo did not say where its data is")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "2-maple-st", "identity.key")); err != nil {
		t.Errorf("a home's data dir is missing while the demo runs: %v", err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C: %v\nstderr:\n%s", err, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop within a minute of Ctrl-C")
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("demo data dir %s still exists after Ctrl-C (stat: %v)", dataDir, err)
	}
}
