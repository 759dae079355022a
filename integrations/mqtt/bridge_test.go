package mqtt_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
	"github.com/porchlight-mesh/porchlight/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// source is a node's state the test sets.
type source struct {
	mu        sync.Mutex
	covering  []mqtt.Request
	neighbors int
	unread    int
}

func (s *source) Covering() ([]mqtt.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mqtt.Request(nil), s.covering...), nil
}

func (s *source) Neighbors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.neighbors
}

func (s *source) UnreadPosts() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unread, nil
}

func (s *source) set(f func(*source)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

const nodeID = "12D3KooWTestNodeIDForTheBridge"

func start(t *testing.T, cfg mqtt.Config) *mqtt.Bridge {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = nodeID
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.Republish = 200 * time.Millisecond
	cfg.MaxBackoff = 500 * time.Millisecond
	b, err := mqtt.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var obj = mqtt.ObjectID(nodeID)

func topic(s string) string { return "porchlight/" + obj + "/" + s }

var configTopics = []string{
	"homeassistant/binary_sensor/" + obj + "/covering/config",
	"homeassistant/sensor/" + obj + "/open_covering_requests/config",
	"homeassistant/sensor/" + obj + "/neighbors/config",
	"homeassistant/sensor/" + obj + "/unread_posts/config",
	"homeassistant/event/" + obj + "/request/config",
}

func lastState(w *mosquittotest.Watcher) (mqtt.State, bool) {
	m, ok := w.Last(topic("state"))
	if !ok {
		return mqtt.State{}, false
	}
	var st mqtt.State
	return st, json.Unmarshal(m.Payload, &st) == nil
}

func waitState(t *testing.T, w *mosquittotest.Watcher, what string, cond func(mqtt.State) bool) {
	t.Helper()
	mosquittotest.Eventually(t, 15*time.Second, what, func() bool {
		st, ok := lastState(w)
		return ok && cond(st)
	})
}

func waitDiscovery(t *testing.T, w *mosquittotest.Watcher) {
	t.Helper()
	mosquittotest.Eventually(t, 15*time.Second, "every discovery config published", func() bool {
		for _, tp := range configTopics {
			if m, ok := w.Last(tp); !ok || len(m.Payload) == 0 {
				return false
			}
		}
		return true
	})
}

// TestDiscoveryAndState: the discovery configs carry what Home Assistant
// requires; the state and the event entity follow the node's state.
func TestDiscoveryAndState(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	w := broker.Watch(t, "", "")
	src := &source{neighbors: 3, unread: 2}
	b := start(t, mqtt.Config{URL: broker.URL, Name: "12 Maple St", Version: "v1.2.3", Source: src})
	waitDiscovery(t, w)
	// A client that comes later (Home Assistant after a restart) gets
	// them as retained messages.
	late := broker.Watch(t, "", "")
	waitDiscovery(t, late)
	uniq := map[string]bool{}
	for _, tp := range configTopics {
		m, _ := late.Last(tp)
		if !m.Retained {
			t.Errorf("%s: not retained", tp)
		}
		var d struct {
			Name         string `json:"name"`
			UniqueID     string `json:"unique_id"`
			StateTopic   string `json:"state_topic"`
			Availability []struct {
				Topic string `json:"topic"`
			} `json:"availability"`
			Device struct {
				Identifiers []string `json:"identifiers"`
				Name        string   `json:"name"`
			} `json:"device"`
			EventTypes []string `json:"event_types"`
		}
		if err := json.Unmarshal(m.Payload, &d); err != nil {
			t.Fatalf("%s: %v", tp, err)
		}
		if d.UniqueID == "" || uniq[d.UniqueID] || d.Name == "" || d.StateTopic == "" ||
			len(d.Availability) != 1 || d.Availability[0].Topic != topic("availability") ||
			len(d.Device.Identifiers) != 1 || d.Device.Identifiers[0] != obj || d.Device.Name != "12 Maple St" {
			t.Errorf("%s: incomplete discovery config: %s", tp, m.Payload)
		}
		uniq[d.UniqueID] = true
		if strings.Contains(tp, "/event/") && (d.StateTopic != topic("request") || len(d.EventTypes) != 1 || d.EventTypes[0] != mqtt.EventType) {
			t.Errorf("event entity: %s", m.Payload)
		}
	}
	if m, ok := late.Last(topic("availability")); !ok || string(m.Payload) != "online" || !m.Retained {
		t.Fatalf("availability = %+v", m)
	}
	waitState(t, w, "state OFF, 3 neighbors, 2 unread", func(st mqtt.State) bool {
		return st == mqtt.State{Covering: "OFF", Neighbors: 3, UnreadPosts: 2}
	})
	if !b.Status().Connected || b.Status().LastError != "" {
		t.Fatalf("status = %+v", b.Status())
	}

	from := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	src.set(func(s *source) {
		s.covering = []mqtt.Request{{ID: "req1", Agency: "Springfield PD", Case: "2026-1142", From: from, To: from.Add(2 * time.Hour)}}
	})
	b.Changed()
	waitState(t, w, "a covering request turns the state ON", func(st mqtt.State) bool {
		return st.Covering == "ON" && st.OpenCoveringRequests == 1
	})
	mosquittotest.Eventually(t, 10*time.Second, "the event of the new request", func() bool { _, ok := w.Last(topic("request")); return ok })
	m, _ := w.Last(topic("request"))
	var ev mqtt.Event
	if err := json.Unmarshal(m.Payload, &ev); err != nil || m.Retained ||
		ev != (mqtt.Event{EventType: mqtt.EventType, ID: "req1", Agency: "Springfield PD", Case: "2026-1142", From: from, To: from.Add(2 * time.Hour)}) {
		t.Fatalf("event = %s (retained %v), %v", m.Payload, m.Retained, err)
	}
	// A change that is not a new request fires no event again.
	src.set(func(s *source) { s.unread = 0 })
	b.Changed()
	waitState(t, w, "unread read", func(st mqtt.State) bool { return st.UnreadPosts == 0 })
	events := 0
	for _, m := range w.All() {
		if m.Topic == topic("request") {
			events++
		}
	}
	if events != 1 {
		t.Fatalf("%d events for one request", events)
	}
	src.set(func(s *source) { s.covering = nil })
	b.Changed()
	waitState(t, w, "the request's close turns the state OFF", func(st mqtt.State) bool {
		return st.Covering == "OFF" && st.OpenCoveringRequests == 0
	})

	// Home Assistant restarted and forgot its entities: its birth
	// message brings the configs back.
	for _, tp := range configTopics {
		w.Publish(t, tp, true, nil)
	}
	w.Reset()
	w.Publish(t, "homeassistant/status", false, []byte("online"))
	waitDiscovery(t, w)

	// Close says offline (retained).
	b.Close()
	mosquittotest.Eventually(t, 5*time.Second, "offline at close", func() bool {
		m, ok := w.Last(topic("availability"))
		return ok && string(m.Payload) == "offline"
	})
}

// TestBrokerRestart: the bridge reconnects, and the configs and state
// (lost with the broker's memory) are published again.
func TestBrokerRestart(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	src := &source{neighbors: 1}
	reg := prometheus.NewRegistry()
	b := start(t, mqtt.Config{URL: broker.URL, Source: src, Registerer: reg})
	w := broker.Watch(t, "", "")
	waitDiscovery(t, w)
	broker.Stop()
	mosquittotest.Eventually(t, 45*time.Second, "the bridge notices the broker is gone", func() bool {
		st := b.Status()
		return !st.Connected && st.LastError != ""
	})
	if v := metric(t, reg, "porchlight_mqtt_connected"); v != 0 {
		t.Fatalf("porchlight_mqtt_connected = %v while the broker is down", v)
	}
	// Changes while the broker is away are published when it is back.
	src.set(func(s *source) {
		s.neighbors = 4
		s.covering = []mqtt.Request{{ID: "r", Agency: "PD", Case: "c"}}
	})
	b.Changed()
	broker.Restart()
	w2 := broker.Watch(t, "", "")
	waitDiscovery(t, w2)
	waitState(t, w2, "the state after the restart", func(st mqtt.State) bool {
		return st == mqtt.State{Covering: "ON", OpenCoveringRequests: 1, Neighbors: 4}
	})
	if m, ok := w2.Last(topic("availability")); !ok || string(m.Payload) != "online" {
		t.Fatalf("availability after restart: %+v", m)
	}
	mosquittotest.Eventually(t, 10*time.Second, "the request that came while the broker was away is announced", func() bool {
		_, ok := w2.Last(topic("request"))
		return ok
	})
	if !b.Status().Connected || b.Status().LastError != "" {
		t.Fatalf("status after reconnect = %+v", b.Status())
	}
	if v := metric(t, reg, "porchlight_mqtt_connected"); v != 1 {
		t.Fatalf("porchlight_mqtt_connected = %v after reconnecting", v)
	}
}

// TestWrongPassword: a refused login is in the status, and no password
// reaches anyone on the broker.
func TestWrongPassword(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"porchlight": "right-horse-battery", "ha": "ha-pass"}})
	b := start(t, mqtt.Config{URL: broker.URL, Username: "porchlight", Password: "wrong-password-secret", Source: &source{}})
	mosquittotest.Eventually(t, 15*time.Second, "a refused login in the status", func() bool {
		return strings.Contains(b.Status().LastError, "refused the login")
	})
	if st := b.Status(); st.Connected || strings.Contains(st.LastError, "wrong-password-secret") || strings.Contains(st.Broker, "wrong-password-secret") {
		t.Fatalf("status = %+v", st)
	}
	// With the right password it connects, and nothing published
	// carries it.
	w := broker.Watch(t, "ha", "ha-pass")
	b2 := start(t, mqtt.Config{URL: broker.URL, Username: "porchlight", Password: "right-horse-battery", NodeID: "other", Source: &source{}})
	mosquittotest.Eventually(t, 15*time.Second, "connected with the right password", func() bool { return b2.Status().Connected })
	mosquittotest.Eventually(t, 15*time.Second, "the second node's state", func() bool {
		_, ok := w.Last("porchlight/" + mqtt.ObjectID("other") + "/state")
		return ok
	})
	for _, m := range w.All() {
		if bytes.Contains(m.Payload, []byte("right-horse-battery")) || bytes.Contains(m.Payload, []byte("wrong-password-secret")) {
			t.Fatalf("%s carries a password: %s", m.Topic, m.Payload)
		}
	}
}

