package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeBrowserEnv names a directory: set, the test binary is a browser that
// records its command line and the page it was given there, then submits
// the page's login form as a browser would.
const fakeBrowserEnv = "PORCHLIGHT_TEST_BROWSER"

// browserRecord is what the fake browser saw.
type browserRecord struct {
	Argv     []string
	Page     string
	PageMode os.FileMode
	DirMode  os.FileMode
	Status   int // of the form's POST
	Cookie   bool
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	formCode   = regexp.MustCompile(`name="code" value="([^"]+)"`)
)

func fakeBrowser(args []string) int {
	dir := os.Getenv(fakeBrowserEnv)
	rec := browserRecord{Argv: append([]string{os.Args[0]}, args...)}
	defer func() {
		b, _ := json.Marshal(rec)
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("browser-%d.json", os.Getpid())), b, 0o600)
	}()
	if len(args) != 1 {
		return 1
	}
	if fi, err := os.Stat(args[0]); err == nil {
		rec.PageMode = fi.Mode().Perm()
	}
	if fi, err := os.Stat(filepath.Dir(args[0])); err == nil {
		rec.DirMode = fi.Mode().Perm()
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return 1
	}
	rec.Page = string(b)
	action, code := formAction.FindStringSubmatch(rec.Page), formCode.FindStringSubmatch(rec.Page)
	if action == nil || code == nil {
		return 1
	}
	req, _ := http.NewRequest("POST", action[1], strings.NewReader(url.Values{"code": {code[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null") // a file: page
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 1
	}
	resp.Body.Close()
	rec.Status, rec.Cookie = resp.StatusCode, len(resp.Cookies()) > 0
	return 0
}

// fakeBrowserEnviron makes `porchlight ui` start the fake browser, as
// $BROWSER and as the xdg-open first on $PATH, recording in a new directory.
func fakeBrowserEnviron(t *testing.T) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "xdg-open")); err != nil {
		t.Fatal(err)
	}
	return []string{fakeBrowserEnv + "=" + t.TempDir(), "BROWSER=" + self, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
}

func browserRecords(t *testing.T, dir string) []browserRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "browser-*.json"))
	var out []browserRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r browserRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// startNode initializes and runs a node in a new data directory, stopped
// when the test ends.
func startNode(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "node")
	if _, stderr, code := cli(t, "--data", data, "init", "--name", "Test Home", "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init exit %d: %s", code, stderr)
	}
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns")
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		_ = run.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = run.Process.Kill()
			<-done
		}
	})
	waitStatus(t, data, &logs)
	return data
}

// TestLoginCodeNeverOnCommandLine: `porchlight ui` hands the browser a
// private page, not a link: no command line (readable by every local user in
// /proc) carries the code; the page is mode 0600 in a 0700 directory; the
// code works once; the page is deleted once it is used.
func TestLoginCodeNeverOnCommandLine(t *testing.T) {
	data := startNode(t)
	env := fakeBrowserEnviron(t)
	rec := strings.TrimPrefix(env[0], fakeBrowserEnv+"=")
	cmd := exec.Command(binary, "--data", data, "ui")
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ui: %v; stdout %q stderr %q", err, out.String(), errb.String())
	}
	rs := browserRecords(t, rec)
	for deadline := time.Now().Add(10 * time.Second); len(rs) == 0 && time.Now().Before(deadline); rs = browserRecords(t, rec) {
		time.Sleep(50 * time.Millisecond) // a browser ui did not wait for
	}
	if len(rs) != 1 {
		t.Fatalf("the browser was started %d times; stdout %q stderr %q", len(rs), out.String(), errb.String())
	}
	r := rs[0]
	argv := strings.Join(r.Argv, " ")
	if strings.Contains(argv, "code=") {
		t.Fatalf("the browser's command line carries the code: %q", argv)
	}
	code := formCode.FindStringSubmatch(r.Page)
	if code == nil {
		t.Fatalf("the page has no code: %q", r.Page)
	}
	if strings.Contains(argv, code[1]) {
		t.Errorf("the browser's command line carries the code: %q", argv)
	}
	if strings.Contains(out.String()+errb.String(), code[1]) {
		t.Errorf("ui printed the code: %q %q", out.String(), errb.String())
	}
	if r.PageMode != 0o600 || r.DirMode != 0o700 {
		t.Errorf("login page mode %o in a directory of mode %o, want 600 in 700", r.PageMode, r.DirMode)
	}
	if r.Status != 200 || !r.Cookie {
		t.Errorf("the page's form: %d, cookie %v; want 200 with a session cookie", r.Status, r.Cookie)
	}
	if !strings.Contains(out.String(), "Logged in") {
		t.Errorf("ui said %q", out.String())
	}
	if _, err := os.Stat(r.Argv[len(r.Argv)-1]); !os.IsNotExist(err) {
		t.Errorf("the login page is still there (%v)", err)
	}
	// The code worked once.
	action := formAction.FindStringSubmatch(r.Page)
	resp, err := http.PostForm(action[1], url.Values{"code": {code[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("second use of the code: %d, want 403", resp.StatusCode)
	}
	// --print is the explicit way to get a link, with a warning.
	stdout, stderr, exit := cli(t, "--data", data, "ui", "--print")
	if exit != 0 || !strings.Contains(stdout, "/login?code=") || !strings.Contains(stderr, "warning") {
		t.Errorf("ui --print: exit %d, %q, %q", exit, stdout, stderr)
	}
}

// TestUIWithoutBrowserPrintsNoLink: with no browser to start, ui says how to
// get a link instead of printing one unasked.
func TestUIWithoutBrowserPrintsNoLink(t *testing.T) {
	data := startNode(t)
	cmd := exec.Command(binary, "--data", data, "ui")
	cmd.Env = append(os.Environ(), "BROWSER=", "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "code=") || !strings.Contains(string(out), "--print") {
		t.Errorf("ui without a browser: %v, %q", err, out)
	}
}
