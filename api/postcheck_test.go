package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/feed"
)

// TestPostCheck: the route answers the feed's anti-profiling advice for a
// draft, and stores nothing.
func TestPostCheck(t *testing.T) {
	s := newServer(t)
	check := func(kind, text string) api.PostCheckJSON {
		t.Helper()
		b, _ := json.Marshal(api.NewPostJSON{Kind: kind, Text: text})
		req, err := http.NewRequest("POST", "http://"+s.Addr().String()+"/api/v1/posts/check", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		code, body, _ := do(t, req)
		if code != http.StatusOK {
			t.Fatalf("check %q: %d %s", text, code, body)
		}
		var out api.PostCheckJSON
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := check("safety", "Black man on Elm St just now")
	if !got.Prompt || got.Why != feed.PromptWhy || got.Need != 2 || len(got.Suggest) != 6 || len(got.Descriptors) != 0 {
		t.Fatalf("race only: %+v", got)
	}
	got = check("safety", "Black man in a grey hoodie trying car doors on Elm St")
	if got.Prompt || got.Why != "" || strings.Join(got.Descriptors, ",") != "clothing,behavior" {
		t.Fatalf("two descriptors: %+v", got)
	}
	if got = check("general", "Black man on Elm St just now"); got.Prompt {
		t.Fatalf("a general post prompted: %+v", got)
	}
	req := request(t, s, "GET /api/v1/feed")
	if code, body, _ := do(t, req); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("after checks the feed is %d %s, want empty", code, body)
	}
}
