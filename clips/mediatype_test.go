package clips_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// htmlClip is a "clip" that is a web page: served as text/html in the UI's
// origin, its script could read the node's status and post as the node.
const htmlClip = "<!doctype html><script>fetch('/api/v1/status')</script>\n"

func isMediaTypeRefusal(err error) bool {
	var inv *record.Invalid
	return errors.As(err, &inv) && inv.Reason == clips.ReasonMediaType
}

// TestHTMLClipRefusedOnImport: a clip named as a page or an SVG is refused,
// and a page imported without a type is stored as a download, not as what
// sniffing makes of it.
func TestHTMLClipRefusedOnImport(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	for _, mt := range []string{"text/html", "text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/javascript"} {
		_, err := s.Import(context.Background(), strings.NewReader(htmlClip), clips.ImportMeta{Start: t0, MediaType: mt})
		if !isMediaTypeRefusal(err) {
			t.Errorf("import as %q: %v, want a media type refusal", mt, err)
		}
	}
	m, err := s.Import(context.Background(), strings.NewReader(htmlClip), clips.ImportMeta{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.M.GetMediaType(); got != "application/octet-stream" {
		t.Errorf("sniffed media type %q, want application/octet-stream", got)
	}
	for _, mt := range []string{"video/mp4", "video/webm", "video/quicktime", "video/x-matroska", "image/jpeg", "image/png", "video/mp4; codecs=avc1"} {
		if _, err := s.Import(context.Background(), strings.NewReader(mt), clips.ImportMeta{Start: t0, MediaType: mt}); err != nil {
			t.Errorf("import as %q: %v", mt, err)
		}
	}
}

// TestHTMLManifestRefusedOnShare: a grant delivered with a manifest that
// names its clip text/html is refused by the grantee.
func TestHTMLManifestRefusedOnShare(t *testing.T) {
	w := newWorld(t)
	a := w.a
	_ = w.b.Close()
	gb := newGrantee(t, w.bKey)
	knows(a.host, gb.host)
	knows(gb.host, a.host)
	pm := manifestFor(a.id, []byte(htmlClip), clips.MinChunkSize)
	pm.MediaType = "text/html"
	hm, err := clips.SealManifest(pm, a.key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g := a.grant(t, gb.host.ID(), now.Add(-time.Minute), now.Add(time.Hour), hm.ClipID())
	if got := rawShare(t, a.host, gb.host.ID(), &pb.ShareRequest{Grant: g.Raw, Manifests: [][]byte{hm.Raw}}); got != clips.ErrBadManifest.Error() {
		t.Errorf("refused %q, want %q", got, clips.ErrBadManifest)
	}
	if gb.count() != 0 {
		t.Errorf("grantee kept %d grants with a text/html manifest", gb.count())
	}
}

// TestHTMLClipRefusedOnFetch: an owner whose store holds a text/html clip
// (stored before the allow-list, or by a hostile owner) cannot get it
// stored by a grantee.
func TestHTMLClipRefusedOnFetch(t *testing.T) {
	w := newWorld(t)
	a := w.a
	pm := manifestFor(a.id, []byte(htmlClip), clips.MinChunkSize)
	pm.MediaType = "text/html"
	hm, err := clips.SealManifest(pm, a.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.PutVerified(context.Background(), hm, chunksOf([]byte(htmlClip), clips.MinChunkSize)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g := a.grant(t, w.b.ID(), now.Add(-time.Minute), now.Add(time.Hour), hm.ClipID())
	bStore := newStore(t, 2, clips.Config{Key: w.bKey})
	_, err = clips.FetchAndStore(ctxT(t), w.b, a.id, g.Raw, hm.ClipID(), bStore)
	if !isMediaTypeRefusal(err) {
		t.Errorf("FetchAndStore of a text/html clip: %v, want a media type refusal", err)
	}
	if _, err := bStore.Manifest(hm.ClipID()); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("grantee stored the text/html clip (%v)", err)
	}
}

func TestPlayable(t *testing.T) {
	for _, tc := range []struct {
		t    string
		want bool
	}{
		{"video/mp4", true},
		{"VIDEO/MP4", true},
		{"video/mp4; codecs=avc1", true},
		{"image/png", true},
		{"application/octet-stream", false},
		{"text/html", false},
		{"image/svg+xml", false},
		{"video/mp4\r\nX-Evil: 1", false},
		{"", false},
	} {
		if got := clips.Playable(tc.t); got != tc.want {
			t.Errorf("Playable(%q) = %v, want %v", tc.t, got, tc.want)
		}
	}
}
