package frigate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/integrations/frigate"
	"github.com/porchlight-mesh/porchlight/internal/mosquittotest"
	"github.com/porchlight-mesh/porchlight/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeFrigate stands in for Frigate's HTTP API: GET /api/events/<id>,
// GET /api/events/<id>/clip.mp4 and GET /api/version.
type fakeFrigate struct {
	srv *httptest.Server

	mu     sync.Mutex
	events map[string]*fakeEvent
	down   bool // answers 503 to everything
	// redirect, when set, is where clip downloads are redirected.
	redirect string

	clipGets atomic.Int32
}

type fakeEvent struct {
	camera  string
	start   float64
	hasClip bool
	clip    []byte
	// cut makes the next downloads end after half the clip, with the
	// full length announced.
	cut int
	// chunked sends no Content-Length.
	chunked bool
	// contentType overrides video/mp4.
	contentType string
}

func newFakeFrigate(t *testing.T) *fakeFrigate {
	f := &fakeFrigate{events: map[string]*fakeEvent{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFrigate) add(id, camera string, clip []byte) *fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	sec, _ := strconv.ParseFloat(strings.SplitN(id, "-", 2)[0], 64)
	e := &fakeEvent{camera: camera, start: sec, hasClip: clip != nil, clip: clip}
	f.events[id] = e
	return e
}

func (f *fakeFrigate) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeFrigate) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/api/version" {
		io.WriteString(w, "0.14.1-f4f3cfa")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/events/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, clip := strings.CutSuffix(rest, "/clip.mp4")
	e := f.events[id]
	if e == nil {
		http.Error(w, `{"success":false,"message":"Event not found"}`, http.StatusNotFound)
		return
	}
	if !clip {
		end := e.start + 12.5
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "camera": e.camera, "label": "person", "start_time": e.start, "end_time": end,
			"has_clip": e.hasClip, "has_snapshot": true, "zones": []string{}, "thumbnail": "AAAA",
		})
		return
	}
	f.clipGets.Add(1)
	if f.redirect != "" {
		http.Redirect(w, r, f.redirect, http.StatusFound)
		return
	}
	if !e.hasClip {
		http.NotFound(w, r)
		return
	}
	if !e.chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(e.clip)))
	}
	w.Header().Set("Content-Type", "video/mp4")
	if e.contentType != "" {
		w.Header().Set("Content-Type", e.contentType)
	}
	if e.cut > 0 {
		e.cut--
		w.Write(e.clip[:len(e.clip)/2])
		// The handler returns with fewer bytes than announced: the
		// server closes the connection and the client reads an
		// unexpected EOF.
		return
	}
	w.Write(e.clip)
}

// rig is a node's side: a broker, the records and clip databases, an
// importer.
type rig struct {
	t       *testing.T
	broker  *mosquittotest.Broker
	pub     *mosquittotest.Watcher
	frigate *fakeFrigate
	dir     string
	db      *store.DB
	clipDB  *clips.DB
	clips   *clips.Store
	im      *frigate.Importer
	cfg     frigate.Config
}

