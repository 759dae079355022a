package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEveryRouteRefusesBrowserAttacks extends TestEveryRouteIsGuarded with
// the variants seen in local-API advisories (Syncthing, Kubo, Electron
// apps): near-miss Host names, look-alike Origins, tokens in the wrong
// place, bodies a cross-origin form can send, CORS preflights and, on the
// routes that take an ID, path-traversal and malformed IDs. Every route is
// taken from the router.
func TestEveryRouteRefusesBrowserAttacks(t *testing.T) {
	s := newServer(t)
	tried := 0
	for _, route := range s.Routes() {
		method, _, _ := strings.Cut(route, " ")
		mutating := method != "GET"
		upload := route == "POST /api/v1/clips"
		cases := []guardCase{
			{"Host localhost with a trailing dot", func(r *http.Request) { r.Host = "localhost." }, 403},
			{"Host 127.0.0.1.nip.io", func(r *http.Request) { r.Host = "127.0.0.1.nip.io:7780" }, 403},
			{"Host localhost.localdomain.evil", func(r *http.Request) { r.Host = "localhost.localdomain.evil" }, 403},
			{"Host 0.0.0.0", func(r *http.Request) { r.Host = "0.0.0.0:7780" }, 403},
			{"Host 127.1 (short form)", func(r *http.Request) { r.Host = "127.1" }, 403},
			{"Host decimal 2130706433", func(r *http.Request) { r.Host = "2130706433" }, 403},
			{"token in the query", func(r *http.Request) {
				r.Header.Del("Authorization")
				r.URL.RawQuery = url.Values{"token": {token}, "access_token": {token}}.Encode()
			}, 401},
			{"token as Basic auth", func(r *http.Request) { r.Header.Del("Authorization"); r.SetBasicAuth("porchlight", token) }, 401},
			{"token prefix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token[:len(token)-1]) }, 401},
			{"token with a suffix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token+"0") }, 401},
			{"empty bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 401},
			{"token as a cookie", func(r *http.Request) {
				r.Header.Del("Authorization")
				r.AddCookie(&http.Cookie{Name: "porchlight_session_" + port(s), Value: token})
			}, 401},
		}
		if mutating {
			cases = append(cases,
				guardCase{"look-alike origin localhost.evil.com", func(r *http.Request) { r.Header.Set("Origin", "http://localhost.evil.com") }, 403},
				guardCase{"look-alike origin 127.0.0.1.nip.io", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1.nip.io:"+port(s)) }, 403},
				guardCase{"origin with a file scheme", func(r *http.Request) { r.Header.Set("Origin", "file://") }, 403},
				guardCase{"origin with userinfo", func(r *http.Request) { r.Header.Set("Origin", "http://localhost@evil.com") }, 403},
				// Cookies are not kept apart by port: a page of another
				// local service must still not write through the API.
				guardCase{"another local port's origin", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:3000") }, 403},
				guardCase{"localhost without a port", func(r *http.Request) { r.Header.Set("Origin", "http://localhost") }, 403},
				guardCase{"the right port over https", func(r *http.Request) { r.Header.Set("Origin", "https://127.0.0.1:"+port(s)) }, 403},
			)
		}
		if method == "POST" || method == "PUT" {
			if upload {
				cases = append(cases,
					guardCase{"upload without its header (a form can't set it)", func(r *http.Request) { r.Header.Del("X-Porchlight-Upload") }, 415},
					guardCase{"upload as multipart form", func(r *http.Request) { r.Header.Set("Content-Type", "multipart/form-data; boundary=x") }, 415},
				)
			} else {
				cases = append(cases,
					guardCase{"multipart form body", func(r *http.Request) { r.Header.Set("Content-Type", "multipart/form-data; boundary=x") }, 415},
					guardCase{"no content type", func(r *http.Request) { r.Header.Del("Content-Type") }, 415},
					guardCase{"JSON look-alike type", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain; application/json") }, 415},
				)
			}
		}
		for _, c := range cases {
			req := request(t, s, route)
			c.edit(req)
			code, body, hdr := do(t, req)
			tried++
			if code != c.status {
				t.Errorf("%s with %s: status %d, want %d (%s)", route, c.name, code, c.status, body)
			}
			if strings.Contains(body, token) {
				t.Errorf("%s with %s: response contains the token", route, c.name)
			}
			if hdr.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s with %s: sent a CORS header", route, c.name)
			}
		}
		// A CORS preflight from a foreign page is never granted.
		pre := request(t, s, route)
		pre.Method = http.MethodOptions
		pre.Body, pre.ContentLength = nil, 0
		pre.Header.Del("Authorization")
		pre.Header.Set("Origin", "https://evil.com")
		pre.Header.Set("Access-Control-Request-Method", method)
		pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-porchlight-upload")
		code, _, hdr := do(t, pre)
		tried++
		if hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Access-Control-Allow-Headers") != "" || code/100 == 2 {
			t.Errorf("%s: preflight from a foreign origin answered %d with %v", route, code, hdr)
		}
		// Path traversal and malformed IDs, with a valid token: refused
		// before any file or record is touched.
		if strings.Contains(route, "{id}") {
			for _, id := range []string{
				"..%2F..%2Fapi.token", "%2e%2e%2f%2e%2e%2fapi.token", "..%5C..%5Capi.token",
				strings.Repeat("zz", 32), strings.Repeat("ab", 33), strings.Repeat("ab", 31), "%00" + strings.Repeat("ab", 31),
			} {
				req := request(t, s, route)
				req.URL.RawPath = strings.Replace(req.URL.Path, strings.Repeat("ab", 32), id, 1)
				u, err := url.Parse("http://" + s.Addr().String() + req.URL.RawPath)
				if err != nil {
					t.Fatal(err)
				}
				req.URL = u
				code, body, _ := do(t, req)
				tried++
				if code != 400 && code != 404 && code != 405 {
					t.Errorf("%s with ID %q: status %d, want 400 or 404 (%s)", route, id, code, body)
				}
				if strings.Contains(body, token) {
					t.Errorf("%s with ID %q: response contains the token", route, id)
				}
			}
		}
	}
	t.Logf("%d attack requests over %d routes, all refused", tried, len(s.Routes()))
}

// TestOwnOriginPasses: a write from the API's own page (its origin: the
// scheme, an allowed host and the port the request came to) passes the
// Origin check; the same host on another port does not.
func TestOwnOriginPasses(t *testing.T) {
	s := newServer(t)
	for _, c := range []struct {
		origin string
		want   bool
	}{
		{"http://127.0.0.1:" + port(s), true},
		{"http://localhost:" + port(s), true},
		{"http://127.0.0.1:" + port(s) + "0", false},
		{"http://127.0.0.1", false},
	} {
		req := request(t, s, "POST /api/v1/posts")
		req.Header.Set("Origin", c.origin)
		code, body, _ := do(t, req)
		if got := code != 403; got != c.want {
			t.Errorf("Origin %s: status %d (%s), want passed=%v", c.origin, code, body, c.want)
		}
	}
}
