package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// newClipServer is newServer that also returns its clip store.
func newClipServer(t *testing.T) (*api.Server, *clips.Store) {
	return newServerWith(t, nil)
}

// newServerWith is newClipServer with edit applied to the API's config.
func newServerWith(t *testing.T, edit func(*api.Config)) (*api.Server, *clips.Store) {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	reqs, err := requests.New(requests.Config{Store: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{Key: key, Store: db, Name: "test", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, Rules: reqs})
	if err != nil {
		t.Fatal(err)
	}
	cdb, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cdb.Close() })
	cs, err := clips.New(clips.Config{DB: cdb, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Addr: "127.0.0.1:0", Token: token, Mesh: m, Feed: newFeed(t, m, db, noSharing{}), Logger: quiet, Requests: reqs, Clips: cs, Sharing: noSharing{},
		Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil },
		Metrics: promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}),
		Status:  func() api.Status { return api.Status{Name: "test"} }}
	if edit != nil {
		edit(&cfg)
	}
	s, err := api.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		m.Close()
		db.Close()
	})
	return s, cs
}

// storeLegacyClip stores data as a clip received from another home whose
// manifest names it mediaType, as a node did before media types were
// allow-listed.
func storeLegacyClip(t *testing.T, cs *clips.Store, data []byte, mediaType string) string {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	owner, _ := peer.IDFromPrivateKey(key)
	id := sha256.Sum256(data)
	now := time.Now()
	pm := &pb.Manifest{ClipId: id[:], Camera: "porch", Start: now.Add(-time.Hour).UnixMilli(), Size: uint64(len(data)),
		MediaType: mediaType, ChunkSize: clips.MinChunkSize, ChunkSha256: [][]byte{id[:]}, Owner: []byte(owner), Imported: now.UnixMilli()}
	m, err := clips.SealManifest(pm, key)
	if err != nil {
		t.Fatal(err)
	}
	chunks := func(yield func([]byte, error) bool) { yield(data, nil) }
	if err := cs.PutVerified(context.Background(), m, chunks); err != nil {
		t.Fatal(err)
	}
	return m.ClipID().String()
}

const clipCSP = "sandbox; default-src 'none'"

func getPath(t *testing.T, s *api.Server, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.Addr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return do(t, req)
}

// TestLegacyHTMLClipIsNotServedAsPage: a clip stored with a text/html media
// type (before the allow-list, or received from a hostile home) is served as
// a sandboxed download, so its script never runs in the UI's origin.
func TestLegacyHTMLClipIsNotServedAsPage(t *testing.T) {
	s, cs := newClipServer(t)
	page := []byte("<!doctype html><script>fetch('/api/v1/status').then(r=>r.text()).then(alert)</script>")
	for _, mt := range []string{"text/html", "image/svg+xml", "text/html; charset=utf-8"} {
		id := storeLegacyClip(t, cs, append([]byte(mt), page...), mt)
		status, body, h := getPath(t, s, "/api/v1/clips/"+id+"/video")
		if status != 200 || !strings.HasSuffix(body, string(page)) {
			t.Fatalf("%s clip: %d %.80q", mt, status, body)
		}
		if ct := h.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%s clip served as Content-Type %q, want application/octet-stream", mt, ct)
		}
		if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("%s clip: Content-Disposition %q, want an attachment", mt, cd)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s clip: X-Content-Type-Options %q", mt, got)
		}
		if got := h.Get("Content-Security-Policy"); got != clipCSP {
			t.Errorf("%s clip: Content-Security-Policy %q, want %q", mt, got, clipCSP)
		}
	}
}

// TestVideoClipHeaders: a video is served as itself, inline, with nosniff and
// the sandboxing CSP (which does not stop a <video> element playing it).
func TestVideoClipHeaders(t *testing.T) {
	s, cs := newClipServer(t)
	m, err := cs.Import(context.Background(), bytes.NewReader([]byte("not really a video")), clips.ImportMeta{Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	status, _, h := getPath(t, s, "/api/v1/clips/"+m.ClipID().String()+"/video")
	if status != 200 || h.Get("Content-Type") != "video/mp4" || h.Get("Content-Disposition") != "" {
		t.Errorf("video: %d, Content-Type %q, Content-Disposition %q", status, h.Get("Content-Type"), h.Get("Content-Disposition"))
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != clipCSP {
		t.Errorf("video: X-Content-Type-Options %q, Content-Security-Policy %q", h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
	}
	// The bundle route carries the same headers (here on its not-found answer).
	_, _, h = getPath(t, s, "/api/v1/evidence/"+m.ClipID().String()+"/bundle")
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != clipCSP {
		t.Errorf("bundle: X-Content-Type-Options %q, Content-Security-Policy %q", h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
	}
}

// TestUploadRefusesPageTypes: an upload named as SVG (an image/* type that
// runs script) is refused with a 400 that names the allowed types.
func TestUploadRefusesPageTypes(t *testing.T) {
	s, _ := newClipServer(t)
	req := request(t, s, "POST /api/v1/clips")
	req.URL.RawQuery = "start=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	req.Header.Set("Content-Type", "image/svg+xml")
	status, body, _ := do(t, req)
	if status != 400 || !strings.Contains(body, "video/mp4") {
		t.Errorf("SVG upload: %d %s", status, body)
	}
}
