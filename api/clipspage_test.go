package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
)

var nextLink = regexp.MustCompile(`^<(/api/v1/clips\?[^>]+)>; rel="next"$`)

// TestClipsPaging: GET /api/v1/clips with limit pages newest first and
// links each page to the next; the camera, since/until and owner filters
// hold across pages; the camera list counts clips; bad parameters are a
// 400 that says what to give. Without parameters the route still returns
// every clip.
func TestClipsPaging(t *testing.T) {
	s, cs := newClipServer(t)
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for i := range 12 {
		_, err := cs.Import(context.Background(), bytes.NewReader([]byte(fmt.Sprintf("clip %d", i))), clips.ImportMeta{
			Camera: []string{"porch", "yard"}[i%2], Start: base.Add(time.Duration(i) * 6 * time.Hour), MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk := func(path string) (all []api.ClipJSON, pages int) {
		t.Helper()
		for path != "" {
			status, body, h := getPath(t, s, path)
			if status != 200 {
				t.Fatalf("GET %s: %d %s", path, status, body)
			}
			var page []api.ClipJSON
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			pages++
			path = ""
			if l := h.Get("Link"); l != "" {
				m := nextLink.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("Link %q", l)
				}
				path = m[1]
			}
		}
		return all, pages
	}
	got, pages := walk("/api/v1/clips?limit=5")
	if len(got) != 12 || pages != 3 {
		t.Fatalf("limit 5: %d clips in %d pages, want 12 in 3", len(got), pages)
	}
	seen := map[string]bool{}
	for i, c := range got {
		if seen[c.ID] || (i > 0 && !c.Start.Before(got[i-1].Start)) || c.Expires == nil {
			t.Fatalf("clip %d (%s at %v) is a duplicate, out of order or without expiry", i, c.ID, c.Start)
		}
		seen[c.ID] = true
	}
	if yard, _ := walk("/api/v1/clips?limit=4&camera=yard"); len(yard) != 6 {
		t.Errorf("camera yard: %d clips, want 6", len(yard))
	}
	day := url.Values{"limit": {"2"}, "since": {"2026-11-21T00:00:00Z"}, "until": {"2026-11-22T00:00:00Z"}, "camera": {"porch"}}
	if d, _ := walk("/api/v1/clips?" + day.Encode()); len(d) != 2 || d[0].Camera != "porch" || d[0].Start.Day() != 21 {
		t.Errorf("porch on the 21st: %+v, want 2 clips", d)
	}
	if own, _ := walk("/api/v1/clips?owner=self&limit=500"); len(own) != 12 {
		t.Errorf("owner=self: %d clips", len(own))
	}
	if every, pages := walk("/api/v1/clips"); len(every) != 12 || pages != 1 {
		t.Errorf("no parameters: %d clips in %d pages, want all 12 at once", len(every), pages)
	}

	status, body, _ := getPath(t, s, "/api/v1/clips/cameras")
	var cams []api.CameraJSON
	if err := json.Unmarshal([]byte(body), &cams); status != 200 || err != nil || len(cams) != 2 || cams[0] != (api.CameraJSON{Camera: "porch", Clips: 6}) {
		t.Errorf("cameras: %d %s", status, body)
	}

	for _, bad := range []string{"limit=0", "limit=501", "cursor=zzz", "since=yesterday", "owner=nobody"} {
		if status, body, _ := getPath(t, s, "/api/v1/clips?"+bad); status != 400 {
			t.Errorf("%s: %d %s, want 400", bad, status, body)
		}
	}
}