func newRig(t *testing.T, cfg frigate.Config) *rig {
	r := &rig{t: t, broker: mosquittotest.Start(t, mosquittotest.Options{}), frigate: newFakeFrigate(t), dir: t.TempDir()}
	r.pub = r.broker.Watch(t, "", "")
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	r.clipDB, err = clips.OpenDB(filepath.Join(r.dir, "clips"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.clipDB.Close() })
	if r.clips, err = clips.New(clips.Config{DB: r.clipDB, Key: key}); err != nil {
		t.Fatal(err)
	}
	cfg.URL = r.frigate.srv.URL
	cfg.Broker = r.broker.URL
	cfg.ClientID = "porchlight-test-frigate"
	cfg.Clips = r.clips
	cfg.Logger = quiet
	if cfg.Settle == 0 {
		cfg.Settle = time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	r.cfg = cfg
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start opens the records database and starts the importer, and waits
// until it follows the events.
func (r *rig) start() {
	r.t.Helper()
	var err error
	r.db, err = store.Open(store.Config{Dir: filepath.Join(r.dir, "db"), Neighborhood: "test"})
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := r.cfg
	cfg.DB = r.db
	if r.im, err = frigate.Start(cfg); err != nil {
		r.t.Fatal(err)
	}
	mosquittotest.Eventually(r.t, 10*time.Second, "the importer follows Frigate's events", func() bool { return r.im.Status().Connected })
}

// stop closes the importer and the records database (safe twice).
func (r *rig) stop() {
	if r.im != nil {
		r.im.Close()
		r.im = nil
	}
	if r.db != nil {
		r.db.Close()
		r.db = nil
	}
}

func (r *rig) publish(typ, id, camera string, hasClip bool) {
	r.t.Helper()
	sec, _ := strconv.ParseFloat(strings.SplitN(id, "-", 2)[0], 64)
	after := map[string]any{"id": id, "camera": camera, "label": "person", "start_time": sec, "end_time": nil, "has_clip": hasClip, "has_snapshot": true}
	if typ == "end" {
		after["end_time"] = sec + 12.5
	}
	p, _ := json.Marshal(map[string]any{"type": typ, "before": after, "after": after})
	r.pub.Publish(r.t, "frigate/events", false, p)
}

func (r *rig) list() []*clips.SignedManifest {
	r.t.Helper()
	ms, err := r.clips.List()
	if err != nil {
		r.t.Fatal(err)
	}
	return ms
}

func (r *rig) waitClips(n int) []*clips.SignedManifest {
	r.t.Helper()
	mosquittotest.Eventually(r.t, 15*time.Second, fmt.Sprintf("%d clips imported", n), func() bool { return len(r.list()) >= n })
	ms := r.list()
	if len(ms) != n {
		r.t.Fatalf("%d clips imported, want %d", len(ms), n)
	}
	return ms
}

// settle waits until the queue is empty.
func (r *rig) settle() {
	r.t.Helper()
	mosquittotest.Eventually(r.t, 15*time.Second, "the queue is empty", func() bool { return r.im.Status().Pending == 0 })
}

func clipBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

const (
	ev1 = "1764790000.123456-abcdef"
	ev2 = "1764790100.5-ghijkl"
	ev3 = "1764790200.25-mnopqr"
)

func TestImportsEndedEventsWithClips(t *testing.T) {
	r := newRig(t, frigate.Config{})
	clip := clipBytes(t, 300<<10)
	r.frigate.add(ev1, "front_door", clip)
	r.frigate.add(ev2, "front_door", nil)

	r.publish("new", ev1, "front_door", false)
	r.publish("update", ev1, "front_door", true)
	r.publish("end", ev2, "front_door", false) // no clip
	r.publish("end", ev1, "front_door", true)
	ms := r.waitClips(1)
	m := ms[0]
	if m.M.GetCamera() != "front_door" {
		t.Errorf("camera %q, want front_door", m.M.GetCamera())
	}
	if want := time.UnixMilli(1764790000123); !m.Start().Equal(want) {
		t.Errorf("start %v, want the event's start %v", m.Start(), want)
	}
	if m.M.GetSize() != uint64(len(clip)) {
		t.Errorf("size %d, want %d", m.M.GetSize(), len(clip))
	}
	r.settle()
	if got := r.frigate.clipGets.Load(); got != 1 {
		t.Errorf("%d clip downloads, want 1 (new, update and an event without a clip ask for none)", got)
	}
	if st := r.im.Status(); st.Imported != 1 || !st.Reachable || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
}

func TestDuplicateEventsImportOnce(t *testing.T) {
	r := newRig(t, frigate.Config{})
	r.frigate.add(ev1, "front_door", clipBytes(t, 100<<10))
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev1, "front_door", true)
	r.waitClips(1)
	r.settle()
	r.publish("end", ev1, "front_door", true)
	// Something the importer does after the duplicate: a new event.
	r.frigate.add(ev2, "front_door", clipBytes(t, 100<<10))
	r.publish("end", ev2, "front_door", true)
	r.waitClips(2)
	r.settle()
	if got := r.frigate.clipGets.Load(); got != 2 {
		t.Errorf("%d clip downloads, want 2", got)
	}

	// After a restart the same events are still known.
	r.stop()
	r.start()
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev2, "front_door", true)
	r.frigate.add(ev3, "front_door", clipBytes(t, 100<<10))
	r.publish("end", ev3, "front_door", true)
	r.waitClips(3)
	r.settle()
	if got := r.frigate.clipGets.Load(); got != 3 {
		t.Errorf("%d clip downloads after the restart, want 3: the events seen before the restart were downloaded again", got)
	}
}

