package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild()) // the crash test's child: see crash_test.go
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func initDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	err := node.Init(dir, node.Config{
		Name: name, Neighborhood: "maple-st", Location: "40.7128,-74.0060",
		API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInitFilesAndPermissions(t *testing.T) {
	dir := initDir(t, "12 Maple St")
	for _, f := range []string{node.KeyFile, node.TokenFile, node.ConfigFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %o, want 600", f, fi.Mode().Perm())
		}
	}
	key1, _ := os.ReadFile(filepath.Join(dir, node.KeyFile))
	err := node.Init(dir, node.Config{Name: "again"})
	if !errors.Is(err, node.ErrExists) {
		t.Fatalf("second Init = %v, want ErrExists", err)
	}
	key2, _ := os.ReadFile(filepath.Join(dir, node.KeyFile))
	if !bytes.Equal(key1, key2) {
		t.Fatal("second Init changed the identity")
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil || cfg.Name != "12 Maple St" || cfg.Neighborhood != "maple-st" {
		t.Fatalf("LoadConfig = %+v, %v", cfg, err)
	}

	if err := os.Chmod(filepath.Join(dir, node.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := node.LoadKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadKey on a world-readable key = %v, want a refusal naming chmod 600", err)
	}
}

func TestConfigChecks(t *testing.T) {
	cases := []struct {
		name string
		cfg  node.Config
		want string
	}{
		{"bad location", node.Config{Location: "40.7,north"}, "LAT,LON"},
		{"latitude out of range", node.Config{Location: "91,0"}, "latitude"},
		{"neighborhood with spaces", node.Config{Neighborhood: "Maple St"}, "lowercase"},
		{"static peer without ID", node.Config{Neighborhood: "x", Peers: []string{"/ip4/10.0.0.1/tcp/7781"}}, "/p2p/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := node.Init(filepath.Join(t.TempDir(), "d"), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Init = %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

// apiClient is the typed client of the node running on dir, as the CLI
// makes it.
func apiClient(t *testing.T, dir string) *client.Client {
	t.Helper()
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiCall calls a node's API with the client's token and transport, as
// the CLI does, and returns the HTTP status (success or refusal); no
// answer may carry the API token.
func apiCall(t *testing.T, n *node.Node, dir, method, path string, in, out any) int {
	t.Helper()
	c := apiClient(t, dir)
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := c.NewRequest(context.Background(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, _ := node.LoadToken(dir)
	resp, err := c.DoRequest(req)
	var refused *client.Error
	switch {
	case errors.As(err, &refused):
		if strings.Contains(refused.Message, tok) {
			t.Fatalf("%s %s: the refusal carries the API token", method, path)
		}
		return refused.Status
	case err != nil:
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if bytes.Contains(b, []byte(tok)) {
		t.Fatalf("%s %s: response contains the API token", method, path)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func start(t *testing.T, dir string, peers ...string) *node.Node {
	t.Helper()
	n, err := node.Start(node.Options{Dir: dir, Peers: peers, DisableMDNS: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTwoNodesThroughTheAPI(t *testing.T) {
	d1, d2 := initDir(t, "12 Maple St"), initDir(t, "14 Maple St")
	n1 := start(t, d1)
	defer n1.Close()
	if _, err := os.Stat(filepath.Join(d1, node.AddrFile)); err != nil {
		t.Fatalf("running node wrote no %s: %v", node.AddrFile, err)
	}
	n2 := start(t, d2, n1.Mesh().Addrs()[0].String())
	defer n2.Close()

	var created api.PostJSON
	if code := apiCall(t, n1, d1, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "lost-found", Text: "Lost grey cat near the park"}, &created); code != http.StatusCreated {
		t.Fatalf("POST /posts = %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var feed []api.PostJSON
		apiCall(t, n2, d2, "GET", "/api/v1/feed", nil, &feed)
		if len(feed) == 1 {
			if feed[0].ID != created.ID || feed[0].AuthorName != "12 Maple St" || feed[0].Kind != "lost-found" {
				t.Fatalf("feed on n2 = %+v", feed[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("post did not reach n2 within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var st api.Status
	apiCall(t, n2, d2, "GET", "/api/v1/status", nil, &st)
	if st.Name != "14 Maple St" || st.Neighborhood != "maple-st" || st.Peers != 1 || st.PeerID != n2.ID().String() {
		t.Fatalf("status = %+v", st)
	}
	var peers []api.PeerJSON
	apiCall(t, n2, d2, "GET", "/api/v1/peers", nil, &peers)
	if len(peers) != 1 || peers[0].PeerID != n1.ID().String() || peers[0].Name != "12 Maple St" || len(peers[0].Addrs) == 0 {
		t.Fatalf("peers = %+v", peers)
	}
	var raw []map[string]any
	apiCall(t, n2, d2, "GET", "/api/v1/peers", nil, &raw)
	if _, ok := raw[0]["score"].(float64); !ok || peers[0].Score < 0 {
		t.Fatalf("peers lack an honest neighbor's score: %v", raw)
	}

	// Bad input: a clear error, nothing written.
	cases := []struct {
		in   api.NewPostJSON
		want int
	}{
		{api.NewPostJSON{Kind: "general", Text: ""}, http.StatusBadRequest},
		{api.NewPostJSON{Kind: "rumor", Text: "x"}, http.StatusBadRequest},
		{api.NewPostJSON{Kind: "general", Text: strings.Repeat("é", 2001)}, http.StatusBadRequest},
		{api.NewPostJSON{Kind: "general", Text: "x", ReplyTo: "zz"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		if code := apiCall(t, n1, d1, "POST", "/api/v1/posts", c.in, nil); code != c.want {
			t.Errorf("POST %+v = %d, want %d", c.in, code, c.want)
		}
	}
	// Retraction by someone else is refused; by the author it works.
	if code := apiCall(t, n2, d2, "DELETE", "/api/v1/posts/"+created.ID, nil, nil); code != http.StatusForbidden {
		t.Errorf("retract by non-author = %d, want 403", code)
	}
	if code := apiCall(t, n1, d1, "DELETE", "/api/v1/posts/"+created.ID, nil, nil); code != http.StatusOK {
		t.Errorf("retract by author = %d, want 200", code)
	}
}

func TestRestartKeepsAcknowledgedPosts(t *testing.T) {
	dir := initDir(t, "12 Maple St")
	n := start(t, dir)
	var ids []string
	for i := range 5 {
		var p api.PostJSON
		if code := apiCall(t, n, dir, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: fmt.Sprintf("post %d", i)}, &p); code != http.StatusCreated {
			t.Fatalf("post %d: %d", i, code)
		}
		ids = append(ids, p.ID)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, node.AddrFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stopped node left %s behind", node.AddrFile)
	}
	n = start(t, dir)
	defer n.Close()
	var feed []api.PostJSON
	apiCall(t, n, dir, "GET", "/api/v1/feed", nil, &feed)
	if len(feed) != len(ids) {
		t.Fatalf("after restart the feed has %d posts, want %d", len(feed), len(ids))
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for i, p := range feed {
		if !want[p.ID] {
			t.Fatalf("feed[%d] = %s, not one of the posts written", i, p.ID)
		}
		if i > 0 && p.Created.After(feed[i-1].Created) {
			t.Fatalf("feed is not newest first: %s after %s", p.Created, feed[i-1].Created)
		}
	}
}

// TestEventsAndMetrics reads the live event stream while a post is written,
// and checks that /metrics serves the node's counters behind the token.
func TestEventsAndMetrics(t *testing.T) {
	dir := initDir(t, "12 Maple St")
	n := start(t, dir)
	defer n.Close()
	c := apiClient(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	var p api.PostJSON
	if code := apiCall(t, n, dir, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "live"}, &p); code != http.StatusCreated {
		t.Fatalf("post: %d", code)
	}
	for {
		ev, err := evs.Next()
		if err != nil {
			t.Fatalf("no post event: %v", err)
		}
		if ev.Type == "post" && strings.Contains(string(ev.Data), p.ID) {
			break
		}
	}

	// A trusted issuer's document, once stored, is a "document" event:
	// the agencies' credential status may have changed.
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	if code := apiCall(t, n, dir, "POST", "/api/v1/trust", map[string]string{"issuer": issuer.String()}, nil); code != http.StatusOK {
		t.Fatalf("trust: %d", code)
	}
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, n.ID(), "Springfield PD", jur, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if code := apiCall(t, n, dir, "POST", "/api/v1/documents", api.DocumentJSON{Document: base64.StdEncoding.EncodeToString(cred.Raw)}, nil); code != http.StatusOK {
		t.Fatalf("document: %d", code)
	}
	for {
		ev, err := evs.Next()
		if err != nil {
			t.Fatalf("no document event: %v", err)
		}
		if ev.Type == events.Document && strings.Contains(string(ev.Data), cred.ID.String()) {
			break
		}
	}

	body, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"porchlight_peers 0", "porchlight_records_validated_total{outcome=\"own\"}", "porchlight_badger_lsm_bytes", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Close ends the open event stream instead of waiting on it.
	start := time.Now()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("Close took %s with an event stream open", d)
	}
}

// TestClipsThroughTheAPI uploads the test clip, lists it, and reads it back
// whole and by range as a browser's <video> would.
func TestClipsThroughTheAPI(t *testing.T) {
	dir := initDir(t, "12 Maple St")
	n := start(t, dir)
	defer n.Close()
	clip, err := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if err != nil {
		t.Fatal(err)
	}
	c := apiClient(t, dir)
	ctx := context.Background()
	// Without the upload header (which a cross-site form cannot send) the
	// upload is refused.
	req, _ := c.NewRequest(ctx, "POST", "/api/v1/clips?camera=front-door&start=2026-11-27T19:42:10Z", bytes.NewReader(clip))
	req.Header.Set("Content-Type", "video/mp4")
	var refused *client.Error
	if _, err := c.DoRequest(req); !errors.As(err, &refused) || refused.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("upload without %s: %v", "X-Porchlight-Upload", err)
	}
	start, _ := time.Parse(time.RFC3339, "2026-11-27T19:42:10Z")
	got, err := c.UploadClip(ctx, bytes.NewReader(clip), client.Upload{Camera: "front-door", Start: start, MediaType: "video/mp4", Size: int64(len(clip))})
	if err != nil || got.Size != uint64(len(clip)) || got.Camera != "front-door" || got.Hold || got.Expires == nil {
		t.Fatalf("upload: %v %+v", err, got)
	}
	var list []api.ClipJSON
	apiCall(t, n, dir, "GET", "/api/v1/clips", nil, &list)
	if len(list) != 1 || list[0].ID != got.ID {
		t.Fatalf("clips = %+v", list)
	}
	// A browser's <video> reads by range.
	req, _ = c.NewRequest(ctx, "GET", "/api/v1/clips/"+got.ID+"/video", nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := c.DoRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, clip[1000:2000]) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("range: %d, %d bytes, %s", resp.StatusCode, len(part), resp.Header.Get("Content-Type"))
	}
	var whole bytes.Buffer
	if _, err := c.Download(ctx, got.ID, &whole, nil); err != nil || !bytes.Equal(whole.Bytes(), clip) {
		t.Fatalf("download: %v, %d bytes", err, whole.Len())
	}
}

// TestShareFetchRevoke: a home shares a clip with a neighbor, the neighbor
// fetches it (verified, byte for byte), the owner's access log shows it;
// after the owner revokes, the next fetch is refused and logged.
func TestShareFetchRevoke(t *testing.T) {
	d1, d2 := initDir(t, "owner"), initDir(t, "neighbor")
	owner := start(t, d1)
	defer owner.Close()
	neighbor := start(t, d2, owner.Mesh().Addrs()[0].String())
	defer neighbor.Close()
	clip, err := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if err != nil {
		t.Fatal(err)
	}
	importClip := func(b []byte) string {
		m, err := owner.Clips().Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		return m.ClipID().String()
	}
	c1 := importClip(clip)
	c2 := importClip(append(append([]byte(nil), clip...), 0)) // a second, different clip
	// Share once the neighbor is connected, so the grant is delivered now.
	deadline := time.Now().Add(10 * time.Second)
	for len(owner.Mesh().Peers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the neighbor did not connect within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	events := sseEvents(t, owner, d1)

	var g api.GrantJSON
	if code := apiCall(t, owner, d1, "POST", "/api/v1/grants", api.NewGrantJSON{To: neighbor.ID().String(), Clips: []string{c1, c2}, Expires: "7d"}, &g); code != http.StatusCreated {
		t.Fatalf("share: %d", code)
	}
	if g.Delivered == nil || !*g.Delivered {
		t.Fatalf("grant not delivered: %+v", g)
	}
	var ls []api.ClipJSON
	apiCall(t, owner, d1, "GET", "/api/v1/clips", nil, &ls)
	for _, c := range ls {
		if !c.Hold || c.Expires != nil {
			t.Fatalf("shared clip not on hold: %+v", c)
		}
	}
	var got api.ClipJSON
	if code := apiCall(t, neighbor, d2, "POST", "/api/v1/clips/fetch", map[string]string{"from": owner.ID().String(), "clip": c1}, &got); code != http.StatusOK {
		t.Fatalf("fetch: %d", code)
	}
	id1, _ := record.ParseID(c1)
	r, err := neighbor.Clips().Reader(id1)
	if err != nil {
		t.Fatal(err)
	}
	fetched, _ := io.ReadAll(r)
	if !bytes.Equal(fetched, clip) {
		t.Fatalf("fetched %d bytes, not the clip's %d", len(fetched), len(clip))
	}

	if code := apiCall(t, owner, d1, "POST", "/api/v1/grants/"+g.ID+"/revoke", struct{}{}, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	// The owner's UI heard of each step live.
	for _, want := range []string{"share", "access", "revoke"} {
		waitEvent(t, events, want)
	}
	if code := apiCall(t, neighbor, d2, "POST", "/api/v1/clips/fetch", map[string]string{"from": owner.ID().String(), "clip": c2}, nil); code != http.StatusForbidden {
		t.Fatalf("fetch after revocation: %d, want 403", code)
	}
	apiCall(t, owner, d1, "GET", "/api/v1/clips", nil, &ls)
	for _, c := range ls {
		if c.Hold || c.Expires == nil {
			t.Fatalf("clip still held after its only grant was revoked: %+v", c)
		}
	}
	var log []api.AuditJSON
	apiCall(t, owner, d1, "GET", "/api/v1/audit", nil, &log)
	if len(log) != 2 || log[1].Served != true || log[1].Clip != c1 || log[0].Served || log[0].Clip != c2 || log[0].Peer != neighbor.ID().String() || !strings.Contains(log[0].Reason, "revoked") {
		t.Fatalf("audit = %+v", log)
	}
}

// TestAgencyEvidence: a home shares a clip in answer to an agency's
// request; the agency's node fetches and verifies it on its own as soon as
// the grant arrives, lists it as evidence, and exports a bundle that
// verifies offline with the request and the credential in it.
func TestAgencyEvidence(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	mk := initTrusting(t, issuer)
	da, dh := mk("Springfield PD", ""), mk("12 Maple St", "40.7148,-74.0060")
	agency := start(t, da)
	defer agency.Close()
	home := start(t, dh, agency.Mesh().Addrs()[0].String())
	defer home.Close()

	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, agency.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	var created map[string]string
	if code := apiCall(t, agency, da, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created); code != http.StatusCreated {
		t.Fatalf("request: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var reqs []api.RequestJSON
		apiCall(t, home, dh, "GET", "/api/v1/requests", nil, &reqs)
		if len(reqs) == 1 && reqs[0].CoversHome {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the home never saw the request as covering it")
		}
		time.Sleep(20 * time.Millisecond)
	}
	clip, _ := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	m, err := home.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: now.Add(-2 * time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	var g api.GrantJSON
	if code := apiCall(t, home, dh, "POST", "/api/v1/grants", api.NewGrantJSON{Request: created["id"], Clips: []string{m.ClipID().String()}}, &g); code != http.StatusCreated || g.Grantee != agency.ID().String() {
		t.Fatalf("share with the request's agency: %d %+v", code, g)
	}
	var ev []api.EvidenceJSON
	deadline = time.Now().Add(10 * time.Second)
	for len(ev) == 0 || !ev[0].Verified {
		if time.Now().After(deadline) {
			t.Fatalf("the agency did not fetch the evidence by itself: %+v", ev)
		}
		time.Sleep(20 * time.Millisecond)
		apiCall(t, agency, da, "GET", "/api/v1/evidence", nil, &ev)
	}
	if ev[0].Clip != m.ClipID().String() || ev[0].Request != created["id"] || ev[0].Owner != home.ID().String() {
		t.Fatalf("evidence = %+v", ev[0])
	}
	// The home can go away: the evidence is the agency's now.
	home.Close()
	var bundle bytes.Buffer
	if _, err := apiClient(t, da).ExportEvidence(context.Background(), ev[0].ID, &bundle, nil); err != nil {
		t.Fatal(err)
	}
	sum, err := clips.VerifyBundle(&bundle)
	if err != nil {
		t.Fatalf("exported bundle does not verify: %v", err)
	}
	if sum.CaseNumber != "2026-1142" || sum.AgencyName != "Springfield PD" || sum.Receiver != agency.ID() || sum.Owner != home.ID() {
		t.Fatalf("bundle summary = %+v", sum)
	}
}

// TestPostWithClip: a clip attached to a post is fetchable by a neighbor
// of the neighborhood, through the grant the post carries.
func TestPostWithClip(t *testing.T) {
	d1, d2 := initDir(t, "owner"), initDir(t, "neighbor")
	owner := start(t, d1)
	defer owner.Close()
	neighbor := start(t, d2, owner.Mesh().Addrs()[0].String())
	defer neighbor.Close()
	clip, _ := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	m, err := owner.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	id := m.ClipID().String()
	var p api.PostJSON
	if code := apiCall(t, owner, d1, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "safety", Text: "Someone tried our door", Clips: []string{id}}, &p); code != http.StatusCreated {
		t.Fatalf("post: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var feed []api.PostJSON
		apiCall(t, neighbor, d2, "GET", "/api/v1/feed", nil, &feed)
		if len(feed) == 1 {
			if len(feed[0].Clips) != 1 || feed[0].Clips[0] != id {
				t.Fatalf("post clips = %v", feed[0].Clips)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("post never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := apiCall(t, neighbor, d2, "POST", "/api/v1/clips/fetch", map[string]string{"from": owner.ID().String(), "clip": id}, nil); code != http.StatusOK {
		t.Fatalf("fetch the attached clip: %d", code)
	}
	r, err := neighbor.Clips().Reader(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, clip) {
		t.Fatal("fetched clip differs")
	}
}

// TestStartFailureCleansUp: a node that cannot start (its API port is
// taken) returns the error, releases what it opened (the data directory
// can be started again) and does not panic.
func TestStartFailureCleansUp(t *testing.T) {
	d1, d2 := initDir(t, "12 Maple St"), initDir(t, "14 Maple St")
	n1 := start(t, d1)
	defer n1.Close()
	_, err := node.Start(node.Options{Dir: d2, API: n1.APIAddr().String(), DisableMDNS: true, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Start on a taken API port = %v, want a listen error", err)
	}
	n2 := start(t, d2) // the database was closed: it opens again
	n2.Close()
}

// sseEvents follows n's /api/v1/events stream until the test ends and
// sends the type of each event it reads.
func sseEvents(t *testing.T, n *node.Node, dir string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events, err := apiClient(t, dir).Events(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan string, 100)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		events.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			ev, err := events.Next()
			if err != nil {
				return
			}
			select {
			case ch <- ev.Type:
			default:
			}
		}
	}()
	return ch
}

// waitEvent waits up to 10 s for an event of type want.
func waitEvent(t *testing.T, events <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case typ := <-events:
			if typ == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q event within 10 s", want)
		}
	}
}

// TestRestoredKeyWaitsForItsLog: only identity.key (and the settings) are
// restored onto a new data directory. Without init's new-key marker the
// node writes nothing, its profile included, until a neighbor returns its
// log (mesh's TestRestoredKeyDoesNotEquivocate has the neighbor).
func TestRestoredKeyWaitsForItsLog(t *testing.T) {
	dir := initDir(t, "home")
	if _, err := os.Stat(filepath.Join(dir, node.NewKeyFile)); err != nil {
		t.Fatalf("init left no new-key marker: %v", err)
	}
	n := start(t, dir)
	id := n.Mesh().ID()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if h, _ := n.Store().Head(id); h.Max > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new home wrote no profile within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, node.NewKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the new-key marker outlived the first record: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{node.KeyFile, node.ConfigFile, node.TokenFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, restored)
	defer r.Close()
	time.Sleep(4 * time.Second) // a lone new home writes its profile after 3 s
	if h, _ := r.Store().Head(id); h.Max != 0 {
		t.Fatalf("the restored home wrote seq %d with no neighbor in reach", h.Max)
	}
}

// initTrusting returns a function that initializes a node of maple-st,
// trusting issuer, in a fresh data directory, and returns the directory.
func initTrusting(t *testing.T, issuer peer.ID) func(name, location string) string {
	return func(name, location string) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "data")
		if err := node.Init(dir, node.Config{Name: name, Neighborhood: "maple-st", Location: location,
			API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, TrustedIssuers: []string{issuer.String()}}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
}
