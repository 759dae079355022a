package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	out, stderr, code := cli(t, "version")
	if code != 0 {
		t.Fatalf("version: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"porchlight ", "commit ", "go         " + runtime.Version(), "github.com/porchlight-mesh/porchlight"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = cli(t, "version", "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 {
		t.Fatalf("version --json: exit %d, %v in %q", code, err, out)
	}
	if v["module"] != "github.com/porchlight-mesh/porchlight" || v["go_version"] != runtime.Version() ||
		v["platform"] != runtime.GOOS+"/"+runtime.GOARCH || v["version"] == "" {
		t.Errorf("version --json = %v", v)
	}
	// A build from a git clone carries the commit (a worktree or
	// -buildvcs=false build does not, and says so).
	if c, ok := v["commit"].(string); ok && !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(c) {
		t.Errorf("commit %q is not a git revision", c)
	}
	if _, _, code := cli(t, "version", "extra"); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}

func TestCompletion(t *testing.T) {
	bash, _ := exec.LookPath("bash")
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, stderr, code := cli(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "porchlight") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), stderr)
			continue
		}
		if shell == "bash" && bash != "" {
			f := filepath.Join(t.TempDir(), "porchlight.bash")
			os.WriteFile(f, []byte(out), 0o600)
			if b, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("bash -n on the completion script: %v\n%s", err, b)
			}
		}
	}
	// What the scripts call: the commands that start with "d".
	out, _, code := cli(t, "__complete", "d")
	if code != 0 || !strings.Contains(out, "demo") || !strings.Contains(out, "doctor") {
		t.Errorf("__complete d: exit %d, %q", code, out)
	}
	if _, stderr, code := cli(t, "completion", "tcsh"); code == 0 {
		t.Errorf("completion tcsh: exit 0, want an error (%q)", stderr)
	}
}

// doctorLine finds the doctor's line for check name.
func doctorLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 19 && strings.TrimSpace(l[6:19]) == name {
			return l
		}
	}
	return ""
}

func initNode(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "node")
	if _, stderr, code := cli(t, "--data", data, "init", "--name", "12 Maple St", "--neighborhood", "maple-st",
		"--location", "40.7128,-74.0060", "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init: exit %d, %s", code, stderr)
	}
	return data
}

func TestDoctorOffline(t *testing.T) {
	data := initNode(t)
	out, stderr, code := cli(t, "--data", data, "doctor", "--iface", "lo")
	if code != 0 {
		t.Fatalf("doctor on a fresh data dir: exit %d\n%s%s", code, out, stderr)
	}
	for name, status := range map[string]string{"data dir": "OK", "identity key": "OK", "API token": "OK", "API": "WARN", "clock": "WARN"} {
		if l := doctorLine(out, name); !strings.HasPrefix(l, status) {
			t.Errorf("%s: line %q, want %s\n%s", name, l, status, out)
		}
	}
	if !strings.Contains(out, "fix: porchlight --data "+data+" run") {
		t.Errorf("the API warning does not say how to start the node:\n%s", out)
	}
	if !strings.Contains(out, "multicast lo") || !strings.Contains(out, "fix: give static peers") {
		t.Errorf("multicast on lo (no MULTICAST flag) not reported with a fix:\n%s", out)
	}
	out, _, _ = cli(t, "--data", data, "doctor", "--iface", "lo", "--json")
	var rs []map[string]string
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) < 6 {
		t.Fatalf("doctor --json: %v, %q", err, out)
	}

	cases := []struct {
		name  string
		spoil func(t *testing.T, data string)
		check string
		want  string
	}{
		{"key readable by others", func(t *testing.T, data string) {
			os.Chmod(filepath.Join(data, "identity.key"), 0o644)
		}, "identity key", "fix: chmod 600 /"},
		{"token readable by others", func(t *testing.T, data string) {
			os.Chmod(filepath.Join(data, "api.token"), 0o640)
		}, "API token", "chmod 600"},
		{"config does not parse", func(t *testing.T, data string) {
			os.WriteFile(filepath.Join(data, "config.toml"), []byte("name = \n"), 0o600)
		}, "config", "fix: edit"},
		{"data dir missing", func(t *testing.T, data string) { os.RemoveAll(data) }, "data dir", "init"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := initNode(t)
			c.spoil(t, data)
			out, stderr, code := cli(t, "--data", data, "doctor", "--iface", "lo")
			if code != 1 || !strings.Contains(stderr, "check(s) failed") {
				t.Errorf("exit %d, stderr %q; want 1 and a count of failures", code, stderr)
			}
			if l := doctorLine(out, c.check); !strings.HasPrefix(l, "FAIL") || !strings.Contains(out, c.want) {
				t.Errorf("want %s FAIL with %q:\n%s", c.check, c.want, out)
			}
		})
	}
	if _, stderr, code := cli(t, "--data", data, "doctor", "--iface", "nosuch0"); code != 2 || !strings.Contains(stderr, "no such network interface") {
		t.Errorf("doctor --iface nosuch0: exit %d, %q", code, stderr)
	}
}

// TestDoctorAndJSONLogsWithRunningNode runs a real node with --log-format
// json, checks that its log lines are JSON, that doctor finds its API, and
// that doctor fails on a wrong token and on a stale api.addr.
func TestDoctorAndJSONLogsWithRunningNode(t *testing.T) {
	data := initNode(t)
	if _, stderr, code := cli(t, "--data", data, "--log-format", "yaml", "run"); code != 2 || !strings.Contains(stderr, "--log-format") {
		t.Fatalf("--log-format yaml: exit %d, %q", code, stderr)
	}
	run := exec.Command(binary, "--data", data, "--log-format", "json", "run", "--no-mdns")
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		run.Process.Kill()
		run.Wait()
	}()
	select {
	case l := <-lines:
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if rec["msg"] != "node running" || rec["level"] != "INFO" || rec["peer_id"] == nil {
			t.Errorf("first log record = %v", rec)
		}
		token, _ := os.ReadFile(filepath.Join(data, "api.token"))
		if strings.Contains(l, strings.TrimSpace(string(token))) {
			t.Error("the log contains the API token")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no log line within 30s")
	}
	go func() {
		for range lines { // keep draining the log so the node never blocks on stderr
		}
	}()

	out, errOut, code := cli(t, "--data", data, "doctor", "--iface", "lo")
	if code != 0 || !strings.HasPrefix(doctorLine(out, "API"), "OK") || !strings.HasPrefix(doctorLine(out, "clock"), "OK") {
		t.Fatalf("doctor with a running node: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(doctorLine(out, "API"), "refuses requests without it") {
		t.Errorf("API line = %q", doctorLine(out, "API"))
	}

	tokPath := filepath.Join(data, "api.token")
	good, _ := os.ReadFile(tokPath)
	os.WriteFile(tokPath, []byte("0000\n"), 0o600)
	out, _, code = cli(t, "--data", data, "doctor", "--iface", "lo")
	if code != 1 || !strings.HasPrefix(doctorLine(out, "API"), "FAIL") || !strings.Contains(out, "refused this data dir's token") {
		t.Errorf("doctor with a wrong token: exit %d\n%s", code, out)
	}
	os.WriteFile(tokPath, good, 0o600)

	run.Process.Signal(syscall.SIGKILL) // leaves api.addr behind
	run.Wait()
	out, _, code = cli(t, "--data", data, "doctor", "--iface", "lo")
	if code != 1 || !strings.HasPrefix(doctorLine(out, "API"), "FAIL") || !strings.Contains(out, "stale api.addr") {
		t.Errorf("doctor after the node was killed: exit %d\n%s", code, out)
	}
}