func TestClipCutHalfwayImportsNothingThenRetries(t *testing.T) {
	r := newRig(t, frigate.Config{})
	e := r.frigate.add(ev1, "front_door", clipBytes(t, 3<<20))
	e.cut = 2
	r.publish("end", ev1, "front_door", true)
	mosquittotest.Eventually(t, 15*time.Second, "two failed downloads", func() bool { return r.frigate.clipGets.Load() >= 2 })
	// Until the third download, nothing is stored.
	if n := len(r.list()); n != 0 && r.frigate.clipGets.Load() < 3 {
		t.Fatalf("%d clips stored from downloads cut short", n)
	}
	ms := r.waitClips(1)
	if ms[0].M.GetSize() != 3<<20 {
		t.Errorf("size %d, want the whole clip", ms[0].M.GetSize())
	}
	r.settle()
	if got := r.frigate.clipGets.Load(); got != 3 {
		t.Errorf("%d downloads, want 3", got)
	}
}

func TestCameraFilter(t *testing.T) {
	r := newRig(t, frigate.Config{Cameras: []string{"driveway"}})
	r.frigate.add(ev1, "front_door", clipBytes(t, 10<<10))
	r.frigate.add(ev2, "driveway", clipBytes(t, 10<<10))
	// ev3 claims to be of the driveway on MQTT; Frigate says front_door.
	r.frigate.add(ev3, "front_door", clipBytes(t, 10<<10))
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev3, "driveway", true)
	r.publish("end", ev2, "driveway", true)
	ms := r.waitClips(1)
	r.settle()
	if c := ms[0].M.GetCamera(); c != "driveway" {
		t.Errorf("imported a clip of %q", c)
	}
	if got := r.frigate.clipGets.Load(); got != 1 {
		t.Errorf("%d clip downloads, want 1", got)
	}
}

func TestFrigateDownThenUp(t *testing.T) {
	r := newRig(t, frigate.Config{})
	r.frigate.setDown(true)
	r.frigate.add(ev1, "front_door", clipBytes(t, 10<<10))
	r.frigate.add(ev2, "garden", clipBytes(t, 10<<10))
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev2, "garden", true)
	mosquittotest.Eventually(t, 10*time.Second, "status says Frigate is unreachable", func() bool {
		st := r.im.Status()
		return !st.Reachable && strings.Contains(st.LastError, "503") && st.Pending == 2
	})
	// The queue survives a restart while Frigate is down.
	r.stop()
	r.start()
	if n := len(r.list()); n != 0 {
		t.Fatalf("%d clips while Frigate is down", n)
	}
	r.frigate.setDown(false)
	r.waitClips(2)
	r.settle()
	if st := r.im.Status(); !st.Reachable || st.LastError != "" {
		t.Errorf("status %+v after Frigate came back", st)
	}
}

