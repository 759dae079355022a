package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/internal/testcert"
	"github.com/porchlight-mesh/porchlight/node"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startNode starts a real node (Badger on disk, libp2p on loopback, the
// API) in a temporary data directory.
func startNode(t *testing.T, opts node.Options) (*node.Node, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := node.Init(dir, node.Config{
		Name: "12 Maple St", Neighborhood: "maple-st", Location: "40.7128,-74.0060",
		API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
	}); err != nil {
		t.Fatal(err)
	}
	opts.Dir, opts.DisableMDNS, opts.Logger = dir, true, quiet
	n, err := node.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, dir
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFilesAreTheNodes(t *testing.T) {
	if client.AddrFile != node.AddrFile || client.TokenFile != node.TokenFile || client.CertFile != node.CertFile {
		t.Fatalf("client reads %s, %s, %s; the node writes %s, %s, %s",
			client.AddrFile, client.TokenFile, client.CertFile, node.AddrFile, node.TokenFile, node.CertFile)
	}
}

// TestTypedCalls posts, lists, retracts and is refused through the typed
// methods of a client made from the data directory.
func TestTypedCalls(t *testing.T) {
	n, dir := startNode(t, node.Options{})
	ctx := ctxFor(t)
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.PeerID != n.ID().String() || st.Name != "12 Maple St" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	p, err := c.Post(ctx, api.NewPostJSON{Kind: "general", Text: "lost cat, grey"})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := c.Feed(ctx, 10)
	if err != nil || len(feed) != 1 || feed[0].ID != p.ID || feed[0].Text != "lost cat, grey" {
		t.Fatalf("Feed = %+v, %v", feed, err)
	}
	r, err := c.Retract(ctx, p.ID)
	if err != nil || r.ID != p.ID || r.Retraction == "" {
		t.Fatalf("Retract = %+v, %v", r, err)
	}
	if _, err := c.Peers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Requests(ctx, client.RequestsQuery{Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Metrics(ctx); err != nil || !strings.Contains(m, "porchlight_peers") {
		t.Fatalf("Metrics: %v, %.200q", err, m)
	}
	link, err := c.CreateLoginLink(ctx)
	if err != nil || link.ID == "" || !strings.Contains(link.URL, link.Code) {
		t.Fatalf("CreateLoginLink = %+v, %v", link, err)
	}
	if ok, err := c.LoginLinkPending(ctx, link.ID); !ok || err != nil {
		t.Fatalf("LoginLinkPending(new link) = %v, %v", ok, err)
	}
	if ok, err := c.LoginLinkPending(ctx, strings.Repeat("0", 64)); ok || err != nil {
		t.Fatalf("LoginLinkPending(unknown) = %v, %v; want false, nil", ok, err)
	}
}

// TestTypedErrors: the API's error JSON becomes a *client.Error with its
// status, code and message, matched by errors.As and by the sentinels.
func TestTypedErrors(t *testing.T) {
	_, dir := startNode(t, node.Options{})
	ctx := ctxFor(t)
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
		is     error
	}{
		{"retract an unknown post", func() error { _, err := c.Retract(ctx, strings.Repeat("ab", 32)); return err }, 404, "not_found", client.ErrNotFound},
		{"retract a malformed ID", func() error { _, err := c.Retract(ctx, "nope"); return err }, 400, "bad_request", client.ErrBadRequest},
		{"revoke an unknown grant", func() error { return c.RevokeGrant(ctx, strings.Repeat("ab", 16)) }, 404, "not_found", client.ErrNotFound},
		{"post of an unknown kind", func() error { _, err := c.Post(ctx, api.NewPostJSON{Kind: "gossip", Text: "x"}); return err }, 400, "", nil},
		{"wrong token", func() error { _, err := c.WithToken(strings.Repeat("0", 64)).Status(ctx); return err }, 401, "unauthorized", client.ErrUnauthorized},
		{"no token", func() error { _, err := c.WithToken("").Peers(ctx); return err }, 401, "unauthorized", client.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *client.Error", err, err)
			}
			if e.Status != tc.status || tc.code != "" && e.Code != tc.code || e.Message == "" {
				t.Fatalf("error = %+v, want status %d code %q and a message", e, tc.status, tc.code)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if tc.is != client.ErrNotFound && errors.Is(err, client.ErrNotFound) {
				t.Errorf("%v matches ErrNotFound", err)
			}
		})
	}
}

// TestNoNode: a data directory without a running node, and one whose node
// is gone, give an error that matches ErrNoNode and says how to start one.
func TestNoNode(t *testing.T) {
	empty := t.TempDir()
	if _, err := client.FromDataDir(empty); !errors.Is(err, client.ErrNoNode) || !strings.Contains(err.Error(), "porchlight --data "+empty+" run") {
		t.Fatalf("FromDataDir(empty) = %v, want ErrNoNode", err)
	}

	n, dir := startNode(t, node.Options{})
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctxFor(t)); !errors.Is(err, client.ErrNoNode) {
		t.Fatalf("Status after the node stopped = %v, want ErrNoNode", err)
	}
}

// slowReader hands out its bytes a few KiB at a time, as a file or a pipe
// would, and is not an io.Seeker or a bytes.Reader the HTTP client could
// measure: the upload must stream it.
type slowReader struct{ b []byte }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 8<<10)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// progressLog checks that a transfer's progress only grows and ends at
// the size.
type progressLog struct {
	t           *testing.T
	calls       int
	done, total int64
}