// TestDownBrokerNeverBlocks: with the broker down, or a "broker" that
// accepts connections and never answers, Start and Changed return at
// once and Close within its bound.
func TestDownBrokerNeverBlocks(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	closed := mosquittotest.FreePort(t)
	for _, url := range []string{"mqtt://" + silent.Addr().String(), "mqtt://127.0.0.1:" + strconv.Itoa(closed)} {
		t.Run(url, func(t *testing.T) {
			t0 := time.Now()
			b, err := mqtt.Start(mqtt.Config{URL: url, NodeID: nodeID, Source: &source{}, Logger: quiet, CloseTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for range 10000 {
				b.Changed()
			}
			if d := time.Since(t0); d > 500*time.Millisecond { // microseconds when idle; a bound for a loaded CI machine
				t.Errorf("Start and 10000 Changed took %v", d)
			}
			time.Sleep(300 * time.Millisecond) // in the middle of a connection attempt
			if b.Status().Connected {
				t.Fatal("connected to nothing")
			}
			t0 = time.Now()
			b.Close()
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("Close took %v with the broker down", d)
			}
		})
	}
}

// TestMaliciousBirth: a broker (or anyone allowed to publish on the birth
// topic) sends huge, malformed and endless birth messages: the bridge
// drops an oversized packet with its connection and reconnects, ignores
// anything but "online", and republishes at most once per Republish.
func TestMaliciousBirth(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	src := &source{neighbors: 2}
	reg := prometheus.NewRegistry()
	b := start(t, mqtt.Config{URL: broker.URL, Source: src, Registerer: reg})
	w := broker.Watch(t, "", "")
	waitDiscovery(t, w)

	// Malformed: ignored, no republish.
	w.Reset()
	for _, p := range [][]byte{[]byte("offline"), []byte("\xff\xfeonline"), []byte("online\x00"), bytes.Repeat([]byte("online"), 20), nil} {
		w.Publish(t, "homeassistant/status", false, p)
	}
	time.Sleep(500 * time.Millisecond)
	if n := configCount(w); n != 0 {
		t.Fatalf("%d configs republished after malformed birth messages", n)
	}

	// Oversized: the connection drops before it is read, and comes back.
	w.Publish(t, "homeassistant/status", false, bytes.Repeat([]byte("A"), 2*mqtt.MaxPacket))
	mosquittotest.Eventually(t, 15*time.Second, "the oversized packet is refused", func() bool {
		return strings.Contains(b.Status().LastError, "over")
	})
	mosquittotest.Eventually(t, 15*time.Second, "reconnected after the oversized packet", func() bool { return b.Status().Connected })

	// A flood of births: republishes rate-limited (Republish is 200 ms).
	w.Reset()
	t0 := time.Now()
	for range 200 {
		w.Client.Publish("homeassistant/status", 0, false, []byte("online"))
	}
	w.Publish(t, "homeassistant/status", false, []byte("online"))
	time.Sleep(time.Second)
	elapsed := time.Since(t0)
	maxRounds := int(elapsed/(200*time.Millisecond)) + 2
	if n := configCount(w); n == 0 || n > maxRounds*len(configTopics) {
		t.Fatalf("%d configs republished for 201 birth messages in %v (at most %d rounds)", n, elapsed, maxRounds)
	}
	src.set(func(s *source) { s.neighbors = 7 })
	b.Changed()
	waitState(t, w, "the bridge still works", func(st mqtt.State) bool { return st.Neighbors == 7 })

	// An oversized birth message retained on the broker comes with every
	// subscription: each connection ends at once, and the bridge backs
	// off rather than reconnecting in a loop.
	w.Publish(t, "homeassistant/status", true, bytes.Repeat([]byte("B"), 2*mqtt.MaxPacket))
	mosquittotest.Eventually(t, 15*time.Second, "the retained oversized packet is refused", func() bool {
		return strings.Contains(b.Status().LastError, "over")
	})
	before := metric(t, reg, "porchlight_mqtt_failures_total")
	time.Sleep(3 * time.Second)
	// MaxBackoff is 500 ms here: at most one attempt per 250 ms.
	if n := metric(t, reg, "porchlight_mqtt_failures_total") - before; n > 13 {
		t.Fatalf("%v failed connections in 3 s: no backoff", n)
	}
	w.Publish(t, "homeassistant/status", true, nil) // clears the retained message
	mosquittotest.Eventually(t, 15*time.Second, "connected once the broker stops sending it", func() bool { return b.Status().Connected })
}

// metric is the value of a gauge or counter of reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func configCount(w *mosquittotest.Watcher) int {
	n := 0
	for _, m := range w.All() {
		if strings.HasSuffix(m.Topic, "/config") && len(m.Payload) > 0 {
			n++
		}
	}
	return n
}