func TestHugeClipRefused(t *testing.T) {
	r := newRig(t, frigate.Config{MaxClipSize: 1 << 20})
	r.frigate.add(ev1, "front_door", clipBytes(t, 2<<20)) // announced
	e := r.frigate.add(ev2, "front_door", clipBytes(t, 2<<20))
	e.chunked = true // not announced: the limit on the body stops it
	r.frigate.add(ev3, "front_door", clipBytes(t, 1<<20))
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev2, "front_door", true)
	r.publish("end", ev3, "front_door", true)
	ms := r.waitClips(1)
	r.settle()
	if ms[0].M.GetSize() != 1<<20 {
		t.Errorf("imported a clip of %d bytes", ms[0].M.GetSize())
	}
	// Refused for good: not downloaded again.
	before := r.frigate.clipGets.Load()
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev2, "front_door", true)
	time.Sleep(200 * time.Millisecond) // nothing to poll for: the absence of downloads
	if got := r.frigate.clipGets.Load(); got != before || got != 3 {
		t.Errorf("%d downloads (%d before the repeat), want 3", got, before)
	}
}

func TestMalformedEventsIgnored(t *testing.T) {
	r := newRig(t, frigate.Config{})
	for _, p := range []string{
		``, `{`, `null`, `[]`, `{"type":"end"}`, `{"type":"end","after":null}`,
		`{"type":"end","after":{"id":"../../api/config","camera":"front_door","has_clip":true}}`,
		`{"type":"end","after":{"id":"1764790000.1-abc/../x","camera":"front_door","has_clip":true}}`,
		`{"type":"end","after":{"id":"1764790000.1-abcdef","camera":"front door?","has_clip":true}}`,
		`{"type":"end","after":{"id":1,"camera":"front_door","has_clip":true}}`,
		`{"type":"end","after":{"id":"1764790000.1-abcdef","camera":"front_door","has_clip":"yes"}}`,
	} {
		r.pub.Publish(t, "frigate/events", false, []byte(p))
	}
	// An event Frigate does not know: asked, dropped, not remembered.
	r.publish("end", ev2, "front_door", true)
	r.frigate.add(ev1, "front_door", clipBytes(t, 10<<10))
	r.publish("end", ev1, "front_door", true)
	r.waitClips(1)
	r.settle()

	// A message over MaxEventSize ends the connection before it is read;
	// the importer connects again.
	r.pub.Publish(t, "frigate/events", false, []byte(`{"type":"end","after":{"id":"`+strings.Repeat("1", 70<<10)+`"}}`))
	mosquittotest.Eventually(t, 10*time.Second, "the oversized message ends the connection", func() bool {
		st := r.im.Status()
		return !st.Connected || strings.Contains(st.LastError, "packet")
	})
	mosquittotest.Eventually(t, 10*time.Second, "the importer reconnects", func() bool { return r.im.Status().Connected })
	r.frigate.add(ev3, "front_door", clipBytes(t, 10<<10))
	r.publish("end", ev3, "front_door", true)
	r.waitClips(2)
	r.settle()
	if got := r.frigate.clipGets.Load(); got != 2 {
		t.Errorf("%d clip downloads, want 2", got)
	}
}

func TestProbe(t *testing.T) {
	f := newFakeFrigate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := frigate.Probe(ctx, f.srv.URL)
	if err != nil || v != "0.14.1-f4f3cfa" {
		t.Fatalf("Probe = %q, %v", v, err)
	}
	f.setDown(true)
	if _, err := frigate.Probe(ctx, f.srv.URL); err == nil {
		t.Fatal("Probe of a Frigate answering 503 succeeded")
	}
	f.srv.Close()
	if _, err := frigate.Probe(ctx, f.srv.URL); err == nil {
		t.Fatal("Probe of a stopped Frigate succeeded")
	}
}

