package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/porchlight-mesh/porchlight/internal/testcert"
)

// TestRunAPIAllowRemote: `run` refuses a non-loopback API address without
// --api-allow-remote, and with it but without TLS; with a certificate the
// node serves HTTPS, warns in its log, and the CLI still works, doctor
// included (it pins the certificate the node wrote to the data directory).
func TestRunAPIAllowRemote(t *testing.T) {
	data := filepath.Join(t.TempDir(), "node")
	if _, _, code := cli(t, "--data", data, "init", "--name", "12 Maple St", "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init exit %d", code)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--api", "0.0.0.0:0"}, "--api-allow-remote"},
		{[]string{"--api", "0.0.0.0:0", "--api-allow-remote"}, "needs TLS"},
	} {
		_, stderr, code := cli(t, append([]string{"--data", data, "run", "--no-mdns"}, c.args...)...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("run %v: exit %d, stderr %q; want a refusal mentioning %q", c.args, code, stderr, c.want)
		}
	}

	cert, key := testcert.Write(t, net.ParseIP("192.0.2.7"))
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns", "--api", "0.0.0.0:0", "--api-allow-remote", "--api-tls-cert", cert, "--api-tls-key", key)
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
	if api, _ := status["api"].(string); !strings.HasPrefix(api, "https://") {
		t.Errorf("status api = %q, want https://", api)
	}
	out, _, code := cli(t, "--data", data, "ui", "--print")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "https://") {
		t.Errorf("ui --print: exit %d, %q; want an https link", code, out)
	}
	// doctor reaches the HTTPS API through the pinned certificate too.
	if out, _, _ := cli(t, "--data", data, "doctor"); !strings.HasPrefix(doctorLine(out, "API"), "OK") || !strings.Contains(doctorLine(out, "API"), "https://") {
		t.Errorf("doctor on an HTTPS API: %q", doctorLine(out, "API"))
	}
	if !strings.Contains(logs.String(), "accepts connections from other computers") {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
	tok, _ := os.ReadFile(filepath.Join(data, "api.token"))
	if strings.Contains(logs.String(), strings.TrimSpace(string(tok))) {
		t.Error("the log carries the API token")
	}
	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run exited with %v; logs:\n%s", err, logs.String())
	}
	if _, err := os.Stat(filepath.Join(data, "api.crt")); !os.IsNotExist(err) {
		t.Errorf("api.crt left behind after stop: %v", err)
	}
}
