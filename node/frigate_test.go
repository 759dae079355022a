package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
	"github.com/porchlight-mesh/porchlight/node"
)

func TestFrigateConfig(t *testing.T) {
	const mqttOK = "[mqtt]\nurl = 'mqtt://127.0.0.1:1883'\n"
	for _, c := range []struct {
		name, toml, want string // want "": accepted
	}{
		{"with mqtt", mqttOK + "[frigate]\nurl = 'http://frigate.local:5000'\ncameras = ['front_door', 'back-yard']\n", ""},
		{"without mqtt", "[frigate]\nurl = 'http://frigate.local:5000'\n", "[frigate] needs [mqtt]"},
		{"no url", mqttOK + "[frigate]\ncameras = ['front_door']\n", "[frigate] url is required"},
		{"not http", mqttOK + "[frigate]\nurl = 'ftp://frigate.local'\n", "scheme must be http or https"},
		{"password in url", mqttOK + "[frigate]\nurl = 'http://admin:pw@frigate.local:5000'\n", "user name or password"},
		{"bad camera", mqttOK + "[frigate]\nurl = 'http://frigate.local:5000'\ncameras = ['../x']\n", "not a Frigate camera name"},
		{"wildcard prefix", mqttOK + "[frigate]\nurl = 'http://frigate.local:5000'\nmqtt = 'frigate/#'\n", "wildcards"},
		{"clip limit", mqttOK + "[frigate]\nurl = 'http://frigate.local:5000'\nmax_clip_mb = -1\n", "max_clip_mb"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, []byte(c.toml)))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("LoadConfig = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("LoadConfig = %v, want %q", err, c.want)
			}
		})
	}
}

// TestNodeImportsFrigateClips: a node with [frigate] imports the clip of
// an ended event that Frigate announces on the [mqtt] broker, and says so
// in its status.
func TestNodeImportsFrigateClips(t *testing.T) {
	const password = "porch-light-broker-pw"
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": password, "frigate": "frigate-pw"}})
	pub := broker.Watch(t, "frigate", "frigate-pw")
	const id = "1764790000.123456-abcdef"
	clip := make([]byte, 200<<10)
	for i := range clip {
		clip[i] = byte(i * 7)
	}
	var mu sync.Mutex
	gets := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/events/" + id:
			json.NewEncoder(w).Encode(map[string]any{"id": id, "camera": "front_door", "start_time": 1764790000.123456, "end_time": 1764790012.5, "has_clip": true})
		case "/api/events/" + id + "/clip.mp4":
			mu.Lock()
			gets++
			mu.Unlock()
			w.Write(clip)
		case "/api/version":
			io.WriteString(w, "0.14.1")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	dir := mqttHome(t, broker.URL, password, "")
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Frigate = node.FrigateConfig{URL: srv.URL, Cameras: []string{"front_door"}}
	if err := node.SaveConfig(dir, cfg.Config); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	defer n.Close()
	mosquittotest.Eventually(t, 20*time.Second, "the node follows Frigate's events", func() bool {
		f := n.Status().Frigate
		return f != nil && f.Configured && f.Connected
	})
	after := map[string]any{"id": id, "camera": "front_door", "start_time": 1764790000.123456, "end_time": 1764790012.5, "has_clip": true}
	p, _ := json.Marshal(map[string]any{"type": "end", "before": after, "after": after})
	pub.Publish(t, "frigate/events", false, p)
	// The node waits for Frigate to finish writing the clip (10 s).
	mosquittotest.Eventually(t, 40*time.Second, "the clip imported", func() bool {
		ms, err := n.Clips().List()
		return err == nil && len(ms) == 1
	})
	ms, _ := n.Clips().List()
	if ms[0].M.GetCamera() != "front_door" || ms[0].Start().UnixMilli() != 1764790000123 || ms[0].M.GetSize() != uint64(len(clip)) {
		t.Errorf("imported %s from %v, %d bytes", ms[0].M.GetCamera(), ms[0].Start(), ms[0].M.GetSize())
	}
	mosquittotest.Eventually(t, 10*time.Second, "status counts it", func() bool {
		f := n.Status().Frigate
		return f.Imported == 1 && f.Pending == 0 && f.Reachable && f.URL == srv.URL
	})
}