// TestDownBrokerAndFrigateNeverBlock: with neither the broker nor Frigate
// there, Start and Close return at once, and status and the metrics say
// what is wrong.
func TestDownBrokerAndFrigateNeverBlock(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.Config{Dir: filepath.Join(dir, "db"), Neighborhood: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	nowhere := "127.0.0.1:" + strconv.Itoa(mosquittotest.FreePort(t))
	reg := prometheus.NewRegistry()
	begin := time.Now()
	im, err := frigate.Start(frigate.Config{
		URL: "http://" + nowhere, Broker: "mqtt://" + nowhere, ClientID: "x", DB: db, Clips: noClips{},
		Registerer: reg, Logger: quiet, MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 500*time.Millisecond {
		t.Errorf("Start took %v", d)
	}
	mosquittotest.Eventually(t, 10*time.Second, "status says the broker is unreachable", func() bool {
		st := im.Status()
		return !st.Connected && strings.Contains(st.LastError, "broker")
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for _, name := range []string{"porchlight_frigate_connected", "porchlight_frigate_pending", "porchlight_frigate_imported_total", "porchlight_frigate_failures_total", "porchlight_frigate_refused_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no metric %s", name)
		}
	}
	if got["porchlight_frigate_connected"] != 0 || got["porchlight_frigate_failures_total"] == 0 {
		t.Errorf("metrics %v", got)
	}
	begin = time.Now()
	im.Close()
	im.Close()
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
}

type noClips struct{}

func (noClips) Import(context.Context, io.Reader, clips.ImportMeta) (*clips.SignedManifest, error) {
	return nil, fmt.Errorf("not here")
}

// TestQueueBounded: while Frigate is down, at most MaxPending events wait;
// one more is refused, and imported when announced again later.
func TestQueueBounded(t *testing.T) {
	r := newRig(t, frigate.Config{MaxPending: 2})
	r.frigate.setDown(true)
	for _, id := range []string{ev1, ev2, ev3} {
		r.frigate.add(id, "front_door", clipBytes(t, 10<<10))
		r.publish("end", id, "front_door", true)
	}
	mosquittotest.Eventually(t, 10*time.Second, "two events wait", func() bool { return r.im.Status().Pending == 2 })
	r.frigate.setDown(false)
	r.waitClips(2)
	r.settle()
	r.publish("end", ev3, "front_door", true)
	r.waitClips(3)
}

// TestRedirectOffFrigateRefused: Frigate's answers are followed only
// within its own address.
func TestRedirectOffFrigateRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write(bytes.Repeat([]byte{1}, 1000))
	}))
	defer other.Close()
	r := newRig(t, frigate.Config{MaxAttempts: 2})
	r.frigate.add(ev1, "front_door", clipBytes(t, 10<<10))
	r.frigate.mu.Lock()
	r.frigate.redirect = other.URL + "/secret"
	r.frigate.mu.Unlock()
	r.publish("end", ev1, "front_door", true)
	mosquittotest.Eventually(t, 10*time.Second, "status names the redirect", func() bool {
		return strings.Contains(r.im.Status().LastError, "only redirects within [frigate] url")
	})
	if n := len(r.list()); n != 0 || elsewhere.Load() != 0 {
		t.Fatalf("%d clips imported, %d requests elsewhere", n, elsewhere.Load())
	}
}

// TestErrorPageIsNoClip: an answer of 200 with text or JSON is not
// imported; it is retried, then given up.
func TestErrorPageIsNoClip(t *testing.T) {
	r := newRig(t, frigate.Config{MaxAttempts: 2})
	e := r.frigate.add(ev1, "front_door", []byte(`<html>Please log in</html>`))
	e.contentType = "text/html; charset=utf-8"
	r.frigate.add(ev2, "front_door", clipBytes(t, 10<<10))
	r.publish("end", ev1, "front_door", true)
	r.publish("end", ev2, "front_door", true)
	ms := r.waitClips(1)
	mosquittotest.Eventually(t, 10*time.Second, "given up after two attempts", func() bool {
		return r.frigate.clipGets.Load() == 3 && r.im.Status().Pending == 0
	})
	if ms[0].M.GetSize() != 10<<10 {
		t.Errorf("imported %d bytes", ms[0].M.GetSize())
	}
	if n := len(r.list()); n != 1 {
		t.Errorf("%d clips", n)
	}
}
