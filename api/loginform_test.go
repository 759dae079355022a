package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLoginFormWorksOnce: the code `porchlight ui` hands the browser in a
// private file is POSTed as a form (from a file: page, Origin null); it
// sets the session once, and the CLI can see it was used.
func TestLoginFormWorksOnce(t *testing.T) {
	s := newServer(t)
	code, body, _ := do(t, request(t, s, "POST /api/v1/login-links"))
	if code != 201 {
		t.Fatalf("login-links: %d %s", code, body)
	}
	var link struct{ Login, Code, ID string }
	if err := json.Unmarshal([]byte(body), &link); err != nil || link.Code == "" || link.ID == "" || strings.Contains(link.Login, link.Code) {
		t.Fatalf("link %s: %v", body, err)
	}
	pending := func() int {
		req := request(t, s, "GET /api/v1/login-links/{id}")
		req.URL.Path = "/api/v1/login-links/" + link.ID
		c, _, _ := do(t, req)
		return c
	}
	if c := pending(); c != 200 {
		t.Fatalf("unused link: %d, want 200", c)
	}
	post := func() *http.Response {
		req, _ := http.NewRequest("POST", link.Login, strings.NewReader(url.Values{"code": {link.Code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "null")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "porchlight_session_"+port(s) {
			session = c
		}
	}
	if resp.StatusCode != 200 || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("first use: %d, cookie %+v", resp.StatusCode, session)
	}
	req := request(t, s, "GET /api/v1/status")
	req.Header.Del("Authorization")
	req.AddCookie(session)
	if code, body, _ := do(t, req); code != 200 {
		t.Fatalf("status with the session cookie: %d %s", code, body)
	}
	if c := pending(); c != 404 {
		t.Errorf("used link: %d, want 404", c)
	}
	if again := post(); again.StatusCode != 403 {
		t.Errorf("second use: %d, want 403", again.StatusCode)
	}
}
