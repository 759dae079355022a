package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
)

// TestDoctorMQTT: with [mqtt] configured and no node running, doctor
// connects to the broker itself and says what to fix.
func TestDoctorMQTT(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": "good-pw"}})
	data := initNode(t)
	f, err := os.OpenFile(filepath.Join(data, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[mqtt]\nurl = \"" + broker.URL + "\"\nusername = \"porchlight\"\npassword_file = \"mqtt.password\"\n")
	f.Close()
	pw := filepath.Join(data, "mqtt.password")
	doctor := func() (string, int) {
		out, _, code := cli(t, "--data", data, "doctor", "--iface", "lo")
		if strings.Contains(out, "good-pw") || strings.Contains(out, "bad-pw") {
			t.Fatalf("doctor shows the password:\n%s", out)
		}
		return out, code
	}
	for _, c := range []struct {
		name     string
		setup    func()
		want     string // the mqtt line's start
		contains string
		code     int
	}{
		{"right password", func() { os.WriteFile(pw, []byte("good-pw\n"), 0o600) }, "OK", "accepts this node's login", 0},
		{"wrong password", func() { os.WriteFile(pw, []byte("bad-pw\n"), 0o600) }, "FAIL", "fix: check [mqtt] username", 1},
		{"password file readable by others", func() { os.Chmod(pw, 0o644) }, "FAIL", "fix: chmod 600", 1},
		{"broker down", func() { os.Chmod(pw, 0o600); os.WriteFile(pw, []byte("good-pw\n"), 0o600); broker.Stop() }, "FAIL", "is the broker running", 1},
	} {
		c.setup()
		out, code := doctor()
		if l := doctorLine(out, "mqtt"); !strings.HasPrefix(l, c.want) || !strings.Contains(out, c.contains) || code != c.code {
			t.Errorf("%s: exit %d, mqtt line %q, want %s and %q:\n%s", c.name, code, l, c.want, c.contains, out)
		}
	}
}