func (p *progressLog) fn(done, total int64) {
	if done < p.done {
		p.t.Errorf("progress went back from %d to %d", p.done, done)
	}
	p.calls++
	p.done, p.total = done, total
}

// TestUploadDownloadWithProgress streams a clip up (size known, then
// unknown) and back down, reporting progress both ways.
func TestUploadDownloadWithProgress(t *testing.T) {
	_, dir := startNode(t, node.Options{})
	ctx := ctxFor(t)
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	clip := make([]byte, 3<<20+17)
	rand.Read(clip)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)

	up := &progressLog{t: t}
	m, err := c.UploadClip(ctx, &slowReader{clip}, client.Upload{Camera: "front-door", Start: start, MediaType: "video/mp4", Size: int64(len(clip)), Progress: up.fn})
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != uint64(len(clip)) || m.Camera != "front-door" || !m.Start.Equal(start) || m.MediaType != "video/mp4" {
		t.Fatalf("uploaded %+v", m)
	}
	if up.done != int64(len(clip)) || up.total != int64(len(clip)) || up.calls < 10 {
		t.Fatalf("upload progress ended at %d/%d after %d calls, want %d/%d after many", up.done, up.total, up.calls, len(clip), len(clip))
	}

	down := &progressLog{t: t}
	var got bytes.Buffer
	n, err := c.Download(ctx, m.ID, &got, down.fn)
	if err != nil || n != int64(len(clip)) || !bytes.Equal(got.Bytes(), clip) {
		t.Fatalf("Download: %d bytes, %v; equal %v", n, err, bytes.Equal(got.Bytes(), clip))
	}
	if down.done != int64(len(clip)) || down.total != int64(len(clip)) {
		t.Fatalf("download progress ended at %d/%d", down.done, down.total)
	}

	// A request the typed methods do not cover (a <video>'s Range read)
	// carries the token too.
	req, err := c.NewRequest(ctx, "GET", "/api/v1/clips/"+m.ID+"/video", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=100-199")
	resp, err := c.DoRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, clip[100:200]) {
		t.Fatalf("Range read: %d, %d bytes", resp.StatusCode, len(part))
	}

	// Size unknown: sent chunked, progress total -1.
	other := append([]byte("another clip "), clip[:1<<20]...)
	up2 := &progressLog{t: t}
	m2, err := c.UploadClip(ctx, &slowReader{other}, client.Upload{Camera: "garage", Start: start, Progress: up2.fn})
	if err != nil || m2.Size != uint64(len(other)) || m2.MediaType != "application/octet-stream" {
		t.Fatalf("chunked upload = %+v, %v", m2, err)
	}
	if up2.done != int64(len(other)) || up2.total != -1 {
		t.Fatalf("chunked upload progress ended at %d/%d", up2.done, up2.total)
	}
	list, err := c.Clips(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Clips = %d, %v", len(list), err)
	}

	// A refused upload and download are typed errors.
	_, err = c.UploadClip(ctx, strings.NewReader("x"), client.Upload{Start: start, MediaType: "image/svg+xml"})
	if e := new(client.Error); !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "video/mp4") {
		t.Errorf("SVG upload: %v, want a 400 naming the allowed types", err)
	}
	if _, err := c.Download(ctx, strings.Repeat("ab", 32), io.Discard, nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("download of an unknown clip: %v, want ErrNotFound", err)
	}
	if _, err := c.ExportEvidence(ctx, m.ID, io.Discard, nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("evidence export of a clip not received under a grant: %v, want ErrNotFound", err)
	}
}