func TestConfigChecks(t *testing.T) {
	for _, c := range []struct {
		url  string
		want string // "" ok
	}{
		{"mqtt://homeassistant.local:1883", ""},
		{"mqtts://broker.example.org", ""},
		{"tcp://10.0.0.2", ""},
		{"http://x:1883", "unknown scheme"},
		{"mqtt://user:pw@x:1883", "password_file"},
		{"mqtt://:1883", "no host"},
		{"mqtt://x:1883/path", "no path"},
		{"not a url at all \x7f", "want mqtt://"},
	} {
		_, err := mqtt.CheckURL(c.url)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), ":pw@") {
			t.Errorf("CheckURL(%q) error shows the password: %v", c.url, err)
		}
	}
	for _, c := range []struct {
		prefix string
		ok     bool
	}{
		{"porchlight", true}, {"home/porchlight", true}, {"", false}, {"a/#", false}, {"a/+/b", false},
		{"/a", false}, {"a/", false}, {"a//b", false}, {"$SYS", false},
	} {
		if err := mqtt.CheckPrefix("topic_prefix", c.prefix); (err == nil) != c.ok {
			t.Errorf("CheckPrefix(%q) = %v", c.prefix, err)
		}
	}
}

// TestTLS: an mqtts:// broker is checked against the CAs the bridge
// trusts: one it does not trust is refused (and says why); one it
// trusts carries the session.
func TestTLS(t *testing.T) {
	certFile, keyFile := testcert.Write(t, net.ParseIP("127.0.0.1"))
	broker := mosquittotest.Start(t, mosquittotest.Options{CertFile: certFile, KeyFile: keyFile})
	untrusted := start(t, mqtt.Config{URL: broker.URL, Source: &source{}})
	mosquittotest.Eventually(t, 15*time.Second, "an untrusted certificate refused", func() bool {
		return strings.Contains(untrusted.Status().LastError, "certificate")
	})
	if untrusted.Status().Connected {
		t.Fatal("connected through an untrusted certificate")
	}
	pemCert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	w := broker.Watch(t, "", "")
	start(t, mqtt.Config{URL: broker.URL, NodeID: "tls-node", Source: &source{neighbors: 5}, TLS: &tls.Config{RootCAs: pool}})
	mosquittotest.Eventually(t, 15*time.Second, "the state over TLS", func() bool {
		m, ok := w.Last("porchlight/" + mqtt.ObjectID("tls-node") + "/state")
		return ok && bytes.Contains(m.Payload, []byte(`"neighbors":5`))
	})
}
