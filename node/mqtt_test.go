package node_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/requests"
)

// mqttHome makes a home's data directory with [mqtt] pointing at url,
// logging in as porchlight with password (written to a 0600 file).
func mqttHome(t *testing.T, url, password string, issuer peer.ID) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := node.Config{Name: "12 Maple St", Neighborhood: "maple-st", Location: "40.7148,-74.0060",
		API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		MQTT: node.MQTTConfig{URL: url, Username: "porchlight", PasswordFile: "mqtt.password"}}
	if issuer != "" {
		cfg.TrustedIssuers = []string{issuer.String()}
	}
	if err := node.Init(dir, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mqtt.password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mqttState(w *mosquittotest.Watcher, topic string) (mqtt.State, bool) {
	m, ok := w.Last(topic)
	if !ok {
		return mqtt.State{}, false
	}
	var st mqtt.State
	return st, json.Unmarshal(m.Payload, &st) == nil
}

// TestHomeAssistantFollowsRequests: a home's Home Assistant entities
// follow a real covering request from its arrival to its close, count
// neighbors and unread posts, and nothing on the broker carries the
// home's location, the request's area, the API token or the password.
func TestHomeAssistantFollowsRequests(t *testing.T) {
	const password = "porch-light-broker-pw"
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": password, "ha": "ha-pw"}})
	w := broker.Watch(t, "ha", "ha-pw")

	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	da := filepath.Join(t.TempDir(), "agency")
	if err := node.Init(da, node.Config{Name: "Springfield PD", Neighborhood: "maple-st",
		API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, TrustedIssuers: []string{issuer.String()}}); err != nil {
		t.Fatal(err)
	}
	dh := mqttHome(t, broker.URL, password, issuer)
	agency := start(t, da)
	defer agency.Close()
	home := start(t, dh, agency.Mesh().Addrs()[0].String())
	defer home.Close()

	stateTopic := "porchlight/" + mqtt.ObjectID(home.ID().String()) + "/state"
	eventTopic := "porchlight/" + mqtt.ObjectID(home.ID().String()) + "/request"
	waitMQTT := func(what string, cond func(mqtt.State) bool) {
		t.Helper()
		mosquittotest.Eventually(t, 20*time.Second, what, func() bool {
			st, ok := mqttState(w, stateTopic)
			return ok && cond(st)
		})
	}
	waitMQTT("a neighbor connected, no request", func(st mqtt.State) bool { return st.Neighbors == 1 && st.Covering == "OFF" })
	var status api.Status
	apiCall(t, home, dh, "GET", "/api/v1/status", nil, &status)
	if status.MQTT == nil || !status.MQTT.Configured || !status.MQTT.Connected || status.MQTT.LastError != "" {
		t.Fatalf("status mqtt = %+v", status.MQTT)
	}

	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, agency.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	const area = "circle:40.7140,-74.0055,300"
	var created map[string]string
	if code := apiCall(t, agency, da, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: area, From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created); code != http.StatusCreated {
		t.Fatalf("request: %d", code)
	}
	waitMQTT("the covering request turns the home's sensor on", func(st mqtt.State) bool {
		return st.Covering == "ON" && st.OpenCoveringRequests == 1
	})
	mosquittotest.Eventually(t, 10*time.Second, "the event of the new request", func() bool { _, ok := w.Last(eventTopic); return ok })
	m, _ := w.Last(eventTopic)
	var ev mqtt.Event
	if err := json.Unmarshal(m.Payload, &ev); err != nil || ev.Agency != "Springfield PD" || ev.Case != "2026-1142" ||
		ev.ID != created["id"] || !ev.From.Equal(now.Add(-3*time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("event = %s, %v", m.Payload, err)
	}

	// A neighbor's post is unread until the feed is listed.
	if code := apiCall(t, agency, da, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "Lost cat"}, nil); code != http.StatusCreated {
		t.Fatalf("post: %d", code)
	}
	waitMQTT("one unread post", func(st mqtt.State) bool { return st.UnreadPosts == 1 })
	apiCall(t, home, dh, "GET", "/api/v1/feed", nil, nil)
	waitMQTT("the feed was read", func(st mqtt.State) bool { return st.UnreadPosts == 0 })

	if code := apiCall(t, agency, da, "POST", "/api/v1/requests/"+created["id"]+"/close", map[string]string{"note": "solved"}, nil); code != http.StatusOK {
		t.Fatalf("close: %d", code)
	}
	waitMQTT("the closed request turns the sensor off", func(st mqtt.State) bool {
		return st.Covering == "OFF" && st.OpenCoveringRequests == 0
	})

	token, _ := node.LoadToken(dh)
	secrets := []string{password, token, "40.714", "40.7148", "-74.006", "74.0055", area, "package theft"}
	for _, m := range w.All() {
		for _, s := range secrets {
			if bytes.Contains(m.Payload, []byte(s)) || strings.Contains(m.Topic, s) {
				t.Errorf("%s carries %q: %s", m.Topic, s, m.Payload)
			}
		}
	}
}

// TestMQTTWrongPasswordInStatus: a refused login shows in the status
// (without the password), and the node works on.
func TestMQTTWrongPasswordInStatus(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": "the-right-one"}})
	dh := mqttHome(t, broker.URL, "not-the-right-one", "")
	home := start(t, dh)
	defer home.Close()
	var status api.Status
	mosquittotest.Eventually(t, 20*time.Second, "the refused login in status", func() bool {
		apiCall(t, home, dh, "GET", "/api/v1/status", nil, &status)
		return status.MQTT != nil && strings.Contains(status.MQTT.LastError, "refused the login")
	})
	if !status.MQTT.Configured || status.MQTT.Connected || strings.Contains(status.MQTT.LastError, "not-the-right-one") {
		t.Fatalf("status mqtt = %+v", status.MQTT)
	}
	if code := apiCall(t, home, dh, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "still here"}, nil); code != http.StatusCreated {
		t.Fatalf("post with MQTT refused: %d", code)
	}
	var metrics string
	c := apiClient(t, dh)
	req, _ := c.NewRequest(t.Context(), "GET", "/metrics", nil)
	resp, err := c.DoRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	metrics = b.String()
	if !strings.Contains(metrics, "porchlight_mqtt_connected 0") {
		t.Fatalf("metrics lack porchlight_mqtt_connected 0")
	}
}