// TestEvents reads the event stream while the node posts; cancelling the
// context ends the stream, and so does the node's Close.
func TestEvents(t *testing.T) {
	n, dir := startNode(t, node.Options{})
	ctx := ctxFor(t)
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := c.Events(sctx)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	p, err := c.Post(ctx, api.NewPostJSON{Kind: "general", Text: "live"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := events.Next()
		if err != nil {
			t.Fatalf("Next: %v before the post's event", err)
		}
		if ev.Type != "post" {
			continue
		}
		var got api.PostJSON
		if err := json.Unmarshal(ev.Data, &got); err != nil {
			t.Fatalf("post event data %s: %v", ev.Data, err)
		}
		if got.ID == p.ID {
			break
		}
	}
	cancel()
	if _, err := events.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel = %v, want context.Canceled", err)
	}

	// The node's Close ends an open stream: Next returns io.EOF.
	events2, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer events2.Close()
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := events2.Next(); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("Next after the node closed = %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end within 10 s of the node's Close")
	}
}

// TestRemoteModePinsCertificate: a node serving HTTPS (remote mode) with a
// self-signed certificate is reached through the certificate it wrote to
// the data directory; a client pinning another certificate, or trusting
// the system's roots, is refused before sending the token.
func TestRemoteModePinsCertificate(t *testing.T) {
	cert, key := testcert.Write(t, net.ParseIP("127.0.0.1"))
	_, dir := startNode(t, node.Options{APITLSCert: cert, APITLSKey: key})
	ctx := ctxFor(t)
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("URL %s, want https", c.URL())
	}
	if st, err := c.Status(ctx); err != nil || st.PeerID == "" {
		t.Fatalf("Status over the pinned certificate: %+v, %v", st, err)
	}
	var got bytes.Buffer
	m, err := c.UploadClip(ctx, strings.NewReader("a small clip"), client.Upload{Start: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, m.ID, &got, nil); err != nil || got.String() != "a small clip" {
		t.Fatalf("download over TLS: %q, %v", got.String(), err)
	}

	tok, err := node.LoadToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, _ := testcert.Write(t, net.ParseIP("127.0.0.1"))
	otherPEM, err := os.ReadFile(otherCert)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  client.Config
	}{
		{"another certificate pinned", client.Config{URL: c.URL(), Token: tok, Cert: otherPEM, CertFile: otherCert}},
		{"system roots", client.Config{URL: c.URL(), Token: tok}},
	} {
		wrong, err := client.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = wrong.Status(ctx)
		var e *client.Error
		if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: Status = %v, want a TLS refusal naming the certificate", tc.name, err)
		}
	}
	// Plain HTTP to the TLS port is no way around it.
	plain, err := client.New(client.Config{URL: "http://" + strings.TrimPrefix(c.URL(), "https://"), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Status(ctx); err == nil {
		t.Error("plain HTTP to the HTTPS API answered")
	} else if e := new(client.Error); errors.As(err, &e) && e.Status == http.StatusOK {
		t.Errorf("plain HTTP: %v", err)
	}
}

// TestFeedPages pages through the feed with FeedPage's Next, and a bad
// Before is the node's 400.
func TestFeedPages(t *testing.T) {
	_, dir := startNode(t, node.Options{})
	ctx := ctxFor(t)
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := c.Post(ctx, api.NewPostJSON{Kind: "general", Text: fmt.Sprintf("post %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.Feed(ctx, 0)
	if err != nil || len(all) != 5 {
		t.Fatalf("Feed = %d posts, %v; want 5", len(all), err)
	}
	var want []string
	for _, p := range all {
		want = append(want, p.ID)
	}
	var got []string
	q := client.FeedQuery{Limit: 2}
	for pages := 1; ; pages++ {
		p, err := c.FeedPage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, post := range p.Posts {
			got = append(got, post.ID)
		}
		if p.Next == "" {
			if pages != 3 {
				t.Errorf("%d pages of 2 for 5 posts, want 3", pages)
			}
			break
		}
		if pages > 5 {
			t.Fatal("more than 5 pages")
		}
		q.Before = p.Next
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pages listed %.12q, want %.12q", got, want)
	}
	var ce *client.Error
	if _, err := c.FeedPage(ctx, client.FeedQuery{Before: "not-a-cursor"}); !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, "before") {
		t.Fatalf("FeedPage with a bad Before = %v, want a 400 about before", err)
	}
}
