package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
)

// feedGet is GET path with the token: the status, the posts (on 200) or
// the error body, and the Link header's next URL.
func feedGet(t *testing.T, s *api.Server, path string) (int, []api.PostJSON, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.Addr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	code, body, h := do(t, req)
	var posts []api.PostJSON
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &posts); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	next := ""
	if m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(h.Get("Link")); m != nil {
		next = m[1]
	} else if h.Get("Link") != "" {
		t.Fatalf("GET %s: Link %q", path, h.Get("Link"))
	}
	return code, posts, next, body
}

// TestFeedBefore: GET /api/v1/feed pages through the whole feed by the
// Link header's next URL (its before cursor), whatever the page size, and
// a page that is not full has no next.
func TestFeedBefore(t *testing.T) {
	s := newServer(t)
	const n = 7
	for i := range n {
		req := request(t, s, "POST /api/v1/posts")
		b := fmt.Sprintf(`{"kind":"general","text":"post %d"}`, i)
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		if code, body, _ := do(t, req); code != 201 {
			t.Fatalf("post %d: %d %s", i, code, body)
		}
	}
	code, all, next, _ := feedGet(t, s, "/api/v1/feed")
	if code != 200 || len(all) != n || next != "" {
		t.Fatalf("whole feed: %d, %d posts, next %q; want 200, %d, none", code, len(all), next, n)
	}
	for _, size := range []int{1, 3, n, n + 1} {
		var got []string
		path := fmt.Sprintf("/api/v1/feed?limit=%d", size)
		for pages := 0; path != ""; pages++ {
			if pages > n+1 {
				t.Fatalf("limit %d: more than %d pages", size, n+1)
			}
			code, posts, next, body := feedGet(t, s, path)
			if code != 200 {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
			if next != "" && (len(posts) != size || !strings.Contains(next, fmt.Sprintf("limit=%d", size))) {
				t.Fatalf("GET %s: %d posts and next %q", path, len(posts), next)
			}
			for _, p := range posts {
				got = append(got, p.ID)
			}
			path = next
		}
		if len(got) != n {
			t.Fatalf("limit %d: paged through %d posts, want %d", size, len(got), n)
		}
		for i, p := range all {
			if got[i] != p.ID {
				t.Fatalf("limit %d: post %d is %.12s, want %.12s", size, i, got[i], p.ID)
			}
		}
	}
}

// TestFeedBadBefore: a before that is not a cursor is a 400 that says
// where to take one from.
func TestFeedBadBefore(t *testing.T) {
	s := newServer(t)
	for _, bad := range []string{"x", "2026-12-03T10:00:00Z", strings.Repeat("A", 54) + "%21", strings.Repeat("A", 53)} {
		code, _, _, body := feedGet(t, s, "/api/v1/feed?before="+bad)
		if code != 400 || !strings.Contains(body, "before") || !strings.Contains(body, "not a feed cursor") {
			t.Errorf("before=%s: %d %s; want 400 saying it is not a feed cursor", bad, code, body)
		}
	}
}
