package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestUploadRefusesWhatEveryRouteRefuses attacks the clip upload the way a
// hostile page or a local process without the token would, and checks that
// it answers each attack exactly as a JSON route does (status, code,
// WWW-Authenticate): the upload is guarded by the same guard, not by a copy
// of it. No attack stores a clip; the honest upload does.
func TestUploadRefusesWhatEveryRouteRefuses(t *testing.T) {
	var diskFailed atomic.Bool
	failure := &store.StorageError{Dir: "/var/lib/porchlight/db", Problem: "the disk is full", Check: "free space with df -h", Since: time.Now()}
	s, cs := newServerWith(t, func(c *api.Config) {
		c.Storage = func() error {
			if diskFailed.Load() {
				return failure
			}
			return nil
		}
	})
	start := url.Values{"camera": {"front-door"}, "start": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}}.Encode()
	upload := func() *http.Request {
		req := request(t, s, "POST /api/v1/clips")
		req.URL.RawQuery = start
		return req
	}
	post := func() *http.Request { return request(t, s, "POST /api/v1/posts") }
	attacks := []struct {
		name string
		edit func(*http.Request)
		want int
	}{
		{"no token", func(r *http.Request) { r.Header.Del("Authorization") }, 401},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("0", len(token))) }, 401},
		{"token in the query", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery += "&token=" + token
		}, 401},
		{"token as a session cookie", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.AddCookie(&http.Cookie{Name: "porchlight_session_" + port(s), Value: token})
		}, 401},
		{"DNS rebinding Host", func(r *http.Request) { r.Host = "localhost.evil.com" }, 403},
		{"LAN address Host", func(r *http.Request) { r.Host = "192.168.1.10:" + port(s) }, 403},
		{"foreign Origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.com") }, 403},
		{"null Origin (sandboxed frame)", func(r *http.Request) { r.Header.Set("Origin", "null") }, 403},
		{"look-alike Origin", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1.nip.io:"+port(s)) }, 403},
		{"cross-site form (urlencoded, no upload header)", func(r *http.Request) {
			r.Header.Del("X-Porchlight-Upload")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, 415},
		{"cross-site multipart form", func(r *http.Request) {
			r.Header.Del("X-Porchlight-Upload")
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		}, 415},
		{"no-cors fetch as text/plain", func(r *http.Request) {
			r.Header.Del("X-Porchlight-Upload")
			r.Header.Set("Content-Type", "text/plain")
		}, 415},
	}
	for _, a := range attacks {
		u := upload()
		a.edit(u)
		uCode, uBody, uHdr := do(t, u)
		p := post()
		a.edit(p)
		pCode, pBody, pHdr := do(t, p)
		if uCode != a.want {
			t.Errorf("upload with %s: %d %s, want %d", a.name, uCode, uBody, a.want)
		}
		// The 415s say which body each route wants; every other refusal is
		// the same answer, word for word.
		sameBody := uBody == pBody || uCode == http.StatusUnsupportedMediaType && errCode(uBody) == errCode(pBody)
		if uCode != pCode || !sameBody || uHdr.Get("WWW-Authenticate") != pHdr.Get("WWW-Authenticate") {
			t.Errorf("%s: the upload answers %d %s (WWW-Authenticate %q), a JSON route %d %s (%q)",
				a.name, uCode, uBody, uHdr.Get("WWW-Authenticate"), pCode, pBody, pHdr.Get("WWW-Authenticate"))
		}
		if strings.Contains(uBody, token) {
			t.Errorf("upload with %s: the answer carries the token", a.name)
		}
	}

	// A failed disk refuses the upload as it refuses every write.
	diskFailed.Store(true)
	uCode, uBody, _ := do(t, upload())
	pCode, pBody, _ := do(t, post())
	if uCode != 503 || uCode != pCode || errCode(uBody) != "storage_failed" || errCode(pBody) != "storage_failed" {
		t.Errorf("failed disk: the upload answers %d %s, a JSON route %d %s; want 503 storage_failed from both", uCode, uBody, pCode, pBody)
	}
	diskFailed.Store(false)

	if ms, err := cs.List(); err != nil || len(ms) != 0 {
		t.Fatalf("after the attacks the store holds %d clips (%v), want none", len(ms), err)
	}
	if code, body, _ := do(t, upload()); code != http.StatusCreated {
		t.Fatalf("the honest upload: %d %s", code, body)
	}
	if ms, err := cs.List(); err != nil || len(ms) != 1 {
		t.Fatalf("after the honest upload the store holds %d clips (%v), want 1", len(ms), err)
	}
}

func errCode(body string) string {
	var e struct{ Code string }
	_ = json.Unmarshal([]byte(body), &e)
	return e.Code
}
