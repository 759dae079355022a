package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"

	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
)

// addMQTT appends [mqtt] for url to data's config.toml; the password
// goes in data/mqtt.password (returned).
func addMQTT(t *testing.T, data, url, password string) string {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(data, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[mqtt]\nurl = \"" + url + "\"\nusername = \"porchlight\"\npassword_file = \"mqtt.password\"\n")
	f.Close()
	pw := filepath.Join(data, "mqtt.password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return pw
}

// TestDoctorMQTT: with [mqtt] configured and no node running, doctor
// connects to the broker itself and says what to fix.
func TestDoctorMQTT(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": "good-pw"}})
	data := initNode(t)
	pw := addMQTT(t, data, broker.URL, "good-pw")
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

// TestDoctorMQTTWithRunningNode: doctor and status report the running
// node's own connection, and a broker that went away.
func TestDoctorMQTTWithRunningNode(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": "good-pw"}})
	data := initNode(t)
	addMQTT(t, data, broker.URL, "good-pw")
	runInitialized(t, data)
	var st api.Status
	status := func() api.Status {
		out, _, code := cli(t, "--data", data, "status", "--json")
		st = api.Status{}
		if code == 0 {
			json.Unmarshal([]byte(out), &st)
		}
		return st
	}
	mosquittotest.Eventually(t, 30*time.Second, "the node connected to the broker", func() bool {
		return status().MQTT != nil && st.MQTT.Connected
	})
	if !st.MQTT.Configured || st.MQTT.Broker != broker.URL || st.MQTT.LastError != "" {
		t.Fatalf("status --json mqtt = %+v", st.MQTT)
	}
	if out, _, _ := cli(t, "--data", data, "status"); !strings.Contains(out, "mqtt:          connected to "+broker.URL) {
		t.Errorf("status does not show the connection:\n%s", out)
	}
	out, _, _ := cli(t, "--data", data, "doctor", "--iface", "lo")
	if l := doctorLine(out, "mqtt"); !strings.HasPrefix(l, "OK") || !strings.Contains(l, "connected to "+broker.URL) {
		t.Errorf("doctor's mqtt line = %q:\n%s", l, out)
	}
	broker.Stop()
	mosquittotest.Eventually(t, 30*time.Second, "the node noticed the broker is gone", func() bool {
		return status().MQTT != nil && !st.MQTT.Connected && st.MQTT.LastError != ""
	})
	out, _, code := cli(t, "--data", data, "doctor", "--iface", "lo")
	if l := doctorLine(out, "mqtt"); code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(out, "is the broker running") {
		t.Errorf("doctor with the broker gone: exit %d, mqtt line %q:\n%s", code, l, out)
	}
	if strings.Contains(out, "good-pw") {
		t.Fatal("doctor shows the password")
	}
}
