package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
)

// fakeFrigateVersion answers GET /api/version as Frigate does, or 503
// while down is set.
func fakeFrigateVersion(t *testing.T, down *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/api/version" {
			io.WriteString(w, "0.14.1-f4f3cfa")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func addFrigate(t *testing.T, data, url string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(data, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[frigate]\nurl = \"" + url + "\"\ncameras = [\"front_door\"]\n")
	f.Close()
}

// TestDoctorFrigate: with [frigate] configured and no node running, doctor
// asks Frigate's API itself; with a node running, status and doctor show
// the node's import.
func TestDoctorFrigate(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": "good-pw"}})
	var down atomic.Bool
	srv := fakeFrigateVersion(t, &down)
	data := initNode(t)
	addMQTT(t, data, broker.URL, "good-pw")
	addFrigate(t, data, srv.URL)

	out, _, code := cli(t, "--data", data, "doctor", "--iface", "lo")
	if l := doctorLine(out, "frigate"); code != 0 || !strings.HasPrefix(l, "OK") || !strings.Contains(l, "Frigate 0.14.1-f4f3cfa answers") {
		t.Errorf("doctor: exit %d, frigate line %q:\n%s", code, l, out)
	}
	down.Store(true)
	out, _, code = cli(t, "--data", data, "doctor", "--iface", "lo")
	if l := doctorLine(out, "frigate"); code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(out, "is Frigate running") {
		t.Errorf("doctor with Frigate down: exit %d, frigate line %q:\n%s", code, l, out)
	}
	down.Store(false)

	runInitialized(t, data)
	var st api.Status
	mosquittotest.Eventually(t, 30*time.Second, "the node follows Frigate's events", func() bool {
		out, _, code := cli(t, "--data", data, "status", "--json")
		st = api.Status{}
		return code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Frigate != nil && st.Frigate.Connected
	})
	if !st.Frigate.Configured || st.Frigate.URL != srv.URL || !st.Frigate.Reachable {
		t.Fatalf("status --json frigate = %+v", st.Frigate)
	}
	if out, _, _ := cli(t, "--data", data, "status"); !strings.Contains(out, "frigate:       importing clips from "+srv.URL) {
		t.Errorf("status does not show the import:\n%s", out)
	}
	out, _, _ = cli(t, "--data", data, "doctor", "--iface", "lo")
	if l := doctorLine(out, "frigate"); !strings.HasPrefix(l, "OK") || !strings.Contains(l, "following Frigate's events") {
		t.Errorf("doctor's frigate line = %q:\n%s", l, out)
	}
}