// TestMQTTDownBrokerDoesNotSlowTheNode: a broker that accepts and never
// answers adds nothing to the node's start and little to its stop.
func TestMQTTDownBrokerDoesNotSlowTheNode(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	dh := mqttHome(t, "mqtt://"+silent.Addr().String(), "pw", "")
	t0 := time.Now()
	home := start(t, dh)
	startTook := time.Since(t0)
	st := home.Status()
	if st.MQTT == nil || !st.MQTT.Configured || st.MQTT.Connected {
		t.Fatalf("status mqtt = %+v", st.MQTT)
	}
	time.Sleep(200 * time.Millisecond) // the bridge is in its connection attempt
	t0 = time.Now()
	if err := home.Close(); err != nil {
		t.Fatal(err)
	}
	closeTook := time.Since(t0)
	t.Logf("start %v, close %v", startTook, closeTook)
	// The bridge's own share is nothing at start and at most its
	// CloseTimeout (2 s) at close; the rest is the node's (slow under a
	// busy machine's load).
	if startTook > 5*time.Second || closeTook > 4*time.Second {
		t.Fatalf("start took %v, close %v with the broker silent", startTook, closeTook)
	}
}

// TestMQTTConfigChecks: [mqtt] is checked when the config is loaded, and
// a password file others can read stops the node like a key would.
func TestMQTTConfigChecks(t *testing.T) {
	for _, c := range []struct {
		name string
		m    node.MQTTConfig
		want string
	}{
		{"no url", node.MQTTConfig{Username: "u"}, "url is required"},
		{"password in url", node.MQTTConfig{URL: "mqtt://u:secret@h:1883"}, "password_file"},
		{"bad scheme", node.MQTTConfig{URL: "http://h"}, "scheme"},
		{"wildcard prefix", node.MQTTConfig{URL: "mqtt://h", TopicPrefix: "a/#"}, "wildcard"},
		{"empty discovery level", node.MQTTConfig{URL: "mqtt://h", DiscoveryPrefix: "home//assistant"}, "empty topic level"},
		{"password without user", node.MQTTConfig{URL: "mqtt://h", PasswordFile: "p"}, "username"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := node.Init(filepath.Join(t.TempDir(), "d"), node.Config{Neighborhood: "x", MQTT: c.m})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("Init = %v, want an error mentioning %q", err, c.want)
			}
		})
	}
	dh := mqttHome(t, "mqtt://127.0.0.1:1", "pw", "")
	if err := os.Chmod(filepath.Join(dh, "mqtt.password"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := node.Start(node.Options{Dir: dh, DisableMDNS: true, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Start with a readable password file = %v", err)
	}
}
