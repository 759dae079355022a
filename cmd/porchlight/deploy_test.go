package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks the hardening the unit promises, that it still
// allows what mDNS and libp2p need, and, where systemd-analyze exists, that
// systemd accepts it with this test's binary as ExecStart.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../deploy/porchlight.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"\nUser=porchlight\n", "\nStateDirectory=porchlight\n", "\nStateDirectoryMode=0700\n",
		"\nProtectSystem=strict\n", "\nProtectHome=yes\n", "\nNoNewPrivileges=yes\n", "\nCapabilityBoundingSet=\n",
		"\nPrivateTmp=yes\n", "\nPrivateDevices=yes\n", "\nMemoryDenyWriteExecute=yes\n",
		"\nRestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX\n",
		"\nExecStart=/usr/local/bin/porchlight --data /var/lib/porchlight run\n",
		"\nKillSignal=SIGTERM\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/porchlight.service lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(unit, "PrivateNetwork=yes") || strings.Contains(unit, "IPAddressDeny=any") {
		t.Error("the unit cuts the network off: mDNS and libp2p need the LAN")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: unit syntax not verified")
		return
	}
	f := filepath.Join(t.TempDir(), "porchlight.service")
	os.WriteFile(f, []byte(strings.ReplaceAll(unit, "/usr/local/bin/porchlight", binary)), 0o644)
	if out, err := exec.Command(analyze, "verify", f).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDockerfile checks the image is built static and runs as non-root with
// a data volume (no docker engine here to build it).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "./cmd/porchlight", "distroless/static", "USER 65532:65532", `VOLUME ["/data"]`, "ENV PORCHLIGHT_DATA=/data"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(df, "\nFROM ") < 2 {
		t.Error("Dockerfile is not multi-stage")
	}
}
